//! One delivery attempt of a webhook (the last few are kept).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_delivery")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub webhook_id: String,
    /// When the attempt started (epoch ms).
    pub at: i64,
    /// The range of the log the attempt covered.
    pub from_seq: i64,
    pub to_seq: i64,
    /// Events in the body (entries in the range that passed the filters).
    pub event_count: i32,
    /// The receiver's HTTP status, when it answered.
    pub status: Option<i32>,
    /// Why the attempt failed without a status (timeout, refused connection, ...).
    pub error: Option<String>,
    pub latency_ms: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
