//! The page frame (head, navigation, main landmark) and how a page goes out: the security
//! headers every console response carries.

use maud::{DOCTYPE, Markup, html};
use poem::http::{StatusCode, header};
use poem::{IntoResponse, Response};

use super::auth::Viewer;

/// Scripts, styles and images only from this origin, forms only to it, never framed.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Which navigation entry is the current page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    You,
    Approvals,
    Audit,
    Directory,
    None,
}

/// A whole page: `title` in the head and as the heading, the viewer's navigation when
/// signed in.
pub fn frame(title: &str, viewer: Option<&Viewer>, section: Section, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Gatehouse" }
                link rel="stylesheet" href="/console/assets/console.css";
                link rel="icon" type="image/svg+xml" href="/console/assets/favicon.svg";
            }
            body {
                a class="skip" href="#main" { "Skip to content" }
                header {
                    span class="brand" { "Gatehouse" }
                    @if let Some(viewer) = viewer {
                        (navigation(viewer, section))
                    }
                }
                main id="main" {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

fn navigation(viewer: &Viewer, section: Section) -> Markup {
    let entries = [
        (Section::You, "/", "You", true),
        (Section::Approvals, "/console/approvals", "Approvals", true),
        (Section::Audit, "/console/audit", "Audit log", true),
        (
            Section::Directory,
            "/console/directory",
            "Directory",
            viewer.may_view_directory,
        ),
    ];
    html! {
        nav aria-label="Console" {
            ul {
                @for (s, href, label, shown) in entries {
                    @if shown {
                        li {
                            @if s == section {
                                a href=(href) aria-current="page" { (label) }
                            } @else {
                                a href=(href) { (label) }
                            }
                        }
                    }
                }
            }
            span class="who" { (viewer.email) }
        }
    }
}

/// The hidden CSRF field every form of a signed-in page carries.
pub fn csrf_field(viewer: &Viewer) -> Markup {
    html! { input type="hidden" name="csrf" value=(viewer.csrf); }
}

/// A rendered page with the console's headers.
pub fn respond(status: StatusCode, markup: Markup) -> Response {
    secured(
        Response::builder()
            .status(status)
            .content_type("text/html; charset=utf-8")
            .body(markup.into_string()),
    )
}

/// A 303 to a same-origin path, after a form post.
pub fn see_other(path: &str) -> Response {
    secured(
        Response::builder()
            .status(StatusCode::SEE_OTHER)
            .header(header::LOCATION, path)
            .finish(),
    )
}

/// The headers of every console response: the CSP, no sniffing or framing, no caching of
/// pages that show personal data, and no referrer beyond this origin.
pub fn secured(response: Response) -> Response {
    response
        .with_header("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        .with_header("X-Content-Type-Options", "nosniff")
        .with_header("X-Frame-Options", "DENY")
        .with_header("Referrer-Policy", "same-origin")
        .with_header(header::CACHE_CONTROL, "no-store")
        .into_response()
}
