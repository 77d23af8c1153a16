//! Reviews: approve, decline, comment.

use sea_orm::{ActiveModelTrait, ActiveValue::Set};

use super::shapes::{ApprovalRequest, ReviewPost};
use super::steps::{Step, closed, guarded_update, raced};
use super::stored::load;
use crate::domain::approval::{RequestStatus, ReviewKind};
use crate::error::{Error, Result};
use crate::service::approval_gate::{member_id, token_id};
use crate::service::util::{new_id, snapshot};
use crate::service::{Ctx, Service};

impl Service {
    /// Adds a review. Approve and decline need a member (a personal token acts as its
    /// member; a service token may only comment); an author may vote only when the
    /// environment allows reviewing one's own request, and a refused self-review is audited.
    pub async fn review_approval_request(
        &self,
        ctx: &Ctx,
        id: &str,
        input: ReviewPost,
    ) -> Result<ApprovalRequest> {
        let kind = ReviewKind::parse(&input.kind).ok_or_else(|| {
            Error::invalid(format!(
                "kind: {:?} is not approve, decline or comment",
                input.kind
            ))
        })?;
        let Step {
            mut tx,
            loaded,
            draft,
            ..
        } = self.begin_step(ctx, id, "reviewApprovalRequest").await?;
        let draft = draft.comment(input.comment.clone());
        if loaded.row.status != RequestStatus::Pending.as_str() {
            return Err(closed(&loaded.row));
        }
        let reviewer = member_id(&ctx.principal);
        let setting = loaded.setting()?;
        if kind.is_vote() {
            let Some(member) = &reviewer else {
                let reason = format!(
                    "{} needs a member: a service token may only comment",
                    kind.as_str()
                );
                return Err(self.refuse(tx, draft, reason).await);
            };
            if !setting.can_review_own_request && loaded.authors()?.contains(member) {
                let reason = format!(
                    "member {member} may not {} a request they made or edited (canReviewOwnRequest is off in {})",
                    kind.as_str(),
                    loaded.row.environment_key
                );
                return Err(self.refuse(tx, draft, reason).await);
            }
        }
        let before = loaded.rep()?;
        if !guarded_update(&tx, &loaded.row, Vec::new()).await? {
            return Err(raced());
        }
        entity::approval_review::ActiveModel {
            id: Set(new_id()),
            request_id: Set(id.to_owned()),
            kind: Set(kind.as_str().to_owned()),
            comment: Set(input.comment.clone().filter(|c| !c.is_empty())),
            member_id: Set(reviewer.clone()),
            token_id: Set(token_id(&ctx.principal)),
            revision: Set(loaded.row.revision),
            position: Set(loaded.row.version + 1),
            created_at: Set(tx.now_ms()),
        }
        .insert(tx.db())
        .await?;
        let after = load(tx.db(), id).await?.rep()?;
        let verb = match kind {
            ReviewKind::Approve => "approved",
            ReviewKind::Decline => "declined",
            ReviewKind::Comment => "commented on",
        };
        tx.audit(
            draft
                .describe(format!(
                    "{verb} the approval request for {} {} in {} (review status {}, {} of {} approvals)",
                    loaded.row.resource_kind,
                    loaded.row.resource_key,
                    loaded.row.environment_key,
                    after.review_status,
                    after.approved_by.len(),
                    setting.min_num_approvals
                ))
                .before(Some(snapshot(&before)?))
                .after(Some(snapshot(&after)?)),
        );
        tx.commit().await?;
        Ok(after)
    }
}
