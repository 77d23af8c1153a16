//! What an identity provider's statement about a person changes on the member: the one
//! planner that SCIM provisioning and SSO sign-in share. Both edges load the member and the
//! custom roles the statement names, ask `plan`, write what it decided and audit it.
//!
//! The rules, whichever way the IdP speaks:
//! - the owner is never created, re-roled or deactivated by an IdP; its names may follow;
//! - roles follow the mapping of the IdP's statement (explicit `role` / `customRole`
//!   attributes, then the connection's rules); over SCIM only when that statement changes
//!   (or the member is new or comes back), so a role an admin set over REST stays until the
//!   IdP says otherwise; at sign-in on every sign-in, for what the IdP speaks about;
//! - a connection that leaves roles to SCIM changes no roles or teams at sign-in;
//! - custom roles must exist and have the role attributes they declare: SCIM refuses the
//!   statement (the IdP sees the error), sign-in skips them with a note (the person still
//!   gets in);
//! - a deactivated member stays frozen (email, names, roles) until reactivated; sign-in
//!   refuses it, and refuses an unknown person when the connection does not create members
//!   just in time, and a member bound to another connection.

use std::collections::BTreeMap;

use crate::domain::mapping::{MappingError, MappingOutcome, RoleAttributes};
use crate::domain::policy::BaseRole;

/// How the IdP speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// SCIM provisioning: the IdP's record is authoritative, and a statement the member
    /// cannot take is refused.
    Scim,
    /// A SAML or OIDC sign-in: the person gets in with what can be applied.
    SignIn,
}

/// The member as stored, as far as provisioning is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentMember {
    pub role: BaseRole,
    pub custom_roles: Vec<String>,
    pub role_attributes: RoleAttributes,
    pub active: bool,
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// True when another connection provisioned the member.
    pub of_other_connection: bool,
}

/// How a name in the statement applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameUpdate {
    /// The IdP's record replaces the name (none when it has none).
    Replace(Option<String>),
    /// The name changes only when the IdP gives one.
    IfGiven(Option<String>),
}

/// What the statement says about the member's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activity {
    Unchanged,
    Active,
    Deactivated,
}

/// What the IdP says about a person, in the planner's terms.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub channel: Channel,
    /// The connection's base role for members it creates.
    pub default_role: BaseRole,
    /// Whether this channel of the connection may change roles and teams at all.
    pub owns_roles: bool,
    /// Whether an unknown person becomes a member (SCIM always creates).
    pub creates: bool,
    /// The statement mapped through the connection's rules; on a mapping error, the mapping
    /// without the offending `role`.
    pub mapped: MappingOutcome,
    pub mapping_error: Option<MappingError>,
    /// SCIM: what the IdP's previous record of the member mapped to (none when it had none).
    pub previous: Option<MappingOutcome>,
    /// Whether the statement speaks about custom roles (silence keeps them).
    pub speaks_custom_roles: bool,
    /// Whether the statement speaks about teams (SCIM's teams come from Groups instead).
    pub speaks_teams: bool,
    pub activity: Activity,
    /// The email the IdP states (none: the member keeps its own).
    pub email: Option<String>,
    pub first_name: NameUpdate,
    pub last_name: NameUpdate,
    /// SCIM: the IdP's record changed in something the planner does not see (a phone
    /// number, the userName).
    pub record_changed: bool,
}

/// The custom roles that exist, with the role attributes each declares it needs.
pub type RoleCatalogue = BTreeMap<String, Vec<String>>;

/// Why a statement cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the owner cannot be deactivated by an identity provider")]
    OwnerDeactivated,
    #[error("{0}")]
    Mapping(MappingError),
    #[error("customRole: unknown custom role {0:?}")]
    UnknownCustomRole(String),
    #[error("customRole: custom role {role:?} needs the role attribute {attribute:?}")]
    MissingRoleAttribute { role: String, attribute: String },
    #[error("emails: a member needs an email address (emails[].value, or an email as userName)")]
    NoEmail,
    #[error("the member is deactivated")]
    Deactivated,
    #[error("the member belongs to another identity connection")]
    OtherConnection,
    #[error("unknown person, and the connection does not create members at sign-in")]
    NotProvisioned,
}

/// Something the statement asked that was left out, and why (sign-in notes them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub what: &'static str,
    pub key: Option<String>,
    pub reason: String,
}

/// How the member's status moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    None,
    Deactivated,
    Reactivated,
    /// Deactivated before and after: the member's record stays as it was.
    Frozen,
}

