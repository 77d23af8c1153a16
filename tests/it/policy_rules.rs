//! Table-driven evaluation cases from LaunchDarkly's documented rules.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;

use gatehouse::domain::policy::{
    BasePermissions, BaseRole, CompiledRole, NO_TAGS, Resource, decide, decide_all,
    validate_document,
};

const NO: BasePermissions = BasePermissions::NoAccess;
const RD: BasePermissions = BasePermissions::Reader;

/// A custom role: policy JSON, base permissions, role attributes.
type RoleDef = (
    &'static str,
    BasePermissions,
    &'static [(&'static str, &'static [&'static str])],
);

struct Case {
    name: &'static str,
    roles: &'static [RoleDef],
    action: &'static str,
    resource: &'static str,
    allowed: bool,
}

/// The member the cases act as (the writer base role's own-token statement names it).
const MEMBER: &str = "m-self";

/// Compiles a custom role, or a base role written as `base:<name>` in the JSON slot.
fn compile(def: &RoleDef) -> CompiledRole {
    let (json, base, attrs) = def;
    if let Some(name) = json.strip_prefix("base:") {
        return BaseRole::parse(name).unwrap().compile(MEMBER).unwrap();
    }
    let value: serde_json::Value = serde_json::from_str(json).unwrap();
    let declared: Vec<String> = attrs.iter().map(|(k, _)| (*k).to_owned()).collect();
    let statements = validate_document(&value, &declared).unwrap();
    let attrs: BTreeMap<String, Vec<String>> = attrs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.iter().map(|s| (*s).to_owned()).collect()))
        .collect();
    CompiledRole::compile("test", &statements, *base, &attrs).unwrap()
}

const FLAGS_ALL: &str =
    r#"[{"effect":"allow","actions":["*"],"resources":["proj/*:env/*:flag/*"]}]"#;
const DEV: &str = r#"[
  {"effect":"allow","actions":["*"],"resources":["proj/*:env/*:flag/*"]},
  {"effect":"deny","actions":["*"],"resources":["proj/*:env/production:flag/*"]}]"#;
const DEV_REVERSED: &str = r#"[
  {"effect":"deny","actions":["*"],"resources":["proj/*:env/production:flag/*"]},
  {"effect":"allow","actions":["*"],"resources":["proj/*:env/*:flag/*"]}]"#;
const UPDATE_ON: &str =
    r#"[{"effect":"allow","actions":["updateOn"],"resources":["proj/*:env/*:flag/*"]}]"#;
const UPDATE_GLOB: &str =
    r#"[{"effect":"allow","actions":["update*"],"resources":["proj/*:env/*:flag/*"]}]"#;
const DENY_UPDATE_ON: &str = r#"[
  {"effect":"allow","actions":["*"],"resources":["proj/*:env/*:flag/*"]},
  {"effect":"deny","actions":["updateOn"],"resources":["proj/*:env/*:flag/*"]}]"#;
const DENY_PROD_ON: &str =
    r#"[{"effect":"deny","actions":["updateOn"],"resources":["proj/*:env/production:flag/*"]}]"#;
const TAGS_AND: &str = r#"[{"effect":"allow","actions":["updateOn"],"resources":["proj/*:env/*:flag/*;mobile,beta"]}]"#;
const TAG_GLOB: &str =
    r#"[{"effect":"allow","actions":["updateOn"],"resources":["proj/*:env/*:flag/*;qa_*"]}]"#;
const PROJ_TAG: &str =
    r#"[{"effect":"allow","actions":["updateOn"],"resources":["proj/*;mobile:env/*:flag/*"]}]"#;
const TAGS_OR: &str = r#"[
  {"effect":"allow","actions":["updateOn"],"resources":["proj/*:env/*:flag/*;a"]},
  {"effect":"allow","actions":["updateOn"],"resources":["proj/*:env/*:flag/*;b"]}]"#;
const CRITICAL_DENY: &str = r#"[
  {"effect":"allow","actions":["*"],"resources":["proj/*:env/*:flag/*"]},
  {"effect":"deny","actions":["*"],"resources":["proj/*:env/*;{critical:true}:flag/*"]}]"#;
const NONCRITICAL_ALLOW: &str =
    r#"[{"effect":"allow","actions":["*"],"resources":["proj/*:env/*;{critical:false}:flag/*"]}]"#;
const REGION: &str = r#"[{"effect":"allow","actions":["updateOn"],"resources":["proj/*:env/*;{region:eu}:flag/*"]}]"#;
const ATTR_PROJ: &str = r#"[{"effect":"allow","actions":["*"],"resources":["proj/${roleAttribute/projects}:env/*:flag/*"]}]"#;
const ATTR_BRAND: &str = r#"[{"effect":"allow","actions":["*"],"resources":["proj/brand-${roleAttribute/x}:env/*:flag/*"]}]"#;
const ATTR_TAG: &str = r#"[{"effect":"allow","actions":["*"],"resources":["proj/*:env/*:flag/*;${roleAttribute/tags}"]}]"#;
const NOT_DELETE: &str =
    r#"[{"effect":"allow","notActions":["deleteFlag"],"resources":["proj/*:env/*:flag/*"]}]"#;
const DENY_ALL_BUT_ON: &str = r#"[
  {"effect":"allow","actions":["*"],"resources":["proj/*:env/*:flag/*"]},
  {"effect":"deny","notActions":["updateOn"],"resources":["proj/*:env/*:flag/*"]}]"#;
const EXCEPT_PROD: &str =
    r#"[{"effect":"allow","actions":["*"],"notResources":["proj/*:env/production:flag/*"]}]"#;
const DENY_EXCEPT_SANDBOX: &str = r#"[
  {"effect":"allow","actions":["*"],"resources":["proj/*:env/*:flag/*"]},
  {"effect":"deny","actions":["*"],"notResources":["proj/*:env/sandbox:flag/*"]}]"#;
const PROD_ONLY: &str =
    r#"[{"effect":"allow","actions":["*"],"resources":["proj/*:env/production:flag/*"]}]"#;
const MYFLAG: &str =
    r#"[{"effect":"allow","actions":["*"],"resources":["proj/*:env/*:flag/MyFlag"]}]"#;
const UNRELATED: &str = r#"[{"effect":"allow","actions":["createTeam"],"resources":["team/*"]}]"#;
const HIDE_SECRET: &str =
    r#"[{"effect":"deny","actions":["viewProject"],"resources":["proj/secret"]}]"#;
const ALLOW_VIEW_SECRET: &str =
    r#"[{"effect":"allow","actions":["viewProject"],"resources":["proj/secret"]}]"#;
const DENY_VIEW_TEAM: &str = r#"[{"effect":"deny","actions":["viewTeam"],"resources":["team/*"]}]"#;
const CREATE_FLAG_TEST: &str = r#"[{"effect":"allow","actions":["createFlag","updateOn"],"resources":["proj/*:env/test:flag/*"]}]"#;
const ACCT: &str =
    r#"[{"effect":"allow","actions":["updateAccountOwner","viewAuditLog"],"resources":["acct"]}]"#;
const TOKENS: &str =
    r#"[{"effect":"allow","actions":["createAccessToken"],"resources":["member/*:token/*"]}]"#;
const SERVICE_TOKENS: &str =
    r#"[{"effect":"allow","actions":["*AccessToken"],"resources":["service-token/*"]}]"#;
const OPS_TEAMS: &str =
    r#"[{"effect":"allow","actions":["updateTeam*"],"resources":["team/ops_*"]}]"#;
const REVIEWER: &str = r#"[{"effect":"allow","actions":["reviewApprovalRequest"],"resources":["proj/*:env/*:request/*"]}]"#;
const PROD_VARS: &str = r#"[{"effect":"allow","actions":["viewVariableSecret","updateVariable"],"resources":["proj/*:env/production:var/*"]}]"#;
const OKTA: &str = r#"[{"effect":"allow","actions":["updateMappings","createScimToken"],"resources":["connection/okta"]}]"#;
const ROLES: &str = r#"[{"effect":"allow","actions":["updatePolicy"],"resources":["role/*"]}]"#;
const QMARK: &str =
    r#"[{"effect":"allow","actions":["updateOn"],"resources":["proj/*:env/*:flag/a?c"]}]"#;
const SEGMENTS: &str =
    r#"[{"effect":"allow","actions":["updateName"],"resources":["proj/*:env/*:segment/*"]}]"#;
const EMPTY: &str = "[]";

// ---- policies for the extended table (LaunchDarkly docs, mission anchors §1.3) ----
const FROZEN_TAG_DENY: &str = r#"[
  {"effect":"allow","actions":["*"],"resources":["proj/*:env/*:flag/*"]},
  {"effect":"deny","actions":["*"],"resources":["proj/*:env/*:flag/*;frozen"]}]"#;
const ON_BUT_DENY_UPDATE_GLOB_PROD: &str = r#"[
  {"effect":"allow","actions":["updateOn"],"resources":["proj/*:env/*:flag/*"]},
  {"effect":"deny","actions":["update*"],"resources":["proj/*:env/production:flag/*"]}]"#;
