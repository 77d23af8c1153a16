//! The action catalogue: one static table of every action the policy language knows, by
//! resource type, plus a dense [`ActionId`] per action *name* so compiled roles can use
//! bitsets.
//!
//! Actions come from LaunchDarkly's published action list, by the same names. Gatehouse
//! additions (no LaunchDarkly equivalent) are marked "(Gatehouse)" in their description:
//! environment variables (`var`), identity connections (`connection`), the approval-request
//! resource (`request`), `updateMemberStatus`, `updateWebhookCursor`, `revokeSessions` on a member,
//! and the read actions `viewMember`, `viewTeam`
//! (LD has it), `viewRole`, `viewToken`, `viewConnection`, `viewAuditLog`, `viewWebhook`.
//!
//! The table is append-only: ids are assigned in order of first appearance of each name, so
//! appending rows never renumbers existing actions.

use std::sync::OnceLock;

use serde::Serialize;

use super::glob::Glob;
use super::resource::ResourceType;

/// One row of the catalogue: an action on a resource type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionInfo {
    /// The resource type the action applies to.
    pub resource_type: ResourceType,
    /// The action name, e.g. `updateOn` (case-sensitive).
    pub action: &'static str,
    /// One-line description.
    pub description: &'static str,
    /// A flag action that changes project-wide data: the caller must check it against the
    /// flag in *every* environment of the project (see `decide_all`).
    pub project_wide: bool,
    /// A read action: granted by `basePermissions: reader` and the `reader` base role.
    pub view: bool,
}

use ResourceType as T;

const fn a(
    resource_type: ResourceType,
    action: &'static str,
    description: &'static str,
) -> ActionInfo {
    ActionInfo {
        resource_type,
        action,
        description,
        project_wide: false,
        view: false,
    }
}

const fn pw(
    resource_type: ResourceType,
    action: &'static str,
    description: &'static str,
) -> ActionInfo {
    ActionInfo {
        project_wide: true,
        ..a(resource_type, action, description)
    }
}

const fn v(
    resource_type: ResourceType,
    action: &'static str,
    description: &'static str,
) -> ActionInfo {
    ActionInfo {
        view: true,
        ..a(resource_type, action, description)
    }
}

