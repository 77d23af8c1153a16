//! The hash chain: `hash(n) = SHA-256(hash(n-1) || canonical(n))`, with
//! `hash(0) = GENESIS` and sequence numbers 1, 2, 3, ... without gaps.
//!
//! What the chain alone detects: any changed byte of an entry, an entry
//! removed or reordered in the middle, a forged `prevHash`/`hash`. What it
//! cannot detect alone: entries cut off the *end*, or a wholesale rewrite
//! that recomputes every later hash. Both are caught by comparing the result
//! against a signed [`super::checkpoint::Checkpoint`] kept outside the
//! database.

use sha2::{Digest, Sha256};

use super::canonical::canonical_into;
use super::entry::{AuditEntry, EntryError, StoredEntry};

/// `prevHash` of the first entry (seq 1).
pub const GENESIS: [u8; 32] = [0; 32];

/// `SHA-256(prev_hash || canonical)`.
pub fn link(prev_hash: &[u8; 32], canonical: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(prev_hash);
    h.update(canonical);
    h.finalize().into()
}

/// The last link of a chain, used to append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainHead {
    /// Seq of the last entry, 0 for an empty chain.
    pub seq: i64,
    /// Hash of the last entry, [`GENESIS`] for an empty chain.
    pub hash: [u8; 32],
}

impl Default for ChainHead {
    fn default() -> Self {
        Self::EMPTY
    }
}

impl ChainHead {
    /// The head of an empty chain.
    pub const EMPTY: ChainHead = ChainHead {
        seq: 0,
        hash: GENESIS,
    };

    /// The head a stored link says it follows: its seq - 1 and its `prevHash` (lower-case
    /// hex; anything else reads as [`GENESIS`], which [`ChainHead::continued_by`] refuses
    /// anyway). Lets a run of links be checked before the chain up to it is known.
    pub fn claimed_by(seq: i64, prev_hash_hex: &str) -> ChainHead {
        let mut hash = GENESIS;
        if hex::decode_to_slice(prev_hash_hex, &mut hash).is_err() {
            hash = GENESIS;
        }
        ChainHead {
            seq: seq.saturating_sub(1),
            hash,
        }
    }

    /// Whether a link with this `seq` and `prevHash` (as stored, hex) may follow this head:
    /// the first two checks of [`ChainVerifier::push_hex`], in its order.
    pub fn continued_by(&self, seq: i64, prev_hash_hex: &str) -> Result<(), BreakReason> {
        if self.seq.checked_add(1) != Some(seq) {
            return Err(BreakReason::SeqGap);
        }
        if !hex_eq(&self.hash, prev_hash_hex) {
            return Err(BreakReason::PrevHashMismatch);
        }
        Ok(())
    }

    /// Appends `entry`: checks it ([`AuditEntry::validate`]), sets its `seq`
    /// to `self.seq + 1`, links it and moves the head forward. On error the
    /// head is untouched.
    pub fn append(&mut self, mut entry: AuditEntry) -> Result<StoredEntry, AppendError> {
        entry.validate()?;
        entry.seq = self.seq.checked_add(1).ok_or(AppendError::SeqOverflow)?;
        let stored = seal(entry, self.hash);
        self.seq = stored.entry.seq;
        self.hash = stored.hash;
        Ok(stored)
    }
}

/// Why [`ChainHead::append`] refused an entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppendError {
    /// The entry breaks the integers-only rule.
    #[error(transparent)]
    Entry(#[from] EntryError),
    /// The chain already holds seq `i64::MAX`.
    #[error("audit chain seq would overflow")]
    SeqOverflow,
}

/// Links `entry` (with its `seq` already set) after `prev_hash`, without
/// validating it (tests and tooling; the service appends via
/// [`ChainHead::append`]).
pub(super) fn seal(entry: AuditEntry, prev_hash: [u8; 32]) -> StoredEntry {
    let hash = link(&prev_hash, &super::canonical::canonical_bytes(&entry));
    StoredEntry {
        entry,
        prev_hash,
        hash,
    }
}

/// What is wrong at a [`ChainBreak`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BreakReason {
    /// The seq is not the previous seq + 1 (an entry was removed, reordered
    /// or duplicated), or the first seq is not the expected start.
    #[error("sequence gap")]
    SeqGap,
    /// `prevHash` differs from the previous entry's hash.
    #[error("prevHash does not match the previous entry's hash")]
    PrevHashMismatch,
    /// `hash` differs from `SHA-256(prevHash || canonical)`: the entry (or its
    /// stored hash) was altered.
    #[error("hash does not match the entry's content")]
    HashMismatch,
}

