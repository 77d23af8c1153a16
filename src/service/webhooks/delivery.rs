//! Delivering webhooks: a supervisor starts one task per webhook that has entries to deliver
//! and whose lease it can take; the task posts batches in seq order and moves the cursor only
//! after a 2xx, retrying with backoff forever otherwise.
//!
//! The workers read the log and write only housekeeping (the lease, the cursor, the retry
//! state and the delivery records): never through the write gate, so a slow, hanging or
//! failing receiver costs the writers nothing but the reads.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sea_orm::sea_query::{Expr, Query};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryTrait, Statement};
use serde_json::json;

use super::KEPT_DELIVERIES;
use crate::domain::audit::AuditEntry;
use crate::domain::webhook::{
    MAX_BATCH, SIGNATURE_HEADER, WebhookFilter, backoff, check_url, checkpoint_due, signature,
    usable_addresses,
};
use crate::error::{Error, Result};
use crate::service::Service;
use crate::service::audit::{AuditEntryRep, rep_from_row};
use crate::service::util::new_id;
use crate::service::write::Chore;
use crate::service::write::decode_hash;

/// How long a replica holds a webhook without renewing its lease: longer than one attempt
/// (it is renewed before each), short enough that a replica that died (kill -9) hands its
/// webhooks over soon.
const LEASE: Duration = Duration::from_secs(20);
/// A receiver gets this long per attempt, body included.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// How much of a receiver's answer is read (then dropped): enough to finish the exchange,
/// never stored.
const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// How often the supervisor looks for work when no local commit woke it (other replicas'
/// commits, backoffs that ended, leases that expired).
const SUPERVISOR_TICK: Duration = Duration::from_secs(1);
/// The supervisor looks at most this often, however fast changes commit: each look is a read.
const SUPERVISOR_GAP: Duration = Duration::from_millis(50);
/// After a batch that was not full, a worker waits this long for more entries, so that under
/// a steady stream of changes it sends fewer, larger deliveries (and writes less state).
const GATHER: Duration = Duration::from_millis(25);
/// The record of attempts is trimmed to the kept number every this many attempts.
const PRUNE_EVERY: u64 = 10;

/// This process's delivery state.
pub struct Outbox {
    /// Who holds a lease: unique per process.
    holder: String,
    started: AtomicBool,
    client: reqwest::Client,
    /// The last checkpoint sent per webhook (seq, ms), kept across its tasks; after a restart
    /// the first delivery carries one.
    checkpoints: std::sync::Mutex<HashMap<String, (i64, i64)>>,
}

