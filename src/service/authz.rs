//! The authorization seam: every command asks `authorize(principal, action, resource)` with
//! LaunchDarkly action names and resource specifiers; the policy engine decides.

use super::Principal;
use crate::domain::policy::{Resource, ResourceType};
use crate::error::{Error, Result};

/// Allows or refuses `action` on `resource` for `principal`.
pub fn authorize(principal: &Principal, action: &str, resource: &Resource) -> Result<()> {
    let allowed = match principal {
        Principal::System => true,
        Principal::App(_) => app_may(action, resource),
        Principal::Token(t) => {
            t.policy.decide(action, resource).allowed
                && t.limit
                    .as_ref()
                    .is_none_or(|l| l.decide(action, resource).allowed)
        }
        Principal::Session(s) => s.policy.decide(action, resource).allowed,
    };
    if allowed {
        Ok(())
    } else {
        Err(Error::Forbidden(format!(
            "not allowed to {action} on {resource}"
        )))
    }
}

/// An identity connection manages people and teams, nothing else: members and their custom
/// role assignments, teams and their membership, and reads of roles to check keys. Owner
/// transfer is never an IdP's to make; the SCIM and SSO code also refuse to touch the owner.
fn app_may(action: &str, resource: &Resource) -> bool {
    match resource.kind() {
        Some(ResourceType::Member) => action != "updateAccountOwner",
        Some(ResourceType::Team) => true,
        Some(ResourceType::Role) => action == "viewRole",
        _ => false,
    }
}
