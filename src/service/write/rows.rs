//! The stored form of audit entries: their rows, the INSERTs that append them, and the head.

use sea_orm::sea_query::Query;
use sea_orm::{ConnectionTrait, DatabaseBackend, EntityTrait, QuerySelect, Statement};

use super::decode_hash;
use crate::domain::audit::{self, AuditEntry, ChainHead};
use crate::error::{Error, Result};

/// Rows per multi-row audit INSERT on SQLite: far below its bind-parameter limit.
const INSERT_CHUNK: usize = 500;

/// Bytes of bound values per audit INSERT on PostgreSQL (see `util::values_per_statement`:
/// a larger message waits for delayed ACKs).
const INSERT_BYTES_PG: usize = 12 * 1024;

/// The INSERT statements of `entries`, linked one after another from `tip`, and the head
/// they lead to.
pub(super) fn chained_inserts(
    backend: DatabaseBackend,
    tip: ChainHead,
    entries: &[AuditEntry],
) -> Result<(Vec<Statement>, ChainHead)> {
    let mut tip = tip;
    let mut rows = Vec::with_capacity(entries.len());
    for entry in entries {
        let body = audit::canonical_bytes(entry);
        let hash = audit::link(&tip.hash, &body);
        rows.push(entry_row(entry, body, &tip.hash, &hash)?);
        tip = ChainHead {
            seq: entry.seq,
            hash,
        };
    }
    let mut statements = Vec::new();
    for chunk in insert_chunks(backend, &rows) {
        use entity::audit_entry::Column as C;
        let mut insert = Query::insert();
        insert.into_table(entity::audit_entry::Entity).columns([
            C::Seq,
            C::Id,
            C::Date,
            C::Kind,
            C::ActorKind,
            C::ActorId,
            C::Actions,
            C::Resources,
            C::SearchText,
            C::Body,
            C::PrevHash,
            C::Hash,
        ]);
        for row in chunk {
            insert
                .values([
                    row.seq.into(),
                    row.id.clone().into(),
                    row.date.into(),
                    row.kind.clone().into(),
                    row.actor_kind.clone().into(),
                    row.actor_id.clone().into(),
                    row.actions.clone().into(),
                    row.resources.clone().into(),
                    row.search_text.clone().into(),
                    row.body.clone().into(),
                    row.prev_hash.clone().into(),
                    row.hash.clone().into(),
                ])
                .map_err(Error::internal)?;
        }
        statements.push(backend.build(&insert));
    }
    Ok((statements, tip))
}

/// The rows of each INSERT: on PostgreSQL as many as stay within `INSERT_BYTES_PG` (at
/// least one), on SQLite `INSERT_CHUNK`.
fn insert_chunks(
    backend: DatabaseBackend,
    rows: &[entity::audit_entry::Model],
) -> Vec<&[entity::audit_entry::Model]> {
    if backend != DatabaseBackend::Postgres {
        return rows.chunks(INSERT_CHUNK).collect();
    }
    let mut chunks = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, row) in rows.iter().enumerate() {
        let size = row.body.len() + row.search_text.len() + row.resources.len() + 256;
        if i > start && bytes + size > INSERT_BYTES_PG {
            chunks.extend(rows.get(start..i));
            (start, bytes) = (i, 0);
        }
        bytes += size;
    }
    chunks.extend(rows.get(start..).filter(|rest| !rest.is_empty()));
    chunks
}

/// The stored chain head; on PostgreSQL optionally locked for the rest of the transaction.
pub(super) async fn stored_head(db: &impl ConnectionTrait, lock: bool) -> Result<ChainHead> {
    let mut query = entity::audit_head::Entity::find_by_id(1);
    if lock {
        query = query.lock_exclusive();
    }
    let head = query
        .one(db)
        .await?
        .ok_or_else(|| Error::internal("audit head row is missing"))?;
    Ok(ChainHead {
        seq: head.seq,
        hash: decode_hash(&head.hash)?,
    })
}

/// One SQLite call running several statements in turn: sqlx binds the `?` parameters of a
/// multi-statement string in order across its statements.
pub(super) fn join_statements(statements: Vec<Statement>) -> Option<Statement> {
    let mut iter = statements.into_iter();
    let first = iter.next()?;
    let backend = first.db_backend;
    let mut sql = first.sql;
    let mut values = first.values.map(|v| v.0).unwrap_or_default();
    for next in iter {
        sql.push_str(";\n");
        sql.push_str(&next.sql);
        values.extend(next.values.map(|v| v.0).unwrap_or_default());
    }
    Some(Statement::from_sql_and_values(backend, sql, values))
}

/// PostgreSQL statements as one, each a data-modifying `WITH` part of the last: one round
/// trip for all. Only for statements that touch disjoint rows: PostgreSQL runs the parts on
/// one snapshot in no promised order. `None` when there is nothing to join, or the joined
/// statement would outgrow one socket write (see `INSERT_BYTES_PG`).
pub(super) fn as_one_statement(statements: &[Statement]) -> Option<Statement> {
    let (last, parts) = statements.split_last()?;
    if parts.is_empty() {
        return None;
    }
    let size: usize = statements
        .iter()
        .map(|s| s.sql.len() + s.values.as_ref().map_or(0, |v| bound_bytes(&v.0)))
        .sum();
    if size > INSERT_BYTES_PG {
        return None;
    }
    let mut sql = String::from("WITH ");
    let mut values = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&format!("gatehouse_part_{i} AS ("));
        sql.push_str(&renumber_placeholders(&part.sql, values.len()));
        sql.push(')');
        values.extend(part.values.clone().map(|v| v.0).unwrap_or_default());
    }
    sql.push(' ');
    sql.push_str(&renumber_placeholders(&last.sql, values.len()));
    values.extend(last.values.clone().map(|v| v.0).unwrap_or_default());
    Some(Statement::from_sql_and_values(
        DatabaseBackend::Postgres,
        sql,
        values,
    ))
}

