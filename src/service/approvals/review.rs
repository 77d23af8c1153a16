//! Reviews: approve, decline, comment.

use sea_orm::{ActiveModelTrait, ActiveValue::Set};

use super::shapes::{ApprovalRequest, ReviewPost};
use super::steps::{Step, closed, guarded_update, raced, subject};
use super::stored::load;
use crate::domain::approval::{RequestStatus, ReviewKind};
use crate::error::{Error, Result};
use crate::service::approval_gate::{member_id, token_id};
use crate::service::util::{new_id, snapshot};
use crate::service::{Ctx, Service, WriteTx};

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
        let kind = parse_review_kind(&input.kind)?;
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
        let refusal = review_refusal(
            kind,
            reviewer.as_deref(),
            setting.can_review_own_request,
            &loaded.row.environment_key,
            || loaded.authors(),
        )?;
        if let Some(reason) = refusal {
            return Err(self.refuse(tx, draft, reason).await);
        }
        let before = loaded.rep()?;
        // An update of no columns still bumps the version, so an apply deciding on the
        // tally before this review fails instead of applying.
        if !guarded_update(&tx, &loaded.row, Vec::new()).await? {
            return Err(raced());
        }
        insert_review(&tx, &loaded.row, kind, input.comment, reviewer).await?;
        let after = load(tx.db(), id).await?.rep()?;
        let description = review_description(
            kind,
            &subject(&loaded.row),
            &after.review_status,
            after.approved_by.len(),
            setting.min_num_approvals,
        );
        tx.audit(
            draft
                .describe(description)
                .before(Some(snapshot(&before)?))
                .after(Some(snapshot(&after)?)),
        );
        tx.commit().await?;
        Ok(after)
    }
}

/// Stores the review on the request's current revision.
async fn insert_review(
    tx: &WriteTx<'_>,
    row: &entity::approval_request::Model,
    kind: ReviewKind,
    comment: Option<String>,
    reviewer: Option<String>,
) -> Result<()> {
    entity::approval_review::ActiveModel {
        id: Set(new_id()),
        request_id: Set(row.id.clone()),
        kind: Set(kind.as_str().to_owned()),
        comment: Set(comment.filter(|c| !c.is_empty())),
        member_id: Set(reviewer),
        token_id: Set(token_id(&tx.ctx().principal)),
        revision: Set(row.revision),
        // The request version this review's guarded update made: reviews sort by it.
        position: Set(row.version + 1),
        created_at: Set(tx.now_ms()),
    }
    .insert(tx.db())
    .await?;
    Ok(())
}

fn parse_review_kind(text: &str) -> Result<ReviewKind> {
    ReviewKind::parse(text)
        .ok_or_else(|| Error::invalid(format!("kind: {text:?} is not approve, decline or comment")))
}

/// Why this review is refused, or `None` when it may be made. A vote needs a member (a
/// service token may only comment); an author votes only where `canReviewOwnRequest` is on.
/// `authors` is read only when the answer depends on it.
fn review_refusal(
    kind: ReviewKind,
    reviewer: Option<&str>,
    can_review_own_request: bool,
    env_key: &str,
    authors: impl FnOnce() -> Result<Vec<String>>,
) -> Result<Option<String>> {
    if !kind.is_vote() {
        return Ok(None);
    }
    let Some(member) = reviewer else {
        return Ok(Some(format!(
            "{} needs a member: a service token may only comment",
            kind.as_str()
        )));
    };
    if !can_review_own_request && authors()?.iter().any(|a| a == member) {
        return Ok(Some(format!(
            "member {member} may not {} a request they made or edited (canReviewOwnRequest is off in {env_key})",
            kind.as_str()
        )));
    }
    Ok(None)
}

fn review_description(
    kind: ReviewKind,
    subject: &str,
    review_status: &str,
    approvals: usize,
    min_num_approvals: u8,
) -> String {
    let verb = match kind {
        ReviewKind::Approve => "approved",
        ReviewKind::Decline => "declined",
        ReviewKind::Comment => "commented on",
    };
    format!(
        "{verb} the approval request for {subject} (review status {review_status}, {approvals} of {min_num_approvals} approvals)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authors(ids: &[&str]) -> impl FnOnce() -> Result<Vec<String>> {
        let ids: Vec<String> = ids.iter().map(|s| (*s).to_owned()).collect();
        move || Ok(ids)
    }

    fn unread() -> Result<Vec<String>> {
        Err(Error::internal("the authors were read"))
    }

    #[test]
    fn review_kinds_are_approve_decline_or_comment() {
        assert_eq!(parse_review_kind("approve").unwrap(), ReviewKind::Approve);
        match parse_review_kind("like") {
            Err(Error::InvalidRequest(m)) => {
                assert_eq!(m, "kind: \"like\" is not approve, decline or comment")
            }
            other => panic!("expected an invalid request, got {other:?}"),
        }
    }

    #[test]
    fn anyone_may_comment_without_the_authors_being_read() {
        for reviewer in [None, Some("m1")] {
            let refusal =
                review_refusal(ReviewKind::Comment, reviewer, false, "production", unread);
            assert_eq!(refusal.unwrap(), None);
        }
    }

    #[test]
    fn a_service_token_may_not_vote() {
        let refusal = review_refusal(ReviewKind::Approve, None, true, "production", unread);
        assert_eq!(
            refusal.unwrap().as_deref(),
            Some("approve needs a member: a service token may only comment")
        );
    }

    #[test]
    fn an_author_votes_only_where_the_environment_allows_it() {
        let refusal = review_refusal(
            ReviewKind::Decline,
            Some("m1"),
            false,
            "production",
            authors(&["m1"]),
        );
        assert_eq!(
            refusal.unwrap().as_deref(),
            Some(
                "member m1 may not decline a request they made or edited (canReviewOwnRequest is off in production)"
            )
        );
        let allowed = review_refusal(ReviewKind::Approve, Some("m1"), true, "production", unread);
        assert_eq!(allowed.unwrap(), None);
        let other = review_refusal(
            ReviewKind::Approve,
            Some("m2"),
            false,
            "production",
            authors(&["m1"]),
        );
        assert_eq!(other.unwrap(), None);
    }

    #[test]
    fn the_review_entry_tells_the_verb_and_the_tally() {
        assert_eq!(
            review_description(
                ReviewKind::Approve,
                "flag checkout in production",
                "approved",
                2,
                2
            ),
            "approved the approval request for flag checkout in production (review status approved, 2 of 2 approvals)"
        );
        assert_eq!(
            review_description(
                ReviewKind::Comment,
                "variable API_URL in production",
                "pending",
                0,
                1
            ),
            "commented on the approval request for variable API_URL in production (review status pending, 0 of 1 approvals)"
        );
    }
}
