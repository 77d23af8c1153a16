//! A person with access to the account.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "member")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub email: String,
    /// Lower-cased email, unique: emails compare case-insensitively.
    #[sea_orm(unique)]
    pub email_lower: String,
    pub user_name: String,
    #[sea_orm(unique)]
    pub user_name_lower: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// Base role: reader | writer | admin | owner | no_access.
    pub role: String,
    /// JSON array of custom role keys.
    pub custom_roles: String,
    /// JSON object: role attribute key -> array of values.
    pub role_attributes: String,
    /// active | deactivated
    pub status: String,
    /// local | scim | saml | oidc
    pub source: String,
    pub connection_key: Option<String>,
    pub external_id: Option<String>,
    pub last_seen: Option<i64>,
    /// JSON object of SCIM attributes as provisioned (displayName, emails, name, extensions).
    pub scim_attributes: Option<String>,
    /// When SCIM deleted the member while its connection keeps members (deprovision =
    /// deactivate): the member stays, deactivated, but SCIM no longer shows it.
    pub scim_deleted_at: Option<i64>,
    /// Where the base role came from (`scim:<connection>`, `rest:<actor>`, ...); none when
    /// granted before sources were recorded.
    pub role_source: Option<String>,
    /// JSON object: custom role key -> where it came from.
    pub custom_role_sources: Option<String>,
    pub last_sign_in_at: Option<i64>,
    pub last_sign_in_connection: Option<String>,
    /// saml | oidc
    pub last_sign_in_protocol: Option<String>,
    /// Teams the member is on, moved with its `team_member` rows (`noteam:` reads it).
    pub team_count: i64,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
