//! Event names: the stable type of an audit entry, as webhooks and the stream publish it.
//!
//! The name is derived from what the entry already holds (its `kind`, the actions of its
//! accesses, and for a few kinds its delta or its after-state), never stored: entries
//! written before names existed get one too, and the hashed encoding stays as it was.
//! Receivers filter on these names (`member.*`), so a name, once published, never changes
//! meaning; new kinds of entry get new names.

use std::collections::BTreeSet;

use serde_json::Value;

use super::entry::AuditEntry;

/// The type of an audit entry. [`Event::name`] is its published, stable name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    MemberCreated,
    MemberUpdated,
    MemberRolesChanged,
    MemberDeactivated,
    MemberReactivated,
    MemberDeleted,
    /// A provisioning change that Gatehouse refused (recorded with the attempted action).
    MemberRefused,
    TeamCreated,
    TeamUpdated,
    TeamMembersChanged,
    TeamRolesChanged,
    TeamDeleted,
    TeamRefused,
    SignInSucceeded,
    SignInRefused,
    SignOutSucceeded,
    TokenCreated,
    TokenUpdated,
    TokenRevoked,
    ApprovalRequested,
    ApprovalUpdated,
    ApprovalReviewed,
    ApprovalApplied,
    ApprovalDeleted,
    FlagCreated,
    FlagUpdated,
    FlagDeleted,
    ProjectCreated,
    ProjectUpdated,
    ProjectDeleted,
    EnvironmentCreated,
    EnvironmentUpdated,
    EnvironmentDeleted,
    VariableCreated,
    VariableUpdated,
    VariableDeleted,
    RoleCreated,
    RoleUpdated,
    RoleDeleted,
    ConnectionCreated,
    ConnectionUpdated,
    ConnectionDeleted,
    ConnectionScimTokenCreated,
    ConnectionScimTokenRevoked,
    ConnectionMappingsUpdated,
    AccountUpdated,
    AuditLogExported,
    AuditLogCheckpointKeyCreated,
    WebhookCreated,
    WebhookUpdated,
    WebhookDeleted,
    WebhookCursorMoved,
    /// An entry of a kind this version does not name (written by a newer version).
    Other,
}

