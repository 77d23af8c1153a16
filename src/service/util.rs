//! Small helpers shared by the commands: ids, keys, JSON columns, version checks.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// A new time-ordered id.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Keys are what policies and URLs name resources by: `[A-Za-z0-9][A-Za-z0-9._-]{0,127}`.
pub fn validate_key(field: &str, key: &str) -> Result<()> {
    let mut chars = key.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !first_ok || !rest_ok || key.len() > 128 {
        return Err(Error::invalid(format!(
            "{field}: {key:?} is not a valid key (letters, digits, '.', '_', '-', starting with a letter or digit, at most 128)"
        )));
    }
    Ok(())
}

/// A human name: non-empty after trimming, at most 256 characters, no control characters.
pub fn validate_name(field: &str, name: &str) -> Result<String> {
    plain(field, name)?;
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 256 {
        return Err(Error::invalid(format!(
            "{field}: must be 1 to 256 characters"
        )));
    }
    Ok(name.to_owned())
}

/// Refuses an identifier or name holding a control character.
pub fn plain(field: &str, text: &str) -> Result<()> {
    crate::domain::text::check_plain(field, text).map_err(|e| Error::invalid(e.to_string()))
}

/// Tags are sorted, de-duplicated keys.
pub fn normalize_tags(field: &str, tags: &[String]) -> Result<Vec<String>> {
    let mut out = Vec::with_capacity(tags.len());
    for (i, tag) in tags.iter().enumerate() {
        validate_key(&format!("{field}[{i}]"), tag)?;
        out.push(tag.clone());
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Parses a semantic patch's instructions, naming the index of the first bad one.
pub fn parse_instructions<T: DeserializeOwned>(values: &[serde_json::Value]) -> Result<Vec<T>> {
    if values.is_empty() {
        return Err(Error::invalid(
            "instructions: at least one instruction is needed",
        ));
    }
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            serde_json::from_value(v.clone())
                .map_err(|e| Error::invalid(format!("instructions[{i}]: {e}")))
        })
        .collect()
}

/// Reads a JSON text column.
pub fn from_json<T: DeserializeOwned>(text: &str) -> Result<T> {
    Ok(serde_json::from_str(text)?)
}

/// Writes a JSON text column.
pub fn to_json<T: Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(Error::internal)
}

/// A JSON snapshot of a representation for the audit log.
pub fn snapshot<T: Serialize>(value: &T) -> Result<serde_json::Value> {
    serde_json::to_value(value).map_err(Error::internal)
}

/// Optimistic concurrency: a client that says which version it edits gets 409 when stale.
pub fn check_version(expected: Option<i64>, actual: i64, what: &str) -> Result<()> {
    match expected {
        Some(v) if v != actual => Err(Error::conflict(format!(
            "{what} is at version {actual}, the request was made against version {v}"
        ))),
        _ => Ok(()),
    }
}

/// Bound values per statement when a command sends a long list (ids in an `IN`, rows of a
/// multi-row INSERT), for `values_per_row` values in each list item.
///
/// PostgreSQL: the driver does not set TCP_NODELAY, and a statement outgrowing the socket's
/// first send buffer (16 KiB) is written in parts, the later ones waiting for the server's
/// delayed ACK (40 ms each); about 250 identifier-sized values stay within one part. SQLite
/// has no such cost; 900 keeps its statements modest.
pub fn values_per_statement(backend: sea_orm::DatabaseBackend, values_per_row: usize) -> usize {
    let budget = match backend {
        sea_orm::DatabaseBackend::Postgres => 250,
        _ => 900,
    };
    (budget / values_per_row.max(1)).max(1)
}

/// The rows of `E` whose `column` is one of `values`, in no particular order, read in
/// statements of `values_per_statement` values.
pub async fn rows_where_in<E: sea_orm::EntityTrait>(
    db: &impl sea_orm::ConnectionTrait,
    column: E::Column,
    values: &[String],
) -> Result<Vec<E::Model>> {
    use sea_orm::{ColumnTrait, QueryFilter};
    let mut rows = Vec::with_capacity(values.len());
    for chunk in values.chunks(values_per_statement(db.get_database_backend(), 1)) {
        rows.extend(
            E::find()
                .filter(column.is_in(chunk.to_vec()))
                .all(db)
                .await?,
        );
    }
    Ok(rows)
}
