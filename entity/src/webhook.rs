//! A webhook: where to deliver the audit log, what of it, and how far it got.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub name: String,
    pub url: String,
    /// The HMAC key of the signatures; kept as is because signing needs it, never shown.
    pub secret: String,
    pub on: bool,
    /// JSON array of policy statements filtering the entries, or null for all.
    pub statements: Option<String>,
    /// JSON array of event patterns (`member.*`), or null for all.
    pub events: Option<String>,
    /// The last seq delivered (or skipped).
    pub cursor_seq: i64,
    /// Failed attempts in a row, for the backoff.
    pub failures: i32,
    /// No attempt before this time (epoch ms).
    pub next_attempt_at: i64,
    /// The replica delivering this webhook, until `lease_expires_at`.
    pub lease_holder: Option<String>,
    pub lease_expires_at: Option<i64>,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
