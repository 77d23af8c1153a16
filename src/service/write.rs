//! The one write path: a transaction that carries the principal and appends the audit entries
//! of its changes to the hash chain before it commits. No write without its entry.

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ConnectionTrait, DatabaseBackend, DatabaseTransaction,
    EntityTrait, QuerySelect, SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use serde_json::Value;
use tokio::sync::OwnedMutexGuard;

use super::{Ctx, Service};
use crate::domain::audit::{self, Access, AuditEntry, Parent, Target};
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

/// An open write transaction. Dropping it without `commit` rolls everything back.
pub struct WriteTx<'a> {
    txn: DatabaseTransaction,
    _gate: Option<OwnedMutexGuard<()>>,
    service: &'a Service,
    ctx: &'a Ctx,
    entries: Vec<AuditEntry>,
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
        if txn.get_database_backend() == DatabaseBackend::Postgres {
            entity::audit_head::Entity::find_by_id(1)
                .lock_exclusive()
                .one(&txn)
                .await?
                .ok_or_else(|| Error::internal("audit head row is missing"))?;
        }
        Ok(WriteTx {
            txn,
            _gate: gate,
            service: self,
            ctx,
            entries: Vec::new(),
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

    /// Appends one entry to the chain inside this transaction. The head row is locked (since
    /// `begin_write` on PostgreSQL; the write lock on SQLite), so concurrent writers, even in
    /// other processes, link one after another and the chain never forks.
    pub async fn audit(&mut self, draft: AuditDraft) -> Result<AuditEntry> {
        let head = entity::audit_head::Entity::find_by_id(1)
            .lock_exclusive()
            .one(&self.txn)
            .await?
            .ok_or_else(|| Error::internal("audit head row is missing"))?;
        let prev_hash = decode_hash(&head.hash)?;
        let seq = head.seq + 1;
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
        let body = audit::canonical_bytes(&entry);
        let hash = audit::link(&prev_hash, &body);
        let hash_hex = hex::encode(hash);
        let body = String::from_utf8(body).map_err(Error::internal)?;
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
        entity::audit_entry::ActiveModel {
            seq: Set(seq),
            id: Set(entry.id.clone()),
            date: Set(entry.date),
            kind: Set(entry.kind.clone()),
            actor_kind: Set(entry.actor.kind_str().to_owned()),
            actor_id: Set(actor_filter_id(&entry.actor)),
            actions: Set(actions),
            resources: Set(resources.join("\n")),
            search_text: Set(search_text),
            body: Set(body),
            prev_hash: Set(head.hash.clone()),
            hash: Set(hash_hex.clone()),
        }
        .insert(&self.txn)
        .await?;
        entity::audit_head::ActiveModel {
            id: Set(1),
            seq: Set(seq),
            hash: Set(hash_hex),
        }
        .update(&self.txn)
        .await?;
        self.entries.push(entry.clone());
        Ok(entry)
    }

    /// Commits the change and its audit entries together. A transaction that changed
    /// something must have audited it; committing one without entries is a bug we refuse.
    pub async fn commit(self) -> Result<Vec<AuditEntry>> {
        if self.entries.is_empty() {
            return Err(Error::internal(
                "a write transaction tried to commit without an audit entry",
            ));
        }
        self.txn.commit().await?;
        self.service
            .metrics()
            .audit_entries_written(self.entries.len() as u64);
        Ok(self.entries)
    }

    /// Which SQL dialect this transaction speaks.
    pub fn backend(&self) -> DatabaseBackend {
        self.txn.get_database_backend()
    }
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