const DENY_ENV_ALLOW_FLAGS: &str = r#"[
  {"effect":"allow","actions":["*"],"resources":["proj/*:env/*:flag/*"]},
  {"effect":"deny","actions":["*"],"resources":["proj/*:env/production"]}]"#;
const DENY_PROJ_ALLOW_FLAGS: &str = r#"[
  {"effect":"allow","actions":["*"],"resources":["proj/*:env/*:flag/*"]},
  {"effect":"deny","actions":["*"],"resources":["proj/p"]}]"#;
const DENY_ALL_FLAGS: &str =
    r#"[{"effect":"deny","actions":["*"],"resources":["proj/*:env/*:flag/*"]}]"#;
const MOBILE_FLAGS: &str =
    r#"[{"effect":"allow","actions":["updateOn"],"resources":["proj/*:env/*:flag/*;mobile"]}]"#;
const BETA_FLAGS: &str =
    r#"[{"effect":"allow","actions":["updateOn"],"resources":["proj/*:env/*:flag/*;beta"]}]"#;
const UPDATE_RULES: &str =
    r#"[{"effect":"allow","actions":["updateRules"],"resources":["proj/*:env/*:flag/*"]}]"#;
const TAGS_ABC: &str =
    r#"[{"effect":"allow","actions":["updateOn"],"resources":["proj/*:env/*:flag/*;a,b,c"]}]"#;
const ENV_AND_FLAG_TAG: &str =
    r#"[{"effect":"allow","actions":["updateOn"],"resources":["proj/*:env/*;prod:flag/*;beta"]}]"#;
const SEGMENT_TAG: &str = r#"[{"effect":"allow","actions":["updateIncluded"],"resources":["proj/*:env/*:segment/*;beta"]}]"#;
const PROJ_TAGS_AND: &str =
    r#"[{"effect":"allow","actions":["updateOn"],"resources":["proj/*;mobile,ios:env/*:flag/*"]}]"#;
const ENV_TAG: &str =
    r#"[{"effect":"allow","actions":["updateName"],"resources":["proj/*:env/*;qa"]}]"#;
const CRITICAL_ONLY: &str = r#"[{"effect":"allow","actions":["updateOn"],"resources":["proj/*:env/*;{critical:true}:flag/*"]}]"#;
const CRITICAL_ENVS: &str = r#"[{"effect":"allow","actions":["updateApprovalSettings"],"resources":["proj/*:env/*;{critical:true}"]}]"#;
const CRITICAL_AND_TAG: &str = r#"[{"effect":"allow","actions":["updateOn"],"resources":["proj/*:env/*;prod,{critical:true}:flag/*"]}]"#;
const DENY_NONCRITICAL: &str = r#"[
  {"effect":"allow","actions":["*"],"resources":["proj/*:env/*:flag/*"]},
  {"effect":"deny","actions":["*"],"resources":["proj/*:env/*;{critical:false}:flag/*"]}]"#;
const CRITICAL_SEGMENTS: &str = r#"[
  {"effect":"allow","actions":["*"],"resources":["proj/*:env/*:segment/*"]},
  {"effect":"deny","actions":["deleteSegment"],"resources":["proj/*:env/*;{critical:true}:segment/*"]}]"#;
const CRITICAL_CAPITAL: &str = r#"[{"effect":"allow","actions":["updateOn"],"resources":["proj/*:env/*;{critical:True}:flag/*"]}]"#;
const ATTR_PROD: &str = r#"[{"effect":"allow","actions":["*"],"resources":["proj/${roleAttribute/projects}:env/production:flag/*"]}]"#;
const ATTR_PROJ_ENV: &str = r#"[{"effect":"allow","actions":["updateOn"],"resources":["proj/${roleAttribute/projects}:env/${roleAttribute/envs}:flag/*"]}]"#;
const ATTR_FROZEN: &str = r#"[
  {"effect":"allow","actions":["*"],"resources":["proj/*:env/*:flag/*"]},
  {"effect":"deny","actions":["*"],"resources":["proj/${roleAttribute/frozen}:env/*:flag/*"]}]"#;
const ATTR_TEAMS: &str = r#"[{"effect":"allow","actions":["updateTeamMembers"],"resources":["team/${roleAttribute/teams}"]}]"#;
const ATTR_OWN_TOKENS: &str = r#"[{"effect":"allow","actions":["*"],"resources":["member/${roleAttribute/memberId}:token/*"]}]"#;
const ATTR_VIEW_PROJECTS: &str = r#"[{"effect":"deny","actions":["viewProject"],"notResources":["proj/${roleAttribute/projects}"]}]"#;
const NOT_DELETE_GLOB: &str =
    r#"[{"effect":"allow","notActions":["delete*"],"resources":["proj/*:env/*:flag/*"]}]"#;
const PROJ_NO_VIEW_DENY: &str = r#"[
  {"effect":"allow","actions":["*"],"resources":["proj/*"]},
  {"effect":"deny","notActions":["view*"],"resources":["proj/*"]}]"#;
const ON_EXCEPT_PROD_STAGING: &str = r#"[{"effect":"allow","actions":["updateOn"],"notResources":["proj/*:env/production:flag/*","proj/*:env/staging:flag/*"]}]"#;
const ONLY_SANDBOX_TAG: &str = r#"[
  {"effect":"allow","actions":["*"],"resources":["proj/*:env/*:flag/*"]},
  {"effect":"deny","actions":["*"],"notResources":["proj/*:env/*:flag/*;sandbox"]}]"#;
const NOT_BOTH: &str = r#"[{"effect":"allow","notActions":["deleteFlag"],"notResources":["proj/*:env/production:flag/*"]}]"#;
const EXCEPT_PROD_CONTENT: &str = r#"[{"effect":"allow","actions":["*"],"notResources":["proj/*:env/production:flag/*","proj/*:env/production:segment/*"]}]"#;
const ONLY_PROD_VIA_DENY: &str = r#"[
  {"effect":"allow","actions":["*"],"resources":["proj/*:env/*:flag/*"]},
  {"effect":"deny","actions":["*"],"notResources":["proj/*:env/production:flag/*"]}]"#;
const TEST_FLAGS: &str =
    r#"[{"effect":"allow","actions":["*"],"resources":["proj/*:env/test:flag/*"]}]"#;
const QA_ENV_FLAGS: &str =
    r#"[{"effect":"allow","actions":["updateTags"],"resources":["proj/*:env/*;qa:flag/*"]}]"#;
const HIDE_SECRET_GLOB: &str =
    r#"[{"effect":"deny","actions":["viewProject"],"resources":["proj/secret-*"]}]"#;
const HIDE_PRIVATE_TAG: &str =
    r#"[{"effect":"deny","actions":["viewProject"],"resources":["proj/*;private"]}]"#;
const ONLY_PUBLIC_PROJECTS: &str =
    r#"[{"effect":"deny","actions":["viewProject"],"notResources":["proj/public-*"]}]"#;
const DENY_VIEW_GLOB: &str =
    r#"[{"effect":"deny","actions":["view*"],"resources":["proj/secret"]}]"#;
const DENY_ALL_SECRET: &str = r#"[{"effect":"deny","actions":["*"],"resources":["proj/secret"]}]"#;
const DENY_VIEW_TEAMS: &str = r#"[{"effect":"deny","actions":["view*"],"resources":["team/*"]}]"#;
const DEFAULT_PROJ: &str =
    r#"[{"effect":"allow","actions":["*"],"resources":["proj/default:env/*:flag/*"]}]"#;
const MOBILE_TAG_SPEC: &str =
    r#"[{"effect":"allow","actions":["updateOn"],"resources":["proj/*:env/*:flag/*;Mobile"]}]"#;
const OPS_TEAM: &str =
    r#"[{"effect":"allow","actions":["updateTeamMembers"],"resources":["team/ops"]}]"#;
const VARS: &str = r#"[{"effect":"allow","actions":["createVariable","deleteVariable"],"resources":["proj/*:env/*:var/*"]}]"#;
const CRITICAL_REQUESTS: &str = r#"[{"effect":"allow","actions":["applyApprovalRequest"],"resources":["proj/*:env/*;{critical:true}:request/*"]}]"#;
const ALL_TOKENS: &str =
    r#"[{"effect":"allow","actions":["deleteAccessToken"],"resources":["member/*:token/*"]}]"#;
const MEMBERS: &str =
    r#"[{"effect":"allow","actions":["updateRole","deleteMember"],"resources":["member/*"]}]"#;
const CI_SERVICE_TOKENS: &str =
    r#"[{"effect":"allow","actions":["resetAccessToken"],"resources":["service-token/ci-*"]}]"#;
const TEAMS_ALL: &str = r#"[{"effect":"allow","actions":["*"],"resources":["team/*"]}]"#;
const BRAND_ROLES: &str = r#"[{"effect":"allow","actions":["updatePolicy","updateMembers"],"resources":["role/brand-x-*"]}]"#;
const CONNECTIONS: &str =
    r#"[{"effect":"allow","actions":["deleteConnection"],"resources":["connection/*"]}]"#;
