//! `/console/audit`: the log newest first, filtered by resource specifier, actor, action,
//! time and text, paged; an entry's page with its before/after as a diff; and the chain's
//! status (verify result, a signed checkpoint of the head and the key to check it with).
//! Readers see what REST shows them: the whole log with `viewAuditLog`, else the entries
//! about resources they may view.

use chrono::NaiveDate;
use maud::{Markup, html};
use poem::http::StatusCode;
use poem::web::{Data, Path, Query};
use poem::{Request, Response, handler};
use serde::Deserialize;
use serde_json::Value;

use super::auth::{Viewer, signed_in};
use super::diff::json_diff;
use super::error::{ConsoleResult, page_or_error};
use super::format::{json, time};
use super::page::{Section, frame, respond};
use crate::domain::policy::Resource;
use crate::error::Error;
use crate::service::Service;
use crate::service::audit::{AuditEntryRep, AuditQuery};
use crate::service::authz::authorize;

const PAGE: u64 = 50;

/// The filter form, as the query string carries it.
#[derive(Debug, Default, Deserialize)]
pub struct Filters {
    #[serde(default)]
    spec: String,
    #[serde(default)]
    actor: String,
    #[serde(default)]
    action: String,
    /// `YYYY-MM-DD`, from the start of that day (UTC).
    #[serde(default)]
    from: String,
    /// `YYYY-MM-DD`, to the end of that day (UTC).
    #[serde(default)]
    to: String,
    #[serde(default)]
    q: String,
    #[serde(default)]
    cursor: String,
}

/// `GET /console/audit`.
#[handler]
pub async fn list(
    req: &Request,
    service: Data<&Service>,
    filters: poem::Result<Query<Filters>>,
) -> Response {
    page_or_error(
        async {
            let filters = filters.map(|q| q.0).unwrap_or_default();
            list_page(&service, req, &filters).await
        }
        .await,
    )
}

async fn list_page(service: &Service, req: &Request, f: &Filters) -> ConsoleResult {
    let viewer = signed_in(service, req).await?;
    let query = audit_query(f)?;
    let page = service.list_audit(&viewer.ctx, query).await?;
    let full = may_read_whole_log(&viewer);
    let body = html! {
        (filter_form(f))
        p { (page.total_count) " matching entries, newest first."
            @if !full { " You see the entries about what you may view." } }
        @if full {
            p { a href="/console/audit/chain" { "Chain status" } " · "
                a href="/api/v2/auditlog/export" { "Export the whole log" } }
        }
        table {
            thead { tr {
                th scope="col" { "When" } th scope="col" { "Who" } th scope="col" { "What" }
                th scope="col" { "Action" } th scope="col" { "Environment" }
            } }
            tbody {
                @for e in &page.items {
                    tr {
                        td { a href=(format!("/console/audit/{}", e.id)) { (time(e.date)) } }
                        td { (actor_name(&e.actor)) }
                        td { (e.description) }
                        td { code { (actions(&e.accesses)) } }
                        td { (e.environment.as_deref().unwrap_or("")) }
                    }
                }
            }
        }
        @if let Some(next) = &page.next {
            p class="pager" { a href=(next_link(f, next)) rel="next" { "Older entries" } }
        }
    };
    Ok(respond(
        StatusCode::OK,
        frame("Audit log", Some(&viewer), Section::Audit, body),
    ))
}

fn may_read_whole_log(viewer: &Viewer) -> bool {
    authorize(&viewer.ctx.principal, "viewAuditLog", &Resource::acct()).is_ok()
}

/// The service query the form stands for; a bad date is a 400 naming the field.
fn audit_query(f: &Filters) -> Result<AuditQuery, Error> {
    let text = |s: &str| {
        let s = s.trim();
        (!s.is_empty()).then(|| s.to_owned())
    };
    Ok(AuditQuery {
        spec: text(&f.spec),
        actor: text(&f.actor),
        action: text(&f.action),
        after: day_start("from", &f.from, 0)?,
        before: day_start("to", &f.to, 1)?,
        q: text(&f.q),
        limit: Some(PAGE),
        cursor: text(&f.cursor),
    })
}

