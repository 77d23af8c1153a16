//! The one write path: a transaction that carries the principal and appends the audit entries
//! of its changes to the hash chain before it commits. No write without its entry.

mod blind;
mod conn;
mod gate;
mod housekeeping;
mod rows;

// The message of the database trigger that refuses an entry not continuing the head.
use migration::m20261203_000007_audit_head_trigger::HEAD_MOVED;
use sea_orm::{
    ConnectionTrait, DatabaseBackend, SqliteTransactionMode, Statement, TransactionOptions,
    TransactionTrait,
};
use serde_json::Value;
use tokio::sync::oneshot;

pub(crate) use blind::BlindOutcome;
pub use conn::WriteConn;
pub(crate) use gate::BlindChange;
pub(crate) use gate::WriteGate;
pub(crate) use housekeeping::Chore;

use super::{Ctx, Service};
use crate::domain::audit::{Access, AuditEntry, ChainHead, Parent, Target};
use crate::domain::policy::Resource;
use crate::error::{Error, Result};

/// What a command says about its change; the write path adds who, when and the chain links.
#[derive(Debug, Clone, Default)]
pub struct AuditDraft {
    pub kind: String,
    pub name: String,
    pub description: String,
    pub accesses: Vec<(String, String)>,
    pub target: Option<Target>,
    pub parent: Option<Parent>,
    pub environment: Option<String>,
    pub previous_version: Option<Value>,
    pub current_version: Option<Value>,
    pub delta: Option<Value>,
    pub comment: Option<String>,
    /// The approval request the change belongs to (its apply, or its own lifecycle).
    pub approval_request_id: Option<String>,
}

impl AuditDraft {
    /// A draft for one action on one resource; the resource is also the target.
    pub fn new(kind: &str, name: &str, action: &str, resource: &Resource) -> Self {
        let resource = resource.to_string();
        AuditDraft {
            kind: kind.to_owned(),
            name: name.to_owned(),
            accesses: vec![(action.to_owned(), resource.clone())],
            target: Some(Target {
                name: name.to_owned(),
                resources: vec![resource],
            }),
            ..Default::default()
        }
    }
    pub fn describe(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }
    pub fn before(mut self, v: Option<Value>) -> Self {
        self.previous_version = v;
        self
    }
    pub fn after(mut self, v: Option<Value>) -> Self {
        self.current_version = v;
        self
    }
    pub fn delta(mut self, v: Value) -> Self {
        self.delta = Some(v);
        self
    }
    pub fn comment(mut self, c: Option<String>) -> Self {
        self.comment = c.filter(|c| !c.is_empty());
        self
    }
    pub fn environment(mut self, env: Option<String>) -> Self {
        self.environment = env;
        self
    }
    pub fn parent(mut self, name: &str, resource: &Resource) -> Self {
        self.parent = Some(Parent {
            name: name.to_owned(),
            resource: resource.to_string(),
        });
        self
    }
    /// Links the entry to an approval request.
    pub fn approval_request(mut self, id: Option<String>) -> Self {
        self.approval_request_id = id;
        self
    }
    /// Adds another access this change exercised (project-wide actions touch every environment).
    pub fn access(mut self, action: &str, resource: &Resource) -> Self {
        self.accesses
            .push((action.to_owned(), resource.to_string()));
        self
    }
}

/// Whether a flush's statements may run as one statement (PostgreSQL; SQLite always sends
/// them in one call).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Together {
    InTurn,
    OneStatement,
}

/// An open write transaction. Dropping it without `commit` rolls its changes back.
///
/// Audit entries are chained in memory as the command records them and written at the next
/// flush (`write_audited` or `commit`): one multi-row INSERT whose trigger checks every link
/// against the stored head and moves it, instead of a read and an update per entry.
pub struct WriteTx<'a> {
    conn: WriteConn,
    service: &'a Service,
    ctx: &'a Ctx,
    /// The head after the entries already in the database (at first, the head this
    /// transaction started from, as the gate or the row lock reported it).
    tip: ChainHead,
    entries: Vec<AuditEntry>,
    /// How many of `entries` are in the database already.
    flushed: usize,
    /// Set once the change is handed to the commit: nothing to undo on drop.
    committed: bool,
}

