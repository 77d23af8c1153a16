//! The write gate, with group commit.
//!
//! Writes run one at a time (SQLite has one writer, and every change appends to the one audit
//! chain), so this process's writers queue here rather than on the database's lock.
//! Consecutive writers share one database transaction (a batch): each runs inside a savepoint
//! of its own, and whoever finishes with nobody queued behind commits the batch for everyone
//! in it. A writer's `commit` returns only once the batch's COMMIT did, so nobody is told a
//! change happened that a later failure could undo; a writer that fails is rolled back to its
//! savepoint and the others' changes stand.
//!
//! Why: BEGIN and COMMIT are the dearest statements of a change (COMMIT writes the WAL, and
//! on PostgreSQL waits for it to reach the disk); under load a batch pays them once for many
//! writers. Other processes' batches wait on the database's lock (SQLite's write lock,
//! PostgreSQL's lock on the audit head row).
//!
//! On SQLite the gate also remembers the audit chain head this process committed last, so a
//! writer need not read it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DatabaseTransaction, Statement};
use tokio::sync::{Mutex, Notify, OwnedMutexGuard, oneshot, watch};

use super::super::metrics::Metrics;
use super::AuditDraft;
use crate::domain::audit::ChainHead;
use crate::service::Ctx;

/// Writers one batch holds at most, so that answers are not held back indefinitely while
/// others keep arriving.
const MAX_BATCH: usize = 32;

/// How long a finished writer waits at most for writers queued behind it (plus the time of
/// the one running then).
const MAX_BATCH_AGE: Duration = Duration::from_millis(50);

/// How long a writer waits for the gate at most unless told otherwise: past it, the change
/// is refused as too busy (429) rather than queued further.
const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(2);

/// What a finished writer learns when its batch ends: committed, or why not.
pub(crate) type Outcome = Result<(), String>;

/// The gate of one process's writers to one database.
pub(crate) struct WriteGate {
    state: Arc<Mutex<GateState>>,
    /// Writers queued for the state; a finishing writer leaves the batch open for them.
    waiting: AtomicUsize,
    /// Wakes the task that closes a batch nobody queued will close.
    closer: Notify,
    /// How long a writer waits for the gate at most, in milliseconds.
    max_wait_ms: AtomicU64,
    /// Blind changes waiting for whoever holds the gate next to write them.
    blind: std::sync::Mutex<Vec<QueuedChange>>,
    blind_ids: AtomicU64,
    /// The seq of the chain head this process committed last, for readers that wait for new
    /// entries (the stream's long poll, webhook workers) instead of polling the database.
    committed: Arc<watch::Sender<i64>>,
}

/// A blind change (one decided in full before the write path) waits in the gate for the
/// next holder to write it; the types live here, with the queue.
/// A change decided before the write path: its writes and its audit entry.
pub(crate) struct BlindChange {
    pub writes: Vec<Statement>,
    pub draft: AuditDraft,
    /// The writes touch rows no other change writes (inserts of new rows), so PostgreSQL may
    /// run them with others as one statement.
    pub disjoint: bool,
}

/// A queued change and where to say that it was written (the batch outcome to wait for).
pub(crate) struct QueuedChange {
    pub id: u64,
    pub ctx: Ctx,
    pub change: BlindChange,
    pub written: oneshot::Sender<oneshot::Receiver<Outcome>>,
}

/// What the gate guards.
pub(crate) struct GateState {
    /// The audit chain head as of this process's last commit; `None`: read it.
    pub head: Option<ChainHead>,
    pub batch: Option<Batch>,
    /// Told the head's seq after each commit.
    committed: Arc<watch::Sender<i64>>,
}

/// The open database transaction of consecutive writers.
pub(crate) struct Batch {
    pub txn: DatabaseTransaction,
    /// The chain head after the batch's finished writers.
    pub tip: ChainHead,
    /// True once an entry was appended in this batch: the head it started from was current.
    pub head_checked: bool,
    savepoints: u64,
    finished: Vec<oneshot::Sender<Outcome>>,
    entries: u64,
    /// When the first writer finished: the batch's answers are held back since.
    first_finished: Option<Instant>,
    /// The savepoint of a writer that ended without committing, to roll back to before
    /// anything else happens in the batch.
    undo: Option<String>,
    /// The savepoint of the last writer that committed its part, for the next to release.
    pub pending_release: Option<String>,
}

impl Batch {
    pub fn new(txn: DatabaseTransaction, tip: ChainHead) -> Self {
        Batch {
            txn,
            tip,
            head_checked: false,
            savepoints: 0,
            finished: Vec::new(),
            entries: 0,
            first_finished: None,
            undo: None,
            pending_release: None,
        }
    }