impl Event {
    /// Every event, in the order the README lists them.
    pub const ALL: &'static [Event] = &[
        Event::MemberCreated,
        Event::MemberUpdated,
        Event::MemberRolesChanged,
        Event::MemberDeactivated,
        Event::MemberReactivated,
        Event::MemberDeleted,
        Event::MemberRefused,
        Event::TeamCreated,
        Event::TeamUpdated,
        Event::TeamMembersChanged,
        Event::TeamRolesChanged,
        Event::TeamDeleted,
        Event::TeamRefused,
        Event::SignInSucceeded,
        Event::SignInRefused,
        Event::SignOutSucceeded,
        Event::TokenCreated,
        Event::TokenUpdated,
        Event::TokenRevoked,
        Event::ApprovalRequested,
        Event::ApprovalUpdated,
        Event::ApprovalReviewed,
        Event::ApprovalApplied,
        Event::ApprovalDeleted,
        Event::FlagCreated,
        Event::FlagUpdated,
        Event::FlagDeleted,
        Event::ProjectCreated,
        Event::ProjectUpdated,
        Event::ProjectDeleted,
        Event::EnvironmentCreated,
        Event::EnvironmentUpdated,
        Event::EnvironmentDeleted,
        Event::VariableCreated,
        Event::VariableUpdated,
        Event::VariableDeleted,
        Event::RoleCreated,
        Event::RoleUpdated,
        Event::RoleDeleted,
        Event::ConnectionCreated,
        Event::ConnectionUpdated,
        Event::ConnectionDeleted,
        Event::ConnectionScimTokenCreated,
        Event::ConnectionScimTokenRevoked,
        Event::ConnectionMappingsUpdated,
        Event::AccountUpdated,
        Event::AuditLogExported,
        Event::AuditLogCheckpointKeyCreated,
        Event::WebhookCreated,
        Event::WebhookUpdated,
        Event::WebhookDeleted,
        Event::WebhookCursorMoved,
        Event::Other,
    ];

    /// The published name, `<noun>.<pastTense>`.
    pub fn name(self) -> &'static str {
        match self {
            Event::MemberCreated => "member.created",
            Event::MemberUpdated => "member.updated",
            Event::MemberRolesChanged => "member.rolesChanged",
            Event::MemberDeactivated => "member.deactivated",
            Event::MemberReactivated => "member.reactivated",
            Event::MemberDeleted => "member.deleted",
            Event::MemberRefused => "member.refused",
            Event::TeamCreated => "team.created",
            Event::TeamUpdated => "team.updated",
            Event::TeamMembersChanged => "team.membersChanged",
            Event::TeamRolesChanged => "team.rolesChanged",
            Event::TeamDeleted => "team.deleted",
            Event::TeamRefused => "team.refused",
            Event::SignInSucceeded => "signIn.succeeded",
            Event::SignInRefused => "signIn.refused",
            Event::SignOutSucceeded => "signOut.succeeded",
            Event::TokenCreated => "token.created",
            Event::TokenUpdated => "token.updated",
            Event::TokenRevoked => "token.revoked",
            Event::ApprovalRequested => "approval.requested",
            Event::ApprovalUpdated => "approval.updated",
            Event::ApprovalReviewed => "approval.reviewed",
            Event::ApprovalApplied => "approval.applied",
            Event::ApprovalDeleted => "approval.deleted",
            Event::FlagCreated => "flag.created",
            Event::FlagUpdated => "flag.updated",
            Event::FlagDeleted => "flag.deleted",
            Event::ProjectCreated => "project.created",
            Event::ProjectUpdated => "project.updated",
            Event::ProjectDeleted => "project.deleted",
            Event::EnvironmentCreated => "environment.created",
            Event::EnvironmentUpdated => "environment.updated",
            Event::EnvironmentDeleted => "environment.deleted",
            Event::VariableCreated => "variable.created",
            Event::VariableUpdated => "variable.updated",
            Event::VariableDeleted => "variable.deleted",
            Event::RoleCreated => "role.created",
            Event::RoleUpdated => "role.updated",
            Event::RoleDeleted => "role.deleted",
            Event::ConnectionCreated => "connection.created",
            Event::ConnectionUpdated => "connection.updated",
            Event::ConnectionDeleted => "connection.deleted",
            Event::ConnectionScimTokenCreated => "connection.scimTokenCreated",
            Event::ConnectionScimTokenRevoked => "connection.scimTokenRevoked",
            Event::ConnectionMappingsUpdated => "connection.mappingsUpdated",
            Event::AccountUpdated => "account.updated",
            Event::AuditLogExported => "auditLog.exported",
            Event::AuditLogCheckpointKeyCreated => "auditLog.checkpointKeyCreated",
            Event::WebhookCreated => "webhook.created",
            Event::WebhookUpdated => "webhook.updated",
            Event::WebhookDeleted => "webhook.deleted",
            Event::WebhookCursorMoved => "webhook.cursorMoved",
            Event::Other => "other",
        }
    }
}

/// The event of an entry.
pub fn event_of(entry: &AuditEntry) -> Event {
    let facts = Facts {
        actions: entry.accesses.iter().map(|a| a.action.as_str()).collect(),
        delta: entry.delta.as_ref(),
        after: entry.current_version.as_ref(),
    };
    match entry.kind.as_str() {
        "member" => member_event(&facts),
        "team" => team_event(&facts),
        "session" => session_event(&facts),
        "token" => token_event(&facts),
        "approvalRequest" => approval_event(&facts),
        "flag" => crud(
            &facts,
            [Event::FlagCreated, Event::FlagUpdated, Event::FlagDeleted],
        ),
        "project" => crud(
            &facts,
            [
                Event::ProjectCreated,
                Event::ProjectUpdated,
                Event::ProjectDeleted,
            ],
        ),
        "environment" => crud(
            &facts,
            [
                Event::EnvironmentCreated,
                Event::EnvironmentUpdated,
                Event::EnvironmentDeleted,
            ],
        ),
        "variable" => crud(
            &facts,
            [
                Event::VariableCreated,
                Event::VariableUpdated,
                Event::VariableDeleted,
            ],
        ),
        "role" => crud(
            &facts,
            [Event::RoleCreated, Event::RoleUpdated, Event::RoleDeleted],
        ),
        "connection" => connection_event(&facts),
        "account" => Event::AccountUpdated,
        "auditlog" => auditlog_event(&facts),
        "webhook" => webhook_event(&facts),
        _ => Event::Other,
    }
}

