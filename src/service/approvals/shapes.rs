//! The API shapes of approval requests and their reviews.

use poem_openapi::Object;
use poem_openapi::registry::{MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::Type;
use serde::Serialize;
use serde_json::Value;

use crate::service::approval_settings::ApprovalSettingsRep;
use crate::service::documented::{Documented, InstructionKinds, InstructionUnion, KindDoc};
use crate::service::flags::{FLAG_KINDS, FlagKinds};
use crate::service::spelled::{ApprovalTarget, Matches, NotBlank, ReviewKindName, Spelled};

/// One proposed instruction: documented as `ApprovalInstruction`, parsed as the flag or the
/// variable command parses it.
pub type ProposedInstruction = Documented<InstructionUnion<ApprovalKinds>>;

/// What an approval request may propose: a flag's instructions, or a variable's.
pub struct ApprovalKinds;

/// The variable instruction kinds; the domain's `VariableInstruction` parses them, and a test
/// holds the two together.
const VARIABLE_KINDS: &[KindDoc] = &[
    KindDoc {
        kind: "setVariable",
        description: "Create or replace the variable.",
        params: &[
            ("value", String::schema_ref, true),
            ("secret", secret, false),
        ],
    },
    KindDoc {
        kind: "deleteVariable",
        description: "Delete the variable.",
        params: &[],
    },
];

/// `secret` defaults to false (`null` too).
fn secret() -> MetaSchemaRef {
    MetaSchemaRef::Inline(Box::new(MetaSchema {
        default: Some(Value::Bool(false)),
        ..MetaSchema::new("boolean")
    }))
}

impl InstructionKinds for ApprovalKinds {
    const NAME: &'static str = "ApprovalInstruction";
    const DESCRIPTION: &'static str = "An instruction an approval request proposes: a flag's semantic-patch instruction, or exactly one `setVariable` or `deleteVariable` for a variable.";
    const GROUPS: &'static [(&'static str, &'static [KindDoc])] = &[
        ("FlagInstruction", FLAG_KINDS),
        ("VariableInstruction", VARIABLE_KINDS),
    ];

    fn register_parameters(registry: &mut Registry) {
        FlagKinds::register_parameters(registry);
    }
}

/// Body of `POST /api/v2/approval-requests`.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApprovalRequestPost {
    /// `proj/<project>:env/<environment>:flag/<flag>` or `proj/<project>:env/<environment>:var/<name>`.
    pub resource_id: Spelled<ApprovalTarget>,
    /// Why the change is wanted: not blank, at most 5000 characters.
    #[oai(validator(custom = "Matches::new()", max_length = 5000))]
    pub description: Spelled<NotBlank>,
    /// Flags: semantic-patch instructions as for `PATCH /api/v2/flags/{projectKey}/{flagKey}`.
    /// Variables: exactly one of `{"kind": "setVariable", "value", "secret"?}` or `{"kind": "deleteVariable"}`.
    #[oai(validator(min_items = 1))]
    pub instructions: Vec<ProposedInstruction>,
    /// Members to ask for a review (at most 10).
    #[oai(default, validator(max_items = 10))]
    pub notify_member_ids: Vec<String>,
    /// Teams to ask for a review.
    #[oai(default)]
    pub notify_team_keys: Vec<String>,
    /// Recorded in the audit entry.
    pub comment: Option<String>,
}

/// Body of `PATCH /api/v2/approval-requests/{id}`. Changing the description or the
/// instructions voids every approval and decline so far; changing the notify lists does not.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApprovalRequestPatch {
    /// Not blank, at most 5000 characters.
    #[oai(validator(custom = "Matches::new()", max_length = 5000))]
    pub description: Option<Spelled<NotBlank>>,
    /// Re-validated against the resource as it is now, which becomes the request's new base.
    #[oai(validator(min_items = 1))]
    pub instructions: Option<Vec<ProposedInstruction>>,
    /// At most 10.
    #[oai(validator(max_items = 10))]
    pub notify_member_ids: Option<Vec<String>>,
    pub notify_team_keys: Option<Vec<String>>,
    pub comment: Option<String>,
    /// The `_version` the edit was made against; 409 when stale.
    pub version: Option<i64>,
}

/// Body of `POST /api/v2/approval-requests/{id}/reviews`.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct ReviewPost {
    /// `approve`, `decline` or `comment`.
    #[oai(validator(custom = "Matches::new()"))]
    pub kind: Spelled<ReviewKindName>,
    pub comment: Option<String>,
}

/// Body of `POST /api/v2/approval-requests/{id}/apply`.
#[derive(Debug, Clone, Default, Object)]
#[oai(deny_unknown_fields)]
pub struct ApplyPost {
    pub comment: Option<String>,
}

