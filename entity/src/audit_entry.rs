//! One link of the append-only audit chain.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_entry")]
pub struct Model {
    /// Position in the chain, 1-based, gap-free.
    #[sea_orm(primary_key, auto_increment = false)]
    pub seq: i64,
    #[sea_orm(unique)]
    pub id: String,
    /// Epoch milliseconds.
    pub date: i64,
    pub kind: String,
    pub actor_kind: String,
    pub actor_id: Option<String>,
    /// Space-delimited action names, with a leading and trailing space, for LIKE filters.
    pub actions: String,
    /// Newline-joined resource strings of the accesses.
    pub resources: String,
    /// Lower-cased searchable text (name, description, comment).
    pub search_text: String,
    /// The canonical JSON of the entry: what the hash covers.
    pub body: String,
    pub prev_hash: String,
    pub hash: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