const ACCT_MFA: &str =
    r#"[{"effect":"allow","actions":["updateRequireMfa"],"resources":["acct"]}]"#;
const ACCT_LOCKED: &str = r#"[
  {"effect":"allow","actions":["*"],"resources":["acct"]},
  {"effect":"deny","actions":["delete*"],"resources":["acct"]}]"#;
const ENVS: &str =
    r#"[{"effect":"allow","actions":["createEnvironment"],"resources":["proj/p:env/*"]}]"#;
const PROJECTS: &str = r#"[{"effect":"allow","actions":["createProject"],"resources":["proj/*"]}]"#;

const P3: &[(&str, &[&str])] = &[("projects", &["alpha", "beta", "gamma"])];
const PE: &[(&str, &[&str])] = &[
    ("projects", &["alpha", "beta"]),
    ("envs", &["test", "staging"]),
];
const WEB: &[(&str, &[&str])] = &[("projects", &["web-*"])];
const FROZEN: &[(&str, &[&str])] = &[("frozen", &["legacy"])];
const TEAMS: &[(&str, &[&str])] = &[("teams", &["ops", "sre"])];
const SELF: &[(&str, &[&str])] = &[("memberId", &["m-self"])];
const ALPHA: &[(&str, &[&str])] = &[("projects", &["alpha"])];
const BETA: &[(&str, &[&str])] = &[("projects", &["beta"])];
const CAP_ALPHA: &[(&str, &[&str])] = &[("projects", &["Alpha"])];

const FLAG_STAGING: &str = "proj/default:env/staging;{critical:false}:flag/a";
/// The same flag in every environment of its project (for project-wide actions).
const FLAG_EVERY_ENV: &str = "proj/default:env/test;{critical:false}:flag/a | proj/default:env/staging;{critical:false}:flag/a | proj/default:env/production;{critical:true}:flag/a";
const FLAG_NONPROD_ENVS: &str = "proj/default:env/test;{critical:false}:flag/a | proj/default:env/staging;{critical:false}:flag/a";

const P: &[(&str, &[&str])] = &[("projects", &["alpha", "beta"])];
const X: &[(&str, &[&str])] = &[("x", &["acme"])];
const STAR: &[(&str, &[&str])] = &[("projects", &["*"])];
const T: &[(&str, &[&str])] = &[("tags", &["team-a", "team-b"])];

macro_rules! case {
    ($name:expr, [$($r:expr),*], $action:expr, $res:expr, $allowed:expr) => {
        Case { name: $name, roles: &[$($r),*], action: $action, resource: $res, allowed: $allowed }
    };
}

const FLAG_TEST: &str = "proj/default:env/test;{critical:false}:flag/a";
const FLAG_PROD: &str = "proj/default:env/production;{critical:true}:flag/a";

