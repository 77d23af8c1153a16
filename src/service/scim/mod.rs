//! SCIM provisioning commands: Users are members and Groups are teams synced from the
//! connection's IdP. Every write runs the one write path (a `WriteTx`, one audit entry per
//! change, actor = the connection as `app` with `isScim`), keeps the SCIM document the IdP
//! sent (`member.scim_attributes`) and rewrites the filter index (`scim_value`) in the same
//! transaction. Refusals that touch roles (the owner, unknown custom roles) are audited too,
//! in a transaction of their own that changes nothing else.

pub mod groups;
pub mod query;
pub mod users;

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde_json::{Map, Value, json};

use super::{AuditDraft, Ctx, Principal, Service, WriteTx};
use crate::domain::scim::discovery::MAX_RESULTS;
use crate::domain::scim::error::{ScimError, ScimFailure, ScimResult};
use crate::domain::scim::filter::{AttrPath, Filter};
use crate::domain::scim::resource::{IndexValue, Projection};
use crate::domain::scim::schema::LIST_RESPONSE_URN;

/// Page size when a list request gives no `count`.
pub const DEFAULT_COUNT: u64 = 100;

/// An authenticated SCIM request: the connection acting, and the request's audit context.
#[derive(Debug, Clone)]
pub struct ScimCtx {
    pub ctx: Ctx,
    pub connection: entity::connection::Model,
    /// The SQL dialect of the service's database, for statements built before a
    /// transaction opens.
    pub backend: sea_orm::DatabaseBackend,
}

impl ScimCtx {
    pub fn key(&self) -> &str {
        &self.connection.key
    }
}

/// A list request: `filter`, paging, sorting and projection.
#[derive(Debug, Clone, Default)]
pub struct ListRequest {
    pub filter: Option<Filter>,
    /// 1-based; values below 1 count as 1.
    pub start_index: u64,
    pub count: Option<u64>,
    pub sort_by: Option<AttrPath>,
    pub descending: bool,
    pub projection: Projection,
}

impl ListRequest {
    pub(crate) fn offset(&self) -> u64 {
        self.start_index.max(1) - 1
    }
    pub(crate) fn limit(&self) -> u64 {
        self.count.unwrap_or(DEFAULT_COUNT).min(MAX_RESULTS)
    }
}

/// One page of a list.
#[derive(Debug, Clone)]
pub struct ListPage {
    pub total: u64,
    pub start_index: u64,
    pub resources: Vec<Value>,
}

impl ListPage {
    /// The ListResponse body.
    pub fn to_json(&self) -> Value {
        json!({
            "schemas": [LIST_RESPONSE_URN],
            "totalResults": self.total,
            "startIndex": self.start_index.max(1),
            "itemsPerPage": self.resources.len(),
            "Resources": self.resources,
        })
    }
}

/// One page of a list: the rows of `select` (already narrowed to what the connection sees)
/// matching the request's filter, in its sort order, and the total number of matches
/// (`totalResults`). A first page that is not full already says the total, so lookups by
/// `userName` or `externalId` cost one query, not two.
pub(crate) async fn page_of<E: sea_orm::EntityTrait>(
    db: &impl ConnectionTrait,
    kind: query::Kind,
    mut select: sea_orm::Select<E>,
    req: &ListRequest,
) -> ScimResult<(Vec<E::Model>, u64)>
where
    E::Model: Sync,
{
    use sea_orm::{PaginatorTrait, QueryOrder, QuerySelect};
    let backend = db.get_database_backend();
    if let Some(f) = &req.filter {
        select = select.filter(query::condition(kind, f, backend)?);
    }
    let counter = select.clone();
    let limit = req.limit();
    if limit == 0 {
        return Ok((Vec::new(), counter.count(db).await?));
    }
    for (term, order) in query::order_by(kind, req.sort_by.as_ref(), req.descending, backend)? {
        select = select.order_by(sea_orm::sea_query::Expr::cust(term), order);
    }
    let rows = select.offset(req.offset()).limit(limit).all(db).await?;
    let len = rows.len() as u64;
    let total = if req.offset() == 0 && len < limit {
        len
    } else {
        counter.count(db).await?
    };
    Ok((rows, total))
}

