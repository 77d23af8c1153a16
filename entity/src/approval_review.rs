//! One review of an approval request: approve, decline or comment.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "approval_review")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub request_id: String,
    /// approve | decline | comment
    pub kind: String,
    pub comment: Option<String>,
    /// The reviewing member (a personal token acts as its member).
    pub member_id: Option<String>,
    /// The token the review came through.
    pub token_id: Option<String>,
    /// The request revision the review was made on.
    pub revision: i64,
    /// The request version the review produced: a total order of a request's reviews.
    pub position: i64,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