impl Service {
    /// Opens the one kind of transaction a change may use.
    ///
    /// Write transactions run one at a time, on every backend and across processes: writers
    /// of this process queue at the gate, whose batch transaction took the database's write
    /// lock as it began (SQLite's IMMEDIATE mode; on PostgreSQL a lock on the audit chain
    /// head row, which every change must append to anyway). Taking it first rather than at
    /// the append makes each command's read-check-write serializable, so two concurrent
    /// changes to one flag, member or team can never lose an update, without every command
    /// carrying its own row locks.
    pub async fn begin_write<'a>(&'a self, ctx: &'a Ctx) -> Result<WriteTx<'a>> {
        let gate = self.write_gate();
        let mut state = tokio::time::timeout(gate.max_wait(), gate.enter(self.metrics()))
            .await
            .map_err(|_| {
                Error::RateLimited(
                    "more changes are queued than can be made in time; retry shortly".into(),
                )
            })?;
        let backend = self.db().get_database_backend();
        if state.batch.is_none() {
            let options = TransactionOptions {
                // IMMEDIATE takes SQLite's write lock up front, so a read-then-write never
                // fails with a stale snapshot (another process may share the file).
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..Default::default()
            };
            let txn = self.db().begin_with_options(options).await?;
            let tip = match (backend, state.head) {
                // Other processes append too: lock the head and start from it.
                (DatabaseBackend::Postgres, _) => rows::stored_head(&txn, true).await?,
                // The head this process committed last; if another process appended since,
                // the trigger refuses the first append and it relinks.
                (_, Some(head)) => head,
                (_, None) => rows::stored_head(&txn, false).await?,
            };
            state.batch = Some(gate::Batch::new(txn, tip));
        }
        let batch = state
            .batch
            .as_mut()
            .ok_or_else(|| Error::internal("the write batch did not open"))?;
        // Alone in the batch, a writer that gives up rolls all of it back: no savepoint.
        let savepoint = (!batch.is_empty()).then(|| batch.next_savepoint());
        let release = batch.pending_release.take();
        let tip = batch.tip;
        Ok(WriteTx {
            conn: WriteConn::new(backend, state, savepoint, release),
            service: self,
            ctx,
            tip,
            entries: Vec::new(),
            flushed: 0,
            committed: false,
        })
    }
}

impl<'a> WriteTx<'a> {
    /// The connection to run the change's reads and writes on.
    pub fn db(&self) -> &WriteConn {
        &self.conn
    }

    pub fn ctx(&self) -> &Ctx {
        self.ctx
    }

    pub fn now_ms(&self) -> i64 {
        self.service.now_ms()
    }

    /// Which SQL dialect this transaction speaks.
    pub fn backend(&self) -> DatabaseBackend {
        self.conn.get_database_backend()
    }

    /// Records one audit entry of this transaction's change, linked after the previous one.
    /// It reaches the database at the next flush, in this transaction.
    pub fn audit(&mut self, draft: AuditDraft) {
        self.audit_as(self.ctx, draft);
    }

    /// Records an audit entry of a change made for `ctx` (a blind change this writer makes
    /// for another request).
    fn audit_as(&mut self, ctx: &Ctx, draft: AuditDraft) {
        let seq = self.entries.last().map_or(self.tip.seq, |e| e.seq) + 1;
        let entry = AuditEntry {
            id: uuid::Uuid::now_v7().to_string(),
            seq,
            date: self.service.now_ms(),
            accesses: draft
                .accesses
                .into_iter()
                .map(|(action, resource)| Access { action, resource })
                .collect(),
            kind: draft.kind,
            name: draft.name,
            description: draft.description,
            actor: ctx.principal.actor(),
            target: draft.target,
            parent: draft.parent,
            environment: draft.environment,
            previous_version: draft.previous_version,
            current_version: draft.current_version,
            delta: draft.delta,
            comment: draft.comment,
            approval_request_id: draft.approval_request_id,
            request_id: ctx.request_id.clone(),
            source_ip: ctx.source_ip.clone(),
        };
        self.entries.push(entry);
    }

    /// Runs a command's final writes and records their audit entry in one round trip to the
    /// database (on SQLite one multi-statement call; PostgreSQL runs them in turn). For the
    /// hottest commands: each statement to SQLite is a hop to its connection thread.
    pub async fn write_audited(&mut self, writes: Vec<Statement>, draft: AuditDraft) -> Result<()> {
        self.audit(draft);
        self.flush(writes, Together::InTurn).await
    }

    /// Like `write_audited`, for writes that touch disjoint rows (no row is written twice,
    /// none is deleted and inserted again): PostgreSQL then runs them and the audit entry as
    /// one statement too, one round trip instead of one per statement.
    pub async fn write_audited_disjoint(
        &mut self,
        writes: Vec<Statement>,
        draft: AuditDraft,
    ) -> Result<()> {
        self.audit(draft);
        self.flush(writes, Together::OneStatement).await
    }

    /// Commits the change and its audit entries together, and returns once they are durable:
    /// once the batch it joined committed. A transaction that changed something
    /// must have audited it; committing one without entries is a bug we refuse.
    pub async fn commit(self) -> Result<Vec<AuditEntry>> {
        let (entries, mut outcomes) = self.hand_in(1).await?;
        let outcome = outcomes
            .pop()
            .ok_or_else(|| Error::internal("the write batch gave no outcome"))?;
        committed(outcome).await.map(|()| entries)
    }

