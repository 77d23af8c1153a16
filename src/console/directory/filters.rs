//! The directory's filter forms as the query string carries them, and the LaunchDarkly
//! filter, sort and page the service lists with: `query:ann,role:admin,team:eng,noteam:true,
//! lastSeen:{"never":true}|{"before":<ms>}`. Pure: no I/O, so the translation is unit-tested.

use serde::Deserialize;

use crate::error::Error;
use crate::service::paging::SortedQuery;

/// Rows per page of a directory list.
pub const PAGE: u64 = 50;

const DAY_MS: i64 = 86_400_000;
/// The longest "not seen for" a form may ask: a hundred years.
const MAX_DAYS: i64 = 36_500;

/// The roles the member filter offers, with their labels; `admin` takes the owner too.
pub const ROLE_CHOICES: [(&str, &str); 6] = [
    ("", "Any role"),
    ("reader", "reader"),
    ("writer", "writer"),
    ("admin", "admin (and the owner)"),
    ("owner", "owner"),
    ("no_access", "no_access"),
];

/// The member sorts offered: LaunchDarkly's names, by email when none.
pub const MEMBER_SORTS: [(&str, &str); 7] = [
    ("", "Email"),
    ("displayName", "Name, A to Z"),
    ("-displayName", "Name, Z to A"),
    ("-lastSeen", "Last seen, latest first"),
    ("lastSeen", "Last seen, never seen first"),
    ("-createdAt", "Newest first"),
    ("createdAt", "Oldest first"),
];

/// The team sorts offered, by key when none.
pub const TEAM_SORTS: [(&str, &str); 5] = [
    ("", "Key"),
    ("name", "Name, A to Z"),
    ("-name", "Name, Z to A"),
    ("-memberCount", "Most members first"),
    ("memberCount", "Fewest members first"),
];

/// The member filter form.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct MemberFilters {
    /// Text the email, the name or the last name starts with.
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub role: String,
    /// A team key.
    #[serde(default)]
    pub team: String,
    /// `true` when "on no team" is ticked.
    #[serde(default, rename = "noTeam")]
    pub no_team: String,
    /// Not seen for at least this many days (never seen included).
    #[serde(default, rename = "notSeenDays")]
    pub not_seen_days: String,
    #[serde(default)]
    pub sort: String,
    #[serde(default)]
    pub offset: String,
}

/// The team filter form.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct TeamFilters {
    #[serde(default)]
    pub q: String,
    /// `true`: teams without members; `false`: teams with some.
    #[serde(default, rename = "noMembers")]
    pub no_members: String,
    #[serde(default)]
    pub sort: String,
    #[serde(default)]
    pub offset: String,
}

/// The service query the member form stands for; a bad field is a 400 naming it.
pub fn member_query(f: &MemberFilters, now_ms: i64) -> Result<SortedQuery, Error> {
    let mut parts = Vec::new();
    if let Some(q) = search_text("q", &f.q)? {
        parts.push(format!("query:{q}"));
    }
    match f.role.as_str() {
        "" => {}
        role if ROLE_CHOICES.iter().any(|(r, _)| *r == role) => parts.push(format!("role:{role}")),
        other => {
            return Err(Error::invalid(format!(
                "role: {other:?} is not a base role"
            )));
        }
    }
    if let Some(team) = team_key(&f.team)? {
        parts.push(format!("team:{team}"));
    }
    if f.no_team == "true" {
        parts.push("noteam:true".to_owned());
    }
    if let Some(days) = days("notSeenDays", &f.not_seen_days)? {
        let before = now_ms.saturating_sub(days.saturating_mul(DAY_MS));
        parts.push(format!(
            r#"lastSeen:{{"never":true}}|{{"before":{before}}}"#
        ));
    }
    Ok(SortedQuery {
        filter: joined(parts),
        sort: chosen_sort(&f.sort, &MEMBER_SORTS)?,
        limit: Some(PAGE),
        offset: Some(offset(&f.offset)?),
    })
}

