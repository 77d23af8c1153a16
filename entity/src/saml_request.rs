//! A SAML request we issued (an AuthnRequest, or a LogoutRequest); its id is answered at
//! most once, and only by a message of its own kind.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "saml_request")]
pub struct Model {
    /// The AuthnRequest `ID`, echoed by the IdP as `InResponseTo`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub connection_id: String,
    /// Same-origin path to land on after sign-in.
    pub return_to: String,
    pub created_at: i64,
    pub expires_at: i64,
    /// `authn` (answered by a Response at the ACS) or `logout` (by a LogoutResponse at the
    /// SLO endpoint).
    pub kind: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