/// Epoch ms of the start of `date` plus `days`; none for an empty field.
fn day_start(field: &str, date: &str, days: i64) -> Result<Option<i64>, Error> {
    let date = date.trim();
    if date.is_empty() {
        return Ok(None);
    }
    let day = NaiveDate::parse_from_str(date, "%Y-%m-%d")
        .map_err(|_| Error::invalid(format!("{field}: a date as YYYY-MM-DD")))?;
    let start = day
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc().timestamp_millis())
        .ok_or_else(|| Error::invalid(format!("{field}: a date as YYYY-MM-DD")))?;
    Ok(Some(start + days * 86_400_000))
}

fn next_link(f: &Filters, cursor: &str) -> String {
    let pairs = [
        ("spec", f.spec.as_str()),
        ("actor", f.actor.as_str()),
        ("action", f.action.as_str()),
        ("from", f.from.as_str()),
        ("to", f.to.as_str()),
        ("q", f.q.as_str()),
        ("cursor", cursor),
    ];
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
        query.append_pair(k, v);
    }
    format!("/console/audit?{}", query.finish())
}

fn filter_form(f: &Filters) -> Markup {
    html! {
        form class="stack" method="get" action="/console/audit" role="search" {
            fieldset {
                legend { "Filter" }
                label for="f-spec" { "Resource specifier (e.g. " code { "proj/shop:env/production:flag/*" } ")" }
                input id="f-spec" name="spec" value=(f.spec) size="50";
                label for="f-actor" { "Actor (email or id)" }
                input id="f-actor" name="actor" value=(f.actor);
                label for="f-action" { "Action (a trailing * matches a prefix)" }
                input id="f-action" name="action" value=(f.action);
                label for="f-from" { "From (YYYY-MM-DD)" }
                input id="f-from" name="from" type="date" value=(f.from);
                label for="f-to" { "To (YYYY-MM-DD)" }
                input id="f-to" name="to" type="date" value=(f.to);
                label for="f-q" { "Text" }
                input id="f-q" name="q" value=(f.q);
                p { button type="submit" { "Filter" } " " a href="/console/audit" { "Clear" } }
            }
        }
    }
}

/// The actor as people know it: a member's email, a token's or connection's name.
fn actor_name(actor: &Value) -> String {
    ["email", "name", "key", "id"]
        .iter()
        .find_map(|k| actor.get(*k).and_then(Value::as_str))
        .unwrap_or_else(|| actor.get("kind").and_then(Value::as_str).unwrap_or(""))
        .to_owned()
}

fn actions(accesses: &Value) -> String {
    let mut names: Vec<&str> = accesses
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.get("action").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    names.dedup();
    names.join(", ")
}

/// `GET /console/audit/{id}`.
#[handler]
pub async fn entry(req: &Request, service: Data<&Service>, id: Path<String>) -> Response {
    page_or_error(entry_page(&service, req, &id).await)
}

async fn entry_page(service: &Service, req: &Request, id: &str) -> ConsoleResult {
    let viewer = signed_in(service, req).await?;
    let e = service.get_audit_entry(&viewer.ctx, id).await?;
    let body = entry_body(&e);
    Ok(respond(
        StatusCode::OK,
        frame("Audit entry", Some(&viewer), Section::Audit, body),
    ))
}

fn entry_body(e: &AuditEntryRep) -> Markup {
    let before = e.previous_version.clone().unwrap_or(Value::Null);
    let after = e.current_version.clone().unwrap_or(Value::Null);
    html! {
        table {
            tbody {
                tr { th scope="row" { "When" } td { (time(e.date)) } }
                tr { th scope="row" { "What" } td { (e.description) } }
                tr { th scope="row" { "Event" } td { code { (e.event) } } }
                tr { th scope="row" { "Actor" } td { (actor_name(&e.actor)) " " code { (json(&e.actor)) } } }
                tr { th scope="row" { "Accesses" } td { code { (json(&e.accesses)) } } }
                tr { th scope="row" { "Environment" } td { (e.environment.as_deref().unwrap_or("")) } }
                tr { th scope="row" { "Request id" } td { code { (e.request_id.as_deref().unwrap_or("")) } } }
                tr { th scope="row" { "Source address" } td { (e.source_ip.as_deref().unwrap_or("")) } }
                @if let Some(a) = &e.approval_request_id {
                    tr { th scope="row" { "Approval request" } td { a href=(format!("/console/approvals/{a}")) { (a) } } }
                }
                @if let Some(c) = &e.comment { tr { th scope="row" { "Comment" } td { (c) } } }
                tr { th scope="row" { "Position in the chain" } td { (e.seq) } }
            }
        }
        @if e.previous_version.is_some() || e.current_version.is_some() {
            section aria-labelledby="diff" {
                h2 id="diff" { "Before and after" }
                (json_diff(&before, &after))
            }
        }
        @if let Some(delta) = &e.delta {
            section aria-labelledby="delta" {
                h2 id="delta" { "Details" }
                pre { (json(delta)) }
            }
        }
        p { a href="/console/audit" { "Back to the log" } }
    }
}

