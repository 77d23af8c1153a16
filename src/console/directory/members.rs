//! `GET /console/directory`: the members, filtered, sorted and paged by the service's member
//! list (LaunchDarkly's filters), fifty at a time.

use maud::{Markup, html};
use poem::http::StatusCode;
use poem::web::{Data, Query};
use poem::{Request, Response, handler};

use super::filters::{MEMBER_SORTS, MemberFilters, ROLE_CHOICES, link, member_query, neighbours};
use super::{Part, directory_viewer, parts_nav};
use crate::console::error::{ConsoleResult, page_or_error};
use crate::console::format::{display_name, time_or_never};
use crate::console::page::{Section, frame, respond};
use crate::service::Service;
use crate::service::members::Member;
use crate::service::paging::ListPage;

const PATH: &str = "/console/directory";

/// `GET /console/directory`.
#[handler]
pub async fn index(
    req: &Request,
    service: Data<&Service>,
    filters: poem::Result<Query<MemberFilters>>,
) -> Response {
    page_or_error(
        async {
            let filters = filters.map(|q| q.0).unwrap_or_default();
            index_page(&service, req, &filters).await
        }
        .await,
    )
}

async fn index_page(service: &Service, req: &Request, f: &MemberFilters) -> ConsoleResult {
    let viewer = directory_viewer(service, req).await?;
    let query = member_query(f, service.now_ms())?;
    let offset = query.offset.unwrap_or(0);
    let page = service.list_members(&viewer.ctx, &query).await?;
    let body = html! {
        (parts_nav(Part::Members))
        (filter_form(f))
        (member_table(&page, offset))
        (pager(f, offset, &page))
    };
    Ok(respond(
        StatusCode::OK,
        frame("Directory", Some(&viewer), Section::Directory, body),
    ))
}

fn filter_form(f: &MemberFilters) -> Markup {
    html! {
        form class="stack" method="get" action=(PATH) role="search" {
            fieldset {
                legend { "Find members" }
                label for="m-q" { "Email or name starts with" }
                input id="m-q" name="q" type="search" value=(f.q);
                label for="m-role" { "Base role" }
                select id="m-role" name="role" {
                    @for (value, label) in ROLE_CHOICES {
                        option value=(value) selected[f.role == value] { (label) }
                    }
                }
                label for="m-team" { "On team (team key)" }
                input id="m-team" name="team" value=(f.team);
                label for="m-noteam" {
                    input id="m-noteam" name="noTeam" type="checkbox" value="true" checked[f.no_team == "true"];
                    " On no team"
                }
                label for="m-seen" { "Not seen for at least this many days (members never seen count too)" }
                input id="m-seen" name="notSeenDays" type="number" min="1" max="36500" value=(f.not_seen_days);
                label for="m-sort" { "Sort by" }
                select id="m-sort" name="sort" {
                    @for (value, label) in MEMBER_SORTS {
                        option value=(value) selected[f.sort == value] { (label) }
                    }
                }
                p { button type="submit" { "Show members" } " " a href=(PATH) { "Clear" } }
            }
        }
    }
}

fn member_table(page: &ListPage<Member>, offset: u64) -> Markup {
    let first = offset.saturating_add(1);
    let last = offset.saturating_add(u64::try_from(page.items.len()).unwrap_or(0));
    html! {
        @if page.items.is_empty() {
            p role="status" { "No members match." }
        } @else {
            table {
                caption { "Members " (first) " to " (last) " of " (page.total_count) }
                thead { tr {
                    th scope="col" { "Email" } th scope="col" { "Name" } th scope="col" { "Role" }
                    th scope="col" { "Teams" } th scope="col" { "Status" } th scope="col" { "Source" }
                    th scope="col" { "Last seen" }
                } }
                tbody {
                    @for m in &page.items {
                        tr {
                            th scope="row" { a href=(format!("{PATH}/members/{}", m.id)) { (m.email) } }
                            td { (display_name(m)) }
                            td {
                                (m.role)
                                @for r in &m.custom_roles { ", " code { (r) } }
                            }
                            td { @for (i, t) in m.teams.iter().enumerate() { @if i > 0 { ", " } code { (t) } } }
                            td { (m.status) }
                            td { (m.source) }
                            td { (time_or_never(m.last_seen)) }
                        }
                    }
                }
            }
        }
    }
}

fn pager(f: &MemberFilters, offset: u64, page: &ListPage<Member>) -> Markup {
    let (previous, next) = neighbours(offset, page.items.len(), page.total_count);
    html! {
        @if previous.is_some() || next.is_some() {
            nav class="pager" aria-label="Pages" {
                @if let Some(p) = previous {
                    a href=(link(PATH, &f.fields(), p)) rel="prev" { "Previous page" }
                }
                @if let Some(n) = next {
                    a href=(link(PATH, &f.fields(), n)) rel="next" { "Next page" }
                }
            }
        }
    }
}
