//! `GET /console/directory/teams`: the teams, filtered, sorted and paged by the service's
//! team list; a team an identity provider owns is marked, since its name and membership
//! are changed there, not here.

use maud::{Markup, html};
use poem::http::StatusCode;
use poem::web::{Data, Query};
use poem::{Request, Response, handler};

use super::filters::{TEAM_SORTS, TeamFilters, link, neighbours, team_query};
use super::{Part, directory_viewer, parts_nav};
use crate::console::error::{ConsoleResult, page_or_error};
use crate::console::page::{Section, frame, respond};
use crate::service::Service;
use crate::service::paging::ListPage;
use crate::service::teams::TeamSummary;

const PATH: &str = "/console/directory/teams";

/// `GET /console/directory/teams`.
#[handler]
pub async fn list(
    req: &Request,
    service: Data<&Service>,
    filters: poem::Result<Query<TeamFilters>>,
) -> Response {
    page_or_error(
        async {
            let filters = filters.map(|q| q.0).unwrap_or_default();
            list_page(&service, req, &filters).await
        }
        .await,
    )
}

async fn list_page(service: &Service, req: &Request, f: &TeamFilters) -> ConsoleResult {
    let viewer = directory_viewer(service, req).await?;
    let query = team_query(f)?;
    let offset = query.offset.unwrap_or(0);
    let page = service.list_teams(&viewer.ctx, &query).await?;
    let body = html! {
        (parts_nav(Part::Teams))
        (filter_form(f))
        (team_table(&page, offset))
        (pager(f, offset, &page))
    };
    Ok(respond(
        StatusCode::OK,
        frame("Teams", Some(&viewer), Section::Directory, body),
    ))
}

fn filter_form(f: &TeamFilters) -> Markup {
    let members = [
        ("", "With or without members"),
        ("false", "With members"),
        ("true", "Without members"),
    ];
    html! {
        form class="stack" method="get" action=(PATH) role="search" {
            fieldset {
                legend { "Find teams" }
                label for="t-q" { "Key or name starts with" }
                input id="t-q" name="q" type="search" value=(f.q);
                label for="t-members" { "Members" }
                select id="t-members" name="noMembers" {
                    @for (value, label) in members {
                        option value=(value) selected[f.no_members == value] { (label) }
                    }
                }
                label for="t-sort" { "Sort by" }
                select id="t-sort" name="sort" {
                    @for (value, label) in TEAM_SORTS {
                        option value=(value) selected[f.sort == value] { (label) }
                    }
                }
                p { button type="submit" { "Show teams" } " " a href=(PATH) { "Clear" } }
            }
        }
    }
}

fn team_table(page: &ListPage<TeamSummary>, offset: u64) -> Markup {
    let first = offset.saturating_add(1);
    let last = offset.saturating_add(u64::try_from(page.items.len()).unwrap_or(0));
    html! {
        @if page.items.is_empty() {
            p role="status" { "No teams match." }
        } @else {
            table {
                caption { "Teams " (first) " to " (last) " of " (page.total_count) }
                thead { tr {
                    th scope="col" { "Key" } th scope="col" { "Name" } th scope="col" { "Members" }
                    th scope="col" { "Custom roles" } th scope="col" { "Managed by" }
                } }
                tbody {
                    @for t in &page.items {
                        tr {
                            th scope="row" { code { (t.key) } }
                            td { (t.name) }
                            td {
                                a href=(link("/console/directory", &[("team", t.key.as_str())], 0))
                                    aria-label=(format!("{} members of team {}", t.member_count, t.key)) {
                                    (t.member_count)
                                }
                            }
                            td { @for (i, r) in t.custom_roles.iter().enumerate() { @if i > 0 { ", " } code { (r) } } }
                            td {
                                @if t.idp_synced {
                                    strong class="synced" { "IdP-synced" }
                                    " (name and members come from the identity provider)"
                                } @else {
                                    "Gatehouse"
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn pager(f: &TeamFilters, offset: u64, page: &ListPage<TeamSummary>) -> Markup {
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
