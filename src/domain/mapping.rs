//! Mapping rules: what an identity provider says about a person (SCIM attributes, SAML
//! attributes, OIDC claims, group memberships) becomes a base role, custom roles with role
//! attributes, and teams. One set of ordered rules per connection serves SCIM, SAML and OIDC.
//!
//! Explicit attributes come first: `role`, `customRole` (an array, or comma-separated values,
//! as LaunchDarkly accepts) and `teamKey`. The rules then add what matches. The `owner` role
//! can never come from an identity provider.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::policy::{BaseRole, Glob};

/// Role attributes as assigned: attribute key -> values.
pub type RoleAttributes = BTreeMap<String, Vec<String>>;

/// A group the person belongs to at the IdP. SCIM and Entra send ids, SAML and OIDC names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdpGroup {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub name: String,
}

/// What an IdP says about a person, flattened to attribute name -> values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdpProfile {
    pub attributes: BTreeMap<String, Vec<String>>,
    pub groups: Vec<IdpGroup>,
    /// The IdP said the person is in more groups than it sends (Entra's group overage: a link
    /// in place of the groups claim): the groups are unknown, which is not the same as none.
    pub groups_overage: bool,
}

/// The attribute names read as explicit assignments, compared case-insensitively.
pub const ROLE_ATTRIBUTE: &str = "role";
pub const CUSTOM_ROLE_ATTRIBUTE: &str = "customRole";
pub const TEAM_KEY_ATTRIBUTE: &str = "teamKey";

impl IdpProfile {
    /// All values of an attribute, its name compared case-insensitively.
    pub fn values(&self, name: &str) -> impl Iterator<Item = &str> {
        self.attributes
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.iter().map(String::as_str))
    }

    /// Adds values to an attribute (creating it), keeping the first spelling of its name.
    pub fn push(&mut self, name: &str, values: impl IntoIterator<Item = String>) {
        let key = self
            .attributes
            .keys()
            .find(|k| k.eq_ignore_ascii_case(name))
            .cloned()
            .unwrap_or_else(|| name.to_owned());
        self.attributes.entry(key).or_default().extend(values);
    }
}

/// What a rule matches on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleMatch {
    /// A group whose name or id matches this glob (`*`, `?`), case-sensitively.
    Group(Glob),
    /// An attribute (name compared case-insensitively) with a value matching the glob.
    Attribute { attribute: String, value: Glob },
}

/// One ordered mapping rule: when it matches, it grants what it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingRule {
    pub r#match: RuleMatch,
    pub team: Option<String>,
    pub custom_roles: Vec<String>,
    pub role_attributes: RoleAttributes,
    pub role: Option<BaseRole>,
}

/// What the IdP's view of a person comes to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MappingOutcome {
    /// The explicit `role` attribute, else the highest role of the matched rules, else none
    /// (the caller keeps the member's role, or uses the connection's default for a new one).
    pub role: Option<BaseRole>,
    /// Explicit `customRole` values first, then the matched rules', de-duplicated.
    pub custom_roles: Vec<String>,
    /// The union of the matched rules' role attributes.
    pub role_attributes: RoleAttributes,
    /// Explicit `teamKey` values first, then the matched rules' teams, de-duplicated.
    pub teams: Vec<String>,
    /// Indexes of the rules that matched, in order.
    pub matched_rules: Vec<usize>,
    /// The rule that gave `role` (none: the explicit attribute, or no role).
    #[serde(skip)]
    pub role_rule: Option<usize>,
    /// The rule that first gave each custom role not stated explicitly.
    #[serde(skip)]
    pub custom_role_rules: BTreeMap<String, usize>,
    /// The rule that first gave each team not stated explicitly.
    #[serde(skip)]
    pub team_rules: BTreeMap<String, usize>,
    /// What the profile's unknown groups could have given (all false unless the groups are
    /// unknown): the caller leaves those grants as they are.
    #[serde(skip)]
    pub unknown: GroupGrants,
}

