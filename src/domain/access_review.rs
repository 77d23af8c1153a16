//! The rows of an access review and their two renderings: one JSON object per line, or CSV
//! (RFC 4180 quoting, lists joined with `;`, each grant as `key@source`). One row per member
//! and per API token, each grant with where it came from.

use serde::Serialize;

use super::grant_source::GrantSource;

/// A role or team held, and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Grant {
    pub key: String,
    pub source: String,
}

impl Grant {
    pub fn new(key: &str, source: &GrantSource) -> Self {
        Self {
            key: key.to_owned(),
            source: source.to_string(),
        }
    }

    fn cell(&self) -> String {
        format!("{}@{}", self.key, self.source)
    }
}

/// The last SSO sign-in of a member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignIn {
    pub at: i64,
    pub connection: Option<String>,
    pub protocol: Option<String>,
}

/// What a reviewed principal is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum RowKind {
    Member,
    Token,
}

/// One reviewed principal: a member, or an API token (which acts within its owner's access).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReviewRow {
    pub kind: RowKind,
    pub id: String,
    /// A member's email; a token's name.
    pub name: String,
    /// Members: active | deactivated. Tokens: active | expired | revoked.
    pub status: String,
    /// The base role (none: a token that takes its roles from its owner or custom roles).
    pub role: Option<Grant>,
    /// Own custom roles first, then those held through a team (`team:<key>`).
    pub custom_roles: Vec<Grant>,
    pub teams: Vec<Grant>,
    /// Members: last seen. Tokens: last used.
    pub last_seen: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_sign_in: Option<SignIn>,
    /// Members: how many personal tokens are live (neither revoked nor expired).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub personal_tokens: Option<u64>,
    /// Tokens: the member a personal token acts as (none: a service token).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<String>,
    /// Tokens: when the token stops working.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

/// The CSV columns, in order.
pub const CSV_COLUMNS: [&str; 14] = [
    "kind",
    "id",
    "name",
    "status",
    "role",
    "customRoles",
    "teams",
    "lastSeen",
    "lastSignInAt",
    "lastSignInConnection",
    "lastSignInProtocol",
    "personalTokens",
    "ownerId",
    "expiresAt",
];

/// The CSV header line, with its line break.
pub fn csv_header() -> String {
    let mut line = CSV_COLUMNS.join(",");
    line.push_str("\r\n");
    line
}

impl ReviewRow {
    /// The row as one JSON line, with its line break.
    pub fn json_line(&self) -> String {
        // Serializing a struct of strings, numbers and options cannot fail.
        let mut line = serde_json::to_string(self).unwrap_or_default();
        line.push('\n');
        line
    }

    /// The row as one CSV line, with its line break.
    pub fn csv_line(&self) -> String {
        let grants = |g: &[Grant]| g.iter().map(Grant::cell).collect::<Vec<_>>().join(";");
        let number = |n: Option<i64>| n.map(|n| n.to_string()).unwrap_or_default();
        let sign_in = self.last_sign_in.as_ref();
        let cells = [
            match self.kind {
                RowKind::Member => "member".to_owned(),
                RowKind::Token => "token".to_owned(),
            },
            self.id.clone(),
            self.name.clone(),
            self.status.clone(),
            self.role.as_ref().map(Grant::cell).unwrap_or_default(),
            grants(&self.custom_roles),
            grants(&self.teams),
            number(self.last_seen),
            number(sign_in.map(|s| s.at)),
            sign_in
                .and_then(|s| s.connection.clone())
                .unwrap_or_default(),
            sign_in.and_then(|s| s.protocol.clone()).unwrap_or_default(),
            self.personal_tokens
                .map(|n| n.to_string())
                .unwrap_or_default(),
            self.owner_id.clone().unwrap_or_default(),
            number(self.expires_at),
        ];
        let mut line = cells
            .iter()
            .map(|c| csv_cell(c))
            .collect::<Vec<_>>()
            .join(",");
        line.push_str("\r\n");
        line
    }
}

/// A CSV cell, quoted when it holds a comma, quote or line break (quotes doubled). A cell
/// starting with `=`, `+`, `-` or `@` is quoted too and prefixed with `'`, so a spreadsheet
/// shows an IdP-supplied name instead of running it as a formula.
pub fn csv_cell(value: &str) -> String {
    let formula = value.starts_with(['=', '+', '-', '@']);
    let needs_quotes = formula || value.contains([',', '"', '\n', '\r']);
    if !needs_quotes {
        return value.to_owned();
    }
    let mut out = String::with_capacity(value.len() + 3);
    out.push('"');
    if formula {
        out.push('\'');
    }
    out.push_str(&value.replace('"', "\"\""));
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use proptest::prelude::*;

    fn row() -> ReviewRow {
        ReviewRow {
            kind: RowKind::Member,
            id: "m1".into(),
            name: "ada@example.test".into(),
            status: "active".into(),
            role: Some(Grant::new("writer", &GrantSource::scim("okta"))),
            custom_roles: vec![
                Grant::new("viewer", &GrantSource::mapping("okta", 1)),
                Grant::new("ops", &GrantSource::team("sre")),
            ],
            teams: vec![Grant::new("sre", &GrantSource::Unknown)],
            last_seen: Some(5),
            last_sign_in: Some(SignIn {
                at: 4,
                connection: Some("okta".into()),
                protocol: Some("saml".into()),
            }),
            personal_tokens: Some(2),
            owner_id: None,
            expires_at: None,
        }
    }

    #[test]
    fn a_csv_line_has_a_cell_per_column_with_grants_at_their_sources() {
        let line = row().csv_line();
        assert_eq!(
            line,
            "member,m1,ada@example.test,active,writer@scim:okta,\
             viewer@mapping:okta#1;ops@team:sre,sre@unknown,5,4,okta,saml,2,,\r\n"
        );
        assert_eq!(csv_header().split(',').count(), CSV_COLUMNS.len());
    }

    #[test]
    fn a_json_line_is_one_object_per_line() {
        let line = row().json_line();
        assert!(line.ends_with('\n') && !line.trim_end().contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["role"]["source"], "scim:okta");
        assert_eq!(v["customRoles"][1]["source"], "team:sre");
        assert_eq!(v["lastSignIn"]["protocol"], "saml");
        assert_eq!(v["personalTokens"], 2);
        assert!(v.get("ownerId").is_none());
    }

    #[test]
    fn cells_with_separators_quotes_or_formulas_are_quoted() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_cell("=SUM(A1)"), "\"'=SUM(A1)\"");
    }

    /// Reads one RFC 4180 line back (no formula prefix in the input).
    fn parse_csv_line(line: &str) -> Vec<String> {
        let mut cells = vec![String::new()];
        let mut quoted = false;
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            match (c, quoted) {
                ('"', true) if chars.peek() == Some(&'"') => {
                    chars.next();
                    cells.last_mut().unwrap().push('"');
                }
                ('"', _) => quoted = !quoted,
                (',', false) => cells.push(String::new()),
                (c, _) => cells.last_mut().unwrap().push(c),
            }
        }
        cells
    }

    proptest! {
        #[test]
        fn any_name_survives_csv_quoting(name in "[^=+@-][a-z,\"\n ;@]{0,12}") {
            let mut r = row();
            r.name = name.clone();
            let line = r.csv_line();
            let cells = parse_csv_line(line.strip_suffix("\r\n").unwrap());
            prop_assert_eq!(cells.len(), CSV_COLUMNS.len());
            prop_assert_eq!(&cells[2], &name);
        }
    }
}