static CASES: &[Case] = &[
    // basics
    case!(
        "exact action allowed",
        [(UPDATE_ON, NO, &[])],
        "updateOn",
        FLAG_TEST,
        true
    ),
    case!(
        "unlisted action denied",
        [(UPDATE_ON, NO, &[])],
        "updateRules",
        FLAG_TEST,
        false
    ),
    case!(
        "segment count must match",
        [(UPDATE_ON, NO, &[])],
        "updateOn",
        "proj/default:env/test",
        false
    ),
    case!(
        "flag spec vs segment resource",
        [(UPDATE_ON, NO, &[])],
        "updateOn",
        "proj/default:env/test:segment/a",
        false
    ),
    case!(
        "action glob update*",
        [(UPDATE_GLOB, NO, &[])],
        "updateRules",
        FLAG_TEST,
        true
    ),
    case!(
        "action glob excludes createFlag",
        [(UPDATE_GLOB, NO, &[])],
        "createFlag",
        FLAG_TEST,
        false
    ),
    case!(
        "action * covers deleteFlag",
        [(FLAGS_ALL, NO, &[])],
        "deleteFlag",
        FLAG_TEST,
        true
    ),
    case!(
        "unknown action denied",
        [(FLAGS_ALL, NO, &[])],
        "launchRocket",
        FLAG_TEST,
        false
    ),
    // deny overrides allow within a role
    case!(
        "deny beats allow",
        [(DENY_UPDATE_ON, NO, &[])],
        "updateOn",
        FLAG_TEST,
        false
    ),
    case!(
        "deny is narrow",
        [(DENY_UPDATE_ON, NO, &[])],
        "updateRules",
        FLAG_TEST,
        true
    ),
    case!(
        "dev role: test allowed",
        [(DEV, NO, &[])],
        "updateOn",
        FLAG_TEST,
        true
    ),
    case!(
        "dev role: production denied",
        [(DEV, NO, &[])],
        "updateOn",
        FLAG_PROD,
        false
    ),
    case!(
        "statement order irrelevant",
        [(DEV_REVERSED, NO, &[])],
        "updateOn",
        FLAG_PROD,
        false
    ),
    case!(
        "statement order irrelevant (allow)",
        [(DEV_REVERSED, NO, &[])],
        "updateOn",
        FLAG_TEST,
        true
    ),
    // across roles: most permissive wins
    case!(
        "other role's allow wins over deny",
        [(DENY_PROD_ON, NO, &[]), (UPDATE_ON, NO, &[])],
        "updateOn",
        FLAG_PROD,
        true
    ),
    case!(
        "allow wins regardless of role order",
        [(UPDATE_ON, NO, &[]), (DEV, NO, &[])],
        "updateOn",
        FLAG_PROD,
        true
    ),
    case!(
        "two denies deny",
        [(DENY_PROD_ON, NO, &[]), (DEV, NO, &[])],
        "updateOn",
        FLAG_PROD,
        false
    ),
    case!(
        "no match + allow",
        [(UNRELATED, NO, &[]), (UPDATE_ON, NO, &[])],
        "updateOn",
        FLAG_TEST,
        true
    ),
    case!("no roles at all", [], "updateOn", FLAG_TEST, false),
    case!(
        "empty policy",
        [(EMPTY, NO, &[])],
        "updateOn",
        FLAG_TEST,
        false
    ),
    // tags
    case!(
        "tags AND: both present",
        [(TAGS_AND, NO, &[])],
        "updateOn",
        "proj/p:env/e:flag/f;beta,mobile",
        true
    ),
    case!(
        "tags AND: superset",
        [(TAGS_AND, NO, &[])],
        "updateOn",
        "proj/p:env/e:flag/f;beta,mobile,web",
        true
    ),
    case!(
        "tags AND: one missing",
        [(TAGS_AND, NO, &[])],
        "updateOn",
        "proj/p:env/e:flag/f;mobile",
        false
    ),
    case!(
        "tags AND: untagged",
        [(TAGS_AND, NO, &[])],
        "updateOn",
        "proj/p:env/e:flag/f",
        false
    ),
    case!(
        "tag glob",
        [(TAG_GLOB, NO, &[])],
        "updateOn",
        "proj/p:env/e:flag/f;qa_team",
        true
    ),
    case!(
        "tag glob miss",
        [(TAG_GLOB, NO, &[])],
        "updateOn",
        "proj/p:env/e:flag/f;qa-team",
        false
    ),
    case!(
        "project tag",
        [(PROJ_TAG, NO, &[])],
        "updateOn",
        "proj/p;mobile:env/e:flag/f",
        true
    ),
    case!(
        "project tag missing",
        [(PROJ_TAG, NO, &[])],
        "updateOn",
        "proj/p:env/e:flag/f;mobile",
        false
    ),
    case!(
        "tags OR via statements",
        [(TAGS_OR, NO, &[])],
        "updateOn",
        "proj/p:env/e:flag/f;b",
        true
    ),
    case!(
        "tags are case-sensitive",
        [(TAGS_OR, NO, &[])],
        "updateOn",
        "proj/p:env/e:flag/f;B",
        false
    ),
    // property selectors
    case!(
        "critical env denied",
        [(CRITICAL_DENY, NO, &[])],
        "updateOn",
        FLAG_PROD,
        false
    ),
    case!(
        "non-critical env allowed",
        [(CRITICAL_DENY, NO, &[])],
        "updateOn",
        FLAG_TEST,
        true
    ),
    case!(
        "{critical:false} skips critical",
        [(NONCRITICAL_ALLOW, NO, &[])],
        "updateOn",
        FLAG_PROD,
        false
    ),
    case!(
        "{critical:false} matches",
        [(NONCRITICAL_ALLOW, NO, &[])],
        "updateOn",
        FLAG_TEST,
        true
    ),
    case!(
        "property absent never equals",
        [(NONCRITICAL_ALLOW, NO, &[])],
        "updateOn",
        "proj/p:env/e:flag/f",
        false
    ),
    case!(
        "string property",
        [(REGION, NO, &[])],
        "updateOn",
        "proj/p:env/e;{region:eu}:flag/f",
        true
    ),
    case!(
        "string property mismatch",
        [(REGION, NO, &[])],
        "updateOn",
        "proj/p:env/e;{region:us}:flag/f",
        false
    ),
    // role attributes
    case!(
        "attribute value 1",
        [(ATTR_PROJ, NO, P)],
        "updateOn",
        "proj/alpha:env/e:flag/f",
        true
    ),
    case!(
        "attribute value 2",
        [(ATTR_PROJ, NO, P)],
        "updateOn",
        "proj/beta:env/e:flag/f",
        true
    ),
    case!(
        "attribute other project",
        [(ATTR_PROJ, NO, P)],
        "updateOn",
        "proj/gamma:env/e:flag/f",
        false
    ),
    case!(
        "embedded attribute",
        [(ATTR_BRAND, NO, X)],
        "updateOn",
        "proj/brand-acme:env/e:flag/f",
        true
    ),
    case!(
        "embedded attribute needs prefix",
        [(ATTR_BRAND, NO, X)],
        "updateOn",
        "proj/acme:env/e:flag/f",
        false
    ),
    case!(
        "attribute values are globs",
        [(ATTR_PROJ, NO, STAR)],
        "updateOn",
        "proj/anything:env/e:flag/f",
        true
    ),
    case!(
        "attribute in tag selector",
        [(ATTR_TAG, NO, T)],
        "updateOn",
        "proj/p:env/e:flag/f;team-b",
        true
    ),
    case!(
        "attribute in tag selector miss",
        [(ATTR_TAG, NO, T)],
        "updateOn",
        "proj/p:env/e:flag/f;team-c",
        false
    ),
    // notActions / notResources
    case!(
        "notActions allows others",
        [(NOT_DELETE, NO, &[])],
        "updateOn",
        FLAG_TEST,
        true
    ),
    case!(
        "notActions excludes listed",
        [(NOT_DELETE, NO, &[])],
        "deleteFlag",
        FLAG_TEST,
        false
    ),
    case!(
        "deny notActions keeps listed",
        [(DENY_ALL_BUT_ON, NO, &[])],
        "updateOn",
        FLAG_TEST,
        true
    ),
    case!(
        "deny notActions denies others",
        [(DENY_ALL_BUT_ON, NO, &[])],
        "updateRules",
        FLAG_TEST,
        false
    ),
    case!(
        "everything except production: staging",
        [(EXCEPT_PROD, NO, &[])],
        "updateOn",
        FLAG_TEST,
        true
    ),
    case!(
        "everything except production: production",
        [(EXCEPT_PROD, NO, &[])],
        "updateOn",
        FLAG_PROD,
        false
    ),
    case!(
        "notResources covers other types",
        [(EXCEPT_PROD, NO, &[])],
        "createMember",
        "member/m1",
        true
    ),
    case!(
        "deny notResources: outside sandbox",
        [(DENY_EXCEPT_SANDBOX, NO, &[])],
        "updateOn",
        FLAG_PROD,
        false
    ),
    case!(
        "deny notResources: sandbox",
        [(DENY_EXCEPT_SANDBOX, NO, &[])],
        "updateOn",
        "proj/p:env/sandbox:flag/f",
        true
    ),
    // case sensitivity
    case!(
        "env key case-sensitive",
        [(PROD_ONLY, NO, &[])],
        "updateOn",
        "proj/p:env/Production:flag/f",
        false
    ),
    case!(
        "env key exact",
        [(PROD_ONLY, NO, &[])],
        "updateOn",
        "proj/p:env/production:flag/f",
        true
    ),
    case!(
        "flag key case-sensitive",
        [(MYFLAG, NO, &[])],
        "updateOn",
        "proj/p:env/e:flag/myflag",
        false
    ),
    case!(
        "flag key exact",
        [(MYFLAG, NO, &[])],
        "updateOn",
        "proj/p:env/e:flag/MyFlag",
        true
    ),
    case!(
        "action names case-sensitive",
        [(FLAGS_ALL, NO, &[])],
        "UpdateOn",
        FLAG_TEST,
        false
    ),
    // viewProject exception
    case!(
        "viewProject allowed by default",
        [(UNRELATED, NO, &[])],
        "viewProject",
        "proj/any",
        true
    ),
    case!(
        "viewProject with empty policy",
        [(EMPTY, NO, &[])],
        "viewProject",
        "proj/any",
        true
    ),
    case!(
        "viewProject denied hides",
        [(HIDE_SECRET, NO, &[])],
        "viewProject",
        "proj/secret",
        false
    ),
    case!(
        "viewProject deny is narrow",
        [(HIDE_SECRET, NO, &[])],
        "viewProject",
        "proj/public",
        true
    ),
    case!(
        "viewProject: other role does not deny",
        [(HIDE_SECRET, NO, &[]), (UNRELATED, NO, &[])],
        "viewProject",
        "proj/secret",
        true
    ),
    case!(
        "viewProject: every role denies",
        [(HIDE_SECRET, NO, &[]), (HIDE_SECRET, RD, &[])],
        "viewProject",
        "proj/secret",
        false
    ),
    case!(
        "viewProject: explicit allow elsewhere",
        [(HIDE_SECRET, NO, &[]), (ALLOW_VIEW_SECRET, NO, &[])],
        "viewProject",
        "proj/secret",
        true
    ),
    case!(
        "viewProject default only for projects",
        [(EMPTY, NO, &[])],
        "viewProject",
        "team/t",
        false
    ),
    case!(
        "other view actions not defaulted",
        [(EMPTY, NO, &[])],
        "viewTeam",
        "team/t",
        false
    ),
    // basePermissions reader
    case!(
        "reader base grants viewTeam",
        [(EMPTY, RD, &[])],
        "viewTeam",
        "team/t",
        true
    ),
    case!(
        "reader base grants viewMember",
        [(UNRELATED, RD, &[])],
        "viewMember",
        "member/m",
        true
    ),
    case!(
        "reader base yields to own deny",
        [(DENY_VIEW_TEAM, RD, &[])],
        "viewTeam",
        "team/t",
        false
    ),
    case!(
        "reader base of another role wins",
        [(DENY_VIEW_TEAM, NO, &[]), (EMPTY, RD, &[])],
        "viewTeam",
        "team/t",
        true
    ),
    case!(
        "reader base no writes",
        [(EMPTY, RD, &[])],
        "updateOn",
        FLAG_TEST,
        false
    ),
    case!(
        "reader base no secrets",
        [(EMPTY, RD, &[])],
        "viewSdkKey",
        "proj/p:env/e",
        false
    ),
    case!(
        "reader base: view action on wrong type",
        [(EMPTY, RD, &[])],
        "viewTeam",
        "member/m",
        false
    ),
    // project-wide vs per-env (single resource)
    case!(
        "updateOn is per environment",
        [(CREATE_FLAG_TEST, NO, &[])],
        "updateOn",
        FLAG_TEST,
        true
    ),
    // other resource types
    case!(
        "acct action",
        [(ACCT, NO, &[])],
        "updateAccountOwner",
        "acct",
        true
    ),
    case!(
        "acct spec is only acct",
        [(ACCT, NO, &[])],
        "viewAuditLog",
        "proj/p",
        false
    ),
    case!(
        "personal tokens",
        [(TOKENS, NO, &[])],
        "createAccessToken",
        "member/m1:token/t1",
        true
    ),
    case!(
        "personal spec not service tokens",
        [(TOKENS, NO, &[])],
        "createAccessToken",
        "service-token/t1",
        false
    ),
    case!(
        "member spec is not its token",
        [(TOKENS, NO, &[])],
        "createAccessToken",
        "member/m1",
        false
    ),
    case!(
        "service tokens",
        [(SERVICE_TOKENS, NO, &[])],
        "resetAccessToken",
        "service-token/ci",
        true
    ),
    case!(
        "team glob",
        [(OPS_TEAMS, NO, &[])],
        "updateTeamMembers",
        "team/ops_core",
        true
    ),
    case!(
        "team glob miss",
        [(OPS_TEAMS, NO, &[])],
        "updateTeamMembers",
        "team/dev",
        false
    ),
    case!(
        "approval requests",
        [(REVIEWER, NO, &[])],
        "reviewApprovalRequest",
        "proj/p:env/production:request/r-1",
        true
    ),
    case!(
        "approval request action on flag",
        [(REVIEWER, NO, &[])],
        "reviewApprovalRequest",
        FLAG_PROD,
        false
    ),
    case!(
        "variables in production",
        [(PROD_VARS, NO, &[])],
        "viewVariableSecret",
        "proj/p:env/production:var/DB_URL",
        true
    ),
    case!(
        "variables elsewhere",
        [(PROD_VARS, NO, &[])],
        "viewVariableSecret",
        "proj/p:env/staging:var/DB_URL",
        false
    ),
    case!(
        "connection exact",
        [(OKTA, NO, &[])],
        "updateMappings",
        "connection/okta",
        true
    ),
    case!(
        "connection other",
        [(OKTA, NO, &[])],
        "updateMappings",
        "connection/entra",
        false
    ),
    case!(
        "roles",
        [(ROLES, NO, &[])],
        "updatePolicy",
        "role/dev",
        true
    ),
    case!(
        "? glob",
        [(QMARK, NO, &[])],
        "updateOn",
        "proj/p:env/e:flag/abc",
        true
    ),
    case!(
        "? glob exactly one",
        [(QMARK, NO, &[])],
        "updateOn",
        "proj/p:env/e:flag/abbc",
        false
    ),
    case!(
        "shared action name on segment",
        [(SEGMENTS, NO, &[])],
        "updateName",
        "proj/p:env/e:segment/s",
        true
    ),
    case!(
        "shared action name: flag not covered",
        [(SEGMENTS, NO, &[])],
        "updateName",
        "proj/p:env/e:flag/s",
        false
    ),
    // ---- extended table: deny overrides allow within one role ----
    case!(
        "tag-scoped deny beats allow",
        [(FROZEN_TAG_DENY, NO, &[])],
        "updateOn",
        "proj/p:env/e:flag/f;frozen",
        false
    ),
    case!(
        "tag-scoped deny spares untagged",
        [(FROZEN_TAG_DENY, NO, &[])],
        "updateOn",
        "proj/p:env/e:flag/f;beta",
        true
    ),
    case!(
        "deny glob update* beats exact allow",
        [(ON_BUT_DENY_UPDATE_GLOB_PROD, NO, &[])],
        "updateOn",
        FLAG_PROD,
        false
    ),
    case!(
        "deny glob leaves other envs",
        [(ON_BUT_DENY_UPDATE_GLOB_PROD, NO, &[])],
        "updateOn",
        FLAG_TEST,
        true
    ),
    case!(
        "deny on env does not reach its flags",
        [(DENY_ENV_ALLOW_FLAGS, NO, &[])],
        "updateOn",
        FLAG_PROD,
        true
    ),
    case!(
        "deny on env applies to the env",
        [(DENY_ENV_ALLOW_FLAGS, NO, &[])],
        "updateName",
        "proj/p:env/production;{critical:true}",
        false
    ),
    case!(
        "deny on project does not reach its flags",
        [(DENY_PROJ_ALLOW_FLAGS, NO, &[])],
        "deleteFlag",
        "proj/p:env/e:flag/f",
        true
    ),
    case!(
        "deny on project hides it",
        [(DENY_PROJ_ALLOW_FLAGS, NO, &[])],
        "viewProject",
        "proj/p",
        false
    ),
    case!(
        "deny-all role alone denies",
        [(DENY_ALL_FLAGS, NO, &[])],
        "updateOn",
        FLAG_TEST,
        false
    ),
    // ---- across roles: the most permissive wins ----
    case!(
        "third role's allow wins",
        [
            (UNRELATED, NO, &[]),
            (DENY_ALL_FLAGS, NO, &[]),
            (PROD_ONLY, NO, &[])
        ],
        "updateOn",
        FLAG_PROD,
        true
    ),
    case!(
        "deny-all role cannot cancel another role",
        [(DENY_ALL_FLAGS, NO, &[]), (UPDATE_GLOB, NO, &[])],
        "updateTargets",
        FLAG_TEST,
        true
    ),
    case!(
        "explicit deny vs other role's glob",
        [(DENY_PROD_ON, NO, &[]), (UPDATE_GLOB, NO, &[])],
        "updateOn",
        FLAG_PROD,
        true
    ),
    case!(
        "union of tag scopes: first",
        [(MOBILE_FLAGS, NO, &[]), (BETA_FLAGS, NO, &[])],
        "updateOn",
        "proj/p:env/e:flag/f;mobile",
        true
    ),
    case!(
        "union of tag scopes: second",
        [(MOBILE_FLAGS, NO, &[]), (BETA_FLAGS, NO, &[])],
        "updateOn",
        "proj/p:env/e:flag/f;beta",
        true
    ),
    case!(
        "union of tag scopes: neither",
        [(MOBILE_FLAGS, NO, &[]), (BETA_FLAGS, NO, &[])],
        "updateOn",
        "proj/p:env/e:flag/f;web",
        false
    ),
    case!(
        "union of action sets: second role's action",
        [(UPDATE_ON, NO, &[]), (UPDATE_RULES, NO, &[])],
        "updateRules",
        FLAG_TEST,
        true
    ),
    case!(
        "union of action sets: neither",
        [(UPDATE_ON, NO, &[]), (UPDATE_RULES, NO, &[])],
        "deleteFlag",
        FLAG_TEST,
        false
    ),
    case!(
        "all roles deny",
        [
            (DENY_ALL_FLAGS, NO, &[]),
            (DEV, NO, &[]),
            (DENY_PROD_ON, NO, &[])
        ],
        "updateOn",
        FLAG_PROD,
        false
    ),
    // ---- custom roles supersede the base role ----
    case!(
        "base reader alone sees a project",
        [("base:reader", NO, &[])],
        "viewProject",
        "proj/secret",
        true
    ),
    case!(
        "custom role hides a project from a reader",
        [("base:reader", NO, &[]), (HIDE_SECRET, NO, &[])],
        "viewProject",
        "proj/secret",
        false
    ),
    case!(
        "base writer alone deletes flags",
        [("base:writer", NO, &[])],
        "deleteFlag",
        FLAG_TEST,
        true
    ),
    case!(
        "custom role replaces writer's grants",
        [("base:writer", NO, &[]), (UPDATE_ON, NO, &[])],
        "deleteFlag",
        FLAG_TEST,
        false
    ),
    case!(
        "custom role's own grant still applies",
        [("base:writer", NO, &[]), (UPDATE_ON, NO, &[])],
        "updateOn",
        FLAG_TEST,
        true
    ),
    case!(
        "reader base dropped: no viewTeam",
        [("base:reader", NO, &[]), (FLAGS_ALL, NO, &[])],
        "viewTeam",
        "team/t",
        false
    ),
    case!(
        "custom basePermissions reader restores viewTeam",
        [("base:reader", NO, &[]), (FLAGS_ALL, RD, &[])],
        "viewTeam",
        "team/t",
        true
    ),
    case!(
        "owner keeps full access despite custom roles",
        [("base:owner", NO, &[]), (HIDE_SECRET, NO, &[])],
        "viewProject",
        "proj/secret",
        true
    ),
    case!(
        "admin replaced by a narrow custom role",
        [("base:admin", NO, &[]), (UPDATE_ON, NO, &[])],
        "deleteProject",
        "proj/p",
        false
    ),
    case!(
        "admin alone deletes projects",
        [("base:admin", NO, &[])],
        "deleteProject",
        "proj/p",
        true
    ),
    case!(
        "no_access base hides projects",
        [("base:no_access", NO, &[])],
        "viewProject",
        "proj/p",
        false
    ),
    case!(
        "custom role's viewProject default replaces no_access",
        [("base:no_access", NO, &[]), (EMPTY, NO, &[])],
        "viewProject",
        "proj/p",
        true
    ),
    case!(
        "writer's own token",
        [("base:writer", NO, &[])],
        "createAccessToken",
        "member/m-self:token/t",
        true
    ),
    case!(
        "writer: another member's token",
        [("base:writer", NO, &[])],
        "createAccessToken",
        "member/m-other:token/t",
        false
    ),
    // ---- tags: AND within a specifier ----
    case!(
        "three tags: all present",
        [(TAGS_ABC, NO, &[])],
        "updateOn",
        "proj/p:env/e:flag/f;a,b,c,d",
        true
    ),
    case!(
        "three tags: one missing",
        [(TAGS_ABC, NO, &[])],
        "updateOn",
        "proj/p:env/e:flag/f;a,b",
        false
    ),
    case!(
        "env tag and flag tag",
        [(ENV_AND_FLAG_TAG, NO, &[])],
        "updateOn",
        "proj/p:env/e;prod:flag/f;beta",
        true
    ),
    case!(
        "env tag missing",
        [(ENV_AND_FLAG_TAG, NO, &[])],
        "updateOn",
        "proj/p:env/e:flag/f;beta,prod",
        false
    ),
    case!(
        "flag tag missing",
        [(ENV_AND_FLAG_TAG, NO, &[])],
        "updateOn",
        "proj/p:env/e;prod,beta:flag/f",
        false
    ),
    case!(
        "segment tag",
        [(SEGMENT_TAG, NO, &[])],
        "updateIncluded",
        "proj/p:env/e:segment/s;beta",
        true
    ),
    case!(
        "segment tag missing",
        [(SEGMENT_TAG, NO, &[])],
        "updateIncluded",
        "proj/p:env/e:segment/s",
        false
    ),
    case!(
        "project tags AND: both",
        [(PROJ_TAGS_AND, NO, &[])],
        "updateOn",
        "proj/p;ios,mobile:env/e:flag/f",
        true
    ),
    case!(
        "project tags AND: one",
        [(PROJ_TAGS_AND, NO, &[])],
        "updateOn",
        "proj/p;mobile:env/e:flag/f",
        false
    ),
    case!(
        "env tag selects environments",
        [(ENV_TAG, NO, &[])],
        "updateName",
        "proj/p:env/e;qa",
        true
    ),
    case!(
        "env tag selector on untagged env",
        [(ENV_TAG, NO, &[])],
        "updateName",
        "proj/p:env/e",
        false
    ),
    // ---- {critical:true} / {critical:false} ----
    case!(
        "{critical:true} allow: critical env",
        [(CRITICAL_ONLY, NO, &[])],
        "updateOn",
        FLAG_PROD,
        true
    ),
    case!(
        "{critical:true} allow: non-critical env",
        [(CRITICAL_ONLY, NO, &[])],
        "updateOn",
        FLAG_TEST,
        false
    ),
    case!(
        "{critical:true} on the env itself",
        [(CRITICAL_ENVS, NO, &[])],
        "updateApprovalSettings",
        "proj/p:env/production;{critical:true}",
        true
    ),
    case!(
        "{critical:true} on a non-critical env",
        [(CRITICAL_ENVS, NO, &[])],
        "updateApprovalSettings",
        "proj/p:env/test;{critical:false}",
        false
    ),
    case!(
        "critical and tag: both",
        [(CRITICAL_AND_TAG, NO, &[])],
        "updateOn",
        "proj/p:env/e;prod,{critical:true}:flag/f",
        true
    ),
    case!(
        "critical and tag: not critical",
        [(CRITICAL_AND_TAG, NO, &[])],
        "updateOn",
        "proj/p:env/e;prod,{critical:false}:flag/f",
        false
    ),
    case!(
        "critical and tag: untagged",
        [(CRITICAL_AND_TAG, NO, &[])],
        "updateOn",
        FLAG_PROD,
        false
    ),
    case!(
        "deny {critical:false}: test denied",
        [(DENY_NONCRITICAL, NO, &[])],
        "updateOn",
        FLAG_TEST,
        false
    ),
    case!(
        "deny {critical:false}: production allowed",
        [(DENY_NONCRITICAL, NO, &[])],
        "updateOn",
        FLAG_PROD,
        true
    ),
    case!(
        "critical segments: delete denied",
        [(CRITICAL_SEGMENTS, NO, &[])],
        "deleteSegment",
        "proj/p:env/production;{critical:true}:segment/s",
        false
    ),
    case!(
        "critical segments: other action",
        [(CRITICAL_SEGMENTS, NO, &[])],
        "updateIncluded",
        "proj/p:env/production;{critical:true}:segment/s",
        true
    ),
    case!(
        "non-critical segments: delete allowed",
        [(CRITICAL_SEGMENTS, NO, &[])],
        "deleteSegment",
        "proj/p:env/test;{critical:false}:segment/s",
        true
    ),
    case!(
        "{critical:True} is a string, never the boolean",
        [(CRITICAL_CAPITAL, NO, &[])],
        "updateOn",
        FLAG_PROD,
        false
    ),
    // ---- role attributes ----
    case!(
        "attribute: third of three values",
        [(ATTR_PROD, NO, P3)],
        "updateOn",
        "proj/gamma:env/production:flag/f",
        true
    ),
    case!(
        "attribute: value not assigned",
        [(ATTR_PROD, NO, P3)],
        "updateOn",
        "proj/delta:env/production:flag/f",
        false
    ),
    case!(
        "attribute: rest of specifier still applies",
        [(ATTR_PROD, NO, P3)],
        "updateOn",
        "proj/alpha:env/test:flag/f",
        false
    ),
    case!(
        "two attributes: product of values",
        [(ATTR_PROJ_ENV, NO, PE)],
        "updateOn",
        "proj/beta:env/staging:flag/f",
        true
    ),
    case!(
        "two attributes: env not assigned",
        [(ATTR_PROJ_ENV, NO, PE)],
        "updateOn",
        "proj/beta:env/production:flag/f",
        false
    ),
    case!(
        "attribute value with a glob",
        [(ATTR_PROJ, NO, WEB)],
        "updateOn",
        "proj/web-shop:env/e:flag/f",
        true
    ),
    case!(
        "attribute glob miss",
        [(ATTR_PROJ, NO, WEB)],
        "updateOn",
        "proj/mobile-shop:env/e:flag/f",
        false
    ),
    case!(
        "attribute in a deny",
        [(ATTR_FROZEN, NO, FROZEN)],
        "updateOn",
        "proj/legacy:env/e:flag/f",
        false
    ),
    case!(
        "attribute deny is narrow",
        [(ATTR_FROZEN, NO, FROZEN)],
        "updateOn",
        "proj/current:env/e:flag/f",
        true
    ),
    case!(
        "attribute in team specifier",
        [(ATTR_TEAMS, NO, TEAMS)],
        "updateTeamMembers",
        "team/sre",
        true
    ),
    case!(
        "attribute in team specifier miss",
        [(ATTR_TEAMS, NO, TEAMS)],
        "updateTeamMembers",
        "team/dev",
        false
    ),
    case!(
        "attribute for own tokens",
        [(ATTR_OWN_TOKENS, NO, SELF)],
        "resetAccessToken",
        "member/m-self:token/t",
        true
    ),
    case!(
        "attribute for own tokens: other member",
        [(ATTR_OWN_TOKENS, NO, SELF)],
        "resetAccessToken",
        "member/m-other:token/t",
        false
    ),
    case!(
        "one role, two assignments: second",
        [(ATTR_PROJ, NO, ALPHA), (ATTR_PROJ, NO, BETA)],
        "updateOn",
        "proj/beta:env/e:flag/f",
        true
    ),
    case!(
        "one role, two assignments: neither",
        [(ATTR_PROJ, NO, ALPHA), (ATTR_PROJ, NO, BETA)],
        "updateOn",
        "proj/gamma:env/e:flag/f",
        false
    ),
    case!(
        "attribute values are case-sensitive",
        [(ATTR_PROJ, NO, CAP_ALPHA)],
        "updateOn",
        "proj/alpha:env/e:flag/f",
        false
    ),
    case!(
        "attribute in notResources: listed project visible",
        [(ATTR_VIEW_PROJECTS, NO, P3)],
        "viewProject",
        "proj/beta",
        true
    ),
    case!(
        "attribute in notResources: others hidden",
        [(ATTR_VIEW_PROJECTS, NO, P3)],
        "viewProject",
        "proj/delta",
        false
    ),
    // ---- notActions / notResources ----
    case!(
        "notActions glob excludes deletes",
        [(NOT_DELETE_GLOB, NO, &[])],
        "deleteFlag",
        FLAG_TEST,
        false
    ),
    case!(
        "notActions glob keeps creates",
        [(NOT_DELETE_GLOB, NO, &[])],
        "createFlag",
        FLAG_TEST,
        true
    ),
    case!(
        "notActions glob keeps updates",
        [(NOT_DELETE_GLOB, NO, &[])],
        "updateFallthrough",
        FLAG_TEST,
        true
    ),
    case!(
        "notActions still needs the resource",
        [(NOT_DELETE, NO, &[])],
        "createMember",
        "member/m1",
        false
    ),
    case!(
        "deny notActions view*: view allowed",
        [(PROJ_NO_VIEW_DENY, NO, &[])],
        "viewProject",
        "proj/p",
        true
    ),
    case!(
        "deny notActions view*: writes denied",
        [(PROJ_NO_VIEW_DENY, NO, &[])],
        "deleteProject",
        "proj/p",
        false
    ),
    case!(
        "notResources with two specifiers: test",
        [(ON_EXCEPT_PROD_STAGING, NO, &[])],
        "updateOn",
        FLAG_TEST,
        true
    ),
    case!(
        "notResources with two specifiers: staging",
        [(ON_EXCEPT_PROD_STAGING, NO, &[])],
        "updateOn",
        FLAG_STAGING,
        false
    ),
    case!(
        "deny notResources with tag: tagged",
        [(ONLY_SANDBOX_TAG, NO, &[])],
        "updateOn",
        "proj/p:env/e:flag/f;sandbox",
        true
    ),
    case!(
        "deny notResources with tag: untagged",
        [(ONLY_SANDBOX_TAG, NO, &[])],
        "updateOn",
        "proj/p:env/e:flag/f",
        false
    ),
    case!(
        "notActions and notResources: other action",
        [(NOT_BOTH, NO, &[])],
        "updateOn",
        FLAG_TEST,
        true
    ),
    case!(
        "notActions and notResources: excluded action",
        [(NOT_BOTH, NO, &[])],
        "deleteFlag",
        FLAG_TEST,
        false
    ),
    case!(
        "notActions and notResources: excluded resource",
        [(NOT_BOTH, NO, &[])],
        "updateOn",
        FLAG_PROD,
        false
    ),
    case!(
        "notActions and notResources: any other type",
        [(NOT_BOTH, NO, &[])],
        "createTeam",
        "team/t",
        true
    ),
    // ---- inverse policies: everything except production ----
    case!(
        "except production: production segment",
        [(EXCEPT_PROD_CONTENT, NO, &[])],
        "updateIncluded",
        "proj/p:env/production:segment/s",
        false
    ),
    case!(
        "except production: staging segment",
        [(EXCEPT_PROD_CONTENT, NO, &[])],
        "updateIncluded",
        "proj/p:env/staging:segment/s",
        true
    ),
    case!(
        "except production: the env itself is not excluded",
        [(EXCEPT_PROD_CONTENT, NO, &[])],
        "updateName",
        "proj/p:env/production",
        true
    ),
    case!(
        "except production: production variables not excluded",
        [(EXCEPT_PROD_CONTENT, NO, &[])],
        "updateVariable",
        "proj/p:env/production:var/X",
        true
    ),
    case!(
        "only production via deny notResources: production",
        [(ONLY_PROD_VIA_DENY, NO, &[])],
        "updateOn",
        FLAG_PROD,
        true
    ),
    case!(
        "only production via deny notResources: test",
        [(ONLY_PROD_VIA_DENY, NO, &[])],
        "updateOn",
        FLAG_TEST,
        false
    ),
    case!(
        "except production + production-only role",
        [(EXCEPT_PROD, NO, &[]), (PROD_ONLY, NO, &[])],
        "updateOn",
        FLAG_PROD,
        true
    ),
    // ---- project-wide flag actions: decide_all over every environment ----
    case!(
        "createFlag needs every env",
        [(CREATE_FLAG_TEST, NO, &[])],
        "createFlag",
        FLAG_EVERY_ENV,
        false
    ),
    case!(
        "createFlag with all flags",
        [(FLAGS_ALL, NO, &[])],
        "createFlag",
        FLAG_EVERY_ENV,
        true
    ),
    case!(
        "updateName denied in production blocks rename",
        [(DEV, NO, &[])],
        "updateName",
        FLAG_EVERY_ENV,
        false
    ),
    case!(
        "project-wide action outside production envs",
        [(DEV, NO, &[])],
        "updateName",
        FLAG_NONPROD_ENVS,
        true
    ),
    case!(
        "deleteFlag blocked by a critical env",
        [(CRITICAL_DENY, NO, &[])],
        "deleteFlag",
        FLAG_EVERY_ENV,
        false
    ),
    case!(
        "per-env union across roles",
        [(EXCEPT_PROD, NO, &[]), (PROD_ONLY, NO, &[])],
        "deleteFlag",
        FLAG_EVERY_ENV,
        true
    ),
    case!(
        "one env only from test role",
        [(TEST_FLAGS, NO, &[]), (UNRELATED, NO, &[])],
        "createFlag",
        FLAG_EVERY_ENV,
        false
    ),
    case!(
        "updateTags needs the qa tag on every env",
        [(QA_ENV_FLAGS, NO, &[])],
        "updateTags",
        "proj/p:env/test;qa:flag/f | proj/p:env/production:flag/f",
        false
    ),
    case!(
        "updateTags with qa on every env",
        [(QA_ENV_FLAGS, NO, &[])],
        "updateTags",
        "proj/p:env/test;qa:flag/f | proj/p:env/staging;qa:flag/f",
        true
    ),
    case!(
        "except production: deleteFlag across non-prod",
        [(EXCEPT_PROD, NO, &[])],
        "deleteFlag",
        FLAG_NONPROD_ENVS,
        true
    ),
    case!(
        "except production: deleteFlag across all",
        [(EXCEPT_PROD, NO, &[])],
        "deleteFlag",
        FLAG_EVERY_ENV,
        false
    ),
    case!(
        "writer base: createFlag everywhere",
        [("base:writer", NO, &[])],
        "createFlag",
        FLAG_EVERY_ENV,
        true
    ),
    // ---- viewProject: allowed by default, a deny hides ----
    case!(
        "private projects by glob: hidden",
        [(HIDE_SECRET_GLOB, NO, &[])],
        "viewProject",
        "proj/secret-x",
        false
    ),
    case!(
        "private projects by glob: public",
        [(HIDE_SECRET_GLOB, NO, &[])],
        "viewProject",
        "proj/public",
        true
    ),
    case!(
        "private projects by tag: hidden",
        [(HIDE_PRIVATE_TAG, NO, &[])],
        "viewProject",
        "proj/p;private",
        false
    ),
    case!(
        "private projects by tag: untagged",
        [(HIDE_PRIVATE_TAG, NO, &[])],
        "viewProject",
        "proj/p",
        true
    ),
    case!(
        "only public projects: other hidden",
        [(ONLY_PUBLIC_PROJECTS, NO, &[])],
        "viewProject",
        "proj/other",
        false
    ),
    case!(
        "only public projects: public",
        [(ONLY_PUBLIC_PROJECTS, NO, &[])],
        "viewProject",
        "proj/public-a",
        true
    ),
    case!(
        "view* deny hides",
        [(DENY_VIEW_GLOB, NO, &[])],
        "viewProject",
        "proj/secret",
        false
    ),
    case!(
        "* deny hides",
        [(DENY_ALL_SECRET, NO, &[])],
        "viewProject",
        "proj/secret",
        false
    ),
    case!(
        "reader basePermissions does not undo a hide",
        [(HIDE_SECRET, RD, &[])],
        "viewProject",
        "proj/secret",
        false
    ),
    case!(
        "viewProject default not for environments",
        [(EMPTY, NO, &[])],
        "viewProject",
        "proj/p:env/e",
        false
    ),
    // ---- basePermissions: reader ----
    case!(
        "reader base grants viewRole",
        [(EMPTY, RD, &[])],
        "viewRole",
        "role/r",
        true
    ),
    case!(
        "reader base grants viewAuditLog",
        [(EMPTY, RD, &[])],
        "viewAuditLog",
        "acct",
        true
    ),
    case!(
        "reader base grants viewConnection",
        [(EMPTY, RD, &[])],
        "viewConnection",
        "connection/okta",
        true
    ),
    case!(
        "reader base grants viewToken (personal)",
        [(EMPTY, RD, &[])],
        "viewToken",
        "member/m:token/t",
        true
    ),
    case!(
        "reader base grants viewToken (service)",
        [(EMPTY, RD, &[])],
        "viewToken",
        "service-token/ci",
        true
    ),
    case!(
        "reader base: exportAuditLog is not a view",
        [(EMPTY, RD, &[])],
        "exportAuditLog",
        "acct",
        false
    ),
    case!(
        "reader base: variable secrets are not a view",
        [(EMPTY, RD, &[])],
        "viewVariableSecret",
        "proj/p:env/e:var/X",
        false
    ),
    case!(
        "reader base: view* deny wins",
        [(DENY_VIEW_TEAMS, RD, &[])],
        "viewTeam",
        "team/t",
        false
    ),
    case!(
        "no_access basePermissions: no viewRole",
        [(EMPTY, NO, &[])],
        "viewRole",
        "role/r",
        false
    ),
    // ---- case sensitivity ----
    case!(
        "project key case-sensitive",
        [(DEFAULT_PROJ, NO, &[])],
        "updateOn",
        "proj/Default:env/e:flag/f",
        false
    ),
    case!(
        "project key exact",
        [(DEFAULT_PROJ, NO, &[])],
        "updateOn",
        "proj/default:env/e:flag/f",
        true
    ),
    case!(
        "spec tag case-sensitive",
        [(MOBILE_TAG_SPEC, NO, &[])],
        "updateOn",
        "proj/p:env/e:flag/f;mobile",
        false
    ),
    case!(
        "team key case-sensitive",
        [(OPS_TEAM, NO, &[])],
        "updateTeamMembers",
        "team/Ops",
        false
    ),
    case!(
        "viewProject action name case-sensitive",
        [(EMPTY, NO, &[])],
        "ViewProject",
        "proj/p",
        false
    ),
    // ---- every resource type ----
    case!(
        "var: create",
        [(VARS, NO, &[])],
        "createVariable",
        "proj/p:env/e:var/API_URL",
        true
    ),
    case!(
        "var: spec does not match a flag",
        [(VARS, NO, &[])],
        "createVariable",
        "proj/p:env/e:flag/API_URL",
        false
    ),
    case!(
        "request in a critical env",
        [(CRITICAL_REQUESTS, NO, &[])],
        "applyApprovalRequest",
        "proj/p:env/production;{critical:true}:request/r-9",
        true
    ),
    case!(
        "request in a non-critical env",
        [(CRITICAL_REQUESTS, NO, &[])],
        "applyApprovalRequest",
        "proj/p:env/test;{critical:false}:request/r-9",
        false
    ),
    case!(
        "request spec does not match its flag",
        [(CRITICAL_REQUESTS, NO, &[])],
        "applyApprovalRequest",
        FLAG_PROD,
        false
    ),
    case!(
        "member/*:token/* any member's token",
        [(ALL_TOKENS, NO, &[])],
        "deleteAccessToken",
        "member/m-other:token/t",
        true
    ),
    case!(
        "member/*:token/* not a service token",
        [(ALL_TOKENS, NO, &[])],
        "deleteAccessToken",
        "service-token/t",
        false
    ),
    case!(
        "member/*",
        [(MEMBERS, NO, &[])],
        "updateRole",
        "member/m-other",
        true
    ),
    case!(
        "member/* is not member tokens",
        [(MEMBERS, NO, &[])],
        "deleteMember",
        "member/m-other:token/t",
        false
    ),
    case!(
        "service-token glob",
        [(CI_SERVICE_TOKENS, NO, &[])],
        "resetAccessToken",
        "service-token/ci-deploy",
        true
    ),
    case!(
        "service-token glob miss",
        [(CI_SERVICE_TOKENS, NO, &[])],
        "resetAccessToken",
        "service-token/prod-deploy",
        false
    ),
    case!(
        "team/*: createTeam",
        [(TEAMS_ALL, NO, &[])],
        "createTeam",
        "team/new",
        true
    ),
    case!(
        "team/* is not members",
        [(TEAMS_ALL, NO, &[])],
        "updateTeamMembers",
        "member/m",
        false
    ),
    case!(
        "role/ glob",
        [(BRAND_ROLES, NO, &[])],
        "updateMembers",
        "role/brand-x-dev",
        true
    ),
    case!(
        "role/ glob: other brand",
        [(BRAND_ROLES, NO, &[])],
        "updatePolicy",
        "role/brand-y-dev",
        false
    ),
    case!(
        "connection/*",
        [(CONNECTIONS, NO, &[])],
        "deleteConnection",
        "connection/entra",
        true
    ),
    case!(
        "acct",
        [(ACCT_MFA, NO, &[])],
        "updateRequireMfa",
        "acct",
        true
    ),
    case!(
        "acct spec is not a member",
        [(ACCT_MFA, NO, &[])],
        "updateRequireMfa",
        "member/m",
        false
    ),
    case!(
        "acct deny delete*",
        [(ACCT_LOCKED, NO, &[])],
        "deleteAccount",
        "acct",
        false
    ),
    case!(
        "acct allow beside deny",
        [(ACCT_LOCKED, NO, &[])],
        "updateBillingContact",
        "acct",
        true
    ),
    case!(
        "env: createEnvironment in project",
        [(ENVS, NO, &[])],
        "createEnvironment",
        "proj/p:env/new",
        true
    ),
    case!(
        "env: other project",
        [(ENVS, NO, &[])],
        "createEnvironment",
        "proj/q:env/new",
        false
    ),
    case!(
        "proj/*: createProject",
        [(PROJECTS, NO, &[])],
        "createProject",
        "proj/new",
        true
    ),
    case!(
        "proj/* is not its environments",
        [(PROJECTS, NO, &[])],
        "createProject",
        "proj/new:env/e",
        false
    ),
];