/// The catalogue. Append only.
pub static ACTIONS: &[ActionInfo] = &[
    // ---- proj ----
    a(T::Proj, "createProject", "Create a project"),
    a(T::Proj, "deleteProject", "Delete a project"),
    a(T::Proj, "updateProjectName", "Rename a project"),
    a(T::Proj, "updateTags", "Change a project's tags"),
    a(
        T::Proj,
        "updateIncludeInSnippetByDefault",
        "Change whether new flags are available to client-side SDKs by default",
    ),
    a(
        T::Proj,
        "updateDefaultClientSideAvailability",
        "Change the default client-side availability of new flags",
    ),
    a(
        T::Proj,
        "updateDefaultReleasePipeline",
        "Change the project's default release pipeline",
    ),
    a(
        T::Proj,
        "updateProjectFlagDefaults",
        "Change the project's flag defaults",
    ),
    a(
        T::Proj,
        "updateViewAssociationRequirements",
        "Change the project's view association requirements",
    ),
    v(
        T::Proj,
        "viewProject",
        "View a project and what is in it (allowed unless denied)",
    ),
    // ---- env ----
    a(T::Env, "createEnvironment", "Create an environment"),
    a(T::Env, "deleteEnvironment", "Delete an environment"),
    a(T::Env, "updateName", "Rename an environment"),
    a(T::Env, "updateColor", "Change an environment's color"),
    a(T::Env, "updateTtl", "Change an environment's TTL"),
    a(T::Env, "updateApiKey", "Reset an environment's SDK key"),
    a(
        T::Env,
        "updateMobileKey",
        "Reset an environment's mobile key",
    ),
    a(
        T::Env,
        "viewSdkKey",
        "View an environment's SDK key (a secret: not a reader action)",
    ),
    a(
        T::Env,
        "updateSecureMode",
        "Change an environment's secure mode",
    ),
    a(
        T::Env,
        "updateDefaultTrackEvents",
        "Change whether new flags send detailed events",
    ),
    a(T::Env, "updateTags", "Change an environment's tags"),
    a(
        T::Env,
        "updateRequireComments",
        "Change whether changes require comments",
    ),
    a(
        T::Env,
        "updateConfirmChanges",
        "Change whether changes require confirmation",
    ),
    a(
        T::Env,
        "updateCritical",
        "Mark or unmark an environment as critical",
    ),
    a(
        T::Env,
        "updateApprovalSettings",
        "Change an environment's approval settings",
    ),
    a(T::Env, "deleteContextInstance", "Delete a context instance"),
    a(T::Env, "importEventData", "Import event data"),
    // ---- flag ----
    pw(T::Flag, "createFlag", "Create a flag (project-wide)"),
    a(T::Flag, "cloneFlag", "Clone a flag"),
    pw(T::Flag, "deleteFlag", "Delete a flag (project-wide)"),
    a(T::Flag, "updateOn", "Turn a flag on or off"),
    pw(T::Flag, "updateName", "Rename a flag (project-wide)"),
    pw(
        T::Flag,
        "updateDescription",
        "Change a flag's description (project-wide)",
    ),
    pw(T::Flag, "updateTags", "Change a flag's tags (project-wide)"),
    pw(
        T::Flag,
        "updateTemporary",
        "Mark a flag temporary or permanent (project-wide)",
    ),
    a(T::Flag, "updateDeprecated", "Deprecate or restore a flag"),
    pw(
        T::Flag,
        "updateGlobalArchived",
        "Archive or restore a flag (project-wide)",
    ),
    pw(
        T::Flag,
        "updateMaintainer",
        "Change a flag's maintainer (project-wide)",
    ),
    a(
        T::Flag,
        "updateIncludeInSnippet",
        "Change whether a flag is in the client-side snippet",
    ),
    a(
        T::Flag,
        "updateClientSideFlagAvailability",
        "Change a flag's client-side availability",
    ),
    pw(
        T::Flag,
        "updateFlagVariations",
        "Change a flag's variations (project-wide)",
    ),
    a(
        T::Flag,
        "updateFlagDefaultVariations",
        "Change a flag's default variations",
    ),
    a(
        T::Flag,
        "updateVariationJsonSchema",
        "Change a flag's variation JSON schema",
    ),
    a(
        T::Flag,
        "updateFlagCustomProperties",
        "Change a flag's custom properties",
    ),
    a(
        T::Flag,
        "updatePrerequisites",
        "Change a flag's prerequisites",
    ),
    a(
        T::Flag,
        "updateTargets",
        "Change a flag's individual targets",
    ),
    a(T::Flag, "updateRules", "Change a flag's targeting rules"),
    a(
        T::Flag,
        "updateFlagRuleDescription",
        "Change a rule's description",
    ),
    a(
        T::Flag,
        "updateFallthrough",
        "Change a flag's fallthrough (default rule)",
    ),
    a(
        T::Flag,
        "updateOffVariation",
        "Change a flag's off variation",
    ),
    a(
        T::Flag,
        "updateExpiringTargets",
        "Change a flag's expiring targets",
    ),
    a(
        T::Flag,
        "updateExpiringRules",
        "Change a flag's expiring rules (legacy)",
    ),
    a(
        T::Flag,
        "updateScheduledChanges",
        "Change a flag's scheduled changes",
    ),
    a(
        T::Flag,
        "updateFeatureWorkflows",
        "Change a flag's workflows",
    ),
    a(T::Flag, "updateTriggers", "Change a flag's triggers"),
    a(T::Flag, "createTriggers", "Create flag triggers"),
    a(T::Flag, "deleteTriggers", "Delete flag triggers"),
    a(
        T::Flag,
        "updateTrackEvents",
        "Change whether a flag sends detailed events",
    ),
    a(
        T::Flag,
        "updateFlagFallthroughTrackEvents",
        "Change whether the fallthrough sends detailed events",
    ),
    a(T::Flag, "updateFlagSalt", "Change a flag's salt"),
    a(
        T::Flag,
        "copyFlagConfigFrom",
        "Copy a flag's configuration from this environment",
    ),
    a(
        T::Flag,
        "copyFlagConfigTo",
        "Copy a flag's configuration to this environment",
    ),
    a(
        T::Flag,
        "createApprovalRequest",
        "Request approval for a flag change",
    ),
    a(
        T::Flag,
        "updateApprovalRequest",
        "Update a flag approval request",
    ),
    a(
        T::Flag,
        "deleteApprovalRequest",
        "Delete a flag approval request",
    ),
    a(
        T::Flag,
        "reviewApprovalRequest",
        "Review a flag approval request",
    ),
    a(
        T::Flag,
        "applyApprovalRequest",
        "Apply an approved flag change",
    ),
    a(
        T::Flag,
        "bypassRequiredApproval",
        "Change a flag without a required approval",
    ),
    a(T::Flag, "createFlagLink", "Create a flag link"),
    a(T::Flag, "updateFlagLink", "Update a flag link"),
    a(T::Flag, "deleteFlagLink", "Delete a flag link"),
    a(T::Flag, "manageFlagFollowers", "Manage a flag's followers"),
    a(
        T::Flag,
        "updateFlagConfigMigrationSettings",
        "Change a flag's migration settings",
    ),
    a(
        T::Flag,
        "updateMeasuredRolloutConfiguration",
        "Change a measured rollout's configuration",
    ),
    a(
        T::Flag,
        "updateFallthroughWithMeasuredRollout",
        "Change the fallthrough with a measured rollout",
    ),
    a(
        T::Flag,
        "updateRulesWithMeasuredRollout",
        "Change rules with a measured rollout",
    ),
    a(
        T::Flag,
        "stopMeasuredRolloutOnFlagFallthrough",
        "Stop a measured rollout on the fallthrough",
    ),
    a(
        T::Flag,
        "stopMeasuredRolloutOnFlagRule",
        "Stop a measured rollout on a rule",
    ),
    a(
        T::Flag,
        "addReleasePipeline",
        "Add a flag to a release pipeline",
    ),
    a(
        T::Flag,
        "removeReleasePipeline",
        "Remove a flag from a release pipeline",
    ),
    a(
        T::Flag,
        "replaceReleasePipeline",
        "Replace a flag's release pipeline",
    ),
    a(
        T::Flag,
        "updateReleasePhaseStatus",
        "Change a release phase's status",
    ),
    a(
        T::Flag,
        "updateReleasePhaseCompleted",
        "Mark a release phase completed",
    ),
    a(
        T::Flag,
        "updateFlagCodeReferences",
        "Change a flag's code references",
    ),
    a(
        T::Flag,
        "updateAttachedMetrics",
        "Change a flag's attached metrics",
    ),
    a(
        T::Flag,
        "updateAttachedGoals",
        "Change a flag's attached goals",
    ),
    a(
        T::Flag,
        "createExperiment",
        "Create an experiment on a flag",
    ),
    a(
        T::Flag,
        "deleteExperiment",
        "Delete an experiment on a flag",
    ),
    a(
        T::Flag,
        "deleteExperimentResults",
        "Delete experiment results",
    ),
    a(
        T::Flag,
        "updateExperimentActive",
        "Start or stop an experiment",
    ),
    a(
        T::Flag,
        "updateExperimentBaseline",
        "Change an experiment's baseline",
    ),
    a(
        T::Flag,
        "deleteFlagAttachedGoalResults",
        "Delete attached goal results",
    ),
    // ---- segment ----
    a(T::Segment, "createSegment", "Create a segment"),
    a(T::Segment, "deleteSegment", "Delete a segment"),
    a(T::Segment, "updateName", "Rename a segment"),
    a(
        T::Segment,
        "updateDescription",
        "Change a segment's description",
    ),
    a(T::Segment, "updateTags", "Change a segment's tags"),
    a(
        T::Segment,
        "updateIncluded",
        "Change a segment's included targets",
    ),
    a(
        T::Segment,
        "updateExcluded",
        "Change a segment's excluded targets",
    ),
    a(T::Segment, "updateRules", "Change a segment's rules"),
    a(
        T::Segment,
        "updateExpiringRules",
        "Change a segment's expiring rules",
    ),
    a(
        T::Segment,
        "updateExpiringTargets",
        "Change a segment's expiring targets",
    ),
    a(
        T::Segment,
        "updateScheduledChanges",
        "Change a segment's scheduled changes",
    ),
    a(
        T::Segment,
        "createApprovalRequest",
        "Request approval for a segment change",
    ),
    a(
        T::Segment,
        "updateApprovalRequest",
        "Update a segment approval request",
    ),
    a(
        T::Segment,
        "deleteApprovalRequest",
        "Delete a segment approval request",
    ),
    a(
        T::Segment,
        "reviewApprovalRequest",
        "Review a segment approval request",
    ),
    a(
        T::Segment,
        "applyApprovalRequest",
        "Apply an approved segment change",
    ),
    // ---- var (Gatehouse) ----
    a(
        T::Var,
        "createVariable",
        "Create an environment variable (Gatehouse)",
    ),
    a(
        T::Var,
        "updateVariable",
        "Change an environment variable's value (Gatehouse)",
    ),
    a(
        T::Var,
        "updateVariableSecret",
        "Mark an environment variable secret or not (Gatehouse)",
    ),
    a(
        T::Var,
        "deleteVariable",
        "Delete an environment variable (Gatehouse)",
    ),
    a(
        T::Var,
        "viewVariableSecret",
        "Read a secret variable's value; audited, not a reader action (Gatehouse)",
    ),
    a(
        T::Var,
        "bypassRequiredApproval",
        "Change an environment variable without a required approval (Gatehouse)",
    ),
    // ---- request (Gatehouse resource for approval requests) ----
    a(
        T::Request,
        "createApprovalRequest",
        "Create an approval request (Gatehouse)",
    ),
    a(
        T::Request,
        "updateApprovalRequest",
        "Update an approval request (Gatehouse)",
    ),
    a(
        T::Request,
        "deleteApprovalRequest",
        "Delete an approval request (Gatehouse)",
    ),
    a(
        T::Request,
        "reviewApprovalRequest",
        "Approve or decline an approval request (Gatehouse)",
    ),
    a(
        T::Request,
        "applyApprovalRequest",
        "Apply an approved request (Gatehouse)",
    ),
    // ---- member ----
    a(T::Member, "createMember", "Invite or create a member"),
    a(
        T::Member,
        "signOut",
        "End the member's session (audit entries only) (Gatehouse)",
    ),
    a(T::Member, "deleteMember", "Delete a member"),
    a(T::Member, "updateRole", "Change a member's base role"),
    a(
        T::Member,
        "updateCustomRole",
        "Change a member's custom roles",
    ),
    a(
        T::Member,
        "updateMemberRoleAttributes",
        "Change a member's role attributes",
    ),
    a(T::Member, "sendMfaRequest", "Ask a member to set up MFA"),
    a(
        T::Member,
        "sendMfaRecoveryCode",
        "Send a member an MFA recovery code",
    ),
    a(
        T::Member,
        "approveDomainMatchedMember",
        "Approve a domain-matched member",
    ),
    a(T::Member, "resetMemberMfa", "Reset a member's MFA"),
    a(
        T::Member,
        "updateMemberStatus",
        "Deactivate or reactivate a member (Gatehouse)",
    ),
    v(T::Member, "viewMember", "View a member (Gatehouse)"),
    // ---- token (personal, member/*:token/*) ----
    a(
        T::Token,
        "createAccessToken",
        "Create a personal access token",
    ),
    a(
        T::Token,
        "deleteAccessToken",
        "Delete a personal access token",
    ),
    a(
        T::Token,
        "resetAccessToken",
        "Reset a personal access token's secret",
    ),
    a(
        T::Token,
        "updateAccessTokenName",
        "Rename a personal access token",
    ),
    a(
        T::Token,
        "updateAccessTokenDescription",
        "Change a personal access token's description",
    ),
    a(
        T::Token,
        "updateAccessTokenPolicy",
        "Change a personal access token's role or policy",
    ),
    a(
        T::Token,
        "updateAccessTokenExpiry",
        "Change a personal access token's expiry",
    ),
    v(
        T::Token,
        "viewToken",
        "View a personal access token's metadata (Gatehouse)",
    ),
    // ---- service-token ----
    a(
        T::ServiceToken,
        "createAccessToken",
        "Create a service token",
    ),
    a(
        T::ServiceToken,
        "deleteAccessToken",
        "Delete a service token",
    ),
    a(
        T::ServiceToken,
        "resetAccessToken",
        "Reset a service token's secret",
    ),
    a(
        T::ServiceToken,
        "updateAccessTokenName",
        "Rename a service token",
    ),
    a(
        T::ServiceToken,
        "updateAccessTokenDescription",
        "Change a service token's description",
    ),
    a(
        T::ServiceToken,
        "updateAccessTokenPolicy",
        "Change a service token's role or policy (Gatehouse)",
    ),
    a(
        T::ServiceToken,
        "updateAccessTokenExpiry",
        "Change a service token's expiry (Gatehouse)",
    ),
    v(
        T::ServiceToken,
        "viewToken",
        "View a service token's metadata (Gatehouse)",
    ),
    // ---- team ----
    a(T::Team, "createTeam", "Create a team"),
    a(T::Team, "deleteTeam", "Delete a team"),
    v(T::Team, "viewTeam", "View a team"),
    a(T::Team, "updateTeamName", "Rename a team"),
    a(
        T::Team,
        "updateTeamDescription",
        "Change a team's description",
    ),
    a(T::Team, "updateTeamMembers", "Add or remove team members"),
    a(
        T::Team,
        "updateTeamCustomRoles",
        "Change a team's custom roles",
    ),
    a(
        T::Team,
        "updateTeamPermissionGrants",
        "Change a team's maintainers",
    ),
    a(
        T::Team,
        "updateTeamRoleAttributes",
        "Change a team's role attributes",
    ),
    // ---- role ----
    a(T::Role, "createRole", "Create a custom role"),
    a(T::Role, "deleteRole", "Delete a custom role"),
    a(T::Role, "updatePolicy", "Change a custom role's policy"),
    a(T::Role, "updateName", "Rename a custom role"),
    a(
        T::Role,
        "updateDescription",
        "Change a custom role's description",
    ),
    a(
        T::Role,
        "updateBasePermissions",
        "Change a custom role's base permissions",
    ),
    a(
        T::Role,
        "updateMembers",
        "Assign or unassign a custom role to members",
    ),
    a(T::Role, "updateTokens", "Assign a custom role to tokens"),
    v(T::Role, "viewRole", "View a custom role (Gatehouse)"),
    // ---- connection (Gatehouse) ----
    a(
        T::Connection,
        "createConnection",
        "Create an identity connection (Gatehouse)",
    ),
    a(
        T::Connection,
        "updateConnection",
        "Change an identity connection's SAML/OIDC/SCIM settings (Gatehouse)",
    ),
    a(
        T::Connection,
        "deleteConnection",
        "Delete an identity connection (Gatehouse)",
    ),
    a(
        T::Connection,
        "createScimToken",
        "Create a SCIM bearer token for a connection (Gatehouse)",
    ),
    a(
        T::Connection,
        "deleteScimToken",
        "Revoke a SCIM bearer token (Gatehouse)",
    ),
    a(
        T::Connection,
        "updateMappings",
        "Change a connection's attribute and group mappings (Gatehouse)",
    ),
    v(
        T::Connection,
        "viewConnection",
        "View an identity connection's settings, never its secrets (Gatehouse)",
    ),
    // Sign-in and sign-out need no permission; they are here so that statements (webhooks,
    // audit queries) can select their audit entries by action.
    a(
        T::Connection,
        "signIn",
        "Sign in through the connection, or be refused (audit entries only) (Gatehouse)",
    ),
    // ---- acct ----
    a(
        T::Acct,
        "updateOrganization",
        "Change the organization name",
    ),
    a(T::Acct, "updateSubscription", "Change the subscription"),
    a(T::Acct, "deleteSubscription", "Cancel the subscription"),
    a(
        T::Acct,
        "updateBillingContact",
        "Change the billing contact",
    ),
    a(T::Acct, "updatePaymentCard", "Change the payment card"),
    a(T::Acct, "getPaymentCard", "View the payment card"),
    a(
        T::Acct,
        "updateRequireMfa",
        "Change whether members must use MFA",
    ),
    a(T::Acct, "updateAccountToken", "Change account tokens"),
    a(T::Acct, "deleteAccountToken", "Delete account tokens"),
    a(
        T::Acct,
        "updateAccountTokenLimit",
        "Change the account token limit",
    ),
    a(T::Acct, "updateAccountOwner", "Transfer account ownership"),
    a(T::Acct, "deleteAccount", "Delete the account"),
    a(T::Acct, "createAnnouncement", "Create an announcement"),
    a(T::Acct, "updateAnnouncement", "Update an announcement"),
    a(T::Acct, "deleteAnnouncement", "Delete an announcement"),
    a(T::Acct, "createScimConfig", "Enable SCIM"),
    a(T::Acct, "deleteScimConfig", "Disable SCIM"),
    a(T::Acct, "updateSamlEnabled", "Enable or disable SSO"),
    a(
        T::Acct,
        "updateSamlRequireSso",
        "Change whether SSO must be used for authentication",
    ),
    a(T::Acct, "createSamlConfig", "Create the SAML configuration"),
    a(T::Acct, "deleteSamlConfig", "Delete the SAML configuration"),
    a(
        T::Acct,
        "updateSamlX509Certificate",
        "Change the IdP's X.509 certificate",
    ),
    a(T::Acct, "updateSamlSsoUrl", "Change the IdP's SSO URL"),
    a(
        T::Acct,
        "updateSamlDefaultRole",
        "Change the default role of SSO-provisioned members",
    ),
    a(
        T::Acct,
        "updateSamlLogoutUrl",
        "Change the IdP's logout URL",
    ),
    a(
        T::Acct,
        "updateSamlDecryptionEnabled",
        "Change whether assertions are encrypted",
    ),
    a(
        T::Acct,
        "updateSamlRequestSigningEnabled",
        "Change whether requests are signed",
    ),
    a(
        T::Acct,
        "updateSamlX509KeystoreId",
        "Change the SP keystore",
    ),
    a(
        T::Acct,
        "updateSessionDuration",
        "Change the session duration",
    ),
    a(T::Acct, "updateSessionRefresh", "Change session refresh"),
    a(T::Acct, "revokeSessions", "Revoke all sessions"),
    v(
        T::Acct,
        "viewAuditLog",
        "View and export the audit log (Gatehouse)",
    ),
    a(
        T::Member,
        "updateMemberName",
        "Change a member's first or last name (Gatehouse)",
    ),
    a(
        T::Acct,
        "exportAuditLog",
        "Export the whole audit log (Gatehouse)",
    ),
    a(
        T::Acct,
        "createCheckpointKey",
        "Create the audit checkpoint signing key (Gatehouse, system only)",
    ),
    // ---- webhook ----
    a(T::Webhook, "createWebhook", "Create a webhook"),
    a(T::Webhook, "deleteWebhook", "Delete a webhook"),
    a(T::Webhook, "updateName", "Update a webhook's name"),
    a(T::Webhook, "updateOn", "Turn a webhook on or off"),
    a(
        T::Webhook,
        "updateQuery",
        "Update a webhook's event filter (its `events` patterns)",
    ),
    a(T::Webhook, "updateSecret", "Update a webhook's secret"),
    a(
        T::Webhook,
        "updateStatements",
        "Update a webhook's policy statements",
    ),
    a(T::Webhook, "updateTags", "Update a webhook's tags"),
    a(T::Webhook, "updateUrl", "Update a webhook's URL"),
    v(
        T::Webhook,
        "viewWebhook",
        "View a webhook and its deliveries, never its secret (Gatehouse)",
    ),
    a(
        T::Webhook,
        "updateWebhookCursor",
        "Move a webhook's cursor to replay or skip part of the log (Gatehouse)",
    ),
    // ---- acct: IP allowlist (LaunchDarkly's names; it puts them on an `ip-allowlist`
    // resource, Gatehouse on `acct`, where the other account settings are) ----
    v(
        T::Acct,
        "viewIpAllowlist",
        "View the account's IP allowlist",
    ),
    a(
        T::Acct,
        "createIpAllowlistEntry",
        "Add an address range to the account's IP allowlist",
    ),
    a(
        T::Acct,
        "updateIpAllowlistEntry",
        "Change the description of an IP allowlist entry",
    ),
    a(
        T::Acct,
        "deleteIpAllowlistEntry",
        "Remove an address range from the account's IP allowlist",
    ),
    a(
        T::Acct,
        "updateIpAllowlistEnabled",
        "Turn the IP allowlist on or off for sessions and for API tokens",
    ),
    a(
        T::Member,
        "revokeSessions",
        "End a member's browser sessions (Gatehouse)",
    ),
];

