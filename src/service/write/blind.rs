//! Blind changes: writes decided in full before the write path, by nothing stored (a SCIM
//! create of a new user: its row, index rows and audit entry). A writer queues its change and
//! then waits for the gate; whoever holds the gate next writes every change queued by then in
//! one round trip to the database, each with its own audit entry (its own actor and request
//! id) linked into the chain, and all of them wait for the batch's commit like any writer.
//!
//! Why: writes run one at a time, and a statement's round trip to SQLite's connection thread
//! (two thread hand-offs) costs as much as the statement itself; under load one round trip
//! now serves several creates instead of one each.
//!
//! If the shared write fails (a userName taken meanwhile, say), it is undone whole and every
//! change in it is told to write alone, through the ordinary path, where a failure is its
//! own.

use tokio::sync::oneshot;

use super::gate::{BlindChange, QueuedChange};
use super::{Together, WriteTx, committed};
use crate::error::Result;
use crate::service::{Ctx, Service};

/// What became of a blind change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BlindOutcome {
    /// Written and committed.
    Written,
    /// Not written: the shared write failed; the caller writes it alone.
    Alone,
}

/// Takes a change back out of the queue if its request is given up before a holder of the
/// gate took it. (One taken is written, like any change a given-up request already handed
/// in.)
struct Withdraw<'a> {
    service: &'a Service,
    id: u64,
}

impl Drop for Withdraw<'_> {
    fn drop(&mut self) {
        self.service.write_gate().withdraw_blind(self.id);
    }
}

impl Service {
    /// Writes a blind change, together with the others queued at the same time.
    pub(crate) async fn write_blind(&self, ctx: &Ctx, change: BlindChange) -> Result<BlindOutcome> {
        let (written, mut was_written) = oneshot::channel();
        let id = self.write_gate().queue_blind(|id| QueuedChange {
            id,
            ctx: ctx.clone(),
            change,
            written,
        });
        let withdraw = Withdraw { service: self, id };
        let handed_in = tokio::select! {
            biased;
            handed_in = &mut was_written => handed_in,
            tx = self.begin_write(ctx) => match tx {
                Ok(tx) => {
                    self.write_queued(tx).await;
                    was_written.await
                }
                // Too busy: refused, unless a holder took the change meanwhile; then it is
                // being written, and its outcome is this request's answer.
                Err(busy) if self.write_gate().withdraw_blind(id) => return Err(busy),
                Err(_) => was_written.await,
            }
        };
        drop(withdraw);
        // No word back: the shared write failed (or was given up), and undone.
        let Ok(outcome) = handed_in else {
            return Ok(BlindOutcome::Alone);
        };
        committed(outcome).await.map(|()| BlindOutcome::Written)
    }

    /// Writes every queued blind change in the gate `tx` holds, and hands them in to the
    /// batch. On failure nothing of them stays, and their writers are told so by silence.
    async fn write_queued(&self, mut tx: WriteTx<'_>) {
        let queued = self.write_gate().take_blind();
        if queued.is_empty() {
            // Another holder wrote them: leave the gate without having touched anything.
            return;
        }
        let together = if queued.iter().all(|q| q.change.disjoint) {
            Together::OneStatement
        } else {
            Together::InTurn
        };
        let mut writes = Vec::new();
        let mut writers = Vec::with_capacity(queued.len());
        for q in queued {
            writes.extend(q.change.writes);
            tx.audit_as(&q.ctx, q.change.draft);
            writers.push(q.written);
        }
        if tx.flush(writes, together).await.is_err() {
            return;
        }
        if let Ok((_, outcomes)) = tx.hand_in(writers.len()).await {
            for (writer, outcome) in writers.into_iter().zip(outcomes) {
                let _ = writer.send(outcome);
            }
        }
    }
}
