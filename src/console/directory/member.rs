//! `/console/directory/members/{id}`: one member — who they are, each grant with where it
//! came from, their live sessions — and the actions the viewer may take: end every session,
//! deactivate or reactivate. The forms are offered as the service's `_access` summary says,
//! and the service decides again when they are posted.

use maud::{Markup, html};
use poem::http::StatusCode;
use poem::web::{Data, Form, Path};
use poem::{Request, Response, handler};
use serde::Deserialize;

use super::{Part, directory_viewer, parts_nav, typed};
use crate::console::auth::{Viewer, form_poster};
use crate::console::error::{ConsoleResult, form_of, page_or_error};
use crate::console::format::{display_name, grant, grant_list, last_sign_in, time, time_or_never};
use crate::console::page::{Section, csrf_field, frame, respond, see_other};
use crate::domain::access_review::ReviewRow;
use crate::error::Error;
use crate::service::Service;
use crate::service::members::{Member, MemberPatch};
use crate::service::session_admin::SessionInfo;

/// `GET /console/directory/members/{id}`.
#[handler]
pub async fn page(req: &Request, service: Data<&Service>, id: Path<String>) -> Response {
    page_or_error(member_page(&service, req, &id).await)
}

async fn member_page(service: &Service, req: &Request, id: &str) -> ConsoleResult {
    let viewer = directory_viewer(service, req).await?;
    let member = service.get_member(&viewer.ctx, id).await?;
    let grants = service.member_access(&viewer.ctx, id).await?;
    let sessions = service.list_member_sessions(&viewer.ctx, id).await?;
    let may = Allowed::of(&viewer, &member);
    let body = html! {
        (parts_nav(Part::Members))
        (identity(&member, &grants))
        (grants_section(&grants))
        (sessions_section(&viewer, &member, &sessions, may.end_sessions))
        (status_section(&viewer, &member, &may))
        p {
            a href=(format!("/console/audit?spec=member/{}", member.id)) { "Audit entries about this member" }
            " · " a href="/console/directory" { "Back to the members" }
        }
    };
    Ok(respond(
        StatusCode::OK,
        frame(&member.email, Some(&viewer), Section::Directory, body),
    ))
}

/// What the viewer may do with the member, as the service's `_access` summary says.
struct Allowed {
    end_sessions: bool,
    change_status: bool,
}

impl Allowed {
    fn of(viewer: &Viewer, member: &Member) -> Self {
        let allowed = |action: &str| {
            member
                .access
                .as_ref()
                .is_some_and(|a| a.allowed.iter().any(|x| x == action))
        };
        let own = viewer.member_id == member.id;
        Allowed {
            // Members may always end their own sessions (the service's rule).
            end_sessions: own || allowed("revokeSessions"),
            // The owner is never deactivated; deactivating oneself is left to REST, where
            // it takes a deliberate request rather than a stray click.
            change_status: !own && member.role != "owner" && allowed("updateMemberStatus"),
        }
    }
}

fn identity(m: &Member, row: &ReviewRow) -> Markup {
    html! {
        table {
            caption { "Member" }
            tbody {
                tr { th scope="row" { "Email" } td { (m.email) } }
                tr { th scope="row" { "Name" } td { (display_name(m)) } }
                tr { th scope="row" { "Member id" } td { code { (m.id) } } }
                tr { th scope="row" { "Status" } td { (m.status) } }
                tr { th scope="row" { "Came from" } td { (m.source) } }
                tr { th scope="row" { "Last seen" } td { (time_or_never(m.last_seen)) } }
                tr {
                    th scope="row" { "Last sign-in" }
                    td { (last_sign_in(row.last_sign_in.as_ref())) }
                }
                tr { th scope="row" { "Live personal tokens" } td { (row.personal_tokens.unwrap_or(0)) } }
                tr { th scope="row" { "Member since" } td { (time(m.creation_date)) } }
            }
        }
    }
}

fn grants_section(row: &ReviewRow) -> Markup {
    html! {
        section aria-labelledby="grants" {
            h2 id="grants" { "Grants and where they came from" }
            table {
                tbody {
                    tr {
                        th scope="row" { "Base role" }
                        td { @if let Some(role) = &row.role { (grant(role)) } }
                    }
                    tr { th scope="row" { "Custom roles" } td { (grant_list(&row.custom_roles)) } }
                    tr { th scope="row" { "Teams" } td { (grant_list(&row.teams)) } }
                }
            }
        }
    }
}

fn sessions_section(
    viewer: &Viewer,
    member: &Member,
    sessions: &[SessionInfo],
    may_end: bool,
) -> Markup {
    html! {
        section aria-labelledby="sessions" {
            h2 id="sessions" { "Live sessions" }
            @if sessions.is_empty() {
                p { "No live sessions." }
            } @else {
                table {
                    thead { tr {
                        th scope="col" { "Signed in" } th scope="col" { "Last used" }
                        th scope="col" { "Ends" } th scope="col" { "Address" }
                        th scope="col" { "Browser" } th scope="col" { "Connection" }
                    } }
                    tbody {
                        @for s in sessions {
                            tr {
                                td { (time(s.creation_date)) @if s.current { " (yours, this one)" } }
                                td { (time(s.last_used)) }
                                td { (time(s.expires_at)) }
                                td { (s.ip.as_deref().unwrap_or("")) }
                                td { (s.user_agent.as_deref().unwrap_or("")) }
                                td { (s.connection.as_deref().unwrap_or("")) " " (s.protocol) }
                            }
                        }
                    }
                }
                @if may_end {
                    form method="post" action=(format!("/console/directory/members/{}/sessions/end", member.id)) {
                        (csrf_field(viewer))
                        button type="submit" { "End all sessions of " (member.email) }
                    }
                }
            }
        }
    }
}