/// A dense index of an action *name* (the same name on several resource types shares an id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ActionId(pub u16);

/// Capacity of [`ActionSet`] in actions.
pub const MAX_ACTIONS: usize = ActionSet::WORDS * 64;

/// A fixed-size bitset over [`ActionId`]s. `Copy`, never allocates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ActionSet {
    bits: [u64; ActionSet::WORDS],
}

impl ActionSet {
    const WORDS: usize = 8;

    /// The empty set.
    pub const fn empty() -> ActionSet {
        ActionSet {
            bits: [0; ActionSet::WORDS],
        }
    }

    /// Every catalogue action.
    pub fn all() -> ActionSet {
        catalogue().all
    }

    /// Adds `id` (ids beyond the capacity are ignored; the catalogue test keeps them in range).
    pub fn insert(&mut self, id: ActionId) {
        let i = usize::from(id.0);
        if let Some(w) = self.bits.get_mut(i / 64) {
            *w |= 1u64 << (i % 64);
        }
    }

    /// Whether `id` is in the set.
    pub fn contains(&self, id: ActionId) -> bool {
        let i = usize::from(id.0);
        self.bits
            .get(i / 64)
            .is_some_and(|w| w & (1u64 << (i % 64)) != 0)
    }

    /// Catalogue actions not in this set.
    pub fn complement(&self) -> ActionSet {
        let all = ActionSet::all();
        let mut out = ActionSet::empty();
        for (o, (a, s)) in out
            .bits
            .iter_mut()
            .zip(all.bits.iter().zip(self.bits.iter()))
        {
            *o = a & !s;
        }
        out
    }