/// What the rules look at.
struct Facts<'a> {
    actions: Vec<&'a str>,
    delta: Option<&'a Value>,
    after: Option<&'a Value>,
}

impl Facts<'_> {
    fn has(&self, action: &str) -> bool {
        self.actions.contains(&action)
    }
    fn any(&self, pred: impl Fn(&str) -> bool) -> bool {
        self.actions.iter().any(|a| pred(a))
    }
    /// A SCIM change refused and recorded with the action it attempted.
    fn refused(&self) -> bool {
        self.delta
            .and_then(|d| d.pointer("/scim/refused"))
            .is_some()
    }
}

/// Created, updated or deleted, by the `create*`/`delete*` action of the entry.
fn crud(facts: &Facts, [created, updated, deleted]: [Event; 3]) -> Event {
    if facts.any(|a| a.starts_with("create") || a == "cloneFlag") {
        created
    } else if facts.any(|a| a.starts_with("delete")) {
        deleted
    } else {
        updated
    }
}

fn member_event(facts: &Facts) -> Event {
    if facts.refused() {
        return Event::MemberRefused;
    }
    if facts.has("createMember") {
        return Event::MemberCreated;
    }
    if facts.has("deleteMember") {
        return Event::MemberDeleted;
    }
    if facts.has("updateMemberStatus") {
        match facts
            .after
            .and_then(|a| a.get("status"))
            .and_then(Value::as_str)
        {
            Some("deactivated") => return Event::MemberDeactivated,
            Some("active") => return Event::MemberReactivated,
            _ => {}
        }
    }
    let roles = |a: &str| {
        matches!(
            a,
            "updateRole" | "updateCustomRole" | "updateMemberRoleAttributes" | "updateAccountOwner"
        )
    };
    if facts.any(roles) {
        Event::MemberRolesChanged
    } else {
        Event::MemberUpdated
    }
}

fn team_event(facts: &Facts) -> Event {
    if facts.refused() {
        Event::TeamRefused
    } else if facts.has("createTeam") {
        Event::TeamCreated
    } else if facts.has("deleteTeam") {
        Event::TeamDeleted
    } else if facts.has("updateTeamMembers") {
        Event::TeamMembersChanged
    } else if facts.any(|a| matches!(a, "updateTeamCustomRoles" | "updateTeamRoleAttributes")) {
        Event::TeamRolesChanged
    } else {
        Event::TeamUpdated
    }
}

fn session_event(facts: &Facts) -> Event {
    if facts.has("signOut") {
        return Event::SignOutSucceeded;
    }
    let outcome = facts
        .delta
        .and_then(|d| d.get("outcome"))
        .and_then(Value::as_str);
    if outcome == Some("refused") {
        Event::SignInRefused
    } else {
        Event::SignInSucceeded
    }
}

fn token_event(facts: &Facts) -> Event {
    if facts.has("createAccessToken") {
        Event::TokenCreated
    } else if facts.has("deleteAccessToken") {
        Event::TokenRevoked
    } else {
        Event::TokenUpdated
    }
}

fn approval_event(facts: &Facts) -> Event {
    if facts.has("createApprovalRequest") {
        Event::ApprovalRequested
    } else if facts.has("reviewApprovalRequest") {
        Event::ApprovalReviewed
    } else if facts.has("applyApprovalRequest") {
        Event::ApprovalApplied
    } else if facts.has("deleteApprovalRequest") {
        Event::ApprovalDeleted
    } else {
        Event::ApprovalUpdated
    }
}

