//! The one write path: a transaction that carries the principal and appends the audit entries
//! of its changes to the hash chain before it commits. No write without its entry.

use sea_orm::sea_query::Query;
use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseTransaction, EntityTrait, QuerySelect,
    SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};
use serde_json::Value;
use tokio::sync::OwnedMutexGuard;

use super::{Ctx, Service};
use crate::domain::audit::{self, Access, AuditEntry, ChainHead, Parent, Target};
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

/// The chain head the next append links to, as the write gate remembers it between
/// transactions. `None` until the first write, and after a commit whose outcome is unknown.
pub(crate) type KnownHead = Option<ChainHead>;

/// The message of the database trigger that refuses an entry not continuing the head
/// (migration `m20261203_000007_audit_head_trigger`).
const HEAD_MOVED: &str = "audit chain head moved";

/// Rows per multi-row audit INSERT: far below SQLite's and PostgreSQL's bind-parameter limits.
const INSERT_CHUNK: usize = 500;

/// An open write transaction. Dropping it without `commit` rolls everything back.
///
/// Audit entries are chained in memory as the command records them and written at the next
/// flush (`write_audited` or `commit`): one multi-row INSERT whose trigger checks every link
/// against the stored head and moves it, instead of a read and an update per entry.
pub struct WriteTx<'a> {
    txn: DatabaseTransaction,
    gate: Option<OwnedMutexGuard<KnownHead>>,
    service: &'a Service,
    ctx: &'a Ctx,
    /// The head after the entries already in the database (at first, the head this
    /// transaction started from, as the gate or the row lock reported it).
    tip: ChainHead,
    entries: Vec<AuditEntry>,
    /// How many of `entries` are in the database already.
    flushed: usize,
}

impl Service {
    /// Opens the one kind of transaction a change may use.
    ///
    /// Write transactions run one at a time, on every backend and across processes: SQLite's
    /// IMMEDIATE mode takes the database write lock up front, and on PostgreSQL the first
    /// statement locks the audit chain head row, which every change must append to anyway.
    /// Taking it first rather than at the append makes each command's read-check-write
    /// serializable, so two concurrent changes to one flag, member or team can never lose an
    /// update, without every command carrying its own row locks.
    pub async fn begin_write<'a>(&'a self, ctx: &'a Ctx) -> Result<WriteTx<'a>> {
        let gate = match self.write_gate() {
            Some(gate) => Some(gate.clone().lock_owned().await),
            None => None,
        };
        let options = TransactionOptions {
            // IMMEDIATE takes SQLite's write lock up front, so a read-then-write never fails
            // with a stale snapshot (another process may share the file).
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        };
        let txn = self.db().begin_with_options(options).await?;
        // SQLite: the head this process wrote last; if another process appended since, the
        // trigger refuses the first flush and it retries with the stored head.
        let tip = match gate.as_deref().copied().flatten() {
            Some(known) => known,
            None => {
                let lock = txn.get_database_backend() == DatabaseBackend::Postgres;
                stored_head(&txn, lock).await?
            }
        };
        Ok(WriteTx {
            txn,
            gate,
            service: self,
            ctx,
            tip,
            entries: Vec::new(),
            flushed: 0,
        })
    }
}

impl<'a> WriteTx<'a> {
    /// The transaction to run reads and writes on.
    pub fn db(&self) -> &DatabaseTransaction {
        &self.txn
    }

    pub fn ctx(&self) -> &Ctx {
        self.ctx
    }

    pub fn now_ms(&self) -> i64 {
        self.service.now_ms()
    }