    /// A fresh savepoint name for the next writer.
    pub fn next_savepoint(&mut self) -> String {
        self.savepoints += 1;
        format!("gatehouse_write_{}", self.savepoints)
    }

    /// Records a writer that finished: its entries are in, the tip moves, its savepoint
    /// (if it sent one) is the next writer's to release, and it waits for the outcome.
    pub fn finish(
        &mut self,
        tip: ChainHead,
        entries: u64,
        savepoint: Option<String>,
    ) -> oneshot::Receiver<Outcome> {
        if savepoint.is_some() {
            self.pending_release = savepoint;
        }
        self.tip = tip;
        self.head_checked = true;
        self.entries += entries;
        self.first_finished.get_or_insert_with(Instant::now);
        let (sender, receiver) = oneshot::channel();
        self.finished.push(sender);
        receiver
    }

    /// Another writer waits for the batch's outcome: a blind change written with the one
    /// that finished last (its entries and tip are that writer's).
    pub fn wait_too(&mut self) -> oneshot::Receiver<Outcome> {
        let (sender, receiver) = oneshot::channel();
        self.finished.push(sender);
        receiver
    }

    /// True when nobody but the current writer is in the batch.
    pub fn is_empty(&self) -> bool {
        self.finished.is_empty()
    }

    /// Marks the changes since `savepoint` for rolling back.
    pub fn undo_to(&mut self, savepoint: String) {
        self.undo = Some(savepoint);
    }

    fn is_due(&self) -> bool {
        self.finished.len() >= MAX_BATCH
            || self
                .first_finished
                .is_some_and(|t| t.elapsed() >= MAX_BATCH_AGE)
    }
}

impl WriteGate {
    /// The gate and its closer task.
    pub fn start(metrics: Arc<Metrics>) -> Arc<Self> {
        let committed = Arc::new(watch::Sender::new(0));
        let gate = Arc::new(WriteGate {
            state: Arc::new(Mutex::new(GateState {
                head: None,
                batch: None,
                committed: committed.clone(),
            })),
            waiting: AtomicUsize::new(0),
            closer: Notify::new(),
            max_wait_ms: AtomicU64::new(DEFAULT_MAX_WAIT.as_millis() as u64),
            blind: std::sync::Mutex::new(Vec::new()),
            blind_ids: AtomicU64::new(0),
            committed,
        });
        let closer = gate.clone();
        tokio::spawn(async move {
            loop {
                closer.closer.notified().await;
                let mut state = closer.state.clone().lock_owned().await;
                close(&mut state, &metrics).await;
            }
        });
        gate
    }

