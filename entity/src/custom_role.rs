//! A custom role: policy statements under a key.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "custom_role")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    #[sea_orm(unique)]
    pub key: String,
    pub name: String,
    pub description: String,
    /// reader | no_access
    pub base_permissions: String,
    /// JSON array of policy statements.
    pub policy: String,
    /// JSON array of declared role attribute keys.
    pub role_attributes: String,
    /// The preset this role was created from (`project-developer`, ...): its built-in
    /// statements come from code and cannot be edited; `policy` holds only added statements.
    pub preset: Option<String>,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
