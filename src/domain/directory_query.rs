//! Directory queries in LaunchDarkly's syntax, parsed: `filter=query:ann,role:admin|writer,
//! team:eng,lastSeen:{"before":1700000000000}` and `sort=-lastSeen`. Fields are separated by
//! `,`, a field's alternatives by `|`; a `lastSeen` alternative is a small JSON object.
//! The service turns a parsed query into SQL; nothing here reads rows.

use std::fmt;

use serde_json::Value;

/// A base role a `role:` filter names; `admin` also takes the owner, as LaunchDarkly does.
pub const FILTER_ROLES: [&str; 5] = ["reader", "writer", "admin", "no_access", "owner"];

/// Why a filter or sort is refused, naming the part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    /// The part refused, as sent (`role:boss`).
    pub part: String,
    pub reason: String,
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.part, self.reason)
    }
}

impl std::error::Error for QueryError {}

fn refuse(part: &str, reason: impl Into<String>) -> QueryError {
    QueryError {
        part: part.to_owned(),
        reason: reason.into(),
    }
}

/// When a member was last seen, as one `lastSeen` alternative asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LastSeen {
    /// Never seen: no request recorded since the member was created.
    Never,
    /// No data: the same here, since every request is recorded from the start.
    NoData,
    /// Last seen before this time (ms since the epoch).
    Before(i64),
}

/// A member filter: every field given must hold; within a field, any alternative.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberFilter {
    /// Text the email or a name starts with (any word of it), lower-cased.
    pub query: Option<String>,
    /// Base roles; `admin` includes `owner`.
    pub roles: Vec<String>,
    pub ids: Vec<String>,
    /// Emails, lower-cased: they compare case-insensitively.
    pub emails: Vec<String>,
    /// Team keys: a member of any of them.
    pub teams: Vec<String>,
    /// `Some(true)`: on no team; `Some(false)`: on some team.
    pub no_team: Option<bool>,
    pub last_seen: Vec<LastSeen>,
}

impl MemberFilter {
    /// The team keys, when teams are all the filter names.
    pub fn only_teams(&self) -> Option<&[String]> {
        let only = !self.teams.is_empty()
            && *self
                == MemberFilter {
                    teams: self.teams.clone(),
                    ..MemberFilter::default()
                };
        only.then_some(self.teams.as_slice())
    }
}

/// A team filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TeamFilter {
    /// Text the key or the name starts with, lower-cased.
    pub query: Option<String>,
    /// `Some(true)`: teams without members.
    pub no_members: Option<bool>,
}

/// A filter of a list searched by text alone (custom roles, tokens): `query:<text>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextFilter {
    /// Text a key or name starts with, lower-cased.
    pub query: Option<String>,
}

/// A sort: the field's name as the caller spelt it, and whether it is descending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sort<F> {
    pub field: F,
    pub descending: bool,
}

/// What a member list is sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberSortField {
    DisplayName,
    LastSeen,
    CreatedAt,
}

/// What a team list is sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TeamSortField {
    Name,
    MemberCount,
}

/// Splits a filter at the commas outside `{...}`.
fn raw_parts(filter: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in filter.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(filter.get(start..i).unwrap_or_default());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(filter.get(start..).unwrap_or_default());
    out
}

/// A filter's `(part, field, value)`s, blank parts left out.
fn parts(filter: &str) -> Result<Vec<(&str, &str, &str)>, QueryError> {
    raw_parts(filter)
        .into_iter()
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (field, value) = part
                .split_once(':')
                .ok_or_else(|| refuse(part, "expected field:value"))?;
            Ok((part, field.trim(), value.trim()))
        })
        .collect()
}

/// A field's alternatives, none empty.
fn alternatives<'a>(part: &str, value: &'a str) -> Result<Vec<&'a str>, QueryError> {
    let values: Vec<&str> = value.split('|').map(str::trim).collect();
    if values.iter().any(|v| v.is_empty()) {
        return Err(refuse(part, "an empty value"));
    }
    Ok(values)
}

fn boolean(part: &str, value: &str) -> Result<bool, QueryError> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(refuse(part, "expected true or false")),
    }
}

pub fn query_text(part: &str, value: &str) -> Result<String, QueryError> {
    if value.is_empty() {
        return Err(refuse(part, "an empty query"));
    }
    if value.chars().any(char::is_control) {
        return Err(refuse(part, "control characters are not searched for"));
    }
    Ok(value.to_lowercase())
}