/// `GET /console/audit/chain`: recomputes the chain (`viewAuditLog` on `acct`, as REST).
#[handler]
pub async fn chain(req: &Request, service: Data<&Service>) -> Response {
    page_or_error(chain_page(&service, req).await)
}

async fn chain_page(service: &Service, req: &Request) -> ConsoleResult {
    let viewer = signed_in(service, req).await?;
    authorize(&viewer.ctx.principal, "viewAuditLog", &Resource::acct())?;
    let report = service.verify_audit().await?;
    let checkpoint = service.audit_checkpoint(&viewer.ctx).await?;
    let body = html! {
        section aria-labelledby="verify" {
            h2 id="verify" { "Verification" }
            @if report.valid {
                p class="notice" role="status" { "The chain is intact: every one of " (report.entries) " entries recomputes." }
            } @else {
                p class="error" role="alert" {
                    "The chain is broken at entry "
                    (report.first_broken_seq.map(|s| s.to_string()).unwrap_or_default())
                    ": " (report.reason.as_deref().unwrap_or(""))
                }
            }
            table { tbody {
                tr { th scope="row" { "Entries" } td { (report.entries) } }
                tr { th scope="row" { "Head hash" } td { code { (report.head_hash) } } }
            } }
        }
        section aria-labelledby="checkpoint" {
            h2 id="checkpoint" { "Signed checkpoint of the head" }
            p { "Keep it outside this service: a later chain that does not contain it was rewritten." }
            table { tbody {
                tr { th scope="row" { "Sequence" } td { (checkpoint.seq) } }
                tr { th scope="row" { "Hash" } td { code { (checkpoint.hash) } } }
                tr { th scope="row" { "Signature" } td { code { (checkpoint.signature) } } }
                tr { th scope="row" { "Public key" } td { code { (checkpoint.public_key) } } }
                tr { th scope="row" { "Signed message" } td { (checkpoint.algorithm) } }
            } }
        }
        p { a href="/api/v2/auditlog/export" { "Export the whole log" } " · " a href="/console/audit" { "Back to the log" } }
    };
    Ok(respond(
        StatusCode::OK,
        frame("Audit chain", Some(&viewer), Section::Audit, body),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_whole_utc_days_and_to_includes_its_day() {
        assert_eq!(day_start("from", "", 0).ok(), Some(None));
        assert_eq!(
            day_start("from", "2026-12-08", 0).ok(),
            Some(Some(1_796_688_000_000))
        );
        assert_eq!(
            day_start("to", "2026-12-08", 1).ok(),
            Some(Some(1_796_688_000_000 + 86_400_000))
        );
        let bad = day_start("to", "08/12/2026", 1)
            .err()
            .map(|e| e.to_string());
        assert_eq!(bad.as_deref(), Some("to: a date as YYYY-MM-DD"));
    }

    #[test]
    fn the_next_page_keeps_the_filters_and_encodes_them() {
        let f = Filters {
            spec: "proj/p:env/*:flag/f".to_owned(),
            action: "update*".to_owned(),
            ..Filters::default()
        };
        assert_eq!(
            next_link(&f, "42.abc"),
            "/console/audit?spec=proj%2Fp%3Aenv%2F*%3Aflag%2Ff&action=update*&cursor=42.abc"
        );
    }

    #[test]
    fn the_actor_reads_as_people_know_it() {
        use serde_json::json;
        assert_eq!(
            actor_name(&json!({"kind": "member", "id": "m1", "email": "a@x"})),
            "a@x"
        );
        assert_eq!(actor_name(&json!({"kind": "app", "key": "okta"})), "okta");
        assert_eq!(actor_name(&json!({"kind": "system"})), "system");
    }
}