    /// Set union.
    pub fn union(&self, other: &ActionSet) -> ActionSet {
        let mut out = *self;
        for (o, b) in out.bits.iter_mut().zip(other.bits.iter()) {
            *o |= b;
        }
        out
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.bits.iter().all(|w| *w == 0)
    }

    /// Number of actions in the set.
    pub fn len(&self) -> usize {
        self.bits.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// The ids in the set, ascending.
    pub fn iter(&self) -> impl Iterator<Item = ActionId> + '_ {
        (0..MAX_ACTIONS)
            .filter_map(|i| u16::try_from(i).ok().map(ActionId))
            .filter(|id| self.contains(*id))
    }
}

impl FromIterator<ActionId> for ActionSet {
    fn from_iter<I: IntoIterator<Item = ActionId>>(iter: I) -> ActionSet {
        let mut s = ActionSet::empty();
        for id in iter {
            s.insert(id);
        }
        s
    }
}

struct Catalogue {
    /// Unique names, index = ActionId.
    names: Vec<&'static str>,
    /// (name, id) sorted by name for binary search.
    sorted: Vec<(&'static str, ActionId)>,
    all: ActionSet,
    view: ActionSet,
    by_type: [ActionSet; ResourceType::ALL.len()],
    view_project: ActionId,
}

fn catalogue() -> &'static Catalogue {
    static CATALOGUE: OnceLock<Catalogue> = OnceLock::new();
    CATALOGUE.get_or_init(|| {
        let mut names: Vec<&'static str> = Vec::new();
        for info in ACTIONS {
            if !names.contains(&info.action) {
                names.push(info.action);
            }
        }
        let mut sorted: Vec<(&'static str, ActionId)> = names
            .iter()
            .enumerate()
            .filter_map(|(i, n)| u16::try_from(i).ok().map(|i| (*n, ActionId(i))))
            .collect();
        sorted.sort_by(|a, b| a.0.cmp(b.0));
        let find = |name: &str| {
            sorted
                .binary_search_by(|(n, _)| (*n).cmp(name))
                .ok()
                .and_then(|i| sorted.get(i))
                .map(|(_, id)| *id)
        };
        let mut all = ActionSet::empty();
        let mut view = ActionSet::empty();
        let mut by_type = [ActionSet::empty(); ResourceType::ALL.len()];
        for info in ACTIONS {
            if let Some(id) = find(info.action) {
                all.insert(id);
                if info.view {
                    view.insert(id);
                }
                if let Some(set) = by_type.get_mut(info.resource_type.index()) {
                    set.insert(id);
                }
            }
        }
        let view_project = find("viewProject").unwrap_or(ActionId(u16::MAX));
        Catalogue {
            names,
            sorted,
            all,
            view,
            by_type,
            view_project,
        }
    })
}

impl ActionId {
    /// The action's name.
    pub fn name(self) -> &'static str {
        catalogue()
            .names
            .get(usize::from(self.0))
            .copied()
            .unwrap_or("")
    }

