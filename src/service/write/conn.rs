//! The connection a write transaction's statements go through.
//!
//! On PostgreSQL it is the transaction itself. On SQLite it is the gate's batch transaction,
//! and the writer's savepoint rides along with its first statement: `SAVEPOINT` as a
//! statement of its own would be one more round trip to the connection's thread.

use std::sync::atomic::{AtomicBool, Ordering};

use sea_orm::prelude::async_trait::async_trait;
use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseTransaction, DbErr, ExecResult, QueryResult,
    Statement,
};
use tokio::sync::OwnedMutexGuard;

use super::gate::{Batch, GateState};

/// A write transaction's connection: `WriteTx::db()`.
pub struct WriteConn {
    backend: DatabaseBackend,
    kind: Kind,
}

enum Kind {
    /// `None` once committed.
    Own(Option<DatabaseTransaction>),
    Batched {
        /// Held until the writer commits or gives up; `None` after.
        state: Option<OwnedMutexGuard<GateState>>,
        savepoint: String,
        /// True until the savepoint was sent ahead of a statement.
        savepoint_unsent: AtomicBool,
    },
}

impl WriteConn {
    pub(super) fn own(txn: DatabaseTransaction) -> Self {
        WriteConn {
            backend: txn.get_database_backend(),
            kind: Kind::Own(Some(txn)),
        }
    }

    pub(super) fn batched(state: OwnedMutexGuard<GateState>, savepoint: String) -> Self {
        WriteConn {
            backend: DatabaseBackend::Sqlite,
            kind: Kind::Batched {
                state: Some(state),
                savepoint,
                savepoint_unsent: AtomicBool::new(true),
            },
        }
    }

    fn txn(&self) -> Result<&DatabaseTransaction, DbErr> {
        match &self.kind {
            Kind::Own(txn) => txn
                .as_ref()
                .ok_or_else(|| DbErr::Custom("the write transaction is closed".into())),
            Kind::Batched { state, .. } => state
                .as_ref()
                .and_then(|s| s.batch.as_ref())
                .map(|b| &b.txn)
                .ok_or_else(|| DbErr::Custom("the write batch is closed".into())),
        }
    }

    /// The batch this writer runs in (SQLite).
    pub(super) fn batch_mut(&mut self) -> Option<&mut Batch> {
        match &mut self.kind {
            Kind::Own(_) => None,
            Kind::Batched { state, .. } => state.as_mut().and_then(|s| s.batch.as_mut()),
        }
    }

    /// Gives up the gate: the writer is done with the batch.
    pub(super) fn take_state(&mut self) -> Option<OwnedMutexGuard<GateState>> {
        match &mut self.kind {
            Kind::Own(_) => None,
            Kind::Batched { state, .. } => state.take(),
        }
    }

    /// The own transaction (PostgreSQL), to commit.
    pub(super) fn take_own(&mut self) -> Option<DatabaseTransaction> {
        match &mut self.kind {
            Kind::Own(txn) => txn.take(),
            Kind::Batched { .. } => None,
        }
    }

    /// The writer's savepoint, if it may exist: it was sent ahead of a statement.
    pub(super) fn sent_savepoint(&self) -> Option<&str> {
        match &self.kind {
            Kind::Batched {
                savepoint,
                savepoint_unsent,
                ..
            } if !savepoint_unsent.load(Ordering::SeqCst) => Some(savepoint),
            _ => None,
        }
    }

    fn with_savepoint(&self, sql: String) -> String {
        match &self.kind {
            Kind::Batched {
                savepoint,
                savepoint_unsent,
                ..
            } if savepoint_unsent.swap(false, Ordering::SeqCst) => {
                format!("SAVEPOINT {savepoint};\n{sql}")
            }
            _ => sql,
        }
    }

    fn prepare(&self, mut stmt: Statement) -> Statement {
        stmt.sql = self.with_savepoint(stmt.sql);
        stmt
    }
}

#[async_trait]
impl ConnectionTrait for WriteConn {
    fn get_database_backend(&self) -> DatabaseBackend {
        self.backend
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        let txn = self.txn()?;
        txn.execute_raw(self.prepare(stmt)).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        let txn = self.txn()?;
        txn.execute_unprepared(&self.with_savepoint(sql.to_owned()))
            .await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        let txn = self.txn()?;
        txn.query_one_raw(self.prepare(stmt)).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        let txn = self.txn()?;
        txn.query_all_raw(self.prepare(stmt)).await
    }
}
