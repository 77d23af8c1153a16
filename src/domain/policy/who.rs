//! "Who can do this?" as pure logic: which stored resources a glob names, which member ids a
//! set of resources tells apart, and what one holder of roles is allowed on each resource.
//!
//! The service groups principals by their policy inputs and asks [`allowances`] once per
//! group, so the work grows with the number of distinct grants, not of people.

use std::collections::BTreeSet;

use super::action::ActionId;
use super::compiled::{CompiledRole, Decision, ResourceMatcher, decide};
use super::resource::{Resource, ResourceType};
use super::specifier::Specifier;
use super::statement::PolicyError;

/// The most stored resources one question may be about: beyond it the answer is refused and
/// the caller asked to narrow the specifier.
pub const MAX_WHO_RESOURCES: usize = 1000;

/// A specifier with globs, compiled for every prefix of it, so that stored resources can be
/// enumerated level by level (projects, then their environments, then their flags) and a
/// level that does not match is never descended into.
#[derive(Debug, Clone)]
pub struct ResourceScope {
    /// `prefixes[n]` matches the first `n + 1` segments.
    prefixes: Vec<ResourceMatcher>,
    kind: ResourceType,
}

impl ResourceScope {
    /// Compiles `spec`; a `${roleAttribute/...}` placeholder is an error.
    pub fn new(spec: &Specifier) -> Result<ResourceScope, PolicyError> {
        let kind = spec
            .segments
            .last()
            .map(|s| s.kind)
            .ok_or_else(|| PolicyError {
                path: "resource".to_owned(),
                message: "a specifier names at least one segment".to_owned(),
            })?;
        let mut prefixes = Vec::with_capacity(spec.segments.len());
        for n in 1..=spec.segments.len() {
            let prefix = Specifier {
                segments: spec.segments.iter().take(n).cloned().collect(),
            };
            prefixes.push(ResourceMatcher::compile(&prefix)?);
        }
        Ok(ResourceScope { prefixes, kind })
    }

    /// The kind of resource the specifier names (its last segment's type).
    pub fn kind(&self) -> ResourceType {
        self.kind
    }

    /// How many segments the named resources have.
    pub fn depth(&self) -> usize {
        self.prefixes.len()
    }

    /// Whether `candidate` (a resource of at most [`depth`](Self::depth) segments) matches
    /// the specifier's first segments: a whole match when it has them all.
    pub fn admits(&self, candidate: &Resource) -> bool {
        candidate
            .segments
            .len()
            .checked_sub(1)
            .and_then(|n| self.prefixes.get(n))
            .is_some_and(|m| m.matches(candidate))
    }
}

/// The member ids that `resources` name (`member/<id>` and `member/<id>:token/...`): the only
/// ids for which a member's own statements (the writer's own-token statement) can decide
/// differently from another member with the same roles.
pub fn member_keys_named(resources: &[Resource]) -> BTreeSet<&str> {
    resources
        .iter()
        .flat_map(|r| &r.segments)
        .filter(|s| s.kind == ResourceType::Member)
        .map(|s| s.key.as_str())
        .collect()
}

/// One resource a holder of roles is allowed on, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowance {
    /// Index into the resources asked about.
    pub resource: usize,
    /// The decision of the acting roles (a member's, or a service token's grant).
    pub decision: Decision,
    /// The decision of a personal token's own grant, which limits its member's.
    pub limit: Option<Decision>,
}