    /// The catalogue rows for this action name (one per resource type it applies to).
    pub fn infos(self) -> impl Iterator<Item = &'static ActionInfo> {
        let name = self.name();
        ACTIONS.iter().filter(move |i| i.action == name)
    }

    /// Whether this is a read (`view`) action on at least one resource type.
    pub fn is_view(self) -> bool {
        catalogue().view.contains(self)
    }

    /// Whether the action exists for resources of type `kind`.
    pub fn applies_to(self, kind: ResourceType) -> bool {
        catalogue()
            .by_type
            .get(kind.index())
            .is_some_and(|s| s.contains(self))
    }

    /// The id of `viewProject`, which is allowed unless denied.
    pub fn view_project() -> ActionId {
        catalogue().view_project
    }
}

/// Finds an action by exact (case-sensitive) name. Never allocates.
pub fn lookup(action: &str) -> Option<ActionId> {
    let c = catalogue();
    c.sorted
        .binary_search_by(|(n, _)| (*n).cmp(action))
        .ok()
        .and_then(|i| c.sorted.get(i))
        .map(|(_, id)| *id)
}

/// Every distinct action name matching `glob` (`*`, `update*`, ...), ascending by id.
pub fn matching(glob: &str) -> impl Iterator<Item = ActionId> {
    let g = Glob::new(glob);
    catalogue()
        .names
        .iter()
        .enumerate()
        .filter(move |(_, n)| g.matches(n))
        .filter_map(|(i, _)| u16::try_from(i).ok().map(ActionId))
}

