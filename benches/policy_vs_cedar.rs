//! Gatehouse `decide` against Cedar (`cedar-policy`, pinned in Cargo.toml) on the same decisions.
//!
//! The decision set: one member holding 10 custom roles of 20 statements each (allow/deny,
//! action globs, `notActions`, resource globs, tags, `{critical:true|false}`, `notResources`),
//! and a fixed list of 100 `(action, resource)` checks over flags in critical and non-critical
//! environments with tags, segments, environment variables, approval requests, environments,
//! projects, members, personal tokens, service tokens, teams, roles, connections and `acct`.
//!
//! The Cedar side is *generated* from the same policy JSON (see `to_cedar`), so both engines
//! evaluate one source of truth:
//! * entity types `Project`, `Environment`, `Flag`, `Segment`, `Var`, `Request`, `Member`,
//!   `Token`, `ServiceToken`, `Team`, `Role`, `Connection`, `Account`, each with `key` and
//!   `tags` (Set<String>); environments carry `critical` and `project`, env-scoped resources
//!   carry `env` and `project`, tokens carry `member`;
//! * one Cedar action per catalogue action; a statement's action list (globs expanded against
//!   the catalogue) becomes an action group, each action entity being a child of the groups
//!   that list it, so the scope is `action in Action::"group:..."` (`==` for a single action);
//!   `*` leaves the action unconstrained, `notActions` becomes `unless { action in ... }`;
//!   (a literal `action in [~70 actions]` list was tried first: ~30 µs per policy per call);
//! * name globs become `like`, tags `.contains(..)` (AND), properties `has`/`==`,
//!   `notResources` becomes `unless { ... }`;
//! * deny statements are `forbid`, allow statements `permit`; the `viewProject` default and
//!   `basePermissions: reader` become extra `permit`s, which a `forbid` overrides, exactly like
//!   Gatehouse's implicit allows.
//!
//! LaunchDarkly semantics: within one role deny overrides allow, across roles the most
//! permissive wins. Cedar's forbid-overrides is global, so each role is its own `PolicySet`
//! and the per-role answers are OR-ed (stopping at the first allow, as `decide` does).
//! Entities and requests are built once, outside the measured loops, just as Gatehouse's
//! `Resource`s and `ActionId`s are.
//!
//! Before measuring, both engines must agree on every check, per role and overall; the bench
//! panics otherwise. It then prints per-check medians and the ratio, and runs two criterion
//! benchmarks over the whole list.

use std::collections::{BTreeMap, BTreeSet};
use std::hint::black_box;
use std::str::FromStr;
use std::time::{Duration, Instant};

use cedar_policy::{
    Authorizer, Context, Decision as CedarDecision, Entities, EntityUid, PolicySet, Request,
};
use criterion::{Criterion, Throughput};
use gatehouse::domain::policy::{
    ACTIONS, ActionId, BasePermissions, CompiledRole, NO_TAGS, PatternPart, PolicyStatement,
    PropertyValue, Resource, ResourceType, Selector, SpecSegment, Specifier, decide, lookup,
    matching, validate_document,
};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// The decision set
// ---------------------------------------------------------------------------------------------

/// One role's parameters: key, project glob, team, flag tag, extra statement, reader base.
struct RoleParams {
    key: &'static str,
    project: &'static str,
    team: &'static str,
    tag: &'static str,
    member: &'static str,
    reader: bool,
}