pub fn last_seen(part: &str, value: &str) -> Result<LastSeen, QueryError> {
    let bad = || {
        refuse(
            part,
            r#"expected {"never":true}, {"noData":true} or {"before":<ms>}"#,
        )
    };
    let Ok(Value::Object(object)) = serde_json::from_str::<Value>(value) else {
        return Err(bad());
    };
    let mut entries = object.iter();
    let (Some((key, v)), None) = (entries.next(), entries.next()) else {
        return Err(bad());
    };
    match (key.as_str(), v) {
        ("never", Value::Bool(true)) => Ok(LastSeen::Never),
        ("noData", Value::Bool(true)) => Ok(LastSeen::NoData),
        ("before", v) => v.as_i64().map(LastSeen::Before).ok_or_else(bad),
        _ => Err(bad()),
    }
}

/// Parses a member filter, refusing unknown fields and bad values with the part named.
pub fn parse_member_filter(filter: &str) -> Result<MemberFilter, QueryError> {
    let mut out = MemberFilter::default();
    for (part, field, value) in parts(filter)? {
        match field {
            "query" => out.query = Some(query_text(part, value)?),
            "role" => {
                for role in alternatives(part, value)? {
                    if !FILTER_ROLES.contains(&role) {
                        return Err(refuse(part, format!("unknown role {role:?}")));
                    }
                    out.roles.push(role.to_owned());
                }
            }
            "id" => out
                .ids
                .extend(alternatives(part, value)?.into_iter().map(str::to_owned)),
            "email" => out.emails.extend(
                alternatives(part, value)?
                    .into_iter()
                    .map(str::to_lowercase),
            ),
            "team" => out
                .teams
                .extend(alternatives(part, value)?.into_iter().map(str::to_owned)),
            "noteam" => out.no_team = Some(boolean(part, value)?),
            "lastSeen" => {
                for v in alternatives(part, value)? {
                    out.last_seen.push(last_seen(part, v)?);
                }
            }
            _ => return Err(refuse(part, unknown_field(field, MEMBER_FIELDS))),
        }
    }
    Ok(out)
}

const MEMBER_FIELDS: &str = "query, role, id, email, team, noteam, lastSeen";
const TEAM_FIELDS: &str = "query, nomembers";
const TEXT_FIELDS: &str = "query";

fn unknown_field(field: &str, known: &str) -> String {
    format!("unknown field {field:?}; the fields are {known}")
}

/// Parses a team filter.
pub fn parse_team_filter(filter: &str) -> Result<TeamFilter, QueryError> {
    let mut out = TeamFilter::default();
    for (part, field, value) in parts(filter)? {
        match field {
            "query" => out.query = Some(query_text(part, value)?),
            "nomembers" => out.no_members = Some(boolean(part, value)?),
            _ => return Err(refuse(part, unknown_field(field, TEAM_FIELDS))),
        }
    }
    Ok(out)
}

/// Parses the filter of a list searched by text alone: only `query` is known.
pub fn parse_text_filter(filter: &str) -> Result<TextFilter, QueryError> {
    let mut out = TextFilter::default();
    for (part, field, value) in parts(filter)? {
        match field {
            "query" => out.query = Some(query_text(part, value)?),
            _ => return Err(refuse(part, unknown_field(field, TEXT_FIELDS))),
        }
    }
    Ok(out)
}

fn sort<F: Copy>(text: &str, fields: &[(&str, F)]) -> Result<Sort<F>, QueryError> {
    let (descending, name) = match text.strip_prefix('-') {
        Some(name) => (true, name),
        None => (false, text),
    };
    let known: Vec<&str> = fields.iter().map(|(n, _)| *n).collect();
    fields
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, field)| Sort {
            field: *field,
            descending,
        })
        .ok_or_else(|| {
            refuse(
                text,
                format!(
                    "sort by one of {} (a leading '-' for descending)",
                    known.join(", ")
                ),
            )
        })
}

/// Parses a member sort: `displayName`, `lastSeen` or `createdAt`, `-` for descending.
pub fn parse_member_sort(text: &str) -> Result<Sort<MemberSortField>, QueryError> {
    use MemberSortField as F;
    sort(
        text,
        &[
            ("displayName", F::DisplayName),
            ("lastSeen", F::LastSeen),
            ("createdAt", F::CreatedAt),
        ],
    )
}

