//! Where a grant came from: a member's base role, each custom role and each team membership
//! carries the source that last granted it, so an access review can say why someone has
//! what they have. Sources are stored as text (`scim:okta`, `mapping:okta#2`, `rest:<id>`);
//! a grant from before sources were recorded has none and reads as `unknown`.
//!
//! A grant keeps its source while it stays; a change that grants it anew (a role that
//! changes, a custom role or team that appears) gives it the source of that change.

use std::collections::BTreeMap;
use std::fmt;

/// Who or what granted something.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum GrantSource {
    /// A SCIM statement of this connection (an explicit attribute, a group, the default role).
    Scim(String),
    /// A SAML or OIDC sign-in through this connection.
    Sso(String),
    /// Rule `rule` (0-based) of this connection's mapping rules.
    Mapping { connection: String, rule: usize },
    /// A REST change by this member or token id.
    Rest(String),
    /// Held through this team (derived when reviewing, never stored).
    Team(String),
    /// Granted before sources were recorded, or unreadable.
    Unknown,
}

impl GrantSource {
    pub fn scim(connection: &str) -> Self {
        Self::Scim(connection.to_owned())
    }

    pub fn sso(connection: &str) -> Self {
        Self::Sso(connection.to_owned())
    }

    pub fn mapping(connection: &str, rule: usize) -> Self {
        Self::Mapping {
            connection: connection.to_owned(),
            rule,
        }
    }

    pub fn rest(actor: &str) -> Self {
        Self::Rest(actor.to_owned())
    }

    pub fn team(key: &str) -> Self {
        Self::Team(key.to_owned())
    }

    /// What a connection's statement granted through mapping rule `rule` (none: the
    /// statement itself, an explicit attribute or the connection's default).
    pub fn through_rule(&self, rule: Option<usize>) -> Self {
        match (self, rule) {
            (Self::Scim(c) | Self::Sso(c), Some(rule)) => Self::mapping(c, rule),
            _ => self.clone(),
        }
    }

    /// A stored source; `None` (nothing recorded) and anything unreadable are `Unknown`.
    pub fn parse(stored: Option<&str>) -> Self {
        let Some((kind, rest)) = stored.and_then(|s| s.split_once(':')) else {
            return Self::Unknown;
        };
        if rest.is_empty() {
            return Self::Unknown;
        }
        match kind {
            "scim" => Self::scim(rest),
            "sso" => Self::sso(rest),
            "rest" => Self::rest(rest),
            "team" => Self::team(rest),
            "mapping" => match rest.rsplit_once('#') {
                // Only the canonical spelling, so every source has one text.
                Some((connection, rule)) if !connection.is_empty() => rule
                    .parse::<usize>()
                    .ok()
                    .filter(|r| r.to_string() == rule)
                    .map_or(Self::Unknown, |rule| Self::mapping(connection, rule)),
                _ => Self::Unknown,
            },
            _ => Self::Unknown,
        }
    }

    /// The text stored for this source (`Unknown` stores nothing).
    pub fn stored(&self) -> Option<String> {
        match self {
            Self::Unknown => None,
            other => Some(other.to_string()),
        }
    }
}

impl fmt::Display for GrantSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Scim(c) => write!(f, "scim:{c}"),
            Self::Sso(c) => write!(f, "sso:{c}"),
            Self::Mapping { connection, rule } => write!(f, "mapping:{connection}#{rule}"),
            Self::Rest(a) => write!(f, "rest:{a}"),
            Self::Team(k) => write!(f, "team:{k}"),
            Self::Unknown => f.write_str("unknown"),
        }
    }
}

/// Stored sources of a member's custom roles: role key -> stored source.
pub type CustomRoleSources = BTreeMap<String, String>;

/// The base role's source after a change from `before` to `after` (none before: a new
/// member): the old source while the role stays, `source` when it changes.
pub fn regrant_role(
    before: Option<(&str, Option<&str>)>,
    after: &str,
    source: &GrantSource,
) -> Option<String> {
    match before {
        Some((role, kept)) if role == after => kept.map(str::to_owned),
        _ => source.stored(),
    }
}