    /// Records one audit entry of this transaction's change, linked after the previous one.
    /// It reaches the database at the next flush, in this transaction.
    pub fn audit(&mut self, draft: AuditDraft) -> Result<()> {
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
            actor: self.ctx.principal.actor(),
            target: draft.target,
            parent: draft.parent,
            environment: draft.environment,
            previous_version: draft.previous_version,
            current_version: draft.current_version,
            delta: draft.delta,
            comment: draft.comment,
            approval_request_id: draft.approval_request_id,
            request_id: self.ctx.request_id.clone(),
            source_ip: self.ctx.source_ip.clone(),
        };
        self.entries.push(entry);
        Ok(())
    }

    /// Runs a command's final writes and records their audit entry in one round trip to the
    /// database (on SQLite one multi-statement call; PostgreSQL runs them in turn). For the
    /// hottest commands: each statement to SQLite is a hop to its connection thread.
    pub async fn write_audited(&mut self, writes: Vec<Statement>, draft: AuditDraft) -> Result<()> {
        self.audit(draft)?;
        self.flush(writes).await
    }

    /// Commits the change and its audit entries together. A transaction that changed
    /// something must have audited it; committing one without entries is a bug we refuse.
    pub async fn commit(mut self) -> Result<Vec<AuditEntry>> {
        if self.entries.is_empty() {
            return Err(Error::internal(
                "a write transaction tried to commit without an audit entry",
            ));
        }
        self.flush(Vec::new()).await?;
        let head = self.tip;
        // Until the commit is known to have happened the remembered head is unknown.
        if let Some(gate) = self.gate.as_deref_mut() {
            *gate = None;
        }
        let WriteTx {
            txn,
            mut gate,
            service,
            entries,
            ..
        } = self;
        txn.commit().await?;
        if let Some(gate) = gate.as_deref_mut() {
            *gate = Some(head);
        }
        service
            .metrics()
            .audit_entries_written(entries.len() as u64);
        Ok(entries)
    }

    /// Which SQL dialect this transaction speaks.
    pub fn backend(&self) -> DatabaseBackend {
        self.txn.get_database_backend()
    }

    /// Executes `writes`, then inserts the entries recorded since the last flush.
    async fn flush(&mut self, writes: Vec<Statement>) -> Result<()> {
        let (inserts, tip) = self.pending_inserts()?;
        if self.backend() == DatabaseBackend::Sqlite {
            let mut all = writes;
            all.extend(inserts);
            let Some(batch) = join_statements(all) else {
                return Ok(());
            };
            match self.txn.execute_raw(batch).await {
                Ok(_) => self.tip = tip,
                Err(e) if self.flushed == 0 && e.to_string().contains(HEAD_MOVED) => {
                    // Another process appended since this one last did: the statements
                    // before the INSERT ran; link the entries to the stored head and retry it.
                    self.tip = stored_head(&self.txn, false).await?;
                    self.service.metrics().audit_head_refreshed();
                    for (i, entry) in self.entries.iter_mut().enumerate() {
                        entry.seq = self.tip.seq + 1 + i as i64;
                    }
                    let (inserts, tip) = self.pending_inserts()?;
                    for insert in inserts {
                        self.txn.execute_raw(insert).await?;
                    }
                    self.tip = tip;
                }
                Err(e) => return Err(e.into()),
            }
        } else {
            // The head row is locked since `begin_write`: the tip is current.
            for statement in writes.into_iter().chain(inserts) {
                self.txn.execute_raw(statement).await?;
            }
            self.tip = tip;
        }
        self.flushed = self.entries.len();
        Ok(())
    }

    /// The INSERT statements of the entries not yet in the database, linked after the tip,
    /// and the head they lead to.
    fn pending_inserts(&self) -> Result<(Vec<Statement>, ChainHead)> {
        let mut tip = self.tip;
        let mut rows = Vec::new();
        for entry in self.entries.iter().skip(self.flushed) {
            let body = audit::canonical_bytes(entry);
            let hash = audit::link(&tip.hash, &body);
            rows.push(entry_row(entry, body, &tip.hash, &hash)?);
            tip = ChainHead {
                seq: entry.seq,
                hash,
            };
        }
        let backend = self.backend();
        let mut statements = Vec::new();
        for chunk in rows.chunks(INSERT_CHUNK) {
            let mut insert = Query::insert();
            insert.into_table(entity::audit_entry::Entity).columns([
                entity::audit_entry::Column::Seq,
                entity::audit_entry::Column::Id,
                entity::audit_entry::Column::Date,
                entity::audit_entry::Column::Kind,
                entity::audit_entry::Column::ActorKind,
                entity::audit_entry::Column::ActorId,
                entity::audit_entry::Column::Actions,
                entity::audit_entry::Column::Resources,
                entity::audit_entry::Column::SearchText,
                entity::audit_entry::Column::Body,
                entity::audit_entry::Column::PrevHash,
                entity::audit_entry::Column::Hash,
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
}

/// The stored chain head; on PostgreSQL optionally locked for the rest of the transaction.
async fn stored_head(txn: &DatabaseTransaction, lock: bool) -> Result<ChainHead> {
    let mut query = entity::audit_head::Entity::find_by_id(1);
    if lock {
        query = query.lock_exclusive();
    }
    let head = query
        .one(txn)
        .await?
        .ok_or_else(|| Error::internal("audit head row is missing"))?;
    Ok(ChainHead {
        seq: head.seq,
        hash: decode_hash(&head.hash)?,
    })
}

/// The stored row of an entry: its canonical body, its links and the columns filters use.
fn entry_row(
    entry: &AuditEntry,
    body: Vec<u8>,
    prev: &[u8; 32],
    hash: &[u8; 32],
) -> Result<entity::audit_entry::Model> {
    let actions: String = entry.accesses.iter().fold(String::from(" "), |mut s, a| {
        s.push_str(&a.action);
        s.push(' ');
        s
    });
    let resources: Vec<&str> = entry.accesses.iter().map(|a| a.resource.as_str()).collect();
    let search_text = format!(
        "{}\n{}\n{}",
        entry.name,
        entry.description,
        entry.comment.as_deref().unwrap_or("")
    )
    .to_lowercase();
    Ok(entity::audit_entry::Model {
        seq: entry.seq,
        id: entry.id.clone(),
        date: entry.date,
        kind: entry.kind.clone(),
        actor_kind: entry.actor.kind_str().to_owned(),
        actor_id: actor_filter_id(&entry.actor),
        actions,
        resources: resources.join("\n"),
        search_text,
        body: String::from_utf8(body).map_err(Error::internal)?,
        prev_hash: hex::encode(prev),
        hash: hex::encode(hash),
    })
}

/// One SQLite call running several statements in turn: sqlx binds the `?` parameters of a
/// multi-statement string in order across its statements.
fn join_statements(statements: Vec<Statement>) -> Option<Statement> {
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

/// Decodes a stored 64-hex-digit hash.
pub(crate) fn decode_hash(hex_str: &str) -> Result<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_str, &mut out)
        .map_err(|e| Error::internal(format!("bad stored hash: {e}")))?;
    Ok(out)
}

/// The id the audit log's `actor` filter finds an entry by: the member behind a personal
/// token (people are searched for, not their tokens), else the actor's own id.
fn actor_filter_id(actor: &audit::Actor) -> Option<String> {
    match actor {
        audit::Actor::Token {
            owner_id: Some(owner),
            ..
        } => Some(owner.clone()),
        other => other.id().map(str::to_owned),
    }
}
