//! The account's IP allowlist: one row (`id` = `account`); no row means no list.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ip_allowlist")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// JSON array of `{cidr, description}`.
    pub entries: String,
    /// The list applies to requests signed in with a browser session.
    pub sessions_enabled: bool,
    /// The list applies to requests with an API token.
    pub tokens_enabled: bool,
    /// Moves on every change; replicas re-read the row to pick changes up.
    pub version: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
