//! `/api/v2/auditlog`: the append-only, hash-chained audit log.

use poem::Request;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Json, PlainText};
use poem_openapi::{ApiResponse, OpenApi};

use super::Tag;
use super::auth::{ApiToken, context};
use super::error::ApiResult;
use super::responses::Page;
use crate::service::Service;
use crate::service::audit::{AuditEntryRep, AuditQuery, CheckpointRep, VerifyReport};
use crate::service::audit_stream::StreamPage;
use crate::service::spelled::{ActionFilter, AuditCursor, FilterSpecifier, Matches, Spelled};

pub struct AuditApi;

/// The whole log as JSON Lines.
#[derive(ApiResponse)]
enum ExportResponse {
    /// One entry per line, oldest first.
    #[oai(status = 200, content_type = "application/x-ndjson")]
    Ok(PlainText<String>),
}

#[OpenApi(prefix_path = "/api/v2/auditlog", tag = "Tag::AuditLog")]
impl AuditApi {
    /// List audit entries, newest first
    ///
    /// Filters combine with AND. `spec` is a resource specifier with globs
    /// (`proj/default:env/production:flag/*`), matched against each entry's accesses; `actor`
    /// is a member id or email, a token id or a connection id; `action` is an action name
    /// (`updateOn`, or a prefix such as `update*`); `after`/`before` are epoch milliseconds;
    /// `q` searches name, description and comment. Pass `next` back as `cursor` for the next page.
    ///
    /// **Permission:** `viewAuditLog` on `acct`.
    #[oai(path = "/", method = "get", operation_id = "listAuditLog")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        spec: Query<Option<Spelled<FilterSpecifier>>>,
        actor: Query<Option<String>>,
        /// An action name or a prefix ending in `*`; no whitespace, `%` or `_`.
        #[oai(validator(custom = "Matches::new()"))]
        action: Query<Option<Spelled<ActionFilter>>>,
        after: Query<Option<i64>>,
        before: Query<Option<i64>>,
        q: Query<Option<String>>,
        /// Page size, 1 to 1000 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "1000")))]
        limit: Query<Option<u64>>,
        /// The `next` of the previous page.
        #[oai(validator(custom = "Matches::new()"))]
        cursor: Query<Option<Spelled<AuditCursor>>>,
    ) -> ApiResult<Json<Page<AuditEntryRep>>> {
        let ctx = context(&service, &auth, req).await?;
        let query = AuditQuery {
            spec: spec.0.map(String::from),
            actor: actor.0,
            action: action.0.map(String::from),
            after: after.0,
            before: before.0,
            q: q.0,
            limit: limit.0,
            cursor: cursor.0.map(String::from),
        };
        let page = service.list_audit(&ctx, query).await?;
        Ok(Json(Page {
            items: page.items,
            total_count: page.total_count,
            next: page.next,
        }))
    }

    /// Export the whole audit log as JSON Lines
    ///
    /// The export is itself audited (`exportAuditLog`), and that entry is the last line.
    ///
    /// **Permission:** `viewAuditLog` on `acct`.
    #[oai(path = "/export", method = "get", operation_id = "exportAuditLog")]
    async fn export(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
    ) -> ApiResult<ExportResponse> {
        let ctx = context(&service, &auth, req).await?;
        Ok(ExportResponse::Ok(PlainText(
            service.export_audit(&ctx).await?,
        )))
    }

    /// Recompute the hash chain
    ///
    /// `valid` is false when any entry was changed, removed or reordered; `firstBrokenId` names
    /// the first entry whose link does not hold.
    ///
    /// **Permission:** `viewAuditLog` on `acct`.
    #[oai(path = "/verify", method = "get", operation_id = "verifyAuditLog")]
    async fn verify(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
    ) -> ApiResult<Json<VerifyReport>> {
        let ctx = context(&service, &auth, req).await?;
        crate::service::authz::authorize(
            &ctx.principal,
            "viewAuditLog",
            &crate::domain::policy::Resource::acct(),
        )?;
        Ok(Json(service.verify_audit().await?))
    }

    /// A signed checkpoint of the chain head
    ///
    /// Ed25519 over `gatehouse-audit-checkpoint-v1\n` || seq (8 bytes, big-endian) || hash.
    /// Keep checkpoints outside the database: a later chain that does not contain a
    /// checkpoint's (seq, hash) was rewritten.
    ///
    /// **Permission:** `viewAuditLog` on `acct`.
    #[oai(
        path = "/checkpoint",
        method = "get",
        operation_id = "getAuditCheckpoint"
    )]
    async fn checkpoint(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
    ) -> ApiResult<Json<CheckpointRep>> {
        let ctx = context(&service, &auth, req).await?;
        Ok(Json(service.audit_checkpoint(&ctx).await?))
    }

    /// Read the log as a stream, oldest first
    ///
    /// Entries after `afterSeq` in chain order, each as `GET /api/v2/auditlog/{id}` renders it
    /// (with `seq`, `prevHash`, `hash` and `event`). When there is nothing after `afterSeq`,
    /// waits up to `wait` seconds (at most 30) for the next commit before answering with no
    /// items. Pass `lastSeq` back as `afterSeq`. Reading the stream is not itself audited.
    ///
    /// **Permission:** `viewAuditLog` on `acct`.
    #[oai(path = "/stream", method = "get", operation_id = "streamAuditLog")]
    async fn stream(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        /// Only entries with a greater seq (default 0: from the start).
        #[oai(name = "afterSeq", validator(minimum(value = "0")))]
        after_seq: Query<Option<i64>>,
        /// Entries at most, 1 to 1000 (default 100).
        #[oai(validator(minimum(value = "1"), maximum(value = "1000")))]
        limit: Query<Option<u64>>,
        /// Seconds to wait for a new entry when there is none, 0 to 30 (default 0).
        #[oai(validator(minimum(value = "0"), maximum(value = "30")))]
        wait: Query<Option<u64>>,
    ) -> ApiResult<Json<StreamPage>> {
        let ctx = context(&service, &auth, req).await?;
        let page = service
            .audit_stream(
                &ctx,
                after_seq.0.unwrap_or(0),
                limit.0.unwrap_or(100),
                std::time::Duration::from_secs(wait.0.unwrap_or(0)),
            )
            .await?;
        Ok(Json(page))
    }

    /// Get one audit entry with its before/after versions
    ///
    /// **Permission:** `viewAuditLog` on `acct`.
    #[oai(path = "/:id", method = "get", operation_id = "getAuditEntry")]
    async fn get(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        id: Path<String>,
    ) -> ApiResult<Json<AuditEntryRep>> {
        let ctx = context(&service, &auth, req).await?;
        Ok(Json(service.get_audit_entry(&ctx, &id).await?))
    }
}
