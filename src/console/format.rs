//! How the console writes times, grant sources and JSON for people.

use chrono::{DateTime, Utc};
use maud::{Markup, html};

use crate::domain::access_review::{Grant, SignIn};
use crate::domain::grant_source::GrantSource;
use crate::service::members::Member;

/// Epoch milliseconds as `2026-12-08 14:03 UTC`.
pub fn time(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| ms.to_string())
}

/// An optional time, or "never".
pub fn time_or_never(ms: Option<i64>) -> String {
    ms.map(time).unwrap_or_else(|| "never".to_owned())
}

/// Where a grant came from, in words, with the stored source for the exact record.
pub fn source(stored: &str) -> Markup {
    let words = match GrantSource::parse(Some(stored)) {
        GrantSource::Scim(c) => format!("SCIM provisioning from {c}"),
        GrantSource::Sso(c) => format!("sign-in through {c}"),
        GrantSource::Mapping { connection, rule } => {
            format!(
                "IdP group through mapping rule {} of {connection}",
                rule + 1
            )
        }
        GrantSource::Rest(actor) => format!("set over REST by {actor}"),
        GrantSource::Team(team) => format!("held through team {team}"),
        GrantSource::Unknown => "granted before sources were recorded".to_owned(),
    };
    html! { span class="source" title=(stored) { "(" (words) ")" } }
}

/// JSON, pretty-printed for a `pre` block.
pub fn json(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// A member's first and last name as given, empty when neither is.
pub fn display_name(m: &Member) -> String {
    [m.first_name.as_deref(), m.last_name.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ")
}

/// A grant's key and where it came from.
pub fn grant(g: &Grant) -> Markup {
    html! { code { (g.key) } " " (source(&g.source)) }
}

/// Grants as a list, or "none".
pub fn grant_list(grants: &[Grant]) -> Markup {
    html! {
        @if grants.is_empty() { "none" } @else {
            ul { @for g in grants { li { (grant(g)) } } }
        }
    }
}

/// The last sign-in: when, through which connection and protocol; or "never".
pub fn last_sign_in(sign_in: Option<&SignIn>) -> Markup {
    html! {
        @match sign_in {
            Some(s) => {
                (time(s.at))
                @if let Some(c) = &s.connection { " through " (c) }
                @if let Some(p) = &s.protocol { " (" (p) ")" }
            }
            None => "never",
        }
    }
}
