//! An API token; only a hash of its secret is stored.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_token")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub name: String,
    /// The member a personal token acts as; None for service tokens.
    pub owner_id: Option<String>,
    pub service_token: bool,
    pub role: Option<String>,
    /// JSON array of custom role keys.
    pub custom_roles: String,
    /// Hex SHA-256 of the secret.
    #[sea_orm(unique)]
    pub secret_hash: String,
    /// Last four characters of the secret, to recognise it.
    pub ending: String,
    pub last_used: Option<i64>,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub created_by: Option<String>,
    pub created_at: i64,
    pub description: Option<String>,
    /// JSON array of policy statements a service token holds itself; None when it has none.
    pub inline_role: Option<String>,
    /// Hex SHA-256 of the secret a reset replaced, accepted until `previous_secret_expires_at`.
    pub previous_secret_hash: Option<String>,
    pub previous_secret_expires_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