fn status_section(viewer: &Viewer, member: &Member, may: &Allowed) -> Markup {
    let active = member.status == "active";
    let (target, verb, note) = if active {
        (
            "deactivated",
            "Deactivate",
            "Deactivating ends every session and revokes every token of the member at once; the record and its history stay.",
        )
    } else {
        (
            "active",
            "Reactivate",
            "Reactivating lets the member sign in again; ended sessions and revoked tokens stay ended.",
        )
    };
    html! {
        @if may.change_status {
            section aria-labelledby="status" {
                h2 id="status" { (verb) }
                form class="stack" method="post" action=(format!("/console/directory/members/{}/status", member.id)) {
                    (csrf_field(viewer))
                    input type="hidden" name="status" value=(target);
                    input type="hidden" name="version" value=(member.version);
                    fieldset {
                        legend { (verb) " " (member.email) }
                        p { (note) }
                        label for="status-comment" { "Reason (kept in the audit log, optional)" }
                        textarea id="status-comment" name="comment" rows="2" {}
                        label for="status-confirm" {
                            input id="status-confirm" name="confirm" type="checkbox" value="yes" required;
                            " Yes, " (verb.to_lowercase()) " " (member.email)
                        }
                        p { button type="submit" { (verb) } }
                    }
                }
            }
        }
    }
}

/// The end-sessions form.
#[derive(Debug, Default, Deserialize)]
pub struct EndSessionsForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /console/directory/members/{id}/sessions/end`: ends every live session of the
/// member, audited as REST's `DELETE /api/v2/members/{id}/sessions`.
#[handler]
pub async fn end_sessions(
    req: &Request,
    service: Data<&Service>,
    id: Path<String>,
    form: poem::Result<Form<EndSessionsForm>>,
) -> Response {
    page_or_error(
        async {
            let form = form_of(form)?;
            let viewer = form_poster(&service, req, &form.csrf).await?;
            service.revoke_member_sessions(&viewer.ctx, &id).await?;
            Ok(see_other(&format!(
                "/console/directory/members/{}#sessions",
                id.0
            )))
        }
        .await,
    )
}

/// The deactivate and reactivate form.
#[derive(Debug, Default, Deserialize)]
pub struct StatusForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    status: String,
    /// The member's version the page showed: a change made meanwhile is a 409.
    #[serde(default)]
    version: String,
    #[serde(default)]
    comment: String,
    #[serde(default)]
    confirm: String,
}

/// `POST /console/directory/members/{id}/status`: REST's `PATCH /api/v2/members/{id}` with
/// `status` (deactivating revokes the member's sessions and tokens in the same change).
#[handler]
pub async fn set_status(
    req: &Request,
    service: Data<&Service>,
    id: Path<String>,
    form: poem::Result<Form<StatusForm>>,
) -> Response {
    page_or_error(
        async {
            let form = form_of(form)?;
            let viewer = form_poster(&service, req, &form.csrf).await?;
            let patch = status_patch(&form)?;
            service.update_member(&viewer.ctx, &id, patch).await?;
            Ok(see_other(&format!("/console/directory/members/{}", id.0)))
        }
        .await,
    )
}

/// The REST patch the form stands for, checked.
fn status_patch(form: &StatusForm) -> Result<MemberPatch, Error> {
    if form.confirm != "yes" {
        return Err(Error::invalid(
            "confirm: tick the box to confirm the change",
        ));
    }
    if !matches!(form.status.as_str(), "active" | "deactivated") {
        return Err(Error::invalid("status: active or deactivated"));
    }
    let version = typed(&form.version)
        .map(|v| {
            v.parse::<i64>()
                .map_err(|_| Error::invalid("version: a whole number"))
        })
        .transpose()?;
    Ok(MemberPatch {
        first_name: None,
        last_name: None,
        role: None,
        custom_roles: None,
        role_attributes: None,
        status: Some(form.status.clone()),
        version,
        comment: typed(&form.comment).map(str::to_owned),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn form(status: &str, version: &str, confirm: &str) -> StatusForm {
        StatusForm {
            csrf: "t".into(),
            status: status.into(),
            version: version.into(),
            comment: " left the company ".into(),
            confirm: confirm.into(),
        }
    }

    #[test]
    fn the_status_form_is_a_checked_status_patch() {
        let patch = status_patch(&form("deactivated", "3", "yes")).unwrap();
        assert_eq!(patch.status.as_deref(), Some("deactivated"));
        assert_eq!(patch.version, Some(3));
        assert_eq!(patch.comment.as_deref(), Some("left the company"));
        assert!(patch.role.is_none() && patch.custom_roles.is_none());
        assert!(status_patch(&form("deactivated", "3", "")).is_err());
        assert!(status_patch(&form("suspended", "3", "yes")).is_err());
        assert!(status_patch(&form("active", "x", "yes")).is_err());
        assert_eq!(
            status_patch(&form("active", "", "yes")).unwrap().version,
            None
        );
    }
}
