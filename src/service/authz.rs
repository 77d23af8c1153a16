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

/// Whether `principal` decides `action` alike for every top-level resource of `kind` (every
/// member, every team): a list of them can then be filtered and paged in the database, and
/// the decision taken once for the whole page.
pub fn decides_alike_for_every(principal: &Principal, kind: ResourceType, action: &str) -> bool {
    let Some(id) = crate::domain::policy::lookup(action) else {
        return false;
    };
    let alike = |policy: &super::principal::AccessPolicy| {
        policy
            .roles
            .iter()
            .all(|role| role.decides_alike_for_every(kind, id))
    };
    match principal {
        // Connections decide by resource type alone.
        Principal::System | Principal::App(_) => true,
        Principal::Token(t) => alike(&t.policy) && t.limit.as_ref().is_none_or(alike),
        Principal::Session(s) => alike(&s.policy),
    }
}

/// Authorizes every access an audit draft records, before its change is written: the edges
/// whose principal is a connection (SCIM, SSO) decide their actions from what the IdP says,
/// and check them here like any REST change.
pub fn authorize_draft(principal: &Principal, draft: &super::AuditDraft) -> Result<()> {
    for (action, resource) in &draft.accesses {
        let resource: Resource = resource
            .parse()
            .map_err(|e| Error::internal(format!("audited resource {resource:?}: {e}")))?;
        authorize(principal, action, &resource)?;
    }
    Ok(())
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::service::{AppPrincipal, AuditDraft};

    #[test]
    fn a_connection_may_change_people_and_teams_and_nothing_else() {
        let app = Principal::App(AppPrincipal {
            connection_id: "c1".into(),
            connection_key: "okta".into(),
            name: "Okta".into(),
            is_scim: true,
            is_sso: false,
        });
        let member = AuditDraft::new("member", "ann", "createMember", &Resource::member("m1"))
            .access("updateTeamMembers", &Resource::team("ops"));
        assert!(authorize_draft(&app, &member).is_ok());
        let owner = AuditDraft::new("member", "ann", "updateAccountOwner", &Resource::acct());
        assert!(matches!(
            authorize_draft(&app, &owner),
            Err(Error::Forbidden(_))
        ));
        let project = AuditDraft::new("team", "ops", "updateTeamName", &Resource::team("ops"))
            .access("createProject", &Resource::project("p", &[] as &[&str]));
        assert!(matches!(
            authorize_draft(&app, &project),
            Err(Error::Forbidden(_))
        ));
    }
}