fn connection_event(facts: &Facts) -> Event {
    if facts.has("createScimToken") {
        Event::ConnectionScimTokenCreated
    } else if facts.has("deleteScimToken") {
        Event::ConnectionScimTokenRevoked
    } else if facts.has("updateMappings") {
        Event::ConnectionMappingsUpdated
    } else {
        crud(
            facts,
            [
                Event::ConnectionCreated,
                Event::ConnectionUpdated,
                Event::ConnectionDeleted,
            ],
        )
    }
}

fn auditlog_event(facts: &Facts) -> Event {
    if facts.has("createCheckpointKey") {
        Event::AuditLogCheckpointKeyCreated
    } else {
        Event::AuditLogExported
    }
}

fn webhook_event(facts: &Facts) -> Event {
    if facts.has("updateWebhookCursor") {
        Event::WebhookCursorMoved
    } else {
        crud(
            facts,
            [
                Event::WebhookCreated,
                Event::WebhookUpdated,
                Event::WebhookDeleted,
            ],
        )
    }
}

/// Whether an event name matches a subscription pattern: the exact name, `*`, or a prefix
/// ending in `.*` (`member.*`).
pub fn pattern_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some("") => true,
        Some(prefix) if prefix.ends_with('.') => name.starts_with(prefix),
        _ => pattern == name,
    }
}

/// Why an event pattern is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "event pattern `{0}` is not an event name, `*`, or `<noun>.*` of a known noun (e.g. `member.*`)"
)]
pub struct BadEventPattern(pub String);

/// Checks a subscription pattern: it must be able to match some event, so a typo is an error
/// rather than a subscription that silently receives nothing.
pub fn check_pattern(pattern: &str) -> Result<(), BadEventPattern> {
    let known = Event::ALL
        .iter()
        .filter(|e| **e != Event::Other)
        .any(|e| pattern_matches(pattern, e.name()));
    let shaped = pattern == "*"
        || pattern
            .strip_suffix(".*")
            .is_some_and(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric()))
        || Event::ALL.iter().any(|e| e.name() == pattern);
    if known && shaped {
        Ok(())
    } else {
        Err(BadEventPattern(pattern.to_owned()))
    }
}