/// Number of distinct action names.
pub fn count() -> usize {
    catalogue().names.len()
}

/// Every read (`view: true`) action.
pub fn view_actions() -> ActionSet {
    catalogue().view
}

/// Every action that applies to resources of type `kind`.
pub fn actions_for(kind: ResourceType) -> ActionSet {
    catalogue()
        .by_type
        .get(kind.index())
        .copied()
        .unwrap_or_default()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_fits_and_is_consistent() {
        assert!(count() <= MAX_ACTIONS, "{} actions", count());
        assert!(count() > 150);
        // no duplicate (type, name) rows
        for (i, x) in ACTIONS.iter().enumerate() {
            for y in ACTIONS.iter().skip(i + 1) {
                assert!(
                    !(x.action == y.action && x.resource_type == y.resource_type),
                    "duplicate {} on {}",
                    x.action,
                    x.resource_type
                );
            }
            assert!(x.action.chars().all(|c| c.is_ascii_alphanumeric()));
            assert!(!x.project_wide || x.resource_type == ResourceType::Flag);
        }
        for t in ResourceType::ALL {
            assert!(!actions_for(t).is_empty(), "{t} has no actions");
        }
    }

    #[test]
    fn lookup_and_ids() {
        let id = lookup("updateName").unwrap();
        assert_eq!(id.name(), "updateName");
        let types: Vec<_> = id.infos().map(|i| i.resource_type).collect();
        assert!(types.contains(&ResourceType::Flag));
        assert!(types.contains(&ResourceType::Env));
        assert!(types.contains(&ResourceType::Segment));
        assert!(lookup("updatename").is_none());
        assert!(lookup("").is_none());
        assert_eq!(ActionId::view_project().name(), "viewProject");
        for (i, n) in catalogue().names.iter().enumerate() {
            assert_eq!(lookup(n), Some(ActionId(i as u16)));
        }
    }

    #[test]
    fn matching_globs() {
        assert_eq!(matching("*").count(), count());
        assert!(matching("update*").all(|id| id.name().starts_with("update")));
        assert!(matching("update*").any(|id| id.name() == "updateOn"));
        assert_eq!(matching("nope*").count(), 0);
        let view: Vec<_> = view_actions().iter().map(ActionId::name).collect();
        for n in [
            "viewProject",
            "viewMember",
            "viewTeam",
            "viewRole",
            "viewToken",
            "viewAuditLog",
        ] {
            assert!(view.contains(&n), "{n}");
        }
        assert!(!view.contains(&"viewSdkKey"));
        assert!(!view.contains(&"viewVariableSecret"));
    }

    #[test]
    fn project_wide_flag_actions() {
        let pw: Vec<_> = ACTIONS
            .iter()
            .filter(|i| i.project_wide)
            .map(|i| i.action)
            .collect();
        for n in [
            "createFlag",
            "deleteFlag",
            "updateName",
            "updateDescription",
            "updateTags",
            "updateFlagVariations",
            "updateTemporary",
            "updateMaintainer",
            "updateGlobalArchived",
        ] {
            assert!(pw.contains(&n), "{n}");
        }
        assert!(!pw.contains(&"updateOn"));
    }

    #[test]
    fn set_ops() {
        let mut s = ActionSet::empty();
        let id = lookup("updateOn").unwrap();
        s.insert(id);
        assert!(s.contains(id));
        assert_eq!(s.len(), 1);
        let c = s.complement();
        assert!(!c.contains(id));
        assert_eq!(c.len(), count() - 1);
        assert_eq!(c.union(&s), ActionSet::all());
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![id]);
    }
}