/// RFC 3339 with milliseconds, UTC.
pub fn timestamp(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The weak ETag of a version.
pub fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// `If-Match`: `*`, or a list of ETags one of which names the current version (weak or
/// strong, RFC 7232's weak comparison); otherwise 412.
pub fn check_if_match(if_match: Option<&str>, version: i64) -> ScimResult<()> {
    let Some(header) = if_match else {
        return Ok(());
    };
    let current = version.to_string();
    let ok = header
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.trim_start_matches("W/").trim_matches('"') == current);
    if ok {
        Ok(())
    } else {
        Err(ScimError::precondition_failed(format!(
            "If-Match {header} does not match the current version {}",
            etag(version)
        )))
    }
}

/// A service failure in SCIM's terms.
impl From<crate::error::Error> for ScimError {
    fn from(err: crate::error::Error) -> Self {
        use crate::error::Error as E;
        let detail = err.to_string();
        match err {
            E::InvalidRequest(_) => Self::invalid_value(detail),
            E::Unauthorized(_) => Self::unauthorized(detail),
            E::Forbidden(_) | E::ApprovalRequired(_) => Self::forbidden(detail),
            E::NotFound(_) => Self::not_found(detail),
            E::Conflict(_) => Self::uniqueness(detail),
            E::PreconditionFailed(_) => Self::precondition_failed(detail),
            E::PayloadTooLarge(_) => Self::new(ScimFailure::PayloadTooLarge, None, detail),
            E::RateLimited(_) => Self::new(ScimFailure::TooManyRequests, None, detail),
            E::Internal(_) => Self::internal(detail),
        }
    }
}

impl From<sea_orm::DbErr> for ScimError {
    fn from(err: sea_orm::DbErr) -> Self {
        crate::error::Error::from(err).into()
    }
}

/// Why a command failed: a plain error, or a refusal the audit log must record.
pub(crate) enum Failure {
    Plain(ScimError),
    Refused(ScimError, Box<AuditDraft>),
}

impl<E: Into<ScimError>> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure::Plain(e.into())
    }
}

pub(crate) type Outcome<T> = Result<T, Failure>;

/// A refusal with its audit entry: the attempted action, marked as refused in its
/// description and delta, with the resource unchanged (before = after).
pub(crate) fn refused(
    error: ScimError,
    kind: &str,
    name: &str,
    action: &str,
    resource: &crate::domain::policy::Resource,
    operation: &str,
    snapshot: Option<Value>,
) -> Failure {
    let draft = AuditDraft::new(kind, name, action, resource)
        .describe(format!(
            "refused SCIM {operation} of {name}: {}",
            error.detail
        ))
        .before(snapshot.clone())
        .after(snapshot)
        .delta(json!({"scim": {"operation": operation, "refused": error.detail}}));
    Failure::Refused(error, Box::new(draft))
}

impl Service {
    /// Authenticates a SCIM bearer token and loads its connection; refuses (403) a client
    /// address the connection's SCIM allowlist, if it has one, does not hold.
    pub async fn scim_context(
        &self,
        authorization: Option<&str>,
        request_id: Option<String>,
        source_ip: Option<std::net::IpAddr>,
    ) -> ScimResult<ScimCtx> {
        let caller = self
            .authenticate_scim_caller(authorization.unwrap_or(""))
            .await
            .map_err(ScimError::from)?;
        if let Some(allowlist) = &caller.allowlist
            && !source_ip.is_some_and(|a| allowlist.contains(a))
        {
            return Err(ScimError::from(super::ip_allowlist::scim_refusal(
                &caller.connection.key,
                source_ip,
            )));
        }
        Ok(ScimCtx {
            ctx: Ctx {
                principal: Principal::App(caller.principal),
                request_id,
                source_ip: source_ip.map(|a| a.to_string()),
            },
            connection: caller.connection,
            backend: self.db().get_database_backend(),
        })
    }

