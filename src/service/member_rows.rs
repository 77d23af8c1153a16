//! Member rows by id or email, their team keys, and the stored base role, for every command
//! that needs a member (REST, SCIM, sign-in, tokens, access, lists and bulk changes).

use std::collections::HashMap;

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};

use crate::domain::policy::BaseRole;
use crate::error::{Error, Result};
use crate::service::util::{rows_where_in, values_per_statement};

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

/// The member rows of `ids`, read in chunks.
pub(crate) async fn member_rows(
    db: &impl ConnectionTrait,
    ids: &[String],
) -> Result<Vec<entity::member::Model>> {
    rows_where_in::<entity::member::Entity>(db, entity::member::Column::Id, ids).await
}

/// The keys of the teams of each of `ids`, sorted, read in chunks.
pub(crate) async fn team_keys_of(
    db: &impl ConnectionTrait,
    ids: &[String],
) -> Result<HashMap<String, Vec<String>>> {
    use entity::team::Column as T;
    use entity::team_member::Column as TM;
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for chunk in ids.chunks(values_per_statement(db.get_database_backend(), 1)) {
        let pairs: Vec<(String, String)> = entity::team_member::Entity::find()
            .select_only()
            .column(TM::MemberId)
            .column_as(Expr::col((entity::team::Entity, T::Key)), "key")
            .join(
                sea_orm::JoinType::InnerJoin,
                entity::team_member::Entity::belongs_to(entity::team::Entity)
                    .from(TM::TeamId)
                    .to(T::Id)
                    .into(),
            )
            .filter(TM::MemberId.is_in(chunk.to_vec()))
            .into_tuple()
            .all(db)
            .await?;
        for (member, key) in pairs {
            out.entry(member).or_default().push(key);
        }
    }
    for keys in out.values_mut() {
        keys.sort();
    }
    Ok(out)
}
