//! Member rows by id or email, and the stored base role, for every command that needs a
//! member (REST, SCIM, sign-in, tokens, access).

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use crate::domain::policy::BaseRole;
use crate::error::{Error, Result};

/// The member with id `id`, or 404.
pub(crate) async fn find(db: &impl ConnectionTrait, id: &str) -> Result<entity::member::Model> {
    entity::member::Entity::find_by_id(id.to_owned())
        .one(db)
        .await?
        .ok_or_else(|| Error::not_found(format!("member {id:?}")))
}

/// The member with this email (any case), or 404.
pub(crate) async fn find_by_email(
    db: &impl ConnectionTrait,
    email: &str,
) -> Result<entity::member::Model> {
    entity::member::Entity::find()
        .filter(entity::member::Column::EmailLower.eq(email.to_lowercase()))
        .one(db)
        .await?
        .ok_or_else(|| Error::not_found(format!("member {email:?}")))
}

/// A stored or requested base role, or 400 naming the field.
pub(crate) fn parse_role(field: &str, role: &str) -> Result<BaseRole> {
    BaseRole::parse(role).ok_or_else(|| {
        Error::invalid(format!(
            "{field}: {role:?} is not one of reader, writer, admin, owner, no_access"
        ))
    })
}