/// One review of a request.
#[derive(Debug, Clone, Serialize, Object)]
#[serde(rename_all = "camelCase")]
#[oai(rename_all = "camelCase")]
pub struct ReviewRep {
    #[oai(rename = "_id")]
    #[serde(rename = "_id")]
    pub id: String,
    /// `approve`, `decline` or `comment`.
    pub kind: String,
    pub creation_date: i64,
    #[oai(skip_serializing_if_is_none)]
    pub comment: Option<String>,
    /// The reviewing member (a personal token acts as its member).
    #[oai(skip_serializing_if_is_none)]
    pub member_id: Option<String>,
    /// The service token of a comment made by one (service tokens may only comment).
    #[oai(skip_serializing_if_is_none)]
    pub service_token_id: Option<String>,
    /// The request revision the review was made on.
    pub revision: i64,
    /// True when a later edit of the request voided this approve or decline.
    pub voided: bool,
}

/// Why an apply failed.
#[derive(Debug, Clone, Serialize, Object)]
#[serde(rename_all = "camelCase")]
#[oai(rename_all = "camelCase")]
pub struct ConflictRep {
    /// The instruction concerned, when one is.
    #[oai(nullable)]
    pub instruction: Option<Value>,
    /// The field it is about (`on`, `fallthrough`, `targets/<key>`, `rules/<id>`, `tags/<tag>`, `value`).
    #[oai(nullable)]
    pub field: Option<String>,
    pub reason: String,
}

/// An approval request as the API shows it.
#[derive(Debug, Clone, Serialize, Object)]
#[serde(rename_all = "camelCase")]
#[oai(rename_all = "camelCase")]
pub struct ApprovalRequest {
    #[oai(rename = "_id")]
    #[serde(rename = "_id")]
    pub id: String,
    /// Bumped by every edit, review and apply; send it back as `version` to edit safely.
    #[oai(rename = "_version")]
    #[serde(rename = "_version")]
    pub version: i64,
    pub creation_date: i64,
    pub last_modified: i64,
    /// The requesting member (absent when a service token made the request).
    #[oai(nullable)]
    pub requestor_id: Option<String>,
    /// The token the request was made with.
    #[oai(nullable)]
    pub requestor_token_id: Option<String>,
    pub description: String,
    /// `proj/<project>:env/<environment>:flag/<flag>` or `...:var/<name>`.
    pub resource_id: String,
    /// `flag` or `variable`.
    pub resource_kind: String,
    pub project_key: String,
    pub environment_key: String,
    /// `pending`, `completed` or `failed`.
    pub status: String,
    /// `pending`, `approved` or `declined`, from the standing reviews under the current settings.
    pub review_status: String,
    /// Members whose standing review approves.
    pub approved_by: Vec<String>,
    /// Members whose standing review declines.
    pub declined_by: Vec<String>,
    pub all_reviews: Vec<ReviewRep>,
    pub notify_member_ids: Vec<String>,
    pub notify_team_keys: Vec<String>,
    /// The proposed instructions (a secret variable value is never shown).
    pub instructions: Vec<Value>,
    pub conflicts: Vec<ConflictRep>,
    /// The flag-state (or variable) version the instructions were made against.
    #[oai(nullable)]
    pub base_version: Option<i64>,
    /// 1, plus one per edit of description or instructions.
    pub revision: i64,
    /// Requestor and editors: their own approvals count only with `canReviewOwnRequest`.
    pub authors: Vec<String>,
    #[oai(nullable)]
    pub applied_date: Option<i64>,
    #[oai(nullable)]
    pub applied_by_member_id: Option<String>,
    #[oai(nullable)]
    pub applied_by_service_token_id: Option<String>,
    /// The environment's settings for this kind, as they are now.
    pub approval_settings: ApprovalSettingsRep,
}

/// Filters of `GET /api/v2/approval-requests`.
#[derive(Debug, Clone, Default)]
pub struct ApprovalRequestQuery {
    /// Comma-separated statuses.
    pub status: Option<String>,
    /// Comma-separated review statuses.
    pub review_status: Option<String>,
    pub requestor_id: Option<String>,
    pub resource_id: Option<String>,
    pub project_key: Option<String>,
    pub limit: Option<u64>,
    pub cursor: Option<String>,
}

/// A page of requests, newest first.
pub struct ApprovalRequestPage {
    pub items: Vec<ApprovalRequest>,
    pub total_count: u64,
    pub next: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::approval::VariableInstruction;
    use crate::domain::flag::Instruction;
    use crate::service::documented::testing::check_kinds;

    #[test]
    fn every_proposable_kind_is_documented_and_parses_from_the_document() {
        let mut registry = Registry::new();
        InstructionUnion::<ApprovalKinds>::register(&mut registry);
        check_kinds::<Instruction>(&registry, FLAG_KINDS);
        check_kinds::<VariableInstruction>(&registry, VARIABLE_KINDS);
        let union = &registry.schemas["ApprovalInstruction"];
        let mapping = union.discriminator.as_ref().map(|d| d.mapping.len());
        assert_eq!(mapping, Some(FLAG_KINDS.len() + VARIABLE_KINDS.len()));
    }
}