/// The kinds of grant that rules matching on groups give.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupGrants {
    pub role: bool,
    /// Custom roles or role attributes.
    pub custom_roles: bool,
    pub teams: bool,
}

impl GroupGrants {
    /// What the group rules among `rules` give.
    pub fn of(rules: &[MappingRule]) -> GroupGrants {
        rules
            .iter()
            .filter(|r| matches!(r.r#match, RuleMatch::Group(_)))
            .fold(GroupGrants::default(), |kinds, r| GroupGrants {
                role: kinds.role || r.role.is_some(),
                custom_roles: kinds.custom_roles
                    || !r.custom_roles.is_empty()
                    || !r.role_attributes.is_empty(),
                teams: kinds.teams || r.team.is_some(),
            })
    }
}

/// Why a profile cannot be mapped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    #[error("role: the owner role can never be assigned by an identity provider")]
    OwnerRole,
    #[error("role: {0:?} is not a base role (reader, writer, admin, no_access)")]
    UnknownRole(String),
}

/// Maps a profile through the rules. Pure: the caller checks custom role keys and team keys
/// against what exists. When the profile's groups are unknown, group rules are not evaluated
/// and the outcome says which grants they could have given ([`MappingOutcome::unknown`]); a
/// base role a group rule could have given is then left to the caller (none here) unless the
/// IdP stated one explicitly.
pub fn map_profile(
    rules: &[MappingRule],
    profile: &IdpProfile,
) -> Result<MappingOutcome, MappingError> {
    let mut out = MappingOutcome {
        role: explicit_role(profile)?,
        custom_roles: split_custom_roles(profile.values(CUSTOM_ROLE_ATTRIBUTE)),
        ..MappingOutcome::default()
    };
    for key in profile
        .values(TEAM_KEY_ATTRIBUTE)
        .flat_map(|v| v.split(','))
    {
        push_unique(&mut out.teams, key.trim());
    }
    let explicit_role = out.role.is_some();
    let mut rule_role: Option<(BaseRole, usize)> = None;
    if profile.groups_overage {
        out.unknown = GroupGrants::of(rules);
    }
    for (i, rule) in rules.iter().enumerate() {
        if !rule_matches(&rule.r#match, profile) {
            continue;
        }
        out.matched_rules.push(i);
        if let Some(team) = &rule.team
            && push_unique(&mut out.teams, team)
        {
            out.team_rules.insert(team.clone(), i);
        }
        for role in &rule.custom_roles {
            if push_unique(&mut out.custom_roles, role) {
                out.custom_role_rules.insert(role.clone(), i);
            }
        }
        for (key, values) in &rule.role_attributes {
            let merged = out.role_attributes.entry(key.clone()).or_default();
            for v in values {
                push_unique(merged, v);
            }
        }
        if let Some(role) = rule.role {
            if role == BaseRole::Owner {
                return Err(MappingError::OwnerRole);
            }
            if rule_role.is_none_or(|(r, _)| role.rank() > r.rank()) {
                rule_role = Some((role, i));
            }
        }
    }
    if !explicit_role && !out.unknown.role {
        out.role = rule_role.map(|(role, _)| role);
        out.role_rule = rule_role.map(|(_, i)| i);
    }
    Ok(out)
}

/// The team a pushed group becomes: the first matching rule that names a team.
pub fn team_for_group(rules: &[MappingRule], group: &IdpGroup) -> Option<String> {
    rules.iter().find_map(|rule| match &rule.r#match {
        RuleMatch::Group(glob) if group_matches(glob, group) => rule.team.clone(),
        _ => None,
    })
}

/// A team key derived from a display name: lower-case ASCII letters and digits, with every
/// run of other characters turned into one `-`; `team` when nothing is left.
pub fn team_key_from_display_name(name: &str) -> String {
    let mut key = String::with_capacity(name.len());
    let mut dash = false;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            if dash && !key.is_empty() {
                key.push('-');
            }
            dash = false;
            key.push(c.to_ascii_lowercase());
        } else {
            dash = true;
        }
    }
    key.truncate(128);
    while key.ends_with('-') {
        key.pop();
    }
    if key.is_empty() {
        key.push_str("team");
    }
    key
}