/// The first place where a chain fails verification.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("audit chain broken at seq {seq} (id {id}, expected seq {expected_seq}): {reason}")]
pub struct ChainBreak {
    /// Seq carried by the offending entry (as stored).
    pub seq: i64,
    /// Seq the verifier expected at that position (equal to `seq` unless
    /// `reason` is [`BreakReason::SeqGap`]).
    pub expected_seq: i64,
    /// Id of the offending entry.
    pub id: String,
    /// What is wrong.
    pub reason: BreakReason,
}

/// Result of a verification run that found no break.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainSummary {
    /// Number of entries accepted.
    pub entries: u64,
    /// Seq of the last entry (the start seq if no entry was pushed, 0 for a
    /// verifier from [`ChainVerifier::new`]).
    pub head_seq: i64,
    /// Hash of the last entry ([`GENESIS`] / the start hash if none).
    pub head_hash: [u8; 32],
}

/// Streaming chain verifier: push entries in stored order, one at a time.
///
/// [`ChainVerifier::push`] does not allocate (except to build the error on a
/// break). After a break the verifier state is unchanged, i.e. the offending
/// entry is not accepted.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    hasher: Sha256,
    /// `None` once seq `i64::MAX` has been accepted.
    next_seq: Option<i64>,
    head_seq: i64,
    head_hash: [u8; 32],
    entries: u64,
    buf: Vec<u8>,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self::new()
    }
}

impl ChainVerifier {
    /// A verifier for a whole chain: the first entry must have seq 1 and
    /// `prevHash` [`GENESIS`].
    pub fn new() -> Self {
        Self::resume_after(ChainHead::EMPTY)
    }

    /// A verifier for the part of a chain after a trusted `head` (e.g. the
    /// seq and hash of a verified checkpoint): the first entry must have seq
    /// `head.seq + 1` and `prevHash` `head.hash`.
    pub fn resume_after(head: ChainHead) -> Self {
        ChainVerifier {
            hasher: Sha256::new(),
            next_seq: head.seq.checked_add(1),
            head_seq: head.seq,
            head_hash: head.hash,
            entries: 0,
            buf: Vec::new(),
        }
    }

    /// Checks the next entry: `seq` is the previous seq + 1, `prev_hash` is
    /// the previous hash, and `hash == SHA-256(prev_hash || canonical)`.
    pub fn push(
        &mut self,
        seq: i64,
        canonical: &[u8],
        prev_hash: &[u8; 32],
        hash: &[u8; 32],
        id: &str,
    ) -> Result<(), ChainBreak> {
        self.push_checked(
            seq,
            canonical,
            |head| prev_hash == head,
            |computed| hash == computed,
            id,
        )
    }

    /// [`ChainVerifier::push`] with the hashes as stored: lower-case hex. Comparing hex
    /// saves decoding two hashes per entry when verifying a stored chain.
    pub fn push_hex(
        &mut self,
        seq: i64,
        canonical: &[u8],
        prev_hash_hex: &str,
        hash_hex: &str,
        id: &str,
    ) -> Result<(), ChainBreak> {
        self.push_checked(
            seq,
            canonical,
            |head| hex_eq(head, prev_hash_hex),
            |computed| hex_eq(computed, hash_hex),
            id,
        )
    }

    fn push_checked(
        &mut self,
        seq: i64,
        canonical: &[u8],
        prev_matches: impl FnOnce(&[u8; 32]) -> bool,
        hash_matches: impl FnOnce(&[u8; 32]) -> bool,
        id: &str,
    ) -> Result<(), ChainBreak> {
        let expected_seq = self.next_seq.unwrap_or(i64::MAX);
        let fail = |reason| ChainBreak {
            seq,
            expected_seq,
            id: id.to_owned(),
            reason,
        };
        if self.next_seq != Some(seq) {
            return Err(fail(BreakReason::SeqGap));
        }
        if !prev_matches(&self.head_hash) {
            return Err(fail(BreakReason::PrevHashMismatch));
        }
        self.hasher.update(self.head_hash);
        self.hasher.update(canonical);
        let computed: [u8; 32] = self.hasher.finalize_reset().into();
        if !hash_matches(&computed) {
            return Err(fail(BreakReason::HashMismatch));
        }
        self.next_seq = seq.checked_add(1);
        self.head_seq = seq;
        self.head_hash = computed;
        self.entries += 1;
        Ok(())
    }

