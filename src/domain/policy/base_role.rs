//! Base roles (`reader`, `writer`, `admin`, `owner`, `no_access`) as built-in compiled roles,
//! and the `basePermissions` of custom roles.
//!
//! * `reader`: every catalogue view action (`view: true`) on every resource type. Secrets
//!   (`viewSdkKey`, `viewVariableSecret`, `getPaymentCard`) are not view actions.
//! * `writer`: reader + every `flag`, `segment`, `var` and `request` action everywhere, and
//!   every personal-token action on the member's *own* tokens (`member/<id>:token/*`).
//! * `admin`: every action on every resource, except `updateAccountOwner` on `acct`.
//!   Protecting the owner's member record (no re-role, deactivation or deletion of the owner
//!   by anyone but the owner) is a service invariant, not expressed in the policy, because the
//!   owner's id is data.
//! * `owner`: every action on every resource.
//! * `no_access`: nothing, and it explicitly denies `viewProject` so even the "allowed unless
//!   denied" default does not reveal projects.

use serde::{Deserialize, Serialize};

use super::action::{self, ACTIONS};
use super::resource::ResourceType;
use super::statement::{Effect, StatementInput};

/// A custom role's `basePermissions`: what it grants where no statement matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum BasePermissions {
    /// View actions are allowed unless the role denies them (Terraform's default).
    #[serde(rename = "reader")]
    Reader,
    /// Nothing is granted beyond the statements (newer API versions' default).
    #[default]
    #[serde(rename = "no_access", alias = "noAccess")]
    NoAccess,
}

/// A member's base role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BaseRole {
    /// View everything (no secrets).
    #[serde(rename = "reader")]
    Reader,
    /// Reader + flags, segments, variables, approval requests and own tokens.
    #[serde(rename = "writer")]
    Writer,
    /// Everything except transferring ownership.
    #[serde(rename = "admin")]
    Admin,
    /// Everything.
    #[serde(rename = "owner")]
    Owner,
    /// Nothing.
    #[serde(rename = "no_access", alias = "noAccess")]
    NoAccess,
}

/// The action that skips a required approval; the writer base role does not have it.
pub const BYPASS_REQUIRED_APPROVAL: &str = "bypassRequiredApproval";

/// The role attribute the writer's own-token statement uses.
pub const SELF_MEMBER_ATTRIBUTE: &str = "memberId";

fn all_scopes() -> Vec<String> {
    ResourceType::ALL
        .iter()
        .map(|t| t.scope().to_owned())
        .collect()
}

fn names_for(types: &[ResourceType]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for info in ACTIONS.iter().filter(|i| types.contains(&i.resource_type)) {
        if !names.iter().any(|n| n == info.action) {
            names.push(info.action.to_owned());
        }
    }
    names
}

fn allow(actions: Vec<String>, resources: Vec<String>) -> StatementInput {
    StatementInput {
        effect: Effect::Allow,
        actions: Some(actions),
        not_actions: None,
        resources: Some(resources),
        not_resources: None,
    }
}

fn deny(actions: Vec<String>, resources: Vec<String>) -> StatementInput {
    StatementInput {
        effect: Effect::Deny,
        ..allow(actions, resources)
    }
}

impl BaseRole {
    /// Every base role.
    pub const ALL: [BaseRole; 5] = [
        BaseRole::Reader,
        BaseRole::Writer,
        BaseRole::Admin,
        BaseRole::Owner,
        BaseRole::NoAccess,
    ];

    /// Parses a wire name; `noAccess` is accepted for `no_access`.
    pub fn parse(name: &str) -> Option<BaseRole> {
        match name {
            "reader" => Some(BaseRole::Reader),
            "writer" => Some(BaseRole::Writer),
            "admin" => Some(BaseRole::Admin),
            "owner" => Some(BaseRole::Owner),
            "no_access" | "noAccess" => Some(BaseRole::NoAccess),
            _ => None,
        }
    }

    /// Order of privilege: `no_access` < `reader` < `writer` < `admin` < `owner`.
    pub const fn rank(self) -> u8 {
        match self {
            BaseRole::NoAccess => 0,
            BaseRole::Reader => 1,
            BaseRole::Writer => 2,
            BaseRole::Admin => 3,
            BaseRole::Owner => 4,
        }
    }

    /// The wire name (`reader`, ..., `no_access`).
    pub const fn as_str(self) -> &'static str {
        match self {
            BaseRole::Reader => "reader",
            BaseRole::Writer => "writer",
            BaseRole::Admin => "admin",
            BaseRole::Owner => "owner",
            BaseRole::NoAccess => "no_access",
        }
    }

    /// Whether this base role still counts when the member also has custom roles. Custom
    /// roles supersede every base role except `owner` (the owner keeps full access).
    pub const fn supersedes_custom_roles(self) -> bool {
        matches!(self, BaseRole::Owner)
    }

    /// The role's policy. The writer's own-token statement uses the placeholder
    /// `${roleAttribute/memberId}`.
    pub fn statements(self) -> Vec<StatementInput> {
        let view: Vec<String> = action::view_actions()
            .iter()
            .map(|id| id.name().to_owned())
            .collect();
        let reader = allow(view, all_scopes());
        let everything = || allow(vec!["*".to_owned()], all_scopes());
        match self {
            BaseRole::Reader => vec![reader],
            BaseRole::Writer => {
                let content = [
                    ResourceType::Flag,
                    ResourceType::Segment,
                    ResourceType::Var,
                    ResourceType::Request,
                ];
                let mut out = vec![reader];
                for t in content {
                    // Skipping a required approval is for admins and custom roles that
                    // grant it, as in LaunchDarkly; a writer asks for approval.
                    let names = names_for(&[t])
                        .into_iter()
                        .filter(|n| n != BYPASS_REQUIRED_APPROVAL)
                        .collect();
                    out.push(allow(names, vec![t.scope().to_owned()]));
                }
                out.push(allow(
                    names_for(&[ResourceType::Token]),
                    vec![format!(
                        "member/${{roleAttribute/{SELF_MEMBER_ATTRIBUTE}}}:token/*"
                    )],
                ));
                out
            }
            BaseRole::Admin => vec![
                everything(),
                deny(
                    vec!["updateAccountOwner".to_owned()],
                    vec!["acct".to_owned()],
                ),
            ],
            BaseRole::Owner => vec![everything()],
            BaseRole::NoAccess => vec![deny(
                vec!["viewProject".to_owned()],
                vec!["proj/*".to_owned()],
            )],
        }
    }
}
