//! The authorization seam: every command asks `authorize(principal, action, resource)` with
//! LaunchDarkly action names and resource specifiers; the policy engine decides.

use super::Principal;
use crate::domain::policy::Resource;
use crate::error::{Error, Result};

/// Allows or refuses `action` on `resource` for `principal`.
pub fn authorize(principal: &Principal, action: &str, resource: &Resource) -> Result<()> {
    let allowed = match principal {
        Principal::System => true,
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