    /// Canonicalises `stored.entry` (into a buffer reused across calls) and
    /// pushes it.
    pub fn push_stored(&mut self, stored: &StoredEntry) -> Result<(), ChainBreak> {
        let mut buf = std::mem::take(&mut self.buf);
        canonical_into(&stored.entry, &mut buf);
        let result = self.push(
            stored.entry.seq,
            &buf,
            &stored.prev_hash,
            &stored.hash,
            &stored.entry.id,
        );
        self.buf = buf;
        result
    }

    /// The last accepted link (the start head if nothing was accepted).
    pub fn head(&self) -> ChainHead {
        ChainHead {
            seq: self.head_seq,
            hash: self.head_hash,
        }
    }

    /// Ends the run.
    pub fn finish(self) -> ChainSummary {
        ChainSummary {
            entries: self.entries,
            head_seq: self.head_seq,
            head_hash: self.head_hash,
        }
    }
}

/// True when `hex` is the lower-case hex spelling of `bytes`.
fn hex_eq(bytes: &[u8; 32], hex: &str) -> bool {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let hex = hex.as_bytes();
    hex.len() == 64
        && bytes.iter().zip(hex.chunks_exact(2)).all(|(b, pair)| {
            pair.first() == DIGITS.get(usize::from(b >> 4))
                && pair.get(1) == DIGITS.get(usize::from(b & 0xf))
        })
}