/// The custom roles' sources after a change to `after`: a role that stays keeps its source,
/// a new one takes `source_of(key)`, one that goes loses it.
pub fn regrant_custom_roles(
    before: &CustomRoleSources,
    after: &[String],
    was_held: impl Fn(&str) -> bool,
    source_of: impl Fn(&str) -> GrantSource,
) -> CustomRoleSources {
    after
        .iter()
        .filter_map(|key| {
            let source = if was_held(key) {
                before.get(key).cloned()
            } else {
                source_of(key).stored()
            };
            source.map(|s| (key.clone(), s))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_source_reads_back_as_written() {
        for s in [
            GrantSource::scim("okta"),
            GrantSource::sso("entra"),
            GrantSource::mapping("okta", 3),
            GrantSource::rest("m-1"),
            GrantSource::team("ops"),
        ] {
            assert_eq!(GrantSource::parse(s.stored().as_deref()), s);
        }
        assert_eq!(GrantSource::Unknown.stored(), None);
        assert_eq!(GrantSource::mapping("a#b", 2).to_string(), "mapping:a#b#2");
        assert_eq!(
            GrantSource::parse(Some("mapping:a#b#2")),
            GrantSource::mapping("a#b", 2)
        );
    }

    #[test]
    fn nothing_recorded_or_unreadable_is_unknown() {
        for stored in [
            None,
            Some(""),
            Some("scim"),
            Some("scim:"),
            Some("x:y"),
            Some("mapping:okta#x"),
        ] {
            assert_eq!(
                GrantSource::parse(stored),
                GrantSource::Unknown,
                "{stored:?}"
            );
        }
        assert_eq!(GrantSource::Unknown.to_string(), "unknown");
    }

    #[test]
    fn a_rule_of_a_connection_is_a_mapping_source() {
        assert_eq!(
            GrantSource::scim("okta").through_rule(Some(1)),
            GrantSource::mapping("okta", 1)
        );
        assert_eq!(
            GrantSource::sso("okta").through_rule(Some(0)),
            GrantSource::mapping("okta", 0)
        );
        assert_eq!(
            GrantSource::scim("okta").through_rule(None),
            GrantSource::scim("okta")
        );
        assert_eq!(
            GrantSource::rest("m").through_rule(Some(1)),
            GrantSource::rest("m")
        );
    }

    #[test]
    fn a_role_keeps_its_source_until_it_changes() {
        let rest = GrantSource::rest("m-1");
        assert_eq!(
            regrant_role(Some(("writer", Some("scim:okta"))), "writer", &rest),
            Some("scim:okta".to_owned())
        );
        assert_eq!(
            regrant_role(Some(("writer", None)), "writer", &rest),
            None,
            "an unknown source stays unknown rather than being claimed"
        );
        assert_eq!(
            regrant_role(Some(("writer", Some("scim:okta"))), "admin", &rest),
            Some("rest:m-1".to_owned())
        );
        assert_eq!(
            regrant_role(None, "reader", &rest),
            Some("rest:m-1".to_owned())
        );
    }

    #[test]
    fn custom_roles_keep_theirs_and_new_ones_take_the_change() {
        let before: CustomRoleSources = [("a".to_owned(), "scim:okta".to_owned())].into();
        let held = ["a".to_owned(), "gone".to_owned()];
        let after = ["a".to_owned(), "b".to_owned()];
        let out = regrant_custom_roles(
            &before,
            &after,
            |k| held.iter().any(|h| h == k),
            |k| GrantSource::mapping("okta", k.len()),
        );
        assert_eq!(
            out,
            [
                ("a".to_owned(), "scim:okta".to_owned()),
                ("b".to_owned(), "mapping:okta#1".to_owned())
            ]
            .into()
        );
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_known_sources_round_trip(
            text in "(scim|sso|rest|team|mapping|x)?:?[a-z#0-9+:]{0,8}"
        ) {
            let source = GrantSource::parse(Some(&text));
            if source != GrantSource::Unknown {
                prop_assert_eq!(source.to_string(), text);
            }
        }

        #[test]
        fn regranted_custom_roles_are_exactly_the_held_ones(
            after in proptest::collection::btree_set("[a-c]", 0..3),
            held in proptest::collection::btree_set("[a-c]", 0..3),
        ) {
            let after: Vec<String> = after.into_iter().collect();
            let before: CustomRoleSources =
                held.iter().map(|k| (k.clone(), format!("scim:{k}"))).collect();
            let out = regrant_custom_roles(&before, &after, |k| held.contains(k), |_| GrantSource::rest("x"));
            prop_assert_eq!(out.keys().cloned().collect::<Vec<_>>(), after);
        }
    }
}