/// Every pattern [`check_pattern`] takes, for the API document: `*`, each event name, and
/// `<noun>.*` for each noun that names events.
pub fn subscription_patterns() -> Vec<String> {
    let names = Event::ALL
        .iter()
        .filter(|e| **e != Event::Other)
        .map(|e| e.name());
    let nouns: BTreeSet<String> = names
        .clone()
        .filter_map(|name| name.split_once('.'))
        .map(|(noun, _)| format!("{noun}.*"))
        .collect();
    std::iter::once("*".to_owned())
        .chain(nouns)
        .chain(names.map(str::to_owned))
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn entry(kind: &str, actions: &[&str]) -> AuditEntry {
        let accesses: Vec<(&str, &str)> = actions.iter().map(|a| (*a, "member/m1")).collect();
        AuditEntry::for_test(kind, &accesses)
    }

    fn name(e: &AuditEntry) -> &'static str {
        event_of(e).name()
    }

    #[test]
    fn names_are_unique_and_shaped() {
        let mut seen = std::collections::HashSet::new();
        for e in Event::ALL {
            assert!(seen.insert(e.name()), "duplicate {}", e.name());
            if *e != Event::Other {
                let (noun, verb) = e.name().split_once('.').unwrap();
                assert!(!noun.is_empty() && !verb.is_empty());
            }
        }
    }

    #[test]
    fn every_event_is_listed_in_all() {
        // A new variant that `ALL` misses would be invisible to pattern checks and docs.
        for e in Event::ALL {
            let listed = match e {
                Event::MemberCreated
                | Event::MemberUpdated
                | Event::MemberRolesChanged
                | Event::MemberDeactivated
                | Event::MemberReactivated
                | Event::MemberDeleted
                | Event::MemberRefused
                | Event::TeamCreated
                | Event::TeamUpdated
                | Event::TeamMembersChanged
                | Event::TeamRolesChanged
                | Event::TeamDeleted
                | Event::TeamRefused
                | Event::SignInSucceeded
                | Event::SignInRefused
                | Event::SignOutSucceeded
                | Event::TokenCreated
                | Event::TokenUpdated
                | Event::TokenRevoked
                | Event::ApprovalRequested
                | Event::ApprovalUpdated
                | Event::ApprovalReviewed
                | Event::ApprovalApplied
                | Event::ApprovalDeleted
                | Event::FlagCreated
                | Event::FlagUpdated
                | Event::FlagDeleted
                | Event::ProjectCreated
                | Event::ProjectUpdated
                | Event::ProjectDeleted
                | Event::EnvironmentCreated
                | Event::EnvironmentUpdated
                | Event::EnvironmentDeleted
                | Event::VariableCreated
                | Event::VariableUpdated
                | Event::VariableDeleted
                | Event::RoleCreated
                | Event::RoleUpdated
                | Event::RoleDeleted
                | Event::ConnectionCreated
                | Event::ConnectionUpdated
                | Event::ConnectionDeleted
                | Event::ConnectionScimTokenCreated
                | Event::ConnectionScimTokenRevoked
                | Event::ConnectionMappingsUpdated
                | Event::AccountUpdated
                | Event::AuditLogExported
                | Event::AuditLogCheckpointKeyCreated
                | Event::WebhookCreated
                | Event::WebhookUpdated
                | Event::WebhookDeleted
                | Event::WebhookCursorMoved
                | Event::Other => true,
            };
            assert!(listed);
        }
        assert_eq!(Event::ALL.len(), 53);
    }

    #[test]
    fn members() {
        assert_eq!(name(&entry("member", &["createMember"])), "member.created");
        assert_eq!(name(&entry("member", &["deleteMember"])), "member.deleted");
        assert_eq!(
            name(&entry("member", &["updateMemberName"])),
            "member.updated"
        );
        assert_eq!(
            name(&entry("member", &["updateMemberName", "updateCustomRole"])),
            "member.rolesChanged"
        );
        let mut off = entry("member", &["updateMemberStatus"]);
        off.current_version = Some(json!({"status": "deactivated"}));
        assert_eq!(name(&off), "member.deactivated");
        off.current_version = Some(json!({"status": "active"}));
        assert_eq!(name(&off), "member.reactivated");
        let mut refused = entry("member", &["createMember"]);
        refused.delta = Some(json!({"scim": {"operation": "POST", "refused": "no"}}));
        assert_eq!(name(&refused), "member.refused");
    }

    #[test]
    fn teams() {
        assert_eq!(name(&entry("team", &["createTeam"])), "team.created");
        assert_eq!(name(&entry("team", &["deleteTeam"])), "team.deleted");
        assert_eq!(
            name(&entry("team", &["updateTeamName", "updateTeamMembers"])),
            "team.membersChanged"
        );
        assert_eq!(
            name(&entry("team", &["updateTeamCustomRoles"])),
            "team.rolesChanged"
        );
        assert_eq!(
            name(&entry("team", &["updateTeamDescription"])),
            "team.updated"
        );
    }

    #[test]
    fn sessions() {
        let mut e = entry("session", &["signIn"]);
        e.delta = Some(json!({"outcome": "signedIn"}));
        assert_eq!(name(&e), "signIn.succeeded");
        e.delta = Some(json!({"outcome": "refused"}));
        assert_eq!(name(&e), "signIn.refused");
        assert_eq!(name(&entry("session", &["signOut"])), "signOut.succeeded");
    }

    #[test]
    fn tokens_approvals_and_the_rest() {
        let cases: &[(&str, &[&str], &str)] = &[
            ("token", &["createAccessToken"], "token.created"),
            ("token", &["deleteAccessToken"], "token.revoked"),
            ("token", &["updateTokenName"], "token.updated"),
            (
                "approvalRequest",
                &["createApprovalRequest"],
                "approval.requested",
            ),
            (
                "approvalRequest",
                &["reviewApprovalRequest"],
                "approval.reviewed",
            ),
            (
                "approvalRequest",
                &["applyApprovalRequest"],
                "approval.applied",
            ),
            (
                "approvalRequest",
                &["updateApprovalRequest"],
                "approval.updated",
            ),
            (
                "approvalRequest",
                &["deleteApprovalRequest"],
                "approval.deleted",
            ),
            ("flag", &["createFlag"], "flag.created"),
            ("flag", &["cloneFlag"], "flag.created"),
            ("flag", &["updateOn", "updateRules"], "flag.updated"),
            ("flag", &["deleteFlag"], "flag.deleted"),
            ("project", &["createProject"], "project.created"),
            ("project", &["updateProjectName"], "project.updated"),
            ("project", &["deleteProject"], "project.deleted"),
            ("environment", &["createEnvironment"], "environment.created"),
            ("environment", &["updateName"], "environment.updated"),
            ("environment", &["deleteEnvironment"], "environment.deleted"),
            ("variable", &["createVariable"], "variable.created"),
            ("variable", &["updateVariable"], "variable.updated"),
            ("variable", &["deleteVariable"], "variable.deleted"),
            ("role", &["createRole"], "role.created"),
            ("role", &["updatePolicy"], "role.updated"),
            ("role", &["deleteRole"], "role.deleted"),
            ("connection", &["createConnection"], "connection.created"),
            ("connection", &["updateConnection"], "connection.updated"),
            ("connection", &["deleteConnection"], "connection.deleted"),
            (
                "connection",
                &["createScimToken"],
                "connection.scimTokenCreated",
            ),
            (
                "connection",
                &["deleteScimToken"],
                "connection.scimTokenRevoked",
            ),
            (
                "connection",
                &["updateMappings"],
                "connection.mappingsUpdated",
            ),
            ("account", &["updateSamlRequireSso"], "account.updated"),
            ("auditlog", &["exportAuditLog"], "auditLog.exported"),
            (
                "auditlog",
                &["createCheckpointKey"],
                "auditLog.checkpointKeyCreated",
            ),
            ("webhook", &["createWebhook"], "webhook.created"),
            ("webhook", &["updateUrl"], "webhook.updated"),
            ("webhook", &["deleteWebhook"], "webhook.deleted"),
            ("webhook", &["updateWebhookCursor"], "webhook.cursorMoved"),
            ("somethingNew", &["doIt"], "other"),
        ];
        for (kind, actions, expected) in cases {
            assert_eq!(name(&entry(kind, actions)), *expected, "{kind} {actions:?}");
        }
    }

    #[test]
    fn patterns() {
        assert!(pattern_matches("*", "member.created"));
        assert!(pattern_matches("member.*", "member.created"));
        assert!(!pattern_matches("member.*", "team.created"));
        assert!(!pattern_matches("mem*", "member.created"));
        assert!(pattern_matches("team.deleted", "team.deleted"));
        assert!(check_pattern("member.*").is_ok());
        assert!(check_pattern("*").is_ok());
        assert!(check_pattern("signIn.refused").is_ok());
        assert!(check_pattern("membr.*").is_err());
        assert!(check_pattern("member.creatd").is_err());
        assert!(check_pattern("").is_err());
        assert!(check_pattern("mem*").is_err());
    }

    #[test]
    fn the_listed_patterns_are_exactly_those_taken() {
        let listed = subscription_patterns();
        for pattern in &listed {
            assert!(check_pattern(pattern).is_ok(), "{pattern}");
        }
        // Everything taken is listed: every name, its noun's `.*`, and near misses of both.
        let mut probes = vec![
            "*".to_owned(),
            "**".to_owned(),
            ".*".to_owned(),
            "other".to_owned(),
        ];
        for event in Event::ALL {
            let name = event.name();
            let noun = name.split('.').next().unwrap_or(name);
            probes.extend([
                name.to_owned(),
                format!("{noun}.*"),
                format!("{noun}*"),
                format!("{name}.*"),
                format!("{noun}.x*"),
                name.to_uppercase(),
            ]);
        }
        for probe in probes {
            assert_eq!(
                check_pattern(&probe).is_ok(),
                listed.contains(&probe),
                "{probe}"
            );
        }
    }
}