/// Verifies a whole chain of stored entries, in order.
pub fn verify_chain<'a>(
    entries: impl IntoIterator<Item = &'a StoredEntry>,
) -> Result<ChainSummary, ChainBreak> {
    let mut v = ChainVerifier::new();
    for e in entries {
        v.push_stored(e)?;
    }
    Ok(v.finish())
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests {
    use super::*;

    fn entry(i: i64) -> AuditEntry {
        AuditEntry {
            id: format!("e{i}"),
            seq: 0,
            date: 1_700_000_000_000 + i,
            name: format!("flag-{i}"),
            description: "changed".into(),
            ..AuditEntry::for_test("flag", &[])
        }
    }

    fn chain(n: i64) -> Vec<StoredEntry> {
        let mut head = ChainHead::EMPTY;
        (1..=n).map(|i| head.append(entry(i)).unwrap()).collect()
    }

    #[test]
    fn link_is_sha256_of_concatenation() {
        let mut data = vec![7u8; 32];
        data.extend_from_slice(b"abc");
        let expected: [u8; 32] = Sha256::digest(&data).into();
        assert_eq!(link(&[7; 32], b"abc"), expected);
    }

    #[test]
    fn append_and_verify() {
        let c = chain(5);
        assert_eq!(c[0].prev_hash, GENESIS);
        assert_eq!(c[4].entry.seq, 5);
        let s = verify_chain(&c).unwrap();
        assert_eq!(
            s,
            ChainSummary {
                entries: 5,
                head_seq: 5,
                head_hash: c[4].hash
            }
        );
        assert_eq!(
            verify_chain(&[]).unwrap(),
            ChainSummary {
                entries: 0,
                head_seq: 0,
                head_hash: GENESIS
            }
        );
    }

    #[test]
    fn append_rejects_floats() {
        let mut head = ChainHead::EMPTY;
        let e = AuditEntry {
            delta: Some(serde_json::json!([1, 0.5])),
            ..entry(1)
        };
        assert!(matches!(head.append(e), Err(AppendError::Entry(_))));
        assert_eq!(head, ChainHead::EMPTY);
    }

    #[test]
    fn resume_after_checkpoint() {
        let c = chain(6);
        let mut v = ChainVerifier::resume_after(ChainHead {
            seq: 3,
            hash: c[2].hash,
        });
        for e in &c[3..] {
            v.push_stored(e).unwrap();
        }
        assert_eq!(v.finish().head_hash, c[5].hash);
    }

    #[test]
    fn reasons() {
        let c = chain(3);
        let canon: Vec<Vec<u8>> = c
            .iter()
            .map(|e| super::super::canonical::canonical_bytes(&e.entry))
            .collect();

        let mut v = ChainVerifier::new();
        let err = v
            .push(2, &canon[1], &c[1].prev_hash, &c[1].hash, "e2")
            .unwrap_err();
        assert_eq!(
            (err.reason, err.seq, err.expected_seq),
            (BreakReason::SeqGap, 2, 1)
        );

        v.push(1, &canon[0], &c[0].prev_hash, &c[0].hash, "e1")
            .unwrap();
        let err = v
            .push(2, &canon[1], &[1; 32], &c[1].hash, "e2")
            .unwrap_err();
        assert_eq!((err.reason, err.seq), (BreakReason::PrevHashMismatch, 2));
        let err = v
            .push(2, &canon[1], &c[1].prev_hash, &[1; 32], "e2")
            .unwrap_err();
        assert_eq!((err.reason, err.seq), (BreakReason::HashMismatch, 2));
        assert_eq!(err.id, "e2");
        assert_eq!(
            err.to_string(),
            "audit chain broken at seq 2 (id e2, expected seq 2): hash does not match the entry's content"
        );
        // State unchanged by failures.
        v.push(2, &canon[1], &c[1].prev_hash, &c[1].hash, "e2")
            .unwrap();
        assert_eq!(
            v.head(),
            ChainHead {
                seq: 2,
                hash: c[1].hash
            }
        );
    }

    #[test]
    fn hex_pushes_agree_with_byte_pushes() {
        let c = chain(3);
        let canon: Vec<Vec<u8>> = c
            .iter()
            .map(|e| super::super::canonical::canonical_bytes(&e.entry))
            .collect();
        let hex_of = |h: &[u8; 32]| hex::encode(h);
        let mut v = ChainVerifier::new();
        v.push_hex(
            1,
            &canon[0],
            &hex_of(&c[0].prev_hash),
            &hex_of(&c[0].hash),
            "e1",
        )
        .unwrap();
        let upper = hex_of(&c[1].prev_hash).to_uppercase();
        let err = v
            .push_hex(2, &canon[1], &upper, &hex_of(&c[1].hash), "e2")
            .unwrap_err();
        assert_eq!(err.reason, BreakReason::PrevHashMismatch);
        let short = &hex_of(&c[1].hash)[..63];
        let err = v
            .push_hex(2, &canon[1], &hex_of(&c[1].prev_hash), short, "e2")
            .unwrap_err();
        assert_eq!(err.reason, BreakReason::HashMismatch);
        v.push_hex(
            2,
            &canon[1],
            &hex_of(&c[1].prev_hash),
            &hex_of(&c[1].hash),
            "e2",
        )
        .unwrap();
        assert_eq!(v.head().hash, c[1].hash);
        assert!(hex_eq(&[0xab; 32], &"ab".repeat(32)));
        assert!(!hex_eq(&[0xab; 32], &"ab".repeat(31)));
        assert!(!hex_eq(&[0xab; 32], &"ac".repeat(32)));
    }

    #[test]
    fn a_run_checked_from_its_claims_is_joined_by_its_first_link() {
        let c = chain(4);
        let hex_of = |h: &[u8; 32]| hex::encode(h);
        let before = ChainHead {
            seq: 2,
            hash: c[1].hash,
        };
        let prev = hex_of(&c[2].prev_hash);
        assert_eq!(ChainHead::claimed_by(3, &prev), before);
        assert_eq!(before.continued_by(3, &prev), Ok(()));
        assert_eq!(before.continued_by(4, &prev), Err(BreakReason::SeqGap));
        assert_eq!(
            before.continued_by(3, &prev.to_uppercase()),
            Err(BreakReason::PrevHashMismatch)
        );
        assert_eq!(ChainHead::claimed_by(1, "zz").hash, GENESIS);
        let last = ChainHead {
            seq: i64::MAX,
            hash: GENESIS,
        };
        assert_eq!(
            last.continued_by(i64::MIN, &hex_of(&GENESIS)),
            Err(BreakReason::SeqGap)
        );
        // The run verifies on its own from what its first link claims.
        let mut v = ChainVerifier::resume_after(ChainHead::claimed_by(3, &prev));
        for e in &c[2..] {
            v.push_stored(e).unwrap();
        }
        assert_eq!(v.head().hash, c[3].hash);
    }

    #[test]
    fn seq_overflow_is_rejected() {
        let mut head = ChainHead {
            seq: i64::MAX,
            hash: GENESIS,
        };
        assert_eq!(head.append(entry(1)), Err(AppendError::SeqOverflow));
        assert_eq!(head.seq, i64::MAX);
        let mut v = ChainVerifier::resume_after(ChainHead {
            seq: i64::MAX - 1,
            hash: GENESIS,
        });
        let e = seal(
            AuditEntry {
                seq: i64::MAX,
                ..entry(1)
            },
            GENESIS,
        );
        v.push_stored(&e).unwrap();
        let e2 = seal(
            AuditEntry {
                seq: i64::MAX,
                ..entry(2)
            },
            e.hash,
        );
        assert_eq!(v.push_stored(&e2).unwrap_err().reason, BreakReason::SeqGap);
    }
}