/// The service query the team form stands for.
pub fn team_query(f: &TeamFilters) -> Result<SortedQuery, Error> {
    let mut parts = Vec::new();
    if let Some(q) = search_text("q", &f.q)? {
        parts.push(format!("query:{q}"));
    }
    match f.no_members.as_str() {
        "" => {}
        b @ ("true" | "false") => parts.push(format!("nomembers:{b}")),
        other => {
            return Err(Error::invalid(format!(
                "noMembers: {other:?} is not true or false"
            )));
        }
    }
    Ok(SortedQuery {
        filter: joined(parts),
        sort: chosen_sort(&f.sort, &TEAM_SORTS)?,
        limit: Some(PAGE),
        offset: Some(offset(&f.offset)?),
    })
}

fn joined(parts: Vec<String>) -> Option<String> {
    (!parts.is_empty()).then(|| parts.join(","))
}

/// Search text: the filter syntax keeps `,` and braces for itself, so they are refused
/// rather than silently cut.
fn search_text<'a>(field: &str, text: &'a str) -> Result<Option<&'a str>, Error> {
    let Some(text) = super::typed(text) else {
        return Ok(None);
    };
    if text.contains([',', '{', '}']) || text.chars().any(char::is_control) {
        return Err(Error::invalid(format!(
            "{field}: search text without commas, braces or control characters"
        )));
    }
    Ok(Some(text))
}

fn team_key(text: &str) -> Result<Option<&str>, Error> {
    let Some(key) = super::typed(text) else {
        return Ok(None);
    };
    let valid = key
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !valid {
        return Err(Error::invalid(
            "team: a team key (letters, digits, '.', '_', '-')",
        ));
    }
    Ok(Some(key))
}

fn days(field: &str, text: &str) -> Result<Option<i64>, Error> {
    let Some(text) = super::typed(text) else {
        return Ok(None);
    };
    text.parse::<i64>()
        .ok()
        .filter(|d| (1..=MAX_DAYS).contains(d))
        .map(Some)
        .ok_or_else(|| Error::invalid(format!("{field}: a whole number of days, 1 to {MAX_DAYS}")))
}

fn chosen_sort(sort: &str, offered: &[(&str, &str)]) -> Result<Option<String>, Error> {
    match sort {
        "" => Ok(None),
        s if offered.iter().any(|(o, _)| *o == s) => Ok(Some(s.to_owned())),
        other => Err(Error::invalid(format!("sort: {other:?} is not offered"))),
    }
}

fn offset(text: &str) -> Result<u64, Error> {
    match super::typed(text) {
        None => Ok(0),
        Some(n) => n
            .parse()
            .map_err(|_| Error::invalid("offset: a whole number")),
    }
}

/// `path?` the given form fields (blank ones left out) and `offset`, for paging links.
pub fn link(path: &str, fields: &[(&str, &str)], offset: u64) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in fields.iter().filter(|(_, v)| !v.is_empty()) {
        query.append_pair(k, v);
    }
    if offset > 0 {
        query.append_pair("offset", &offset.to_string());
    }
    let query = query.finish();
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    }
}

impl MemberFilters {
    /// The form's fields as a link carries them (the offset apart).
    pub fn fields(&self) -> [(&str, &str); 6] {
        [
            ("q", self.q.as_str()),
            ("role", self.role.as_str()),
            ("team", self.team.as_str()),
            ("noTeam", self.no_team.as_str()),
            ("notSeenDays", self.not_seen_days.as_str()),
            ("sort", self.sort.as_str()),
        ]
    }
}

impl TeamFilters {
    /// The form's fields as a link carries them (the offset apart).
    pub fn fields(&self) -> [(&str, &str); 3] {
        [
            ("q", self.q.as_str()),
            ("noMembers", self.no_members.as_str()),
            ("sort", self.sort.as_str()),
        ]
    }
}