    /// Queues a blind change (made with its queue id) for the next holder of the gate.
    pub fn queue_blind(&self, change: impl FnOnce(u64) -> QueuedChange) -> u64 {
        let id = self.blind_ids.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut queue) = self.blind.lock() {
            queue.push(change(id));
        }
        id
    }

    /// Takes a blind change back out of the queue, if nobody took it to write it yet.
    /// True when it was still queued.
    pub fn withdraw_blind(&self, id: u64) -> bool {
        let Ok(mut queue) = self.blind.lock() else {
            // Nobody takes from a poisoned queue: the change will never be written.
            return true;
        };
        let before = queue.len();
        queue.retain(|q| q.id != id);
        queue.len() < before
    }

    /// Takes the blind changes queued so far (a holder of the gate writes them).
    pub fn take_blind(&self) -> Vec<QueuedChange> {
        self.blind
            .lock()
            .map(|mut queue| std::mem::take(&mut *queue))
            .unwrap_or_default()
    }

    /// A receiver told the chain head's seq each time this process commits entries.
    pub fn committed(&self) -> watch::Receiver<i64> {
        self.committed.subscribe()
    }

    /// Sets how long a writer waits for the gate at most.
    pub fn set_max_wait(&self, wait: Duration) {
        self.max_wait_ms.store(
            u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// How long a writer waits for the gate at most.
    pub fn max_wait(&self) -> Duration {
        Duration::from_millis(self.max_wait_ms.load(Ordering::Relaxed))
    }

    /// Waits for the gate. An open batch comes with it, its failed writer undone; a batch
    /// that is full or old is committed first.
    pub async fn enter(self: &Arc<Self>, metrics: &Arc<Metrics>) -> OwnedMutexGuard<GateState> {
        loop {
            let queued = Queued::new(self);
            let mut state = self.state.clone().lock_owned().await;
            queued.entered();
            let Some(batch) = state.batch.as_mut() else {
                return state;
            };
            if let Some(savepoint) = batch.undo.clone() {
                // Taken only once done: a cancelled undo is redone by the next writer.
                match rollback_to(&batch.txn, &savepoint).await {
                    Ok(()) => batch.undo = None,
                    Err(e) => {
                        fail(&mut state, &format!("undoing a failed change: {e}"));
                        return state;
                    }
                }
            }
            if !state.batch.as_ref().is_some_and(Batch::is_due) {
                return state;
            }
            // Committed by a task of its own, so a writer that goes away meanwhile cannot
            // leave the batch's writers without an answer; then queue again.
            let metrics = metrics.clone();
            tokio::spawn(async move {
                let mut state = state;
                close(&mut state, &metrics).await;
            });
        }
    }

    /// Ends a finished writer's turn: commits the batch when nobody is queued behind it (or
    /// it is full or old), else leaves it open for the next writer.
    pub fn leave(&self, mut state: OwnedMutexGuard<GateState>, metrics: &Arc<Metrics>) {
        let due = state.batch.as_ref().is_some_and(Batch::is_due);
        if due || self.waiting.load(Ordering::SeqCst) == 0 {
            let metrics = metrics.clone();
            tokio::spawn(async move { close(&mut state, &metrics).await });
        }
    }

    /// After a writer ended without committing: make sure the batch ends even if nobody
    /// else comes.
    pub fn abandoned(&self) {
        if self.waiting.load(Ordering::SeqCst) == 0 {
            self.closer.notify_one();
        }
    }
}

/// Commits the open batch (undoing a failed writer's changes first), tells its writers, and
/// remembers the chain head. The state stays locked throughout.
async fn close(state: &mut GateState, metrics: &Metrics) {
    let Some(batch) = state.batch.take() else {
        return;
    };
    let Batch {
        txn,
        tip,
        finished,
        entries,
        undo,
        ..
    } = batch;
    let outcome = async {
        if let Some(savepoint) = undo {
            rollback_to(&txn, &savepoint).await?;
        }
        txn.commit().await
    }
    .await;
    match outcome {
        Ok(()) => {
            state.head = Some(tip);
            if entries > 0 {
                state.committed.send_replace(tip.seq);
            }
            metrics.audit_entries_written(entries);
            metrics.write_batch_committed();
            for writer in finished {
                let _ = writer.send(Ok(()));
            }
        }
        Err(e) => {
            state.head = None;
            let reason = e.to_string();
            for writer in finished {
                let _ = writer.send(Err(reason.clone()));
            }
        }
    }
}

/// Abandons the open batch: its transaction rolls back and its writers learn why.
fn fail(state: &mut GateState, reason: &str) {
    if let Some(batch) = state.batch.take() {
        state.head = None;
        for writer in batch.finished {
            let _ = writer.send(Err(reason.to_owned()));
        }
    }
}

/// Rolls the batch back to a writer's savepoint, and releases it (the nesting stays
/// shallow). One that was never created (the writer failed before its first statement ran)
/// has nothing to undo. On PostgreSQL this also ends the aborted state a failed statement
/// leaves the transaction in.
async fn rollback_to(txn: &DatabaseTransaction, savepoint: &str) -> Result<(), sea_orm::DbErr> {
    match txn
        .execute_unprepared(&format!(
            "ROLLBACK TO SAVEPOINT {savepoint}; RELEASE SAVEPOINT {savepoint}"
        ))
        .await
    {
        // SQLite's and PostgreSQL's words for it.
        Err(e) if e.to_string().contains("no such savepoint") => Ok(()),
        Err(e)
            if e.to_string()
                .contains(&format!("savepoint \"{savepoint}\" does not exist")) =>
        {
            Ok(())
        }
        other => other.map(|_| ()),
    }
}

/// Counts a writer as queued until it holds the gate. A writer that gives up while queued
/// may have been what a finished writer left the batch open for: then the closer ends it.
struct Queued<'a> {
    gate: &'a WriteGate,
    entered: bool,
}

impl<'a> Queued<'a> {
    fn new(gate: &'a WriteGate) -> Self {
        gate.waiting.fetch_add(1, Ordering::SeqCst);
        Queued {
            gate,
            entered: false,
        }
    }

    fn entered(mut self) {
        self.entered = true;
        self.gate.waiting.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        if !self.entered && self.gate.waiting.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.gate.closer.notify_one();
        }
    }
}
