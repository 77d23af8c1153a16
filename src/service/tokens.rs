//! API tokens: the secret is shown once, only its SHA-256 is stored, and a token never
//! exceeds the member it acts for. Reading, changing and resetting one token is `lifecycle`.

mod lifecycle;

pub use lifecycle::{TokenPatch, TokenReset};

use base64::Engine;
use poem_openapi::Object;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
};
use serde::Serialize;
use serde_json::Value;

use super::authz::authorize;
use super::member_rows::{self, parse_role};
use super::members::{aliased_list, check_custom_roles};
use super::roles::StatementBody;
use super::secrets::hash_secret;
use super::util::{from_json, new_id, snapshot, to_json, validate_name};
use super::{AuditDraft, Ctx, Service};
use crate::domain::policy::{BaseRole, Resource};
use crate::error::{Error, Result};
use crate::service::spelled::{Key, Matches, Name, RoleName, Spelled};

mod list;

/// Prefix of generated secrets, so leaked tokens are easy to recognise and scan for.
const SECRET_PREFIX: &str = "gat_";

/// A token as the API shows it. `token` (the secret) is present only in the create response.
#[derive(Debug, Clone, Serialize, Object)]
#[serde(rename_all = "camelCase")]
#[oai(rename_all = "camelCase")]
pub struct Token {
    pub id: String,
    pub name: String,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[oai(nullable)]
    pub owner_id: Option<String>,
    pub service_token: bool,
    #[oai(nullable)]
    pub role: Option<String>,
    pub custom_roles: Vec<String>,
    /// Policy statements a service token holds itself, evaluated as one more of its roles
    /// (explained as `token:inline`); absent when it has none.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inline_role: Option<Vec<Value>>,
    /// The last four characters of the secret.
    pub ending: String,
    #[oai(nullable)]
    pub last_used: Option<i64>,
    #[oai(nullable)]
    pub expires_at: Option<i64>,
    pub revoked: bool,
    pub creation_date: i64,
    /// The secret: returned once, on create and on reset; store it now.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip)]
    pub token: Option<String>,
}

/// Body of `POST /api/v2/tokens`.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct TokenPost {
    /// Not blank, no control characters; at most 256.
    #[oai(validator(custom = "Matches::new()", max_length = 256))]
    pub name: Spelled<Name>,
    /// Free text, at most 1024 characters.
    #[oai(validator(max_length = 1024))]
    pub description: Option<String>,
    /// A service token acts as itself (needs admin); otherwise the token acts as the caller.
    #[oai(default)]
    pub service_token: bool,
    /// Base role of the token; a personal token may not exceed its member's role.
    #[oai(validator(custom = "Matches::new()"))]
    pub role: Option<Spelled<RoleName>>,
    /// Keys of the custom roles the token acts with.
    #[oai(validator(custom = "Matches::new()"))]
    pub custom_roles: Option<Vec<Spelled<Key>>>,
    /// LaunchDarkly alias of `customRoles`, as LaunchDarkly's `POST /api/v2/tokens` names it:
    /// custom role ids (as LaunchDarkly sends them) or keys, each stored as the role's key.
    /// Giving both fields naming different roles is a 400.
    #[oai(validator(custom = "Matches::new()"), rename = "customRoleIds")]
    pub ld_custom_role_ids: Option<Vec<Spelled<Key>>>,
    /// Policy statements the token holds itself, validated as a custom role's policy (errors
    /// name `inlineRole[i]`); service tokens only, and never beyond the caller's own access.
    pub inline_role: Option<Vec<StatementBody>>,
    /// Epoch milliseconds after which the token stops working (a time already past makes a
    /// token that is refused from the start).
    pub expires_at: Option<i64>,
}

fn to_rep(m: &entity::api_token::Model) -> Result<Token> {
    Ok(Token {
        id: m.id.clone(),
        name: m.name.clone(),
        description: m.description.clone(),
        owner_id: m.owner_id.clone(),
        service_token: m.service_token,
        role: m.role.clone(),
        custom_roles: from_json(&m.custom_roles)?,
        inline_role: m.inline_role.as_deref().map(from_json).transpose()?,
        ending: m.ending.clone(),
        last_used: m.last_used,
        expires_at: m.expires_at,
        revoked: m.revoked_at.is_some(),
        creation_date: m.created_at,
        token: None,
    })
}

fn resource(m: &entity::api_token::Model) -> Resource {
    resource_of(&m.id, m.owner_id.as_deref())
}

