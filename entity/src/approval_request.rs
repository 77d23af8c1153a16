//! An approval request: proposed instructions for one flag (or variable) in one environment,
//! the state they were made against, and where the request is in its lifecycle.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "approval_request")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub project_id: String,
    pub project_key: String,
    pub environment_id: String,
    pub environment_key: String,
    /// flag | variable
    pub resource_kind: String,
    /// The flag key or variable name.
    pub resource_key: String,
    /// Canonical resource specifier, e.g. `proj/p:env/production:flag/f`.
    pub resource_id: String,
    /// The flag the request was made on (a flag deleted and re-created is another flag).
    pub flag_id: Option<String>,
    pub requestor_member_id: Option<String>,
    pub requestor_token_id: Option<String>,
    /// JSON array of member ids: the requestor and every member who edited the request.
    pub authors: String,
    pub description: String,
    /// JSON array of instructions.
    pub instructions: String,
    /// JSON of what the request was made against (a flag snapshot; `{}` for variables).
    pub base: String,
    /// The flag-state (or variable) version the request was made against; None: no variable yet.
    pub base_version: Option<i64>,
    /// Grows with every edit of description or instructions; reviews belong to one revision.
    pub revision: i64,
    /// pending | completed | failed
    pub status: String,
    /// JSON array of conflicts found when an apply failed.
    pub conflicts: String,
    /// JSON array of member ids.
    pub notify_member_ids: String,
    /// JSON array of team keys.
    pub notify_team_keys: String,
    pub applied_at: Option<i64>,
    pub applied_by_member_id: Option<String>,
    pub applied_by_token_id: Option<String>,
    /// Bumped by every change (edit, review, apply): the guard of conditional updates.
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
