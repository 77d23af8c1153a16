//! Approval requests with their reviews and apply. The per-environment settings
//! (`approval_settings`) and the gate every flag and variable change passes
//! (`approval_gate`) are shared pieces below this area; this area stands above `flags`,
//! `variables` and `environments`, because applying an approved request runs their changes.
//!
//! * A request names its resource as `proj/P:env/E:flag/F` or `proj/P:env/E:var/NAME`.
//! * Approval actions (`createApprovalRequest`, `updateApprovalRequest`,
//!   `deleteApprovalRequest`, `reviewApprovalRequest`, `applyApprovalRequest`) are checked on
//!   the request resource `proj/P:env/E:request/<id>` (with the project's and environment's
//!   tags and `{critical}`); refusals of approval actions are themselves audited.
//! * Every lifecycle entry carries two accesses, the request resource and the flag (or
//!   variable) resource, so `GET /api/v2/auditlog?spec=proj/P:env/E:flag/F` tells who
//!   requested, reviewed, applied or deleted, and when; each entry's `approvalRequestId`
//!   names the request.
//! * Concurrency: every change of a request is a conditional update
//!   `... WHERE id = ? AND status = 'pending' AND version = ?` inside the one write
//!   transaction, so of two racing applies one wins and the other gets 409, and a review that
//!   lands while an apply is deciding makes that apply fail with 409 instead of applying on a
//!   stale tally.

mod apply;
mod inbox;
mod list;
mod preview;
mod requests;
mod review;
mod shapes;
mod steps;
mod stored;

pub use crate::service::approval_settings::{
    ApprovalSettingsPatch, ApprovalSettingsRep, ResourceApprovalSettingsPatch,
    ResourceApprovalSettingsRep,
};
pub use inbox::ApprovalInbox;
pub use preview::{ApprovalActions, ChangePreview};
pub use shapes::{
    ApplyPost, ApprovalRequest, ApprovalRequestPage, ApprovalRequestPatch, ApprovalRequestPost,
    ApprovalRequestQuery, ConflictRep, ReviewPost, ReviewRep,
};
