//! Membership of a member in a team.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "team_member")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub team_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub member_id: String,
    /// Where the membership came from (`scim:<connection>`, `rest:<actor>`, ...); none when
    /// granted before sources were recorded.
    pub source: Option<String>,
    /// The member's sort keys and role, copied so that a team's members page in order by
    /// its own indexes: written with the row and kept by a trigger on `member`, never
    /// otherwise.
    pub member_email_lower: String,
    pub member_display_key: String,
    pub member_last_seen: Option<i64>,
    pub member_created_at: i64,
    pub member_role: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
