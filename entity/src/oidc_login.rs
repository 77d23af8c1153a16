//! An OIDC authorization-code login in flight, bound to one browser.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "oidc_login")]
pub struct Model {
    /// Hex SHA-256 of the `state` parameter.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub connection_id: String,
    /// Hex SHA-256 of the browser-binding cookie set when the login started.
    pub browser_hash: String,
    pub nonce: String,
    /// The PKCE code verifier (S256 challenge sent to the provider).
    pub pkce_verifier: String,
    pub return_to: String,
    pub created_at: i64,
    pub expires_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
