//! The gate every flag and variable change passes: which environments need an approved
//! request, and who may bypass them.

use super::approval_settings::env_settings;
use crate::domain::approval::ApprovalSetting;
use crate::domain::policy::Resource;
use crate::error::{Error, Result};
use crate::service::Principal;
use crate::service::authz::authorize;

/// One environment in which a change needs an approved request.
pub(crate) struct GateTarget {
    env_key: String,
    setting: ApprovalSetting,
    /// The resource `bypassRequiredApproval` is checked on.
    resource: Resource,
    /// Why approval is needed, for the 422 message.
    reason: String,
    /// The `resourceId` to create the request with.
    resource_id: String,
}

/// A required approval the caller was allowed to skip; recorded in the change's audit entry.
pub(crate) struct Bypass {
    pub env_key: String,
    pub resource: Resource,
    /// Skipped as a service token under `serviceTokensBypass` (not by permission).
    pub by_service_token_setting: bool,
}

/// Whether a flag change needs approval in `env`. Environment-scoped instructions
/// (`scoped_here`) need it when the environment requires approval for every flag, or for a
/// tag the flag carries before or after the change. Project-wide instructions (name, tags,
/// ...) have no environment and are not gated (as in LaunchDarkly), with one exception:
/// removing a tag that an environment requires approval for, which would otherwise lift the
/// requirement without anyone's approval.
pub(crate) fn flag_gate(
    env: &entity::environment::Model,
    project_key: &str,
    flag_key: &str,
    scoped_here: bool,
    before_tags: &[String],
    after_tags: &[String],
    resource: Resource,
) -> Result<Option<GateTarget>> {
    let setting = env_settings(env)?.flag;
    let reason = if scoped_here {
        if setting.required {
            Some(format!("flags in environment {} require approval", env.key))
        } else {
            let mut tags = setting.matching_tags(before_tags);
            tags.extend(setting.matching_tags(after_tags));
            tags.sort_unstable();
            tags.dedup();
            (!tags.is_empty()).then(|| {
                format!(
                    "flag {flag_key} is tagged {} and that requires approval in environment {}",
                    tags.join(", "),
                    env.key
                )
            })
        }
    } else if setting.required {
        None
    } else {
        let removed: Vec<&str> = before_tags
            .iter()
            .filter(|t| !after_tags.contains(t))
            .filter(|t| setting.required_approval_tags.contains(t))
            .map(String::as_str)
            .collect();
        (!removed.is_empty()).then(|| {
            format!(
                "removing tag {} from flag {flag_key} would lift the approval requirement of environment {}",
                removed.join(", "),
                env.key
            )
        })
    };
    Ok(reason.map(|reason| GateTarget {
        env_key: env.key.clone(),
        setting,
        resource,
        reason,
        resource_id: format!("proj/{project_key}:env/{}:flag/{flag_key}", env.key),
    }))
}

/// Whether a variable write needs approval in `env`.
pub(crate) fn variable_gate(
    env: &entity::environment::Model,
    project_key: &str,
    name: &str,
    resource: Resource,
) -> Result<Option<GateTarget>> {
    let setting = env_settings(env)?.variable;
    if !setting.required {
        return Ok(None);
    }
    Ok(Some(GateTarget {
        env_key: env.key.clone(),
        reason: format!(
            "environment variables in environment {} require approval",
            env.key
        ),
        setting,
        resource,
        resource_id: format!("proj/{project_key}:env/{}:var/{name}", env.key),
    }))
}

/// Lets the change through where the caller may bypass the requirement (the
/// `bypassRequiredApproval` action, or a service token under `serviceTokensBypass`), and
/// refuses it with 422 `approval_required` otherwise, before anything is written.
pub(crate) fn pass_gate(principal: &Principal, targets: Vec<GateTarget>) -> Result<Vec<Bypass>> {
    let mut out = Vec::with_capacity(targets.len());
    for t in targets {
        let by_permission = authorize(principal, "bypassRequiredApproval", &t.resource).is_ok();
        let by_setting =
            !by_permission && t.setting.service_tokens_bypass && is_service_token(principal);
        if !by_permission && !by_setting {
            return Err(Error::ApprovalRequired(format!(
                "{}: this change needs an approved approval request. Create one with POST /api/v2/approval-requests \
                 {{\"resourceId\": \"{}\", \"description\": \"...\", \"instructions\": [...]}}",
                t.reason, t.resource_id
            )));
        }
        out.push(Bypass {
            env_key: t.env_key,
            resource: t.resource,
            by_service_token_setting: by_setting,
        });
    }
    Ok(out)
}

/// The audit description suffix that marks a bypass ("" when there was none).
pub(crate) fn describe_bypasses(bypasses: &[Bypass]) -> String {
    bypasses
        .iter()
        .map(|b| {
            let how = if b.by_service_token_setting {
                "service token; serviceTokensBypass is on"
            } else {
                "bypassRequiredApproval"
            };
            format!("; BYPASSED required approval in {} ({how})", b.env_key)
        })
        .collect()
}

fn is_service_token(principal: &Principal) -> bool {
    matches!(principal, Principal::Token(t) if t.service_token)
}

pub(crate) fn token_id(principal: &Principal) -> Option<String> {
    match principal {
        Principal::Token(t) => Some(t.token_id.clone()),
        _ => None,
    }
}

pub(crate) fn member_id(principal: &Principal) -> Option<String> {
    principal.member().map(|m| m.id.clone())
}