/// About how many bytes bound values take on the wire.
fn bound_bytes(values: &[sea_orm::Value]) -> usize {
    values
        .iter()
        .map(|v| match v {
            sea_orm::Value::String(Some(s)) => s.len(),
            _ => 8,
        })
        .sum()
}

/// Shifts PostgreSQL's `$n` placeholders by `offset`, leaving quoted text and identifiers
/// alone.
fn renumber_placeholders(sql: &str, offset: usize) -> String {
    if offset == 0 {
        return sql.to_owned();
    }
    let mut out = String::with_capacity(sql.len() + 16);
    let mut chars = sql.chars().peekable();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                out.push(c);
                if c == q {
                    quote = None;
                }
            }
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                out.push(c);
            }
            None if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                let n: usize = digits.parse().unwrap_or(0);
                out.push_str(&format!("${}", n + offset));
            }
            None => out.push(c),
        }
    }
    out
}

/// The stored row of an entry: its canonical body, its links and the columns filters use.
fn entry_row(
    entry: &AuditEntry,
    body: Vec<u8>,
    prev: &[u8; 32],
    hash: &[u8; 32],
) -> Result<entity::audit_entry::Model> {
    let columns = audit::index_columns(entry);
    Ok(entity::audit_entry::Model {
        seq: entry.seq,
        id: columns.id,
        date: columns.date,
        kind: columns.kind,
        actor_kind: columns.actor_kind,
        actor_id: columns.actor_id,
        actions: columns.actions,
        resources: columns.resources,
        search_text: columns.search_text,
        body: String::from_utf8(body).map_err(Error::internal)?,
        prev_hash: hex::encode(prev),
        hash: hex::encode(hash),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn row(seq: i64, body_len: usize) -> entity::audit_entry::Model {
        entity::audit_entry::Model {
            seq,
            id: seq.to_string(),
            date: 0,
            kind: "k".into(),
            actor_kind: "system".into(),
            actor_id: None,
            actions: String::new(),
            resources: String::new(),
            search_text: String::new(),
            body: "x".repeat(body_len),
            prev_hash: String::new(),
            hash: String::new(),
        }
    }

    #[test]
    fn placeholders_shift_outside_quotes_only() {
        assert_eq!(
            renumber_placeholders(r#"UPDATE "t$1" SET a = $1, b = '$2' WHERE c = $12"#, 3),
            r#"UPDATE "t$1" SET a = $4, b = '$2' WHERE c = $15"#
        );
        assert_eq!(renumber_placeholders("SELECT $1", 0), "SELECT $1");
        let st = |sql: &str, n: i64| {
            Statement::from_sql_and_values(
                DatabaseBackend::Postgres,
                sql,
                (0..n).map(sea_orm::Value::from).collect::<Vec<_>>(),
            )
        };
        let one = as_one_statement(&[
            st("INSERT INTO a VALUES ($1, $2)", 2),
            st("UPDATE b SET x = $1", 1),
            st("INSERT INTO c VALUES ($1)", 1),
        ])
        .unwrap();
        assert_eq!(
            one.sql,
            "WITH gatehouse_part_0 AS (INSERT INTO a VALUES ($1, $2)), \
             gatehouse_part_1 AS (UPDATE b SET x = $3) INSERT INTO c VALUES ($4)"
        );
        assert_eq!(one.values.unwrap().0.len(), 4);
        assert!(as_one_statement(&[st("SELECT 1", 0)]).is_none());
    }

    #[test]
    fn postgres_chunks_stay_small_and_cover_every_row_in_order() {
        let rows: Vec<_> = (1..=40).map(|i| row(i, (i as usize % 7) * 1500)).collect();
        let chunks = insert_chunks(DatabaseBackend::Postgres, &rows);
        let seqs: Vec<i64> = chunks
            .iter()
            .flat_map(|c| c.iter().map(|r| r.seq))
            .collect();
        assert_eq!(seqs, (1..=40).collect::<Vec<_>>());
        for chunk in &chunks {
            let bytes: usize = chunk.iter().map(|r| r.body.len() + 256).sum();
            assert!(chunk.len() == 1 || bytes <= INSERT_BYTES_PG, "{bytes}");
        }
        // One huge entry still goes, alone.
        let huge = [row(1, 10), row(2, 100_000), row(3, 10)];
        let chunks = insert_chunks(DatabaseBackend::Postgres, &huge);
        assert_eq!(
            chunks.iter().map(|c| c.len()).collect::<Vec<_>>(),
            [1, 1, 1]
        );
        assert_eq!(insert_chunks(DatabaseBackend::Sqlite, &rows).len(), 1);
        assert!(insert_chunks(DatabaseBackend::Postgres, &[]).is_empty());
    }
}