/// The member after the statement, and what moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub created: bool,
    pub role: BaseRole,
    pub custom_roles: Vec<String>,
    pub role_attributes: RoleAttributes,
    pub active: bool,
    /// The email to write (none: keep the member's).
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// The teams (by key) the member belongs to among those the connection's mapping
    /// manages, when the statement speaks about teams.
    pub teams: Option<Vec<String>>,
    pub transition: Transition,
    /// True when the member is the owner: its role was left alone.
    pub owner: bool,
    pub skipped: Vec<Skipped>,
    /// The audit actions the member change exercises (team actions come with the sync).
    pub actions: Vec<&'static str>,
    /// Which mapping rule gave each grant of the plan taken from the statement (a grant
    /// without one came from the statement itself, or was there before).
    pub rules: GrantRules,
}

/// The mapping rule behind each grant of a plan, by rule index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GrantRules {
    pub role: Option<usize>,
    pub custom_roles: BTreeMap<String, usize>,
    pub teams: BTreeMap<String, usize>,
}

/// Decides what the statement changes on `current` (none: a person not yet a member).
pub fn plan(
    current: Option<&CurrentMember>,
    st: &Statement,
    roles: &RoleCatalogue,
) -> Result<Plan, Refusal> {
    check_sign_in(current, st)?;
    let owner = current.is_some_and(|m| m.role == BaseRole::Owner);
    let was_active = current.map(|m| m.active);
    let active = match st.activity {
        Activity::Unchanged => was_active.unwrap_or(true),
        Activity::Active => true,
        Activity::Deactivated => false,
    };
    if owner && !active {
        return Err(Refusal::OwnerDeactivated);
    }
    let transition = match (was_active, active) {
        (Some(false), false) => Transition::Frozen,
        (Some(false), true) => Transition::Reactivated,
        (Some(true), false) => Transition::Deactivated,
        _ => Transition::None,
    };
    let mut skipped = Vec::new();
    if let Some(e) = &st.mapping_error {
        match st.channel {
            Channel::Scim => return Err(Refusal::Mapping(e.clone())),
            Channel::SignIn => skipped.push(Skipped {
                what: "role",
                key: None,
                reason: e.to_string(),
            }),
        }
    }
    let follows = follows_idp(current, st, owner, transition, &mut skipped);
    let current_role = current.map_or(st.default_role, |m| m.role);
    let (role, role_rule) = match st.mapped.role.filter(|_| follows) {
        Some(r) if r != BaseRole::Owner => (r, st.mapped.role_rule),
        _ => (current_role, None),
    };
    let (custom_roles, role_attributes) = if follows && st.speaks_custom_roles {
        assignable_roles(st, roles, &mut skipped)?
    } else {
        current.map_or_else(Default::default, |m| {
            (m.custom_roles.clone(), m.role_attributes.clone())
        })
    };
    let teams = (follows && st.speaks_teams).then(|| st.mapped.teams.clone());
    let rules = GrantRules {
        role: role_rule,
        custom_roles: rules_of(&custom_roles, &st.mapped.custom_role_rules, follows),
        teams: rules_of(
            teams.as_deref().unwrap_or_default(),
            &st.mapped.team_rules,
            true,
        ),
    };
    let frozen = transition == Transition::Frozen;
    let (email, first_name, last_name) = names(current, st, frozen)?;
    let mut plan = Plan {
        created: current.is_none(),
        role,
        custom_roles,
        role_attributes,
        active,
        email,
        first_name,
        last_name,
        teams,
        transition,
        owner,
        skipped,
        actions: Vec::new(),
        rules,
    };
    plan.actions = actions(current, &plan, st);
    Ok(plan)
}

/// The rules behind the grants in `keys` that came from the statement.
fn rules_of(
    keys: &[String],
    rules: &BTreeMap<String, usize>,
    follows: bool,
) -> BTreeMap<String, usize> {
    if !follows {
        return BTreeMap::new();
    }
    keys.iter()
        .filter_map(|k| rules.get(k).map(|i| (k.clone(), *i)))
        .collect()
}

/// What only a sign-in refuses: a deactivated member, another connection's member, and an
/// unknown person the connection does not create.
fn check_sign_in(current: Option<&CurrentMember>, st: &Statement) -> Result<(), Refusal> {
    if st.channel != Channel::SignIn {
        return Ok(());
    }
    match current {
        Some(m) if !m.active => Err(Refusal::Deactivated),
        Some(m) if m.of_other_connection => Err(Refusal::OtherConnection),
        None if !st.creates => Err(Refusal::NotProvisioned),
        _ => Ok(()),
    }
}

