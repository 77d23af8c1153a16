//! A signed-in browser session; only the SHA-256 of the cookie secret is stored, and the API
//! names a session by its separate `public_id`.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "session")]
pub struct Model {
    /// Hex SHA-256 of the cookie secret.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub member_id: String,
    /// The connection the member signed in through.
    pub connection_key: Option<String>,
    /// saml | oidc
    pub protocol: String,
    /// Sent back by the browser in `X-Gatehouse-CSRF` on every cookie-authenticated write.
    pub csrf_token: String,
    pub source_ip: Option<String>,
    pub created_at: i64,
    /// Last request seen (idle timeout counts from here), written at most once a minute.
    pub last_seen_at: i64,
    /// Absolute end of the session.
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    /// The id the API shows and takes (random, unique): never the secret or its hash.
    #[sea_orm(unique)]
    pub public_id: String,
    /// The browser's `User-Agent` at sign-in, shortened.
    pub user_agent: Option<String>,
    /// The subject the IdP signed in (SAML NameID, OIDC `sub`).
    pub idp_subject: Option<String>,
    /// The IdP's own session id (SAML SessionIndex, OIDC `sid`): what its logout names.
    pub idp_session: Option<String>,
    /// OIDC: the ID token of the sign-in, sent back as `id_token_hint` on logout.
    pub id_token_hint: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
