//! The change a request proposes, shown as its resource before and after: what a reviewer
//! reads before approving. Nothing is written.

use serde_json::{Value, json};

use super::stored::{Loaded, load};
use crate::domain::approval::{FlagSnapshot, ResourceKind, VariableInstruction};
use crate::domain::flag;
use crate::error::{Error, Result};
use crate::service::authz::authorize;
use crate::service::flags;
use crate::service::util::from_json;
use crate::service::variables;
use crate::service::{Ctx, Service, projects};

/// A flag's settings and environment state, or a variable, before and after the change.
/// A secret variable's value is never shown (`"secret": true` stands for it).
#[derive(Debug, Clone, PartialEq)]
pub struct ChangePreview {
    /// `null` when the change creates the variable.
    pub before: Value,
    /// `null` when the change deletes the variable.
    pub after: Value,
}

impl Service {
    /// The request's change as before/after (`viewProject` on its project, as reading it).
    /// A flag change is its instructions applied to the state the request was made against;
    /// a variable change is the variable as it is now and as the instruction leaves it.
    pub async fn preview_approval_change(&self, ctx: &Ctx, id: &str) -> Result<ChangePreview> {
        let loaded = load(self.db(), id).await?;
        authorize(
            &ctx.principal,
            "viewProject",
            &projects::resource(&loaded.project)?,
        )?;
        match loaded.kind()? {
            ResourceKind::Flag => flag_preview(&loaded),
            ResourceKind::Variable => self.variable_preview(&loaded).await,
        }
    }

    async fn variable_preview(&self, loaded: &Loaded) -> Result<ChangePreview> {
        let stored: Vec<Value> = from_json(&loaded.row.instructions)?;
        let instruction = VariableInstruction::parse_list(&stored).map_err(Error::internal)?;
        let current =
            variables::find_variable(self.db(), &loaded.environment.id, &loaded.row.resource_key)
                .await?;
        let before = current
            .as_ref()
            .map_or(Value::Null, |v| shown_variable(&v.value, v.secret));
        let after = match &instruction {
            VariableInstruction::SetVariable { value, secret } => shown_variable(value, *secret),
            VariableInstruction::DeleteVariable {} => Value::Null,
        };
        Ok(ChangePreview { before, after })
    }
}

/// The flag as the request found it, and with its instructions applied.
fn flag_preview(loaded: &Loaded) -> Result<ChangePreview> {
    let base: FlagSnapshot = from_json(&loaded.row.base)?;
    let values: Vec<Value> = from_json(&loaded.row.instructions)?;
    let instructions = flags::parse_instructions(&values)?;
    let mut n = 0u32;
    let mut ids = move || {
        n += 1;
        format!("preview-{n}")
    };
    let applied = flag::apply(&base.settings, Some(&base.state), &instructions, &mut ids)
        .map_err(|e| Error::invalid(e.to_string()))?;
    let after = FlagSnapshot {
        settings: applied.settings,
        state: applied.state.unwrap_or_else(|| base.state.clone()),
    };
    Ok(ChangePreview {
        before: serde_json::to_value(&base).map_err(|e| Error::internal(e.to_string()))?,
        after: serde_json::to_value(&after).map_err(|e| Error::internal(e.to_string()))?,
    })
}

fn shown_variable(value: &str, secret: bool) -> Value {
    if secret {
        json!({ "secret": true })
    } else {
        json!({ "value": value, "secret": false })
    }
}

/// What the caller may do with one request, as its lifecycle steps would decide: what the
/// console offers (each step still decides again, and audits a refusal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApprovalActions {
    /// `reviewApprovalRequest` on the request resource.
    pub review: bool,
    /// `applyApprovalRequest` on the request resource.
    pub apply: bool,
}

impl Service {
    /// The caller's permissions on request `id` (`viewProject` to ask at all).
    pub async fn approval_actions(&self, ctx: &Ctx, id: &str) -> Result<ApprovalActions> {
        let loaded = load(self.db(), id).await?;
        authorize(
            &ctx.principal,
            "viewProject",
            &projects::resource(&loaded.project)?,
        )?;
        let resource = loaded.request_resource()?;
        let may = |action: &str| authorize(&ctx.principal, action, &resource).is_ok();
        Ok(ApprovalActions {
            review: may("reviewApprovalRequest"),
            apply: may("applyApprovalRequest"),
        })
    }
}