    /// Ends a write: commits a change, rolls back a no-op (`None`), or on a refusal rolls
    /// the change back and records the refusal alone.
    pub(crate) async fn finish_write<T>(
        &self,
        sc: &ScimCtx,
        tx: WriteTx<'_>,
        outcome: Outcome<Option<T>>,
    ) -> ScimResult<Option<T>> {
        match outcome {
            Ok(Some(value)) => {
                tx.commit().await.map_err(ScimError::from)?;
                Ok(Some(value))
            }
            Ok(None) => Ok(None),
            Err(failure) => {
                drop(tx);
                Err(self.fail(sc, failure).await)
            }
        }
    }

    /// The error of a failed command, once a refusal is recorded on its own (nothing else
    /// changed).
    pub(crate) async fn fail(&self, sc: &ScimCtx, failure: Failure) -> ScimError {
        match failure {
            Failure::Plain(e) => e,
            Failure::Refused(e, draft) => {
                let recorded = async {
                    let mut tx = self.begin_write(&sc.ctx).await?;
                    tx.audit(*draft);
                    tx.commit().await.map(|_| ())
                }
                .await;
                match recorded {
                    Ok(()) => e,
                    Err(failed) => ScimError::from(failed),
                }
            }
        }
    }

    /// Custom role keys an IdP can assign without role attributes: `/Schemas` publishes them
    /// as the canonical values of `customRole`.
    pub async fn scim_assignable_custom_roles(&self) -> ScimResult<Vec<String>> {
        let roles = entity::custom_role::Entity::find().all(self.db()).await?;
        let mut keys = Vec::new();
        for r in roles {
            let declared: Vec<String> =
                serde_json::from_str(&r.role_attributes).unwrap_or_default();
            if declared.is_empty() {
                keys.push(r.key);
            }
        }
        keys.sort();
        Ok(keys)
    }
}

/// The statements that replace the filter-index rows of one resource (`fresh`: it has none
/// yet), for a command to send with its other writes.
pub(crate) fn index_rewrites(
    backend: sea_orm::DatabaseBackend,
    kind: query::Kind,
    id: &str,
    rows: Vec<IndexValue>,
    fresh: bool,
) -> Vec<sea_orm::Statement> {
    use entity::scim_value::{Column, Entity};
    use sea_orm::QueryTrait;
    let mut statements = Vec::new();
    if !fresh {
        statements.push(
            Entity::delete_many()
                .filter(Column::ResourceKind.eq(kind.as_str()))
                .filter(Column::ResourceId.eq(id))
                .build(backend),
        );
    }
    for chunk in rows.chunks(crate::service::util::values_per_statement(backend, 6)) {
        statements.push(index_insert(backend, kind, id, chunk));
    }
    statements
}

/// One multi-row INSERT of filter-index rows, written directly: every SCIM create and update
/// sends one, and building it through the query builder cost more than executing it.
fn index_insert(
    backend: sea_orm::DatabaseBackend,
    kind: query::Kind,
    id: &str,
    rows: &[IndexValue],
) -> sea_orm::Statement {
    use std::fmt::Write as _;
    let mut sql = String::with_capacity(128 + rows.len() * 32);
    sql.push_str(
        "INSERT INTO \"scim_value\" (\"resource_kind\", \"resource_id\", \"path\", \"elem\", \"value_lower\", \"value\") VALUES ",
    );
    let mut values: Vec<sea_orm::Value> = Vec::with_capacity(rows.len() * 6);
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for column in 0..6 {
            if column > 0 {
                sql.push_str(", ");
            }
            match backend {
                sea_orm::DatabaseBackend::Postgres => {
                    let _ = write!(sql, "${}", values.len() + column + 1);
                }
                _ => sql.push('?'),
            }
        }
        sql.push(')');
        values.push(kind.as_str().into());
        values.push(id.into());
        values.push(row.path.as_str().into());
        values.push(row.elem.into());
        values.push(row.value.as_ref().map(|v| v.to_lowercase()).into());
        values.push(row.value.clone().into());
    }
    sea_orm::Statement::from_sql_and_values(backend, sql, values)
}