const ROLES: [RoleParams; 10] = [
    RoleParams {
        key: "mobile-dev",
        project: "mobile",
        team: "mobile-team",
        tag: "beta",
        member: "alice",
        reader: false,
    },
    RoleParams {
        key: "web-dev",
        project: "web",
        team: "web-team",
        tag: "ui",
        member: "bob",
        reader: false,
    },
    RoleParams {
        key: "payments-dev",
        project: "payments",
        team: "payments-team",
        tag: "pci",
        member: "carol",
        reader: false,
    },
    RoleParams {
        key: "data-reader",
        project: "data",
        team: "data-team",
        tag: "ops",
        member: "dave",
        reader: true,
    },
    RoleParams {
        key: "mobile-release",
        project: "mob*",
        team: "release-team",
        tag: "ops",
        member: "alice",
        reader: false,
    },
    RoleParams {
        key: "web-qa",
        project: "web",
        team: "qa-team",
        tag: "beta",
        member: "erin",
        reader: false,
    },
    RoleParams {
        key: "payments-release",
        project: "pay*",
        team: "payments-team",
        tag: "beta",
        member: "carol",
        reader: false,
    },
    RoleParams {
        key: "data-platform",
        project: "data",
        team: "platform-team",
        tag: "ui",
        member: "frank",
        reader: false,
    },
    RoleParams {
        key: "sandbox-owner",
        project: "sandbox-*",
        team: "sandbox-team",
        tag: "beta",
        member: "zed",
        reader: true,
    },
    RoleParams {
        key: "internal-tools",
        project: "*-internal",
        team: "internal-team",
        tag: "ops",
        member: "bob",
        reader: false,
    },
];

/// The 20 statements of role `r`.
fn role_policy(r: usize) -> Value {
    let RoleParams {
        project: p,
        team: t,
        tag: tg,
        member: m,
        ..
    } = &ROLES[r];
    let extra = match r {
        0 => {
            json!({"effect": "allow", "actions": ["viewAuditLog", "exportAuditLog"], "resources": ["acct"]})
        }
        1 => {
            json!({"effect": "allow", "actions": ["updatePolicy", "updateName", "viewRole"], "resources": [format!("role/{p}-*")]})
        }
        2 => {
            json!({"effect": "allow", "actions": ["updateAccessTokenName", "updateAccessTokenDescription"], "resources": [format!("service-token/svc-{p}-*")]})
        }
        3 => {
            json!({"effect": "allow", "actions": ["viewConnection", "updateMappings"], "resources": ["connection/*"]})
        }
        4 => {
            json!({"effect": "deny", "actions": ["deleteAccount", "updateAccountOwner"], "resources": ["acct"]})
        }
        5 => {
            json!({"effect": "allow", "actions": ["*"], "resources": [format!("proj/{p}:env/*:request/*")]})
        }
        6 => json!({"effect": "allow", "actions": ["updateSaml*"], "resources": ["acct"]}),
        7 => {
            json!({"effect": "allow", "notActions": ["deleteRole"], "resources": [format!("role/{p}-*")]})
        }
        8 => {
            json!({"effect": "allow", "actions": ["createFlag", "cloneFlag", "deleteFlag"], "resources": [format!("proj/{p};tier1:env/*:flag/*")]})
        }
        _ => {
            json!({"effect": "allow", "actions": ["updateCritical", "updateApprovalSettings"], "resources": [format!("proj/{p}:env/*;qa")]})
        }
    };
    json!([
        {"effect": "allow", "actions": ["viewProject"], "resources": [format!("proj/{p}")]},
        {"effect": "allow", "actions": ["update*"], "resources": [format!("proj/{p}:env/*:flag/*")]},
        {"effect": "deny", "actions": ["update*", "deleteFlag"], "resources": [format!("proj/{p}:env/*;{{critical:true}}:flag/*")]},
        {"effect": "allow", "actions": ["createApprovalRequest", "updateApprovalRequest", "reviewApprovalRequest"],
         "resources": [format!("proj/{p}:env/*;{{critical:true}}:flag/*")]},
        {"effect": "allow", "actions": ["updateOn", "updateTargets"], "resources": [format!("proj/*:env/production:flag/*;{tg},ops")]},
        {"effect": "deny", "actions": ["updateOn"], "resources": ["proj/*:env/*:flag/*;deprecated"]},
        {"effect": "allow", "notActions": ["deleteFlag", "updateFlagSalt", "bypassRequiredApproval"],
         "resources": [format!("proj/{p}:env/test:flag/*")]},
        {"effect": "allow", "actions": ["*"], "resources": [format!("proj/{p}:env/staging:segment/*")]},
        {"effect": "deny", "actions": ["deleteSegment"], "resources": ["proj/*:env/*;{critical:true}:segment/*"]},
        {"effect": "allow", "actions": ["updateName", "updateColor", "updateTtl", "viewSdkKey"],
         "resources": [format!("proj/{p}:env/*;{{critical:false}}")]},
        {"effect": "deny", "actions": ["deleteEnvironment", "updateApiKey"], "resources": ["proj/*:env/prod*"]},
        {"effect": "allow", "actions": ["createVariable", "updateVariable"], "resources": [format!("proj/{p}:env/*:var/*")]},
        {"effect": "deny", "actions": ["deleteProject"], "notResources": ["proj/sandbox-*"]},
        {"effect": "allow", "actions": ["createProject", "deleteProject", "updateProjectName"], "resources": ["proj/sandbox-*"]},
        {"effect": "allow", "actions": ["updateTeamMembers", "updateTeamName", "viewTeam"], "resources": [format!("team/{t}")]},
        {"effect": "deny", "actions": ["deleteTeam", "updateTeamCustomRoles"], "resources": ["team/*"]},
        {"effect": "allow", "actions": ["createAccessToken", "deleteAccessToken", "resetAccessToken"],
         "resources": [format!("member/{m}:token/*")]},
        extra,
        {"effect": "deny", "actions": ["deleteMember", "updateRole", "updateCustomRole"], "resources": ["member/*"]},
        {"effect": "allow", "actions": ["updateOn", "updateTargets", "updateRules"],
         "notResources": ["proj/*:env/production:flag/*", "proj/*:env/prod-eu:flag/*"]},
    ])
}