/// Parses a team sort: `name` or `memberCount`, `-` for descending.
pub fn parse_team_sort(text: &str) -> Result<Sort<TeamSortField>, QueryError> {
    sort(
        text,
        &[
            ("name", TeamSortField::Name),
            ("memberCount", TeamSortField::MemberCount),
        ],
    )
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_filter_of_teams_alone_is_told_apart() {
        let teams = parse_member_filter("team:eng|ops").unwrap();
        assert_eq!(
            teams.only_teams(),
            Some(&["eng".to_owned(), "ops".to_owned()][..])
        );
        assert_eq!(
            parse_member_filter("team:eng,role:admin")
                .unwrap()
                .only_teams(),
            None
        );
        assert_eq!(
            parse_member_filter("role:admin").unwrap().only_teams(),
            None
        );
    }

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn every_member_field_parses() {
        let f = parse_member_filter(
            r#"query:Ann, role:admin|writer,id:a|b,email:A@X.io,team:eng|ops,noteam:false,lastSeen:{"never":true}|{"before":1700}"#,
        )
        .unwrap();
        assert_eq!(f.query.as_deref(), Some("ann"));
        assert_eq!(f.roles, ["admin", "writer"]);
        assert_eq!(f.ids, ["a", "b"]);
        assert_eq!(f.emails, ["a@x.io"]);
        assert_eq!(f.teams, ["eng", "ops"]);
        assert_eq!(f.no_team, Some(false));
        assert_eq!(f.last_seen, [LastSeen::Never, LastSeen::Before(1700)]);
        assert_eq!(parse_member_filter("").unwrap(), MemberFilter::default());
    }

    #[test]
    fn a_bad_part_is_named() {
        let cases = [
            ("role:boss", "role:boss", "unknown role"),
            ("colour:red", "colour:red", "unknown field"),
            ("query", "query", "expected field:value"),
            ("noteam:yes", "noteam:yes", "true or false"),
            ("id:a||b", "id:a||b", "an empty value"),
            (
                r#"lastSeen:{"after":1}"#,
                r#"lastSeen:{"after":1}"#,
                "expected",
            ),
            (
                r#"lastSeen:{"before":"x"}"#,
                r#"lastSeen:{"before":"x"}"#,
                "expected",
            ),
            ("role:admin,query:", "query:", "an empty query"),
        ];
        for (filter, part, reason) in cases {
            let err = parse_member_filter(filter).unwrap_err();
            assert_eq!(err.part, part, "{filter}");
            assert!(err.reason.contains(reason), "{filter}: {err}");
        }
    }

    #[test]
    fn team_filters_and_sorts() {
        let f = parse_team_filter("query:Plat,nomembers:true").unwrap();
        assert_eq!(f.query.as_deref(), Some("plat"));
        assert_eq!(f.no_members, Some(true));
        assert!(parse_team_filter("role:admin").is_err());
        assert_eq!(
            parse_team_sort("-memberCount").unwrap(),
            Sort {
                field: TeamSortField::MemberCount,
                descending: true
            }
        );
        assert_eq!(
            parse_member_sort("lastSeen").unwrap(),
            Sort {
                field: MemberSortField::LastSeen,
                descending: false
            }
        );
        assert_eq!(
            parse_team_sort("name").unwrap(),
            Sort {
                field: TeamSortField::Name,
                descending: false
            }
        );
        let err = parse_team_sort("key").unwrap_err();
        assert!(err.reason.contains("name, memberCount"), "{err}");
        let err = parse_member_sort("email").unwrap_err();
        assert!(
            err.reason.contains("displayName, lastSeen, createdAt"),
            "{err}"
        );
    }

    #[test]
    fn a_text_filter_knows_only_query() {
        let f = parse_text_filter(" query:Dev ").unwrap();
        assert_eq!(f.query.as_deref(), Some("dev"));
        assert_eq!(parse_text_filter("").unwrap(), TextFilter::default());
        let err = parse_text_filter("query:a,nomembers:true").unwrap_err();
        assert_eq!(err.part, "nomembers:true");
        assert!(err.reason.contains("the fields are query"), "{err}");
        assert_eq!(parse_text_filter("query:").unwrap_err().part, "query:");
    }

    proptest! {
        #[test]
        fn parsing_never_panics(filter in ".{0,80}") {
            let _ = parse_member_filter(&filter);
            let _ = parse_team_filter(&filter);
            let _ = parse_text_filter(&filter);
            let _ = parse_team_sort(&filter);
            let _ = parse_member_sort(&filter);
        }

        #[test]
        fn a_well_formed_filter_keeps_its_values(
            ids in proptest::collection::vec("[a-z0-9-]{1,12}", 1..5),
            before in any::<i64>(),
        ) {
            let filter = format!("id:{},lastSeen:{{\"before\":{before}}}", ids.join("|"));
            let parsed = parse_member_filter(&filter).unwrap();
            prop_assert_eq!(parsed.ids, ids);
            prop_assert_eq!(parsed.last_seen, vec![LastSeen::Before(before)]);
        }
    }
}