/// The INSERT of one whole row, written directly like `index_insert`: every SCIM create sends
/// one, and sea-orm's builder cost as much as SQLite's work on the row. The same statement
/// the builder makes from the model (a test holds them equal), so it shares its cache entry.
pub(crate) fn insert_row<M: sea_orm::ModelTrait>(
    backend: sea_orm::DatabaseBackend,
    row: &M,
) -> sea_orm::Statement {
    use sea_orm::{EntityName, IdenStatic, Iterable};
    let mut columns = String::with_capacity(256);
    let mut params = String::with_capacity(128);
    let mut values: Vec<sea_orm::Value> = Vec::with_capacity(24);
    for column in <M::Entity as EntityTrait>::Column::iter() {
        if !values.is_empty() {
            columns.push_str(", ");
            params.push_str(", ");
        }
        columns.push('"');
        columns.push_str(column.as_str());
        columns.push('"');
        values.push(row.get(column));
        match backend {
            sea_orm::DatabaseBackend::Postgres => {
                params.push('$');
                params.push_str(&values.len().to_string());
            }
            _ => params.push('?'),
        }
    }
    let table = M::Entity::default().table_name().to_owned();
    sea_orm::Statement::from_sql_and_values(
        backend,
        format!("INSERT INTO \"{table}\" ({columns}) VALUES ({params})"),
        values,
    )
}

/// A document's JSON without write-only values, for the audit log.
pub(crate) fn redact(body: &Value) -> Value {
    match body {
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| {
                    if k.eq_ignore_ascii_case("password") {
                        (k.clone(), Value::String("***".to_owned()))
                    } else {
                        (k.clone(), redact(v))
                    }
                })
                .collect::<Map<String, Value>>(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(redact).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_inserts_as_the_query_builder_would() {
        use sea_orm::{IntoActiveModel, QueryTrait};
        let row = entity::member::Model {
            id: "m1".into(),
            email: "Ada@Example.com".into(),
            email_lower: "ada@example.com".into(),
            user_name: "ada".into(),
            user_name_lower: "ada".into(),
            first_name: Some("Ada".into()),
            last_name: None,
            role: "reader".into(),
            custom_roles: "[]".into(),
            role_attributes: "{}".into(),
            status: "active".into(),
            source: "scim".into(),
            connection_key: Some("okta".into()),
            external_id: None,
            last_seen: None,
            scim_attributes: Some("{}".into()),
            scim_deleted_at: None,
            role_source: Some("scim:okta".into()),
            custom_role_sources: Some("{}".into()),
            last_sign_in_at: None,
            last_sign_in_connection: None,
            last_sign_in_protocol: None,
            team_count: 0,
            version: 1,
            created_at: 5,
            updated_at: 6,
        };
        for backend in [
            sea_orm::DatabaseBackend::Sqlite,
            sea_orm::DatabaseBackend::Postgres,
        ] {
            let built =
                entity::member::Entity::insert(row.clone().into_active_model()).build(backend);
            assert_eq!(insert_row(backend, &row), built);
        }
    }

    #[test]
    fn if_match_compares_weakly() {
        assert!(check_if_match(None, 3).is_ok());
        assert!(check_if_match(Some("W/\"3\""), 3).is_ok());
        assert!(check_if_match(Some("\"3\""), 3).is_ok());
        assert!(check_if_match(Some("W/\"1\", W/\"3\""), 3).is_ok());
        assert!(check_if_match(Some("*"), 3).is_ok());
        assert_eq!(
            check_if_match(Some("W/\"2\""), 3).unwrap_err().failure,
            ScimFailure::PreconditionFailed
        );
        assert_eq!(timestamp(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            redact(&json!({"a": [{"Password": "x"}]})),
            json!({"a": [{"Password": "***"}]})
        );
    }
}