/// The fixed check list: 100 `(action, resource)` pairs.
fn checks() -> Vec<(&'static str, Resource)> {
    let projects: [(&str, &[&str]); 5] = [
        ("mobile", &["mobile", "tier1"]),
        ("web", &["web"]),
        ("payments", &["pci", "tier1"]),
        ("data", NO_TAGS),
        ("sandbox-zed", NO_TAGS),
    ];
    let envs: [(&str, &[&str], bool); 4] = [
        ("production", &["prod"], true),
        ("staging", NO_TAGS, false),
        ("test", &["qa"], false),
        ("prod-eu", &["prod"], true),
    ];
    let flags: [(&str, &[&str]); 5] = [
        ("checkout-v2", &["beta", "mobile"]),
        ("dark-mode", &["ui"]),
        ("kill-switch", &["ops"]),
        ("legacy-banner", &["deprecated", "ui"]),
        ("exp-onboarding", &["beta", "ops"]),
    ];
    let flag_actions = [
        "updateOn",
        "updateTargets",
        "deleteFlag",
        "createApprovalRequest",
        "updateFlagSalt",
    ];
    let proj = |i: usize| Resource::project(projects[i].0, projects[i].1);
    let env = |i: usize, e: usize| proj(i).env(envs[e].0, envs[e].1, envs[e].2);

    let mut out: Vec<(&'static str, Resource)> = Vec::new();
    // 14 flags x 3 actions = 42
    for (n, (pi, ei)) in [
        (0, 0),
        (0, 1),
        (0, 2),
        (0, 3),
        (1, 0),
        (1, 1),
        (1, 2),
        (2, 0),
        (2, 1),
        (2, 2),
        (2, 3),
        (3, 0),
        (3, 2),
        (4, 1),
    ]
    .into_iter()
    .enumerate()
    {
        let (fk, ft) = flags[n % flags.len()];
        let f = env(pi, ei).flag(fk, ft);
        for k in 0..3 {
            out.push((flag_actions[(n + k) % flag_actions.len()], f.clone()));
        }
    }
    // segments: 4
    for (pi, ei) in [(0, 1), (2, 0)] {
        let s = env(pi, ei).segment("beta-users", &["beta"]);
        out.push(("updateIncluded", s.clone()));
        out.push(("deleteSegment", s));
    }
    // environments: 8
    let env_actions = [
        "updateName",
        "deleteEnvironment",
        "viewSdkKey",
        "updateCritical",
    ];
    for (j, (pi, ei)) in [(0, 0), (1, 1), (3, 2), (2, 3)].into_iter().enumerate() {
        out.push((env_actions[j], env(pi, ei)));
        out.push((env_actions[(j + 1) % 4], env(pi, ei)));
    }
    // projects: 12
    for pi in [0, 4, 2, 3] {
        for a in ["viewProject", "deleteProject", "updateProjectName"] {
            out.push((a, proj(pi)));
        }
    }
    // tools-internal has no env; a project that only the glob `*-internal` names
    out.pop();
    out.push((
        "updateProjectName",
        Resource::project("tools-internal", NO_TAGS),
    ));
    // variables: 2, approval requests: 2
    out.push(("createVariable", env(0, 1).var("api-url")));
    out.push(("deleteVariable", env(0, 1).var("api-url")));
    out.push(("reviewApprovalRequest", env(1, 0).request("r-1")));
    out.push(("applyApprovalRequest", env(2, 0).request("r-2")));
    // members: 6, tokens: 4
    for m in ["alice", "zoe"] {
        for a in ["viewMember", "deleteMember", "updateMemberName"] {
            out.push((a, Resource::member(m)));
        }
    }
    out.push(("createAccessToken", Resource::member("alice").token("t-1")));
    out.push(("deleteAccessToken", Resource::member("alice").token("t-1")));
    out.push(("createAccessToken", Resource::member("zoe").token("t-2")));
    out.push(("resetAccessToken", Resource::member("bob").token("t-3")));
    // service tokens: 4
    for s in ["svc-payments-ci", "svc-other"] {
        out.push(("updateAccessTokenName", Resource::service_token(s)));
        out.push(("deleteAccessToken", Resource::service_token(s)));
    }
    // teams: 6
    for t in ["mobile-team", "other-team"] {
        for a in ["updateTeamMembers", "deleteTeam", "viewTeam"] {
            out.push((a, Resource::team(t)));
        }
    }
    // roles: 4, connections: 2, acct: 4
    for r in ["web-admin", "data-x"] {
        out.push(("updatePolicy", Resource::role(r)));
        out.push(("deleteRole", Resource::role(r)));
    }
    out.push(("updateMappings", Resource::connection("okta")));
    out.push(("deleteConnection", Resource::connection("okta")));
    for a in [
        "viewAuditLog",
        "deleteAccount",
        "updateSamlEnabled",
        "updateBillingContact",
    ] {
        out.push((a, Resource::acct()));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Translation to Cedar
// ---------------------------------------------------------------------------------------------

fn cedar_type(t: ResourceType) -> &'static str {
    match t {
        ResourceType::Proj => "Project",
        ResourceType::Env => "Environment",
        ResourceType::Flag => "Flag",
        ResourceType::Segment => "Segment",
        ResourceType::Var => "Var",
        ResourceType::Request => "Request",
        ResourceType::Member => "Member",
        ResourceType::Token => "Token",
        ResourceType::ServiceToken => "ServiceToken",
        ResourceType::Team => "Team",
        ResourceType::Role => "Role",
        ResourceType::Connection => "Connection",
        ResourceType::Acct => "Account",
        ResourceType::Webhook => "Webhook",
    }
}

/// The attribute of the leaf entity that refers to the entity of outer segment `kind`.
fn parent_attr(kind: ResourceType) -> &'static str {
    match kind {
        ResourceType::Proj => "project",
        ResourceType::Env => "env",
        ResourceType::Member => "member",
        other => panic!("{other} is never an outer segment"),
    }
}

fn cedar_str(s: &str) -> String {
    serde_json::to_string(s).expect("string literal")
}

/// A Gatehouse glob as a Cedar condition on `path` (`None` = always true).
fn glob_condition(path: &str, pattern: &gatehouse::domain::policy::Pattern) -> Option<String> {
    let text: String = pattern
        .parts
        .iter()
        .map(|p| match p {
            PatternPart::Text(t) => t.clone(),
            PatternPart::Attribute(k) => panic!("role attribute `{k}` not expanded for Cedar"),
        })
        .collect();
    assert!(
        !text.contains('?'),
        "`?` globs have no Cedar equivalent: {text}"
    );
    if text.chars().all(|c| c == '*') && !text.is_empty() {
        None
    } else if !text.contains('*') {
        Some(format!("{path} == {}", cedar_str(&text)))
    } else {
        // Cedar `like`: `*` is the wildcard, a literal `*` would be `\*` (keys never have one)
        Some(format!("{path} like {}", cedar_str(&text)))
    }
}

fn segment_conditions(path: &str, seg: &SpecSegment, out: &mut Vec<String>) {
    if seg.kind != ResourceType::Acct {
        out.extend(glob_condition(&format!("{path}.key"), &seg.name));
    }
    for sel in &seg.selectors {
        match sel {
            Selector::Tag(p) => {
                let tag = p
                    .as_literal()
                    .unwrap_or_else(|| panic!("tag globs have no Cedar equivalent: {p}"));
                out.push(format!("{path}.tags.contains({})", cedar_str(tag)));
            }
            Selector::Property { name, value } => {
                let v = match value {
                    PropertyValue::Bool(b) => b.to_string(),
                    PropertyValue::String(s) => cedar_str(s),
                };
                out.push(format!("({path} has {name} && {path}.{name} == {v})"));
            }
        }
    }
}

/// A specifier as a Cedar condition on `resource`.
fn specifier_condition(spec: &Specifier) -> String {
    let leaf = spec.segments.last().expect("a specifier has a segment");
    let mut conds = vec![format!("resource is {}", cedar_type(leaf.kind))];
    let last = spec.segments.len() - 1;
    for (i, seg) in spec.segments.iter().enumerate() {
        let path = if i == last {
            "resource".to_owned()
        } else {
            format!("resource.{}", parent_attr(seg.kind))
        };
        segment_conditions(&path, seg, &mut conds);
    }
    format!("({})", conds.join(" && "))
}

/// Action groups: group id -> member action names. A statement's action list becomes one
/// action group (the idiomatic Cedar encoding: `action in Action::"group"` is a hierarchy
/// lookup; a literal list of ~70 actions costs ~30 µs per policy per request).
type ActionGroups = BTreeMap<String, BTreeSet<&'static str>>;

/// The scope (or condition) for an action list: `== Action::"x"` for one action, else
/// `in Action::"<group>"`.
fn action_constraint(patterns: &[String], groups: &mut ActionGroups) -> String {
    let names: BTreeSet<&'static str> = patterns
        .iter()
        .flat_map(|p| matching(p).map(ActionId::name))
        .collect();
    if names.len() == 1 {
        let one = names.iter().next().expect("one name");
        return format!("action == Action::{}", cedar_str(one));
    }
    let id = format!("group:{}", patterns.join(","));
    groups.insert(id.clone(), names);
    format!("action in Action::{}", cedar_str(&id))
}

/// One role's policy as Cedar source (one policy per statement, plus the implicit allows).
fn to_cedar(
    statements: &[PolicyStatement],
    base: BasePermissions,
    groups: &mut ActionGroups,
) -> String {
    let mut src = String::new();
    for st in statements {
        let effect = match st.effect {
            gatehouse::domain::policy::Effect::Allow => "permit",
            gatehouse::domain::policy::Effect::Deny => "forbid",
        };
        let any_action = st
            .actions
            .patterns
            .iter()
            .any(|p| p.chars().all(|c| c == '*'));
        let (action_scope, action_unless) = match (st.actions.negated, any_action) {
            (false, true) => ("action".to_owned(), None),
            (false, false) => (action_constraint(&st.actions.patterns, groups), None),
            (true, _) => (
                "action".to_owned(),
                Some(action_constraint(&st.actions.patterns, groups)),
            ),
        };
        let specs: Vec<String> = st
            .resources
            .specifiers
            .iter()
            .map(specifier_condition)
            .collect();
        let resources = specs.join(" || ");
        src.push_str(&format!("{effect}(principal, {action_scope}, resource)\n"));
        if st.resources.negated {
            src.push_str(&format!("  unless {{ {resources} }}\n"));
        } else {
            src.push_str(&format!("  when {{ {resources} }}\n"));
        }
        if let Some(u) = action_unless {
            src.push_str(&format!("  unless {{ {u} }}\n"));
        }
        src.push_str(";\n");
    }
    // `viewProject` is allowed unless denied
    src.push_str("permit(principal, action == Action::\"viewProject\", resource is Project);\n");
    if base == BasePermissions::Reader {
        // `basePermissions: reader`: every view action on the types it applies to
        for info in ACTIONS.iter().filter(|i| i.view) {
            src.push_str(&format!(
                "permit(principal, action == Action::{}, resource is {});\n",
                cedar_str(info.action),
                cedar_type(info.resource_type)
            ));
        }
    }
    src
}

/// The Cedar uid of the resource made of the first `depth` segments.
fn entity_id(r: &Resource, depth: usize) -> (String, String) {
    let segs = &r.segments[..depth];
    let kind = segs.last().expect("depth > 0").kind;
    let id: Vec<String> = segs
        .iter()
        .map(|s| format!("{}/{}", s.kind, s.key))
        .collect();
    (cedar_type(kind).to_owned(), id.join(":"))
}

fn uid_json(r: &Resource, depth: usize) -> Value {
    let (t, id) = entity_id(r, depth);
    json!({"__entity": {"type": t, "id": id}})
}

/// Every entity the checks need (each resource and its outer segments), once.
fn cedar_entities(resources: &[&Resource], groups: &ActionGroups) -> Entities {
    let mut by_uid: BTreeMap<(String, String), Value> = BTreeMap::new();
    // every catalogue action, a child of each group that lists it
    let mut parents: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    for (group, names) in groups {
        for name in names {
            parents
                .entry(name)
                .or_default()
                .push(json!({"type": "Action", "id": group}));
        }
        by_uid.insert(
            ("Action".into(), group.clone()),
            json!({"uid": {"type": "Action", "id": group}, "attrs": {}, "parents": []}),
        );
    }
    for info in ACTIONS {
        let p = parents.get(info.action).cloned().unwrap_or_default();
        by_uid.insert(
            ("Action".into(), info.action.into()),
            json!({"uid": {"type": "Action", "id": info.action}, "attrs": {}, "parents": p}),
        );
    }
    for r in resources {
        for depth in 1..=r.segments.len() {
            let seg = &r.segments[depth - 1];
            let mut attrs = serde_json::Map::new();
            attrs.insert("key".into(), json!(seg.key));
            attrs.insert("tags".into(), json!(seg.tags));
            for (name, value) in &seg.properties {
                let v = match value {
                    PropertyValue::Bool(b) => json!(b),
                    PropertyValue::String(s) => json!(s),
                };
                attrs.insert(name.clone(), v);
            }
            for outer in 1..depth {
                let kind = r.segments[outer - 1].kind;
                attrs.insert(parent_attr(kind).into(), uid_json(r, outer));
            }
            let (t, id) = entity_id(r, depth);
            let entity = json!({"uid": {"type": t, "id": id}, "attrs": attrs, "parents": []});
            if let Some(prev) = by_uid.insert((t, id), entity.clone()) {
                assert_eq!(prev, entity, "fixture gives one entity two shapes");
            }
        }
    }
    by_uid.insert(
        ("User".into(), "principal".into()),
        json!({"uid": {"type": "User", "id": "principal"}, "attrs": {}, "parents": []}),
    );
    Entities::from_json_value(Value::Array(by_uid.into_values().collect()), None)
        .expect("valid Cedar entities")
}

fn cedar_request(action: &str, r: &Resource) -> Request {
    let (t, id) = entity_id(r, r.segments.len());
    let uid = |t: &str, id: &str| {
        EntityUid::from_str(&format!("{t}::{}", cedar_str(id))).expect("valid uid")
    };
    Request::new(
        uid("User", "principal"),
        uid("Action", action),
        uid(&t, &id),
        Context::empty(),
        None,
    )
    .expect("valid request")
}

// ---------------------------------------------------------------------------------------------
// Setup, equivalence, timing
// ---------------------------------------------------------------------------------------------

struct Fixture {
    roles: Vec<CompiledRole>,
    checks: Vec<(ActionId, Resource)>,
    policy_sets: Vec<PolicySet>,
    requests: Vec<Request>,
    entities: Entities,
    authorizer: Authorizer,
}

fn fixture() -> Fixture {
    let mut roles = Vec::new();
    let mut policy_sets = Vec::new();
    let mut groups = ActionGroups::new();
    for (r, params) in ROLES.iter().enumerate() {
        let statements = validate_document(&role_policy(r), &[]).expect("valid policy");
        assert_eq!(statements.len(), 20);
        let base = if params.reader {
            BasePermissions::Reader
        } else {
            BasePermissions::NoAccess
        };
        roles.push(
            CompiledRole::compile(params.key, &statements, base, &BTreeMap::new())
                .expect("compiles"),
        );
        let src = to_cedar(&statements, base, &mut groups);
        policy_sets.push(
            PolicySet::from_str(&src)
                .unwrap_or_else(|e| panic!("Cedar rejects role {}: {e:?}\n{src}", params.key)),
        );
    }
    let raw = checks();
    let entities = cedar_entities(&raw.iter().map(|(_, r)| r).collect::<Vec<_>>(), &groups);
    let requests = raw.iter().map(|(a, r)| cedar_request(a, r)).collect();
    let checks = raw
        .into_iter()
        .map(|(a, r)| (lookup(a).unwrap_or_else(|| panic!("unknown action {a}")), r))
        .collect();
    Fixture {
        roles,
        checks,
        policy_sets,
        requests,
        entities,
        authorizer: Authorizer::new(),
    }
}

impl Fixture {
    fn gatehouse(&self, refs: &[&CompiledRole], i: usize) -> bool {
        let (a, r) = &self.checks[i];
        decide(refs, *a, r).allowed
    }

    fn cedar_role(&self, role: usize, i: usize) -> bool {
        self.authorizer
            .is_authorized(&self.requests[i], &self.policy_sets[role], &self.entities)
            .decision()
            == CedarDecision::Allow
    }

    fn cedar(&self, i: usize) -> bool {
        (0..self.policy_sets.len()).any(|role| self.cedar_role(role, i))
    }

    /// Both engines agree on every check, per role and overall. Returns the allowed count.
    fn assert_equivalent(&self, refs: &[&CompiledRole]) -> usize {
        let mut mismatches = Vec::new();
        let mut allowed = 0;
        for (i, (a, r)) in self.checks.iter().enumerate() {
            for (role, compiled) in self.roles.iter().enumerate() {
                let g = compiled.evaluate(*a, r).is_allowed();
                let c = self.cedar_role(role, i);
                if g != c {
                    mismatches.push(format!(
                        "  role {} {} on {r}: gatehouse {g}, cedar {c}",
                        compiled.key(),
                        a.name()
                    ));
                }
            }
            let (g, c) = (self.gatehouse(refs, i), self.cedar(i));
            if g != c {
                mismatches.push(format!(
                    "  all roles: {} on {r}: gatehouse {g}, cedar {c}",
                    a.name()
                ));
            }
            allowed += usize::from(g);
        }
        assert!(
            mismatches.is_empty(),
            "Gatehouse and Cedar disagree on {} answers:\n{}",
            mismatches.len(),
            mismatches.join("\n")
        );
        allowed
    }
}

/// Nanoseconds per call of `f(i)` for each check: the median of `rounds` timed batches.
fn per_check_ns(n: usize, rounds: usize, mut f: impl FnMut(usize) -> bool) -> Vec<f64> {
    (0..n)
        .map(|i| {
            // size the batch to roughly 200 µs
            let start = Instant::now();
            let mut calls = 0u32;
            while start.elapsed() < Duration::from_micros(200) {
                black_box(f(black_box(i)));
                calls += 1;
            }
            let mut samples: Vec<f64> = (0..rounds)
                .map(|_| {
                    let t = Instant::now();
                    for _ in 0..calls {
                        black_box(f(black_box(i)));
                    }
                    t.elapsed().as_nanos() as f64 / f64::from(calls)
                })
                .collect();
            median(&mut samples)
        })
        .collect()
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len().is_multiple_of(2) {
        (v[m - 1] + v[m]) / 2.0
    } else {
        v[m]
    }
}

fn main() {
    let fx = fixture();
    let refs: Vec<&CompiledRole> = fx.roles.iter().collect();
    let n = fx.checks.len();
    assert!(n >= 64, "need at least 64 checks, have {n}");
    let allowed = fx.assert_equivalent(&refs);
    println!(
        "policy_vs_cedar: {} roles x 20 statements, {n} checks ({allowed} allowed, {} denied); \
         Gatehouse and Cedar agree on every check, per role and overall",
        refs.len(),
        n - allowed
    );

    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    {
        let mut g = c.benchmark_group("policy_vs_cedar");
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function("gatehouse_decide_all_checks", |b| {
            b.iter(|| {
                (0..n)
                    .filter(|&i| fx.gatehouse(&refs, black_box(i)))
                    .count()
            })
        });
        g.sample_size(20);
        g.bench_function("cedar_is_authorized_per_role_all_checks", |b| {
            b.iter(|| (0..n).filter(|&i| fx.cedar(black_box(i))).count())
        });
        g.finish();
    }
    c.final_summary();

    let mut g = per_check_ns(n, 15, |i| fx.gatehouse(&refs, i));
    let mut ce = per_check_ns(n, 15, |i| fx.cedar(i));
    let ratios: Vec<f64> = ce.iter().zip(&g).map(|(c, g)| c / g).collect();
    let (g_mean, c_mean) = (
        g.iter().sum::<f64>() / n as f64,
        ce.iter().sum::<f64>() / n as f64,
    );
    let (g_med, c_med) = (median(&mut g), median(&mut ce));
    let (g_max, c_max) = (g[n - 1], ce[n - 1]);
    let mut ratios = ratios;
    let r_min = ratios.iter().copied().fold(f64::INFINITY, f64::min);
    let r_med = median(&mut ratios);
    // Cedar's fixed cost per call, for context: an empty policy set, then one trivial permit
    let empty = PolicySet::new();
    let trivial = PolicySet::from_str("permit(principal, action, resource);").expect("parses");
    let mut c_empty = per_check_ns(n, 5, |i| {
        fx.authorizer
            .is_authorized(&fx.requests[i], &empty, &fx.entities)
            .decision()
            == CedarDecision::Allow
    });
    let mut c_trivial = per_check_ns(n, 5, |i| {
        fx.authorizer
            .is_authorized(&fx.requests[i], &trivial, &fx.entities)
            .decision()
            == CedarDecision::Allow
    });
    println!("\nper check (median of 15 batches each), over {n} checks:");
    println!(
        "  cedar baseline per is_authorized call: empty set {:.1} ns, one `permit(principal, action, resource)` {:.1} ns",
        median(&mut c_empty),
        median(&mut c_trivial)
    );
    println!(
        "  gatehouse decide           median {g_med:>9.1} ns  mean {g_mean:>9.1} ns  max {g_max:>9.1} ns"
    );
    println!(
        "  cedar is_authorized x role median {c_med:>9.1} ns  mean {c_mean:>9.1} ns  max {c_max:>9.1} ns"
    );
    println!(
        "  ratio cedar/gatehouse: of medians {:.1}x, of means {:.1}x, per check median {r_med:.1}x, min {r_min:.1}x",
        c_med / g_med,
        c_mean / g_mean
    );
    println!(
        "  targets: gatehouse median < 1 us: {}; >= 5x faster than Cedar (medians): {}",
        if g_med < 1000.0 { "met" } else { "NOT met" },
        if c_med / g_med >= 5.0 {
            "met"
        } else {
            "NOT met"
        }
    );
}
