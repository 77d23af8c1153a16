//! Team membership rows: the one place that writes `team_member`, and that moves each team's
//! `member_count` and each member's `team_count` in the same statements, so both counts are
//! exact without ever counting rows. Writers hand the statements to their write transaction (in one round trip
//! with their audit entry where they can).
//!
//! The counts are exact because callers say what they know inside their serialized write
//! transaction: ids added are not members yet (the primary key refuses a duplicate, failing
//! the whole change), ids removed are members.

use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, QueryFilter, QueryTrait, Statement,
};

use super::util::values_per_statement;
use crate::domain::grant_source::GrantSource;
use crate::domain::scim::membership::MembershipChange;
use crate::error::Result;

use entity::team_member::{Column, Entity};
use migration::m20261211_000020_membership_copies::{COPIED, COPIED_FROM};

/// The statements that add `ids` (not members yet) to a team and raise its count; `source`
/// is who grants the membership (`Principal::grant_source` over REST).
pub(crate) fn add(
    backend: DatabaseBackend,
    team_id: &str,
    ids: &[String],
    source: &GrantSource,
) -> Vec<Statement> {
    if ids.is_empty() {
        return Vec::new();
    }
    let mut statements = insert_rows(backend, team_id, ids, source);
    statements.push(move_count(backend, team_id, ids.len() as i64));
    statements
}

/// The statements that remove `ids` (members now) from a team and lower its count.
pub(crate) fn remove(backend: DatabaseBackend, team_id: &str, ids: &[String]) -> Vec<Statement> {
    if ids.is_empty() {
        return Vec::new();
    }
    let mut statements = delete_rows(backend, team_id, ids);
    statements.push(move_count(backend, team_id, -(ids.len() as i64)));
    statements
}

/// The row statements of a membership change whose caller updates the team's row anyway:
/// it writes the count after the change (`MembershipChange::count_after`) in that same
/// UPDATE, in the same batch, saving a statement per change.
pub(crate) fn change_rows(
    backend: DatabaseBackend,
    team_id: &str,
    change: &MembershipChange,
    source: &GrantSource,
) -> Vec<Statement> {
    let mut statements = delete_rows(backend, team_id, &change.removed);
    statements.extend(insert_rows(backend, team_id, &change.added, source));
    statements
}

/// Inserts one row per id with its copies of the member's columns (sort keys, role) read
/// from `member` in the same statement. Every id given makes a row: an id that names no
/// member leaves its copies NULL, which the columns refuse, failing the change as a
/// duplicate does.
fn insert_rows(
    backend: DatabaseBackend,
    team_id: &str,
    ids: &[String],
    source: &GrantSource,
) -> Vec<Statement> {
    let copied = COPIED.join(", ");
    let copied_from = COPIED_FROM.map(|source| format!("({source})")).join(", ");
    let mut statements: Vec<Statement> = ids
        .chunks(values_per_statement(backend, 1))
        .map(|chunk| {
            // SQLite binds `?` in order; PostgreSQL numbers them.
            let at = |n: usize| match backend {
                DatabaseBackend::Postgres => format!("${n}"),
                _ => "?".to_owned(),
            };
            let given = (3..chunk.len() + 3)
                .map(|n| format!("({})", at(n)))
                .collect::<Vec<_>>()
                .join(", ");
            let (team, granted_by) = (at(1), at(2));
            let sql = format!(
                "INSERT INTO \"team_member\" (team_id, member_id, source, {copied}) \
                 SELECT {team}, given.column1, {granted_by}, {copied_from} \
                 FROM (VALUES {given}) AS given LEFT JOIN member ON member.id = given.column1"
            );
            let mut values: Vec<sea_orm::Value> = vec![team_id.into(), source.stored().into()];
            values.extend(chunk.iter().map(|id| id.as_str().into()));
            Statement::from_sql_and_values(backend, sql, values)
        })
        .collect();
    statements.extend(move_team_counts(backend, ids, 1));
    statements
}

