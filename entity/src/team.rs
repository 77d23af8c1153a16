//! A team: members sharing custom roles.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "team")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    #[sea_orm(unique)]
    pub key: String,
    pub name: String,
    pub description: String,
    /// JSON array of custom role keys.
    pub custom_roles: String,
    /// JSON object: role attribute key -> array of values.
    pub role_attributes: String,
    pub idp_synced: bool,
    pub connection_key: Option<String>,
    /// The IdP's id for the group that owns this team.
    pub external_id: Option<String>,
    /// How many `team_member` rows the team has, moved with every insert and delete of them.
    pub member_count: i64,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
