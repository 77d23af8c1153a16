//! Gatehouse audit log: an append-only, tamper-evident record of changes.
//!
//! * [`entry`]: the entry model ([`AuditEntry`], also the REST JSON) and the
//!   persisted form [`StoredEntry`] (adds `prevHash`/`hash`).
//! * [`canonical`]: the frozen byte encoding that gets hashed.
//! * [`chain`]: `hash = SHA-256(prevHash || canonical)`, appending and
//!   streaming verification.
//! * [`checkpoint`]: Ed25519-signed chain heads, kept outside the database to
//!   detect truncation and rewrites.
//! * [`event`]: the stable event name of an entry (`member.created`, ...), derived from it.
//! * [`stream_check`]: what a receiver of webhooks or the stream checks: hashes, links,
//!   gaps, order and checkpoints.
//! * [`index`]: the query columns stored beside the hashed body, derived from it, and
//!   checked against it when the chain is verified.
//!
//! Pure logic: no I/O, no clock (dates are passed in), no randomness (keys
//! are built from seed bytes passed in). This folder is self-contained
//! (`super::` paths only) so it can be copied into the service verbatim.

pub mod canonical;
pub mod chain;
pub mod checkpoint;
pub mod entry;
pub mod event;
pub mod index;
pub mod stream_check;

pub use canonical::{
    CanonicalError, canonical_bytes, canonical_from_json, canonical_into, canonical_value_bytes,
};
pub use chain::{
    AppendError, BreakReason, ChainBreak, ChainHead, ChainSummary, ChainVerifier, GENESIS, link,
    verify_chain,
};
pub use checkpoint::{
    CHECKPOINT_DOMAIN, Checkpoint, CheckpointError, CheckpointSigner, checkpoint_message,
    verify_checkpoint, verify_checkpoint_with_key,
};
pub use entry::{Access, Actor, AuditEntry, EntryError, Parent, StoredEntry, Target};
pub use event::{BadEventPattern, Event, check_pattern, event_of, pattern_matches};
pub use index::{IndexColumns, IndexMismatch, StoredColumns, check_columns, index_columns};
pub use stream_check::{StreamReport, check_stream};

#[cfg(test)]
mod proptests;