/// What holders of `roles` (limited, for a personal token, by `limit`) are allowed to do with
/// `action` on each of `resources`: only the allowed ones, in order, each with its decisions.
/// Decided exactly as [`decide`] decides a single check.
pub fn allowances<R: AsRef<CompiledRole>>(
    roles: &[R],
    limit: Option<&[R]>,
    action: ActionId,
    resources: &[Resource],
) -> Vec<Allowance> {
    let mut out = Vec::new();
    for (i, resource) in resources.iter().enumerate() {
        let decision = decide(roles, action, resource);
        if !decision.allowed {
            continue;
        }
        let limit = limit.map(|l| decide(l, action, resource));
        if limit.is_some_and(|l| !l.allowed) {
            continue;
        }
        out.push(Allowance {
            resource: i,
            decision,
            limit,
        });
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::domain::policy::{BasePermissions, NO_TAGS, lookup, validate};

    fn role(key: &str, policy: serde_json::Value) -> CompiledRole {
        let statements = validate(policy.as_array().unwrap(), &[]).unwrap();
        CompiledRole::compile(
            key,
            &statements,
            BasePermissions::NoAccess,
            &BTreeMap::new(),
        )
        .unwrap()
    }

    fn scope(text: &str) -> ResourceScope {
        ResourceScope::new(&Specifier::parse(text).unwrap()).unwrap()
    }

    #[test]
    fn a_scope_admits_matching_prefixes_and_whole_resources() {
        let s = scope("proj/sh*:env/*;{critical:true}:flag/*;beta");
        assert_eq!(s.kind(), ResourceType::Flag);
        assert_eq!(s.depth(), 3);
        let shop = Resource::project("shop", NO_TAGS);
        assert!(s.admits(&shop));
        assert!(!s.admits(&Resource::project("web", NO_TAGS)));
        let prod = shop.clone().env("production", NO_TAGS, true);
        assert!(s.admits(&prod));
        assert!(!s.admits(&shop.clone().env("test", NO_TAGS, false)));
        assert!(s.admits(&prod.clone().flag("f", &["beta", "x"])));
        assert!(!s.admits(&prod.clone().flag("f", &["x"])));
        // Deeper than the specifier: never.
        assert!(!s.admits(&prod.flag("f", &["beta"]).var("v")));
        assert!(!s.admits(&Resource { segments: vec![] }));
    }

    #[test]
    fn a_placeholder_is_refused() {
        let spec = Specifier::parse("proj/${roleAttribute/p}").unwrap();
        assert!(ResourceScope::new(&spec).is_err());
    }

    #[test]
    fn member_keys_are_those_of_member_segments() {
        let resources = vec![
            Resource::member("m1").token("t1"),
            Resource::member("m2"),
            Resource::team("m3"),
        ];
        let keys: Vec<&str> = member_keys_named(&resources).into_iter().collect();
        assert_eq!(keys, ["m1", "m2"]);
    }

    #[test]
    fn a_limit_takes_away_and_names_its_own_statement() {
        let member = role(
            "dev",
            json!([{"effect": "allow", "actions": ["updateOn"], "resources": ["proj/*:env/*:flag/*"]}]),
        );
        let token = role(
            "ci",
            json!([
                {"effect": "allow", "actions": ["*"], "resources": ["proj/*:env/*:flag/*"]},
                {"effect": "deny", "actions": ["*"], "resources": ["proj/*:env/*;{critical:true}:flag/*"]}
            ]),
        );
        let p = Resource::project("p", NO_TAGS);
        let resources = vec![
            p.clone().env("test", NO_TAGS, false).flag("f", NO_TAGS),
            p.env("production", NO_TAGS, true).flag("f", NO_TAGS),
        ];
        let action = lookup("updateOn").unwrap();
        let alone = allowances(&[&member], None, action, &resources);
        assert_eq!(alone.iter().map(|a| a.resource).collect::<Vec<_>>(), [0, 1]);
        let limited = allowances(&[&member], Some(&[&token][..]), action, &resources);
        assert_eq!(limited.len(), 1);
        assert_eq!(limited[0].resource, 0);
        assert_eq!(
            limited[0]
                .limit
                .unwrap()
                .decided_by
                .unwrap()
                .statement_index,
            0
        );
    }

    proptest! {
        /// An allowance list is exactly the resources a single decision allows, with the
        /// same decision.
        #[test]
        fn allowances_agree_with_single_decisions(
            effects in proptest::collection::vec(any::<bool>(), 1..4),
            envs in proptest::collection::vec(("[a-c]", any::<bool>(), any::<bool>()), 0..6),
        ) {
            let statements: Vec<serde_json::Value> = effects
                .iter()
                .enumerate()
                .map(|(i, allow)| {
                    let spec = match i % 3 {
                        0 => "proj/*:env/*:flag/*",
                        1 => "proj/*:env/*;{critical:true}:flag/*",
                        _ => "proj/*:env/a*:flag/*;beta",
                    };
                    json!({"effect": if *allow { "allow" } else { "deny" },
                           "actions": ["updateOn"], "resources": [spec]})
                })
                .collect();
            let r = role("r", serde_json::Value::Array(statements));
            let resources: Vec<Resource> = envs
                .iter()
                .map(|(key, critical, beta)| {
                    let tags: &[&str] = if *beta { &["beta"] } else { NO_TAGS };
                    Resource::project("p", NO_TAGS).env(key.as_str(), NO_TAGS, *critical).flag("f", tags)
                })
                .collect();
            let action = lookup("updateOn").unwrap();
            let got = allowances(&[&r], None, action, &resources);
            let want: Vec<Allowance> = resources
                .iter()
                .enumerate()
                .map(|(i, res)| (i, decide(&[&r], action, res)))
                .filter(|(_, d)| d.allowed)
                .map(|(resource, decision)| Allowance { resource, decision, limit: None })
                .collect();
            prop_assert_eq!(got, want);
        }
    }
}
