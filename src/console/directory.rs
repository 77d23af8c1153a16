//! `/console/directory`: who is here. Members with the admin-at-scale filters, a member's
//! grants with their sources, sessions and the actions the viewer may take on them; teams,
//! IdP-synced ones marked; connections with their SCIM health, SSO status and mapping rules
//! (with a preview form).
//!
//! The directory is for viewers with `viewMember` on every member (anyone else gets the 403
//! page). Every list is one page of the service's paged query, never the whole table, and
//! every action runs the REST command with the viewer's session, so permissions and audit
//! entries are REST's; a form is offered only when the service would allow it.

mod connections;
mod filters;
mod member;
mod members;
mod teams;

use maud::{Markup, html};
use poem::{Request, Route, get, post};

use super::auth::{Viewer, signed_in};
use super::error::ConsoleError;
use crate::error::Error;
use crate::service::Service;

/// The routes under `/console/directory`.
pub fn routes() -> Route {
    Route::new()
        .at("/", get(members::index))
        .at("/members/:id", get(member::page))
        .at("/members/:id/sessions/end", post(member::end_sessions))
        .at("/members/:id/status", post(member::set_status))
        .at("/teams", get(teams::list))
        .at("/connections", get(connections::list))
        .at("/connections/:key", get(connections::page))
        .at("/connections/:key/preview", post(connections::preview))
}

/// The viewer of a directory page: signed in, with `viewMember` on every member.
async fn directory_viewer(service: &Service, req: &Request) -> Result<Viewer, ConsoleError> {
    let viewer = signed_in(service, req).await?;
    if !viewer.may_view_directory {
        return Err(Error::forbidden(
            "not allowed to viewMember on member/*: the directory is for members who may view \
             every member",
        )
        .into());
    }
    Ok(viewer)
}

/// The part of the directory a page belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Members,
    Teams,
    Connections,
}

/// The directory's own navigation, the current part marked.
fn parts_nav(current: Part) -> Markup {
    let parts = [
        (Part::Members, "/console/directory", "Members"),
        (Part::Teams, "/console/directory/teams", "Teams"),
        (
            Part::Connections,
            "/console/directory/connections",
            "Connections",
        ),
    ];
    html! {
        nav class="parts" aria-label="Directory" {
            ul {
                @for (part, href, label) in parts {
                    li {
                        @if part == current {
                            a href=(href) aria-current="page" { (label) }
                        } @else {
                            a href=(href) { (label) }
                        }
                    }
                }
            }
        }
    }
}

/// Text a person typed, trimmed; `None` when blank.
fn typed(text: &str) -> Option<&str> {
    let text = text.trim();
    (!text.is_empty()).then_some(text)
}
