//! An identity connection: an IdP (Okta, Entra ID, generic) that provisions and signs in members.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "connection")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    #[sea_orm(unique)]
    pub key: String,
    /// okta | entra | generic
    pub kind: String,
    pub name: String,
    /// Create members on first sign-in.
    pub jit: bool,
    /// Base role of members this connection creates without a role attribute.
    pub default_role: String,
    /// What SCIM DELETE does: deactivate | delete.
    pub deprovision: String,
    pub sso_required: bool,
    /// JSON array of ordered mapping rules.
    pub mappings: String,
    /// JSON of SAML settings.
    pub saml: Option<String>,
    /// JSON of OIDC settings.
    pub oidc: Option<String>,
    /// JSON array of `{cidr, description}`: the addresses SCIM requests may come from; `None`:
    /// any address.
    pub scim_allowlist: Option<String>,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
