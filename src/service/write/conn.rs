//! The connection a write transaction's statements go through: the gate's batch transaction,
//! opened with the writer's savepoint before its first statement.
//!
//! The first writer of a batch has no savepoint: if it gives up, the whole batch is rolled
//! back, and nobody else is in it yet. That spares SQLite copying every page the writer
//! touches into the savepoint's journal, and PostgreSQL a round trip.
//!
//! On SQLite the savepoint rides along with that statement (one multi-statement call):
//! `SAVEPOINT` as a statement of its own would be one more round trip to the connection's
//! thread. PostgreSQL takes no parameters in a multi-statement call, so there it goes first,
//! on its own.
//!
//! The savepoint of the writer before, which committed its part of the batch, is released
//! in the same breath: savepoints left open nest, and SQLite's work to journal a changed page
//! grows with the nesting (it marks the page in every open savepoint).

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
    /// Held until the writer commits or gives up; `None` after.
    state: Option<OwnedMutexGuard<GateState>>,
    /// `None` for the first writer of a batch.
    savepoint: Option<String>,
    /// The savepoint of the writer before, to release first.
    release: Option<String>,
    /// True until the savepoint was sent (false when there is none).
    savepoint_unsent: AtomicBool,
}

impl WriteConn {
    pub(super) fn new(
        backend: DatabaseBackend,
        state: OwnedMutexGuard<GateState>,
        savepoint: Option<String>,
        release: Option<String>,
    ) -> Self {
        WriteConn {
            backend,
            state: Some(state),
            savepoint_unsent: AtomicBool::new(savepoint.is_some()),
            savepoint,
            release,
        }
    }

    fn txn(&self) -> Result<&DatabaseTransaction, DbErr> {
        self.state
            .as_ref()
            .and_then(|s| s.batch.as_ref())
            .map(|b| &b.txn)
            .ok_or_else(|| DbErr::Custom("the write batch is closed".into()))
    }

    /// The batch this writer runs in.
    pub(super) fn batch_mut(&mut self) -> Option<&mut Batch> {
        self.state.as_mut().and_then(|s| s.batch.as_mut())
    }

    /// Gives up the gate: the writer is done with the batch.
    pub(super) fn take_state(&mut self) -> Option<OwnedMutexGuard<GateState>> {
        self.state.take()
    }

    /// The writer's savepoint, if it may exist: it was sent.
    pub(super) fn sent_savepoint(&self) -> Option<&str> {
        self.savepoint
            .as_deref()
            .filter(|_| !self.savepoint_unsent.load(Ordering::SeqCst))
    }

    /// The savepoint this writer was to release first, while that is not sent yet.
    pub(super) fn unsent_release(&self) -> Option<String> {
        self.savepoint_unsent
            .load(Ordering::SeqCst)
            .then(|| self.release.clone())
            .flatten()
    }

    /// The transaction, with the savepoint opened first on PostgreSQL; on SQLite `sql` gets
    /// it as a prefix.
    async fn begin(&self, sql: &mut String) -> Result<&DatabaseTransaction, DbErr> {
        let txn = self.txn()?;
        if self.savepoint_unsent.swap(false, Ordering::SeqCst)
            && let Some(name) = &self.savepoint
        {
            let savepoint = match &self.release {
                Some(before) => format!("RELEASE SAVEPOINT {before};\nSAVEPOINT {name}"),
                None => format!("SAVEPOINT {name}"),
            };
            if self.backend == DatabaseBackend::Sqlite {
                *sql = format!("{savepoint};\n{sql}");
            } else {
                txn.execute_unprepared(&savepoint).await?;
            }
        }
        Ok(txn)
    }
}

#[async_trait]
impl ConnectionTrait for WriteConn {
    fn get_database_backend(&self) -> DatabaseBackend {
        self.backend
    }

    async fn execute_raw(&self, mut stmt: Statement) -> Result<ExecResult, DbErr> {
        let txn = self.begin(&mut stmt.sql).await?;
        txn.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        let mut sql = sql.to_owned();
        let txn = self.begin(&mut sql).await?;
        txn.execute_unprepared(&sql).await
    }

    async fn query_one_raw(&self, mut stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        let txn = self.begin(&mut stmt.sql).await?;
        txn.query_one_raw(stmt).await
    }

    async fn query_all_raw(&self, mut stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        let txn = self.begin(&mut stmt.sql).await?;
        txn.query_all_raw(stmt).await
    }
}