/// Whether the member's roles (and teams) follow the statement.
fn follows_idp(
    current: Option<&CurrentMember>,
    st: &Statement,
    owner: bool,
    transition: Transition,
    skipped: &mut Vec<Skipped>,
) -> bool {
    let silent_skip = |reason: &str, skipped: &mut Vec<Skipped>| {
        if st.channel == Channel::SignIn {
            skipped.push(Skipped {
                what: "roles and teams",
                key: None,
                reason: reason.to_owned(),
            });
        }
    };
    if !st.owns_roles {
        silent_skip("the connection leaves roles to SCIM", skipped);
        return false;
    }
    if owner {
        silent_skip(
            "the owner is never re-roled by an identity provider",
            skipped,
        );
        return false;
    }
    if transition == Transition::Frozen {
        return false;
    }
    match st.channel {
        Channel::SignIn => true,
        Channel::Scim => {
            current.is_none()
                || transition == Transition::Reactivated
                || st.previous.as_ref() != Some(&st.mapped)
        }
    }
}

/// The statement's custom roles that can be assigned, with their role attributes: SCIM
/// refuses the first that cannot, sign-in skips it.
fn assignable_roles(
    st: &Statement,
    catalogue: &RoleCatalogue,
    skipped: &mut Vec<Skipped>,
) -> Result<(Vec<String>, RoleAttributes), Refusal> {
    let attrs = &st.mapped.role_attributes;
    let mut out: Vec<String> = Vec::new();
    for key in &st.mapped.custom_roles {
        let refusal = match catalogue.get(key) {
            None => Refusal::UnknownCustomRole(key.clone()),
            Some(declared) => match declared
                .iter()
                .find(|a| attrs.get(*a).is_none_or(|v| v.is_empty()))
            {
                Some(missing) => Refusal::MissingRoleAttribute {
                    role: key.clone(),
                    attribute: missing.clone(),
                },
                None => {
                    if !out.contains(key) {
                        out.push(key.clone());
                    }
                    continue;
                }
            },
        };
        match st.channel {
            Channel::Scim => return Err(refusal),
            Channel::SignIn => skipped.push(Skipped {
                what: "customRole",
                key: Some(key.clone()),
                reason: match refusal {
                    Refusal::UnknownCustomRole(_) => "unknown custom role".to_owned(),
                    Refusal::MissingRoleAttribute { attribute, .. } => {
                        format!("needs role attribute {attribute}")
                    }
                    other => other.to_string(),
                },
            }),
        }
    }
    out.sort();
    let attrs = match st.channel {
        Channel::Scim => attrs.clone(),
        // Attributes serve the roles they came with: none without a role.
        Channel::SignIn if out.is_empty() => RoleAttributes::new(),
        Channel::SignIn => attrs.clone(),
    };
    Ok((out, attrs))
}

/// The email and names after the statement (a frozen member keeps its own).
#[allow(clippy::type_complexity)]
fn names(
    current: Option<&CurrentMember>,
    st: &Statement,
    frozen: bool,
) -> Result<(Option<String>, Option<String>, Option<String>), Refusal> {
    let (first, last) = (
        current.and_then(|m| m.first_name.clone()),
        current.and_then(|m| m.last_name.clone()),
    );
    if frozen {
        return Ok((None, first, last));
    }
    let apply = |update: &NameUpdate, was: Option<String>| match update {
        NameUpdate::Replace(v) => v.clone(),
        NameUpdate::IfGiven(Some(v)) if !v.is_empty() => Some(v.clone()),
        NameUpdate::IfGiven(_) => was,
    };
    if st.email.is_none() && current.is_none() {
        return Err(Refusal::NoEmail);
    }
    Ok((
        st.email.clone(),
        apply(&st.first_name, first),
        apply(&st.last_name, last),
    ))
}

/// The audit actions of the member change: what moved, names first (teams are the sync's).
fn actions(current: Option<&CurrentMember>, plan: &Plan, st: &Statement) -> Vec<&'static str> {
    let Some(m) = current else {
        return vec!["createMember"];
    };
    let mut out = Vec::new();
    if m.active != plan.active {
        out.push("updateMemberStatus");
    }
    if m.role != plan.role {
        out.push("updateRole");
    }
    if m.custom_roles != plan.custom_roles {
        out.push("updateCustomRole");
    }
    if m.role_attributes != plan.role_attributes {
        out.push("updateMemberRoleAttributes");
    }
    let renamed = plan.email.as_ref().is_some_and(|e| e != &m.email)
        || plan.first_name != m.first_name
        || plan.last_name != m.last_name;
    // A SCIM write that changes the row changes the member's record at least.
    let record_only = out.is_empty() && st.channel == Channel::Scim;
    if renamed || st.record_changed || record_only {
        out.insert(0, "updateMemberName");
    }
    out
}

#[cfg(test)]
#[path = "provisioning_tests.rs"]
mod tests;