/// A token's resource from its id and owner: personal under its member, else a service token.
fn resource_of(id: &str, owner: Option<&str>) -> Resource {
    match owner {
        Some(owner) => Resource::member(owner).token(id),
        None => Resource::service_token(id),
    }
}

/// A fresh random secret: 32 bytes of OS randomness, URL-safe.
pub fn generate_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    format!(
        "{SECRET_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

fn ending(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    chars.iter().skip(chars.len().saturating_sub(4)).collect()
}

/// LaunchDarkly names a token's custom roles by id: each value that is a role's id becomes that
/// role's key; other values stay, as keys, for the usual check once the caller is authorized
/// (so this lookup, made before, reveals nothing about keys).
async fn role_keys_of(db: &impl ConnectionTrait, values: Vec<String>) -> Result<Vec<String>> {
    if values.is_empty() {
        return Ok(values);
    }
    let roles = entity::custom_role::Entity::find()
        .filter(entity::custom_role::Column::Id.is_in(values.clone()))
        .all(db)
        .await?;
    Ok(values
        .into_iter()
        .map(|v| match roles.iter().find(|r| r.id == v) {
            Some(role) => role.key.clone(),
            None => v,
        })
        .collect())
}

/// What a new token is: its owner (None for service tokens) and its access.
pub struct NewToken {
    pub name: String,
    pub description: Option<String>,
    pub owner_id: Option<String>,
    pub role: Option<BaseRole>,
    pub custom_roles: Vec<String>,
    /// Statements a service token holds itself, already checked (`lifecycle::inline_role`).
    pub inline_role: Option<Vec<Value>>,
    pub expires_at: Option<i64>,
    /// Use exactly this secret (bootstrap); otherwise one is generated.
    pub secret: Option<String>,
}

impl Service {
    /// Creates a token in one audited transaction and returns it with its secret.
    pub async fn insert_token(&self, ctx: &Ctx, new: NewToken) -> Result<Token> {
        let name = validate_name("name", &new.name)?;
        let id = new_id();
        let res = match &new.owner_id {
            Some(owner) => Resource::member(owner).token(&id),
            None => Resource::service_token(&id),
        };
        authorize(&ctx.principal, "createAccessToken", &res)?;
        let secret = new.secret.unwrap_or_else(generate_secret);
        let mut tx = self.begin_write(ctx).await?;
        let custom_roles = check_custom_roles(tx.db(), "customRoles", &new.custom_roles).await?;
        // Tokens carry no role attributes, so roles that need them cannot be given to a token.
        super::members::check_role_requirements(
            tx.db(),
            "customRoles",
            &custom_roles,
            &Default::default(),
        )
        .await?;
        if let Some(owner_id) = &new.owner_id {
            let owner = member_rows::find(tx.db(), owner_id).await?;
            if owner.status != "active" {
                return Err(Error::invalid(
                    "the member is deactivated and cannot get tokens",
                ));
            }
            lifecycle::check_role_within_member(tx.db(), owner_id, new.role).await?;
        }
        let m = entity::api_token::ActiveModel {
            id: Set(id.clone()),
            name: Set(name),
            owner_id: Set(new.owner_id.clone()),
            service_token: Set(new.owner_id.is_none()),
            role: Set(new.role.map(|r| r.as_str().to_owned())),
            custom_roles: Set(to_json(&custom_roles)?),
            description: Set(new.description.clone()),
            inline_role: Set(new.inline_role.as_ref().map(to_json).transpose()?),
            previous_secret_hash: Set(None),
            previous_secret_expires_at: Set(None),
            secret_hash: Set(hash_secret(&secret)),
            ending: Set(ending(&secret)),
            last_used: Set(None),
            expires_at: Set(new.expires_at),
            revoked_at: Set(None),
            created_by: Set(ctx.principal.actor().id().map(str::to_owned)),
            created_at: Set(tx.now_ms()),
        }
        .insert(tx.db())
        .await
        .map_err(|e| match Error::from(e) {
            Error::Conflict(_) => Error::conflict("a token with this secret already exists"),
            other => other,
        })?;
        let rep = to_rep(&m)?;
        tx.audit(
            AuditDraft::new("token", &rep.name, "createAccessToken", &res)
                .describe(format!(
                    "created {} token {}",
                    if rep.service_token {
                        "service"
                    } else {
                        "personal"
                    },
                    rep.name
                ))
                .after(Some(snapshot(&rep)?)),
        );
        tx.commit().await?;
        Ok(Token {
            token: Some(secret),
            ..rep
        })
    }

    /// Creates a token for the caller, or a service token; LaunchDarkly's `customRoleIds`
    /// stand for `customRoles`.
    pub async fn create_token(&self, ctx: &Ctx, mut input: TokenPost) -> Result<Token> {
        let custom_roles = self.token_custom_roles(&mut input).await?;
        let role = input
            .role
            .as_deref()
            .map(|r| parse_role("role", r))
            .transpose()?;
        let owner_id = if input.service_token {
            None
        } else {
            // Who asks decides, not what is asked: a refusal of the caller (403).
            let me = ctx.principal.member().ok_or_else(|| {
                Error::Forbidden(
                    "serviceToken: this caller is not a member; only a service token can be created"
                        .to_owned(),
                )
            })?;
            Some(me.id.clone())
        };
        let inline_role = lifecycle::inline_role(
            &ctx.principal,
            input.service_token,
            input.inline_role.as_deref(),
        )?;
        if input.service_token && role.is_none() && custom_roles.is_empty() && inline_role.is_none()
        {
            return Err(Error::invalid(
                "role: a service token needs a role, custom roles or an inline role",
            ));
        }
        lifecycle::check_role_within_caller(&ctx.principal, role)?;
        if let Some(owner) = &owner_id {
            self.check_token_creation_allowed(owner).await?;
        }
        self.insert_token(
            ctx,
            NewToken {
                name: input.name.into_text(),
                description: input.description.filter(|d| !d.is_empty()),
                owner_id,
                role,
                custom_roles,
                inline_role,
                expires_at: input.expires_at,
                secret: None,
            },
        )
        .await
    }

    /// A new token's custom role keys, given as `customRoles`, as LaunchDarkly's
    /// `customRoleIds` (role ids or keys), or as both naming the same roles.
    async fn token_custom_roles(&self, input: &mut TokenPost) -> Result<Vec<String>> {
        let theirs = match input.ld_custom_role_ids.take() {
            Some(values) => Some(role_keys_of(self.db(), Spelled::into_texts(values)).await?),
            None => None,
        };
        let (_, keys) = aliased_list(
            (
                "customRoles",
                input.custom_roles.take().map(Spelled::into_texts),
            ),
            ("customRoleIds", theirs),
        )?;
        Ok(keys)
    }

    /// The caller's own personal tokens, and every token it may view.
    /// Revokes a token at once; the record stays for the audit trail.
    pub async fn revoke_token(&self, ctx: &Ctx, id: &str) -> Result<()> {
        let mut tx = self.begin_write(ctx).await?;
        let m = entity::api_token::Entity::find_by_id(id.to_owned())
            .one(tx.db())
            .await?
            .ok_or_else(|| Error::not_found(format!("token {id:?}")))?;
        let own = ctx
            .principal
            .member()
            .is_some_and(|me| m.owner_id.as_deref() == Some(me.id.as_str()));
        let res = resource(&m);
        if !own {
            authorize(&ctx.principal, "deleteAccessToken", &res)?;
        }
        if m.revoked_at.is_some() {
            return Err(Error::not_found(format!("token {id:?}")));
        }
        let before = to_rep(&m)?;
        let mut am: entity::api_token::ActiveModel = m.clone().into();
        am.revoked_at = Set(Some(tx.now_ms()));
        let updated = am.update(tx.db()).await?;
        tx.audit(
            AuditDraft::new("token", &m.name, "deleteAccessToken", &res)
                .describe(format!("revoked token {}", m.name))
                .before(Some(snapshot(&before)?))
                .after(Some(snapshot(&to_rep(&updated)?)?)),
        );
        tx.commit().await?;
        Ok(())
    }

    /// `gatehouse token create --member EMAIL`: a personal token of that member.
    pub async fn create_personal_token_for(
        &self,
        name: &str,
        email: &str,
        role: Option<BaseRole>,
    ) -> Result<Token> {
        let member = member_rows::find_by_email(self.db(), email).await?;
        self.insert_token(
            &Ctx::system(),
            NewToken {
                name: name.to_owned(),
                description: None,
                owner_id: Some(member.id),
                role,
                custom_roles: vec![],
                inline_role: None,
                expires_at: None,
                secret: None,
            },
        )
        .await
    }
}