    /// Hands the change in to its batch and leaves the gate: `writers` wait for the batch's
    /// outcome (this change, or the blind changes of several requests written together).
    async fn hand_in(
        mut self,
        writers: usize,
    ) -> Result<(Vec<AuditEntry>, Vec<oneshot::Receiver<gate::Outcome>>)> {
        if self.entries.is_empty() {
            return Err(Error::internal(
                "a write transaction tried to commit without an audit entry",
            ));
        }
        self.flush(Vec::new(), Together::InTurn).await?;
        let entries = std::mem::take(&mut self.entries);
        let gate = self.service.write_gate();
        let savepoint = self.conn.sent_savepoint().map(str::to_owned);
        let mut state = self
            .conn
            .take_state()
            .ok_or_else(|| Error::internal("the write batch is closed"))?;
        let Some(batch) = state.batch.as_mut() else {
            return Err(Error::internal("the write batch is closed"));
        };
        let mut outcomes = vec![batch.finish(self.tip, entries.len() as u64, savepoint)];
        outcomes.extend((1..writers).map(|_| batch.wait_too()));
        self.committed = true;
        gate.leave(state, self.service.metrics());
        Ok((entries, outcomes))
    }

    /// Executes `writes`, then inserts the entries recorded since the last flush.
    async fn flush(&mut self, writes: Vec<Statement>, together: Together) -> Result<()> {
        let backend = self.backend();
        let pending = self.entries.get(self.flushed..).unwrap_or_default();
        let (inserts, tip) = rows::chained_inserts(backend, self.tip, pending)?;
        if backend != DatabaseBackend::Sqlite {
            // The head row is locked since `begin_write`: the tip is current.
            let mut all = writes;
            all.extend(inserts);
            let one = match together {
                Together::OneStatement => rows::as_one_statement(&all),
                Together::InTurn => None,
            };
            match one {
                Some(statement) => {
                    self.conn.execute_raw(statement).await?;
                }
                None => {
                    for statement in all {
                        self.conn.execute_raw(statement).await?;
                    }
                }
            }
        } else {
            let mut all = writes;
            all.extend(inserts);
            let Some(batch) = rows::join_statements(all) else {
                return Ok(());
            };
            match self.conn.execute_raw(batch).await {
                Ok(_) => {}
                Err(e) if e.to_string().contains(HEAD_MOVED) && self.may_relink() => {
                    // Another process appended since this one last committed: the statements
                    // before the INSERT ran; link the entries to the stored head and retry it.
                    return self.relink().await;
                }
                Err(e) => return Err(e.into()),
            }
        }
        self.tip = tip;
        self.flushed = self.entries.len();
        Ok(())
    }

    /// True when this writer's entries are the first of its batch: only then can the head
    /// it started from be stale.
    fn may_relink(&mut self) -> bool {
        self.flushed == 0 && self.conn.batch_mut().is_some_and(|b| !b.head_checked)
    }

    async fn relink(&mut self) -> Result<()> {
        self.tip = rows::stored_head(&self.conn, false).await?;
        self.service.metrics().audit_head_refreshed();
        let first = self.tip.seq + 1;
        for (seq, entry) in (first..).zip(self.entries.iter_mut()) {
            entry.seq = seq;
        }
        let (inserts, tip) = rows::chained_inserts(self.backend(), self.tip, &self.entries)?;
        for insert in inserts {
            self.conn.execute_raw(insert).await?;
        }
        self.tip = tip;
        self.flushed = self.entries.len();
        Ok(())
    }
}

impl Drop for WriteTx<'_> {
    /// A change given up: the batch rolls back to the writer's savepoint (all of it, when
    /// nobody else is in it).
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        let gate = self.service.write_gate();
        let savepoint = self.conn.sent_savepoint().map(str::to_owned);
        let release = self.conn.unsent_release();
        let Some(mut state) = self.conn.take_state() else {
            return;
        };
        if let Some(batch) = state.batch.as_mut() {
            if batch.is_empty() {
                state.batch = None;
            } else if let Some(savepoint) = savepoint {
                batch.undo_to(savepoint);
            } else if release.is_some() {
                // Nothing was sent: the release is still the next writer's to make.
                batch.pending_release = release;
            }
        }
        drop(state);
        gate.abandoned();
    }
}

/// Waits for the commit of the batch a change was handed in to.
async fn committed(outcome: oneshot::Receiver<gate::Outcome>) -> Result<()> {
    match outcome.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(reason)) => Err(Error::internal(format!(
            "the change could not be committed: {reason}"
        ))),
        Err(_) => Err(Error::internal("the write batch ended without an outcome")),
    }
}

/// Decodes a stored 64-hex-digit hash.
pub(crate) fn decode_hash(hex_str: &str) -> Result<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_str, &mut out)
        .map_err(|e| Error::internal(format!("bad stored hash: {e}")))?;
    Ok(out)
}