/// Where the previous and next pages start, if there are such pages.
pub fn neighbours(offset: u64, shown: usize, total: u64) -> (Option<u64>, Option<u64>) {
    let previous = (offset > 0).then(|| offset.saturating_sub(PAGE));
    let end = offset.saturating_add(u64::try_from(shown).unwrap_or(u64::MAX));
    let next = (shown > 0 && end < total).then_some(end);
    (previous, next)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn members(f: MemberFilters) -> SortedQuery {
        member_query(&f, 100 * DAY_MS).unwrap()
    }

    #[test]
    fn an_empty_form_lists_every_member_by_email() {
        let q = members(MemberFilters::default());
        assert_eq!(q.filter, None);
        assert_eq!(q.sort, None);
        assert_eq!((q.limit, q.offset), (Some(PAGE), Some(0)));
    }

    #[test]
    fn the_form_becomes_launchdarklys_filter() {
        let q = members(MemberFilters {
            q: " ann ".into(),
            role: "admin".into(),
            team: "eng".into(),
            no_team: "true".into(),
            not_seen_days: "30".into(),
            sort: "-lastSeen".into(),
            offset: "50".into(),
        });
        let before = 70 * DAY_MS;
        assert_eq!(
            q.filter.unwrap(),
            format!(
                r#"query:ann,role:admin,team:eng,noteam:true,lastSeen:{{"never":true}}|{{"before":{before}}}"#
            )
        );
        assert_eq!(q.sort.as_deref(), Some("-lastSeen"));
        assert_eq!(q.offset, Some(50));
        // What the form builds, the service's parser reads.
        crate::domain::directory_query::parse_member_filter(
            &members(MemberFilters {
                q: "ann".into(),
                not_seen_days: "30".into(),
                ..Default::default()
            })
            .filter
            .unwrap(),
        )
        .unwrap();
    }

    #[test]
    fn bad_fields_are_refused_by_name() {
        let refused = |f: MemberFilters| member_query(&f, 0).unwrap_err().to_string();
        assert!(
            refused(MemberFilters {
                q: "a,b".into(),
                ..Default::default()
            })
            .starts_with("q:")
        );
        assert!(
            refused(MemberFilters {
                role: "boss".into(),
                ..Default::default()
            })
            .starts_with("role:")
        );
        assert!(
            refused(MemberFilters {
                team: "a b".into(),
                ..Default::default()
            })
            .starts_with("team:")
        );
        assert!(
            refused(MemberFilters {
                not_seen_days: "0".into(),
                ..Default::default()
            })
            .starts_with("notSeenDays:")
        );
        assert!(
            refused(MemberFilters {
                sort: "-email".into(),
                ..Default::default()
            })
            .starts_with("sort:")
        );
        assert!(
            refused(MemberFilters {
                offset: "-1".into(),
                ..Default::default()
            })
            .starts_with("offset:")
        );
    }

    #[test]
    fn teams_filter_by_text_and_members() {
        let q = team_query(&TeamFilters {
            q: "pl".into(),
            no_members: "false".into(),
            sort: "-memberCount".into(),
            offset: String::new(),
        })
        .unwrap();
        assert_eq!(q.filter.as_deref(), Some("query:pl,nomembers:false"));
        assert_eq!(q.sort.as_deref(), Some("-memberCount"));
        assert!(
            team_query(&TeamFilters {
                no_members: "maybe".into(),
                ..Default::default()
            })
            .is_err()
        );
    }

    #[test]
    fn links_keep_the_filters_and_pages_neighbour() {
        let f = MemberFilters {
            q: "a b".into(),
            role: "writer".into(),
            ..Default::default()
        };
        assert_eq!(
            link("/console/directory", &f.fields(), 100),
            "/console/directory?q=a+b&role=writer&offset=100"
        );
        assert_eq!(
            link("/console/directory", &[("q", "")], 0),
            "/console/directory"
        );
        assert_eq!(neighbours(0, 50, 120), (None, Some(50)));
        assert_eq!(neighbours(50, 50, 120), (Some(0), Some(100)));
        assert_eq!(neighbours(100, 20, 120), (Some(50), None));
        assert_eq!(neighbours(0, 0, 0), (None, None));
    }
}