/// The statements that move the team count of each of `ids` by `by`.
fn move_team_counts(backend: DatabaseBackend, ids: &[String], by: i64) -> Vec<Statement> {
    use entity::member::Column as M;
    ids.chunks(values_per_statement(backend, 1))
        .map(|chunk| {
            entity::member::Entity::update_many()
                .col_expr(M::TeamCount, Expr::col(M::TeamCount).add(by))
                .filter(M::Id.is_in(chunk.to_vec()))
                .build(backend)
        })
        .collect()
}

fn delete_rows(backend: DatabaseBackend, team_id: &str, ids: &[String]) -> Vec<Statement> {
    let mut statements: Vec<Statement> = ids
        .chunks(values_per_statement(backend, 1))
        .map(|chunk| {
            Entity::delete_many()
                .filter(Column::TeamId.eq(team_id))
                .filter(Column::MemberId.is_in(chunk.to_vec()))
                .build(backend)
        })
        .collect();
    statements.extend(move_team_counts(backend, ids, -1));
    statements
}

/// The statements that empty a team.
pub(crate) fn clear(backend: DatabaseBackend, team_id: &str) -> Vec<Statement> {
    use entity::member::Column as M;
    let members_of_team = Query::select()
        .column(Column::MemberId)
        .from(Entity)
        .and_where(Column::TeamId.eq(team_id))
        .to_owned();
    vec![
        entity::member::Entity::update_many()
            .col_expr(M::TeamCount, Expr::col(M::TeamCount).sub(1))
            .filter(M::Id.in_subquery(members_of_team))
            .build(backend),
        Entity::delete_many()
            .filter(Column::TeamId.eq(team_id))
            .build(backend),
        entity::team::Entity::update_many()
            .col_expr(entity::team::Column::MemberCount, Expr::value(0i64))
            .filter(entity::team::Column::Id.eq(team_id))
            .build(backend),
    ]
}

/// The statements that take a member out of every team it belongs to (the member goes).
pub(crate) fn remove_everywhere(backend: DatabaseBackend, member_id: &str) -> Vec<Statement> {
    let teams_of_member = Query::select()
        .column(Column::TeamId)
        .from(Entity)
        .and_where(Column::MemberId.eq(member_id))
        .to_owned();
    vec![
        entity::team::Entity::update_many()
            .col_expr(
                entity::team::Column::MemberCount,
                Expr::col(entity::team::Column::MemberCount).sub(1),
            )
            .filter(entity::team::Column::Id.in_subquery(teams_of_member))
            .build(backend),
        Entity::delete_many()
            .filter(Column::MemberId.eq(member_id))
            .build(backend),
        entity::member::Entity::update_many()
            .col_expr(entity::member::Column::TeamCount, Expr::value(0i64))
            .filter(entity::member::Column::Id.eq(member_id))
            .build(backend),
    ]
}

fn move_count(backend: DatabaseBackend, team_id: &str, by: i64) -> Statement {
    entity::team::Entity::update_many()
        .col_expr(
            entity::team::Column::MemberCount,
            Expr::col(entity::team::Column::MemberCount).add(by),
        )
        .filter(entity::team::Column::Id.eq(team_id))
        .build(backend)
}

/// Runs membership statements one by one (for callers with more writes to make after them).
pub(crate) async fn run(db: &impl ConnectionTrait, statements: Vec<Statement>) -> Result<()> {
    for statement in statements {
        db.execute_raw(statement).await?;
    }
    Ok(())
}

/// The ids of a team's members, sorted.
pub(crate) async fn ids_of(db: &impl ConnectionTrait, team_id: &str) -> Result<Vec<String>> {
    use sea_orm::QuerySelect;
    let mut ids: Vec<String> = Entity::find()
        .select_only()
        .column(Column::MemberId)
        .filter(Column::TeamId.eq(team_id))
        .into_tuple()
        .all(db)
        .await?;
    ids.sort();
    Ok(ids)
}