/// Splits comma-separated custom role values, trims, drops empties and duplicates.
pub fn split_custom_roles<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut out = Vec::new();
    for value in values {
        for key in value.split(',') {
            push_unique(&mut out, key.trim());
        }
    }
    out
}

fn explicit_role(profile: &IdpProfile) -> Result<Option<BaseRole>, MappingError> {
    let Some(value) = profile
        .values(ROLE_ATTRIBUTE)
        .map(str::trim)
        .find(|v| !v.is_empty())
    else {
        return Ok(None);
    };
    match BaseRole::parse(value) {
        Some(BaseRole::Owner) => Err(MappingError::OwnerRole),
        Some(role) => Ok(Some(role)),
        None => Err(MappingError::UnknownRole(value.to_owned())),
    }
}

fn rule_matches(m: &RuleMatch, profile: &IdpProfile) -> bool {
    match m {
        RuleMatch::Group(_) if profile.groups_overage => false,
        RuleMatch::Group(glob) => profile.groups.iter().any(|g| group_matches(glob, g)),
        RuleMatch::Attribute { attribute, value } => {
            profile.values(attribute).any(|v| value.matches(v))
        }
    }
}

fn group_matches(glob: &Glob, group: &IdpGroup) -> bool {
    glob.matches(&group.name) || group.id.as_deref().is_some_and(|id| glob.matches(id))
}

/// Appends `value` unless empty or present; true when it was appended.
fn push_unique(list: &mut Vec<String>, value: &str) -> bool {
    let new = !value.is_empty() && !list.iter().any(|v| v == value);
    if new {
        list.push(value.to_owned());
    }
    new
}

/// A rule as stored and sent over REST:
/// `{"match": {"group": "eng*"} | {"attribute": "department", "value": "Sales"},
///   "team"?, "customRoles"?, "roleAttributes"?, "role"?}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MappingRuleDoc {
    pub r#match: RuleMatchDoc,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    #[serde(
        default,
        deserialize_with = "crate::domain::json::null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub custom_roles: Vec<String>,
    #[serde(
        default,
        deserialize_with = "crate::domain::json::null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub role_attributes: RoleAttributes,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

/// The `match` of a rule on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum RuleMatchDoc {
    Group { group: String },
    Attribute { attribute: String, value: String },
}