/// Resolves host names for outbound requests (webhook receivers, IdP metadata), leaving out
/// link-local addresses unless allowed ([`usable_addresses`]).
pub(crate) struct GuardedResolver {
    pub(crate) allow_link_local: Arc<AtomicBool>,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow = self.allow_link_local.load(Ordering::Relaxed);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found = usable_addresses(tokio::net::lookup_host((host.as_str(), 0)).await?, allow);
            if found.is_empty() {
                return Err(format!("{host}: no address that is not link-local").into());
            }
            Ok(Box::new(found.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

impl Outbox {
    /// The outbox of a process; `allow_link_local` is the deployment's setting.
    pub fn new(allow_link_local: Arc<AtomicBool>) -> Self {
        let client = reqwest::Client::builder()
            .timeout(ATTEMPT_TIMEOUT)
            // A redirect could lead to an address the URL rules refuse.
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(GuardedResolver { allow_link_local }))
            .build()
            .unwrap_or_default();
        Outbox {
            holder: uuid::Uuid::new_v4().to_string(),
            started: AtomicBool::new(false),
            client,
            checkpoints: std::sync::Mutex::new(HashMap::new()),
        }
    }
}

/// How one attempt went.
struct Attempt {
    status: Option<u16>,
    error: Option<String>,
    latency: Duration,
}

impl Attempt {
    fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// Whether a webhook is ready for a delivery now, or what its task does instead.
enum Ready {
    Deliver(Box<entity::webhook::Model>),
    Then(Next),
}

/// What a webhook task does next.
enum Next {
    Continue,
    /// Continue after [`GATHER`]: the last batch was not full.
    Gather,
    Stop,
}

/// What a webhook task remembers between its steps.
#[derive(Default)]
struct TaskState {
    /// The last checkpoint sent (seq, ms).
    last_checkpoint: Option<(i64, i64)>,
    /// When this task last took or renewed the lease.
    renewed: Option<Instant>,
    attempts: u64,
}

impl Service {
    /// Starts delivering webhooks from this process (once; `serve` and tests call it).
    pub fn start_webhook_delivery(&self) {
        if self.outbox().started.swap(true, Ordering::SeqCst) {
            return;
        }
        let service = self.clone();
        tokio::spawn(async move { service.supervise_webhooks().await });
    }

    async fn supervise_webhooks(&self) {
        let mut running: HashMap<String, tokio::task::JoinHandle<()>> = HashMap::new();
        let mut committed = self.write_gate().committed();
        loop {
            running.retain(|_, task| !task.is_finished());
            match self.webhooks_with_work().await {
                Ok(ids) => {
                    for id in ids {
                        if running.contains_key(&id) {
                            continue;
                        }
                        let service = self.clone();
                        let task_id = id.clone();
                        running.insert(
                            id,
                            tokio::spawn(async move { service.deliver_webhook(&task_id).await }),
                        );
                    }
                }
                Err(error) => tracing::warn!(%error, "looking for webhook work failed"),
            }
            match tokio::time::timeout(SUPERVISOR_TICK, committed.changed()).await {
                Ok(Ok(())) => tokio::time::sleep(SUPERVISOR_GAP).await,
                Ok(Err(_)) => tokio::time::sleep(SUPERVISOR_TICK).await,
                Err(_) => {}
            }
        }
    }

    /// Webhooks that are on, not in backoff, not leased by another replica, and either
    /// behind the head or owed a checkpoint of what they already got.
    async fn webhooks_with_work(&self) -> Result<Vec<String>> {
        let head = self.head_seq().await?;
        let now = self.now_ms();
        let rows = entity::webhook::Entity::find()
            .filter(entity::webhook::Column::On.eq(true))
            .filter(entity::webhook::Column::NextAttemptAt.lte(now))
            .all(self.db())
            .await?;
        Ok(rows
            .into_iter()
            .filter(|w| self.lease_free(w, now))
            .filter(|w| w.cursor_seq < head || self.idle_checkpoint_due(w, now))
            .map(|w| w.id)
            .collect())
    }

    /// A receiver that is caught up still gets a checkpoint of its last entry once the
    /// interval has passed, so its tail does not stay unconfirmed until the next change.
    fn idle_checkpoint_due(&self, w: &entity::webhook::Model, now: i64) -> bool {
        let last = self
            .outbox()
            .checkpoints
            .lock()
            .ok()
            .and_then(|m| m.get(&w.id).copied());
        w.cursor_seq > 0 && checkpoint_due(last, w.cursor_seq, now)
    }

    fn lease_free(&self, w: &entity::webhook::Model, now: i64) -> bool {
        w.lease_holder.is_none()
            || w.lease_holder.as_deref() == Some(self.outbox().holder.as_str())
            || w.lease_expires_at.is_none_or(|t| t < now)
    }

    /// Delivers one webhook while it has entries to deliver and this replica holds its lease.
    async fn deliver_webhook(&self, id: &str) {
        let checkpoints = &self.outbox().checkpoints;
        let mut state = TaskState {
            last_checkpoint: checkpoints.lock().ok().and_then(|m| m.get(id).copied()),
            ..TaskState::default()
        };
        loop {
            match self.delivery_step(id, &mut state).await {
                Ok(Next::Continue) => {}
                Ok(Next::Gather) => tokio::time::sleep(GATHER).await,
                Ok(Next::Stop) => break,
                Err(error) => {
                    tracing::warn!(%error, webhook = id, "webhook delivery step failed");
                    tokio::time::sleep(SUPERVISOR_TICK).await;
                    break;
                }
            }
        }
        if let (Some(last), Ok(mut map)) = (state.last_checkpoint, checkpoints.lock()) {
            map.insert(id.to_owned(), last);
        }
        if let Err(error) = self.release_lease(id).await {
            tracing::debug!(%error, webhook = id, "releasing a webhook lease failed");
        }
    }

    /// One turn: take or renew the lease, wait out a backoff, deliver the next batch.
    async fn delivery_step(&self, id: &str, state: &mut TaskState) -> Result<Next> {
        // The head is read before the webhook, and entries past it are left for the next
        // step: a cursor move commits together with its own entry, so entries read later
        // could otherwise follow a cursor read before the move.
        let head = self.head_seq().await?;
        let w = match self.ready_webhook(id, state).await? {
            Ready::Deliver(w) => *w,
            Ready::Then(next) => return Ok(next),
        };
        let mut rows = self.entries_after(w.cursor_seq, MAX_BATCH).await?;
        rows.retain(|row| row.seq <= head);
        let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
            return self.idle_checkpoint(&w, state).await;
        };
        let range = (first.seq, last.seq);
        let events = self.events_for(&w, &rows).await?;
        if events.is_empty() {
            // Nothing in the range is for this receiver: it was considered, move on.
            self.advance_cursor(&w, range.1).await?;
            return Ok(Next::Continue);
        }
        let now = self.now_ms();
        let checkpoint = checkpoint_due(state.last_checkpoint, range.1, now);
        let signed_head = checkpoint.then_some(last.hash.as_str());
        let body = self.delivery_body(&w, range, &events, signed_head)?;
        let started_at = self.now_ms();
        let attempt = self.attempt(&w, body).await;
        state.attempts += 1;
        let prune = state.attempts % PRUNE_EVERY == 1;
        self.record_delivery(&w, started_at, range, events.len(), &attempt, prune)
            .await?;
        if !attempt.succeeded() {
            self.back_off(&w).await?;
            return Ok(Next::Continue);
        }
        self.advance_cursor(&w, range.1).await?;
        if checkpoint {
            state.last_checkpoint = Some((range.1, now));
        }
        let full = u64::try_from(rows.len()).unwrap_or(u64::MAX) >= MAX_BATCH;
        Ok(if full { Next::Continue } else { Next::Gather })
    }

    /// A caught-up webhook's checkpoint, when one is due: a delivery of no entries whose
    /// range is the cursor's entry, carrying the checkpoint of that entry.
    async fn idle_checkpoint(
        &self,
        w: &entity::webhook::Model,
        state: &mut TaskState,
    ) -> Result<Next> {
        let now = self.now_ms();
        if w.cursor_seq <= 0 || !checkpoint_due(state.last_checkpoint, w.cursor_seq, now) {
            return Ok(Next::Stop);
        }
        let rows = self.entries_after(w.cursor_seq - 1, 1).await?;
        let Some(entry) = rows.first().filter(|e| e.seq == w.cursor_seq) else {
            return Ok(Next::Stop);
        };
        let range = (w.cursor_seq, w.cursor_seq);
        let body = self.delivery_body(w, range, &[], Some(&entry.hash))?;
        let attempt = self.attempt(w, body).await;
        state.attempts += 1;
        self.record_delivery(w, now, range, 0, &attempt, false)
            .await?;
        if attempt.succeeded() {
            self.advance_cursor(w, w.cursor_seq).await?;
            state.last_checkpoint = Some((w.cursor_seq, now));
        } else {
            self.back_off(w).await?;
        }
        Ok(Next::Stop)
    }

    /// The webhook, when this replica holds its lease, it is on and no backoff is pending;
    /// otherwise what the task does next.
    async fn ready_webhook(&self, id: &str, state: &mut TaskState) -> Result<Ready> {
        // Renewed once a third of it has passed: every step starts with two thirds left,
        // more than an attempt takes.
        if state.renewed.is_none_or(|at| at.elapsed() >= LEASE / 3) {
            if !self.take_lease(id).await? {
                return Ok(Ready::Then(Next::Stop));
            }
            state.renewed = Some(Instant::now());
        }
        let Some(w) = entity::webhook::Entity::find_by_id(id.to_owned())
            .one(self.db())
            .await?
        else {
            return Ok(Ready::Then(Next::Stop));
        };
        if !w.on {
            return Ok(Ready::Then(Next::Stop));
        }
        let wait = w.next_attempt_at - self.now_ms();
        if wait > 0 {
            // Sleep in slices shorter than the lease, renewing it in between.
            let nap = Duration::from_millis(u64::try_from(wait).unwrap_or(0)).min(LEASE / 3);
            tokio::time::sleep(nap).await;
            return Ok(Ready::Then(Next::Continue));
        }
        Ok(Ready::Deliver(Box::new(w)))
    }

    /// The entries of a batch that the webhook's filters accept, rendered, with the
    /// recipients of approval events.
    async fn events_for(
        &self,
        w: &entity::webhook::Model,
        rows: &[entity::audit_entry::Model],
    ) -> Result<Vec<AuditEntryRep>> {
        let filter = webhook_filter(w)?;
        let mut events = Vec::new();
        for row in rows {
            let entry: AuditEntry = serde_json::from_str(&row.body)?;
            if filter.accepts(&entry) {
                events.push(rep_from_row(row)?);
            }
        }
        self.add_recipients(&mut events).await?;
        Ok(events)
    }

    /// The body of a delivery: the range it covers, its events, and a checkpoint of the
    /// range's last entry when one is due (`signed_head`: that entry's hash).
    fn delivery_body(
        &self,
        w: &entity::webhook::Model,
        (from_seq, to_seq): (i64, i64),
        events: &[AuditEntryRep],
        signed_head: Option<&str>,
    ) -> Result<Vec<u8>> {
        let mut items = Vec::with_capacity(events.len() + 1);
        for event in events {
            items.push(serde_json::to_value(event).map_err(Error::internal)?);
        }
        if let Some(hash) = signed_head {
            items.push(self.checkpoint_event(to_seq, hash)?);
        }
        serde_json::to_vec(&json!({
            "webhookId": w.id,
            "fromSeq": from_seq,
            "toSeq": to_seq,
            "events": items,
        }))
        .map_err(Error::internal)
    }

    /// One POST to the receiver, its address checked again first: the deployment may have
    /// stopped allowing it since the webhook was saved.
    async fn attempt(&self, w: &entity::webhook::Model, body: Vec<u8>) -> Attempt {
        let allow = self
            .webhook_settings()
            .allow_link_local
            .load(Ordering::Relaxed);
        match check_url(&w.url, allow) {
            Ok(_) => self.post(w, body).await,
            Err(e) => Attempt {
                status: None,
                error: Some(e.to_string()),
                latency: Duration::ZERO,
            },
        }
    }

    /// A checkpoint event: the same Ed25519 signature over `(seq, hash)` as
    /// `GET /api/v2/auditlog/checkpoint`, of the delivery's last entry.
    fn checkpoint_event(&self, seq: i64, hash_hex: &str) -> Result<serde_json::Value> {
        let cp = self.signer().sign(seq, &decode_hash(hash_hex)?);
        Ok(json!({
            "event": "checkpoint",
            "seq": cp.seq,
            "hash": cp.hash,
            "signature": cp.signature,
            "publicKey": cp.public_key,
            "algorithm": "Ed25519",
        }))
    }

    /// Posts one signed batch; the answer's body is read up to a cap and dropped.
    async fn post(&self, w: &entity::webhook::Model, body: Vec<u8>) -> Attempt {
        let started = Instant::now();
        let t = self.now_ms() / 1000;
        let request = self
            .outbox()
            .client
            .post(&w.url)
            .header("Content-Type", "application/json")
            .header(SIGNATURE_HEADER, signature(&w.secret, t, &body))
            .body(body);
        let outcome = async {
            let mut response = request.send().await?;
            let status = response.status().as_u16();
            let mut read = 0usize;
            while read < MAX_ANSWER_BYTES {
                match response.chunk().await? {
                    Some(chunk) => read += chunk.len(),
                    None => break,
                }
            }
            Ok::<u16, reqwest::Error>(status)
        }
        .await;
        let latency = started.elapsed();
        match outcome {
            Ok(status) => Attempt {
                status: Some(status),
                error: None,
                latency,
            },
            Err(e) => Attempt {
                status: None,
                error: Some(describe_failure(e)),
                latency,
            },
        }
    }

    fn statement<Q: QueryTrait>(&self, query: Q) -> Statement {
        query.build(self.db().get_database_backend())
    }

    /// Takes the webhook's lease, or renews it when this replica holds it.
    async fn take_lease(&self, id: &str) -> Result<bool> {
        use entity::webhook::Column as C;
        let now = self.now_ms();
        let until = now + i64::try_from(LEASE.as_millis()).unwrap_or(i64::MAX);
        let holder = self.outbox().holder.clone();
        let update = entity::webhook::Entity::update_many()
            .col_expr(C::LeaseHolder, Expr::value(holder.clone()))
            .col_expr(C::LeaseExpiresAt, Expr::value(until))
            .filter(C::Id.eq(id))
            .filter(
                Condition::any()
                    .add(C::LeaseHolder.is_null())
                    .add(C::LeaseHolder.eq(holder))
                    .add(C::LeaseExpiresAt.lt(now)),
            );
        let taken = self
            .housekeep(Chore::WebhookLease, self.statement(update))
            .await?;
        Ok(taken == 1)
    }

    async fn release_lease(&self, id: &str) -> Result<()> {
        use entity::webhook::Column as C;
        let update = entity::webhook::Entity::update_many()
            .col_expr(C::LeaseHolder, Expr::value(Option::<String>::None))
            .col_expr(C::LeaseExpiresAt, Expr::value(Option::<i64>::None))
            .filter(C::Id.eq(id))
            .filter(C::LeaseHolder.eq(self.outbox().holder.clone()));
        self.housekeep(Chore::WebhookLease, self.statement(update))
            .await?;
        Ok(())
    }

    /// Moves the cursor after a delivered (or wholly filtered) range; only if nobody moved it
    /// meanwhile (an admin's replay or skip wins) and this replica still holds the lease.
    async fn advance_cursor(&self, w: &entity::webhook::Model, to_seq: i64) -> Result<()> {
        use entity::webhook::Column as C;
        let update = entity::webhook::Entity::update_many()
            .col_expr(C::CursorSeq, Expr::value(to_seq))
            .col_expr(C::Failures, Expr::value(0))
            .col_expr(C::NextAttemptAt, Expr::value(0i64))
            .filter(C::Id.eq(w.id.clone()))
            .filter(C::CursorSeq.eq(w.cursor_seq))
            .filter(C::LeaseHolder.eq(self.outbox().holder.clone()));
        self.housekeep(Chore::WebhookCursor, self.statement(update))
            .await?;
        Ok(())
    }

    /// Schedules the next attempt after a failure.
    async fn back_off(&self, w: &entity::webhook::Model) -> Result<()> {
        use entity::webhook::Column as C;
        let failures = w.failures.saturating_add(1);
        let delay = backoff(u32::try_from(failures).unwrap_or(u32::MAX), rand::random());
        let next = self.now_ms() + i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
        let update = entity::webhook::Entity::update_many()
            .col_expr(C::Failures, Expr::value(failures))
            .col_expr(C::NextAttemptAt, Expr::value(next))
            .filter(C::Id.eq(w.id.clone()))
            .filter(C::CursorSeq.eq(w.cursor_seq))
            .filter(C::LeaseHolder.eq(self.outbox().holder.clone()));
        self.housekeep(Chore::WebhookCursor, self.statement(update))
            .await?;
        Ok(())
    }

    /// Records an attempt and forgets all but the last few. The row is written only while
    /// the webhook exists: it may have been deleted while the attempt was in flight, and a
    /// row then would outlive it.
    async fn record_delivery(
        &self,
        w: &entity::webhook::Model,
        at: i64,
        (from_seq, to_seq): (i64, i64),
        event_count: usize,
        attempt: &Attempt,
        prune: bool,
    ) -> Result<()> {
        use entity::webhook_delivery::Column as C;
        let still_there = Query::select()
            .expr(Expr::val(1))
            .from(entity::webhook::Entity)
            .and_where(entity::webhook::Column::Id.eq(w.id.clone()))
            .to_owned();
        let row = Query::select()
            .exprs([
                Expr::val(new_id()),
                Expr::val(w.id.clone()),
                Expr::val(at),
                Expr::val(from_seq),
                Expr::val(to_seq),
                Expr::val(i32::try_from(event_count).unwrap_or(i32::MAX)),
                Expr::val(attempt.status.map(i32::from)),
                Expr::val(attempt.error.clone()),
                Expr::val(i64::try_from(attempt.latency.as_millis()).unwrap_or(i64::MAX)),
            ])
            .and_where(Expr::exists(still_there))
            .to_owned();
        let insert = Query::insert()
            .into_table(entity::webhook_delivery::Entity)
            .columns([
                C::Id,
                C::WebhookId,
                C::At,
                C::FromSeq,
                C::ToSeq,
                C::EventCount,
                C::Status,
                C::Error,
                C::LatencyMs,
            ])
            .select_from(row)
            .map_err(Error::internal)?
            .to_owned();
        let backend = self.db().get_database_backend();
        self.housekeep(Chore::WebhookDelivery, backend.build(&insert))
            .await?;
        if !prune {
            return Ok(());
        }
        let kept = Query::select()
            .column(C::Id)
            .from(entity::webhook_delivery::Entity)
            .and_where(C::WebhookId.eq(w.id.clone()))
            .order_by(C::Id, sea_orm::Order::Desc)
            .limit(KEPT_DELIVERIES)
            .to_owned();
        let prune = entity::webhook_delivery::Entity::delete_many()
            .filter(C::WebhookId.eq(w.id.clone()))
            .filter(C::Id.not_in_subquery(kept));
        self.housekeep(Chore::WebhookDelivery, self.statement(prune))
            .await?;
        Ok(())
    }
}

fn webhook_filter(w: &entity::webhook::Model) -> Result<WebhookFilter> {
    let rep = super::to_rep(w)?;
    WebhookFilter::new(&rep.events, &rep.statements)
        .map_err(|e| Error::internal(format!("stored webhook {}: {e}", w.id)))
}

/// A short reason for a failed attempt (never the receiver's answer).
fn describe_failure(e: reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout".to_owned()
    } else if e.is_connect() {
        "connection failed".to_owned()
    } else if e.is_redirect() {
        "redirect refused".to_owned()
    } else {
        let mut text = e.without_url().to_string();
        text.truncate(200);
        text
    }
}