/// The roles a member's decisions use, as the service assembles them: custom roles
/// supersede the base role (`base:<name>` entries), except that an owner keeps full access.
fn member_roles(defs: &[RoleDef]) -> Vec<CompiledRole> {
    let (base, custom): (Vec<&RoleDef>, Vec<&RoleDef>) =
        defs.iter().partition(|d| d.0.starts_with("base:"));
    let keep_base = custom.is_empty()
        || base.iter().any(|d| {
            BaseRole::parse(&d.0["base:".len()..]).is_some_and(BaseRole::supersedes_custom_roles)
        });
    custom
        .into_iter()
        .chain(base.into_iter().filter(|_| keep_base))
        .map(compile)
        .collect()
}

#[test]
fn documented_rules() {
    assert!(CASES.len() >= 160, "only {} cases", CASES.len());
    let mut failures = Vec::new();
    for c in CASES {
        let roles = member_roles(c.roles);
        let refs: Vec<&CompiledRole> = roles.iter().collect();
        // `a | b | c`: a project-wide action, checked on the flag in every environment
        let resources: Vec<Resource> = c
            .resource
            .split(" | ")
            .map(|r| r.parse().unwrap_or_else(|e| panic!("{}: {e}", c.name)))
            .collect();
        let d = match resources.as_slice() {
            [one] => decide(&refs, c.action, one),
            many => decide_all(&refs, c.action, many.iter()),
        };
        if d.allowed != c.allowed {
            failures.push(format!("{}: expected {} got {:?}", c.name, c.allowed, d));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn project_wide_actions_need_every_environment() {
    let role = compile(&(CREATE_FLAG_TEST, NO, &[]));
    let envs = [
        Resource::project("p", NO_TAGS)
            .env("test", NO_TAGS, false)
            .flag("new", NO_TAGS),
        Resource::project("p", NO_TAGS)
            .env("production", NO_TAGS, true)
            .flag("new", NO_TAGS),
    ];
    let d = decide_all(&[&role], "createFlag", envs.iter());
    assert!(!d.allowed);
    assert!(decide_all(&[&role], "createFlag", envs.iter().take(1)).allowed);
    let all = compile(&(FLAGS_ALL, NO, &[]));
    assert!(decide_all(&[&all], "createFlag", envs.iter()).allowed);
    assert!(!decide_all(&[&all], "createFlag", std::iter::empty()).allowed);
}

#[test]
fn base_roles() {
    let m = "4b1f7c2e-0000-4000-8000-000000000001";
    let other = "4b1f7c2e-0000-4000-8000-000000000002";
    let reader = BaseRole::Reader.compile(m).unwrap();
    let writer = BaseRole::Writer.compile(m).unwrap();
    let admin = BaseRole::Admin.compile(m).unwrap();
    let owner = BaseRole::Owner.compile(m).unwrap();
    let none = BaseRole::NoAccess.compile(m).unwrap();
    let flag = Resource::project("p", NO_TAGS)
        .env("production", NO_TAGS, true)
        .flag("f", NO_TAGS);
    let proj = Resource::project("p", NO_TAGS);
    let var = Resource::project("p", NO_TAGS)
        .env("production", NO_TAGS, true)
        .var("X");
    let own_token = Resource::member(m).token("t");
    let other_token = Resource::member(other).token("t");
    let table: &[(&CompiledRole, &str, &Resource, bool)] = &[
        (&reader, "viewProject", &proj, true),
        (&reader, "viewAuditLog", &Resource::acct(), true),
        (&reader, "viewTeam", &Resource::team("t"), true),
        (&reader, "updateOn", &flag, false),
        (
            &reader,
            "viewSdkKey",
            &Resource::project("p", NO_TAGS).env("e", NO_TAGS, false),
            false,
        ),
        (&reader, "createAccessToken", &own_token, false),
        (&writer, "updateOn", &flag, true),
        (&writer, "createFlag", &flag, true),
        (&writer, "updateVariable", &var, true),
        (&writer, "viewVariableSecret", &var, true),
        (&writer, "createProject", &proj, false),
        (&writer, "createAccessToken", &own_token, true),
        (&writer, "createAccessToken", &other_token, false),
        (
            &writer,
            "updateMappings",
            &Resource::connection("okta"),
            false,
        ),
        (&writer, "viewProject", &proj, true),
        (&admin, "deleteProject", &proj, true),
        (
            &admin,
            "updateMappings",
            &Resource::connection("okta"),
            true,
        ),
        (&admin, "createAccessToken", &other_token, true),
        (&admin, "updateAccountOwner", &Resource::acct(), false),
        (&admin, "deleteAccount", &Resource::acct(), true),
        (&owner, "updateAccountOwner", &Resource::acct(), true),
        (&none, "viewProject", &proj, false),
        (&none, "viewTeam", &Resource::team("t"), false),
        (&none, "updateOn", &flag, false),
    ];
    for (i, (role, action, res, want)) in table.iter().enumerate() {
        let d = decide(&[*role], *action, res);
        assert_eq!(
            d.allowed,
            *want,
            "row {i}: {} {action} {res}: {d:?}",
            role.key()
        );
    }
    assert!(BaseRole::Owner.supersedes_custom_roles());
    assert!(!BaseRole::Admin.supersedes_custom_roles());
    // serde names
    for (s, r) in [
        ("\"no_access\"", BaseRole::NoAccess),
        ("\"noAccess\"", BaseRole::NoAccess),
        ("\"reader\"", BaseRole::Reader),
        ("\"owner\"", BaseRole::Owner),
    ] {
        assert_eq!(serde_json::from_str::<BaseRole>(s).unwrap(), r);
    }
    assert_eq!(
        serde_json::to_string(&BaseRole::NoAccess).unwrap(),
        "\"no_access\""
    );
    assert_eq!(
        serde_json::from_str::<BasePermissions>("\"noAccess\"").unwrap(),
        BasePermissions::NoAccess
    );
    assert!(serde_json::from_str::<BaseRole>("\"Reader\"").is_err());
}

#[test]
fn custom_role_supersedes_base_by_caller_choice() {
    // "Reader + custom role denying Project A -> cannot see Project A": the caller passes only
    // the custom roles when the member has some.
    let custom = compile(&(HIDE_SECRET, NO, &[]));
    let secret = Resource::project("secret", NO_TAGS);
    assert!(!decide(&[&custom], "viewProject", &secret).allowed);
}