/// Parses and checks a rule list, naming the offending rule and field
/// (`mappings[2].role: ...`). Team and custom role keys are checked by the caller.
pub fn parse_rules(doc: &Value) -> Result<Vec<(MappingRuleDoc, MappingRule)>, String> {
    let items = doc
        .as_array()
        .ok_or_else(|| "mappings: must be an array of rules".to_owned())?;
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let field = format!("mappings[{i}]");
        let rule: MappingRuleDoc =
            serde_json::from_value(item.clone()).map_err(|e| format!("{field}: {e}"))?;
        let r#match = match &rule.r#match {
            RuleMatchDoc::Group { group } if !group.is_empty() => {
                RuleMatch::Group(Glob::new(group))
            }
            RuleMatchDoc::Attribute { attribute, value } if !attribute.is_empty() => {
                RuleMatch::Attribute {
                    attribute: attribute.clone(),
                    value: Glob::new(value),
                }
            }
            _ => {
                return Err(format!(
                    "{field}.match: the group or attribute name is empty"
                ));
            }
        };
        let role = match rule.role.as_deref() {
            None => None,
            Some(name) => match BaseRole::parse(name) {
                Some(BaseRole::Owner) => {
                    return Err(format!("{field}.role: {}", MappingError::OwnerRole));
                }
                Some(role) => Some(role),
                None => {
                    return Err(format!(
                        "{field}.role: {name:?} is not a base role (reader, writer, admin, no_access)"
                    ));
                }
            },
        };
        if rule.team.is_none() && rule.custom_roles.is_empty() && role.is_none() {
            return Err(format!(
                "{field}: a rule must grant something: team, customRoles or role"
            ));
        }
        if !rule.role_attributes.is_empty() && rule.custom_roles.is_empty() {
            return Err(format!(
                "{field}.roleAttributes: role attributes go with customRoles"
            ));
        }
        let parsed = MappingRule {
            r#match,
            team: rule.team.clone(),
            custom_roles: rule.custom_roles.clone(),
            role_attributes: rule.role_attributes.clone(),
            role,
        };
        out.push((rule, parsed));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rules(doc: Value) -> Vec<MappingRule> {
        parse_rules(&doc)
            .unwrap()
            .into_iter()
            .map(|(_, r)| r)
            .collect()
    }

    fn profile(attrs: &[(&str, &[&str])], groups: &[&str]) -> IdpProfile {
        IdpProfile {
            attributes: attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
                .collect(),
            groups: groups
                .iter()
                .map(|g| IdpGroup {
                    id: None,
                    name: g.to_string(),
                })
                .collect(),
            groups_overage: false,
        }
    }

    #[test]
    fn unknown_groups_leave_what_group_rules_give_and_apply_the_rest() {
        let r = rules(json!([
            {"match": {"group": "eng-*"}, "team": "platform", "role": "admin"},
            {"match": {"attribute": "department", "value": "Sales"}, "role": "writer", "customRoles": ["seller"]},
        ]));
        let mut p = profile(&[("department", &["Sales"])], &["eng-backend"]);
        let known = map_profile(&r, &p).unwrap();
        assert_eq!(known.role, Some(BaseRole::Admin));
        assert_eq!(known.teams, vec!["platform"]);
        assert_eq!(known.unknown, GroupGrants::default());

        p.groups_overage = true;
        let unknown = map_profile(&r, &p).unwrap();
        // The group rule is not evaluated, and the role it could give is left to the caller.
        assert_eq!(unknown.matched_rules, vec![1]);
        assert_eq!(unknown.role, None);
        assert_eq!(unknown.role_rule, None);
        assert_eq!(unknown.custom_roles, vec!["seller"]);
        assert!(unknown.teams.is_empty());
        assert_eq!(
            unknown.unknown,
            GroupGrants {
                role: true,
                custom_roles: false,
                teams: true
            }
        );
        // An explicit role still counts.
        let mut explicit = p.clone();
        explicit.push("role", ["reader".to_owned()]);
        assert_eq!(
            map_profile(&r, &explicit).unwrap().role,
            Some(BaseRole::Reader)
        );
    }

    #[test]
    fn group_grants_name_only_what_group_rules_give() {
        let r = rules(json!([
            {"match": {"group": "a"}, "customRoles": ["x"]},
            {"match": {"attribute": "dept", "value": "*"}, "team": "t", "role": "admin"},
        ]));
        assert_eq!(
            GroupGrants::of(&r),
            GroupGrants {
                role: false,
                custom_roles: true,
                teams: false
            }
        );
        assert_eq!(GroupGrants::of(&[]), GroupGrants::default());
    }

    #[test]
    fn explicit_attributes_come_first_and_rules_add() {
        let r = rules(json!([
            {"match": {"group": "eng*"}, "team": "engineering", "customRoles": ["developer"],
             "roleAttributes": {"projects": ["web"]}},
            {"match": {"attribute": "department", "value": "Sales"}, "role": "reader"},
            {"match": {"group": "admins"}, "role": "admin"},
            {"match": {"group": "nobody"}, "team": "ghosts"}
        ]));
        let p = profile(
            &[
                ("CustomRole", &["qa, developer", "ops"]),
                ("teamKey", &["platform"]),
                ("Department", &["Sales"]),
            ],
            &["eng-backend", "admins"],
        );
        let out = map_profile(&r, &p).unwrap();
        assert_eq!(
            out.role,
            Some(BaseRole::Admin),
            "the highest matched rule role"
        );
        assert_eq!(out.custom_roles, ["qa", "developer", "ops"]);
        assert_eq!(out.teams, ["platform", "engineering"]);
        assert_eq!(out.role_attributes["projects"], ["web"]);
        assert_eq!(out.matched_rules, [0, 1, 2]);
    }

    #[test]
    fn an_explicit_role_beats_rule_roles_and_owner_never_maps() {
        let r = rules(json!([{"match": {"group": "*"}, "role": "admin"}]));
        let out = map_profile(&r, &profile(&[("role", &["reader"])], &["x"])).unwrap();
        assert_eq!(out.role, Some(BaseRole::Reader));
        assert_eq!(
            map_profile(&r, &profile(&[("role", &["owner"])], &[])),
            Err(MappingError::OwnerRole)
        );
        assert_eq!(
            map_profile(&r, &profile(&[("role", &["boss"])], &[])),
            Err(MappingError::UnknownRole("boss".into()))
        );
        assert_eq!(
            map_profile(&[], &profile(&[("role", &["noAccess"])], &[]))
                .unwrap()
                .role,
            Some(BaseRole::NoAccess)
        );
        assert!(parse_rules(&json!([{"match": {"group": "*"}, "role": "owner"}])).is_err());
    }

    #[test]
    fn no_match_means_nothing_granted() {
        let r = rules(json!([{"match": {"group": "eng"}, "team": "engineering"}]));
        let out = map_profile(&r, &profile(&[], &["engineering"])).unwrap();
        assert_eq!(out, MappingOutcome::default());
    }

    #[test]
    fn groups_match_by_name_or_id() {
        let r = rules(json!([
            {"match": {"group": "00g1*"}, "team": "by-id"},
            {"match": {"group": "Engineering"}, "team": "by-name"}
        ]));
        let by_id = IdpGroup {
            id: Some("00g1abc".into()),
            name: "Whatever".into(),
        };
        assert_eq!(team_for_group(&r, &by_id).as_deref(), Some("by-id"));
        let by_name = IdpGroup {
            id: Some("zzz".into()),
            name: "Engineering".into(),
        };
        assert_eq!(team_for_group(&r, &by_name).as_deref(), Some("by-name"));
        let other = IdpGroup {
            id: None,
            name: "engineering".into(),
        };
        assert_eq!(team_for_group(&r, &other), None, "names are case-sensitive");
    }

    #[test]
    fn team_keys_from_display_names() {
        assert_eq!(team_key_from_display_name("Platform Team"), "platform-team");
        assert_eq!(team_key_from_display_name("  R&D / EU  "), "r-d-eu");
        assert_eq!(team_key_from_display_name("Ünïcode"), "n-code");
        assert_eq!(team_key_from_display_name("!!!"), "team");
        assert_eq!(team_key_from_display_name(&"a".repeat(300)).len(), 128);
    }

    #[test]
    fn custom_role_values_split_on_commas() {
        assert_eq!(
            split_custom_roles(["a, b", "", " c ,a"]),
            vec!["a".to_owned(), "b".into(), "c".into()]
        );
    }

    #[test]
    fn rule_errors_name_the_rule_and_field() {
        let cases = [
            (json!({}), "mappings: must be an array"),
            (json!([{"team": "x"}]), "mappings[0]: missing field `match`"),
            (
                json!([{"match": {"group": "a"}, "team": "x"}, {"match": {"group": "b"}}]),
                "mappings[1]: a rule must grant",
            ),
            (
                json!([{"match": {"group": "a"}, "role": "boss"}]),
                "mappings[0].role",
            ),
            (
                json!([{"match": {"group": ""}, "team": "x"}]),
                "mappings[0].match",
            ),
            (
                json!([{"match": {"group": "a"}, "team": "x", "roleAttributes": {"p": ["1"]}}]),
                "mappings[0].roleAttributes",
            ),
            (
                json!([{"match": {"group": "a"}, "team": "x", "extra": 1}]),
                "mappings[0]: unknown field",
            ),
        ];
        for (doc, want) in cases {
            let err = parse_rules(&doc).unwrap_err();
            assert!(err.starts_with(want), "{doc}: {err}");
        }
    }
}
