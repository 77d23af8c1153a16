//! Signed checkpoints: an Ed25519 signature over the chain head `(seq, hash)`
//! at some point in time, to be published / stored outside the database so
//! that truncation or a full rewrite of the chain is detectable.
//!
//! Signed message (70 bytes):
//! `b"gatehouse-audit-checkpoint-v1\n" || seq as 8 bytes big-endian (two's
//! complement) || hash (32 bytes)`.
//!
//! Encodings in [`Checkpoint`]: `hash` as lowercase hex (like the entries'
//! `hash`), `signature` (64 bytes) and `publicKey` (32 bytes) as standard
//! base64 with padding (RFC 4648 §4). Verification uses Ed25519 "strict"
//! rules (no small-order keys, no malleable signatures).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use super::chain::ChainHead;

/// Domain separation prefix of the signed message.
pub const CHECKPOINT_DOMAIN: &[u8] = b"gatehouse-audit-checkpoint-v1\n";

/// Length of the signed message.
pub const CHECKPOINT_MESSAGE_LEN: usize = CHECKPOINT_DOMAIN.len() + 8 + 32;

/// The exact bytes that are signed for `(seq, hash)`.
pub fn checkpoint_message(seq: i64, hash: &[u8; 32]) -> [u8; CHECKPOINT_MESSAGE_LEN] {
    let mut msg = [0u8; CHECKPOINT_MESSAGE_LEN];
    let seq_bytes = seq.to_be_bytes();
    let parts = CHECKPOINT_DOMAIN
        .iter()
        .chain(seq_bytes.iter())
        .chain(hash.iter());
    for (dst, src) in msg.iter_mut().zip(parts) {
        *dst = *src;
    }
    msg
}

/// A signed chain head (JSON camelCase).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Checkpoint {
    /// Seq of the entry the checkpoint covers.
    pub seq: i64,
    /// Hash of that entry, lowercase hex.
    pub hash: String,
    /// Ed25519 signature, standard base64.
    pub signature: String,
    /// Ed25519 public key of the signer, standard base64.
    pub public_key: String,
}

/// Why a checkpoint does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// `hash` is not 64 hex digits.
    #[error("checkpoint hash is not 64 hex digits")]
    InvalidHash,
    /// `signature` is not base64 of 64 bytes.
    #[error("checkpoint signature is not base64 of 64 bytes")]
    InvalidSignatureEncoding,
    /// `publicKey` is not base64 of a valid Ed25519 public key.
    #[error("checkpoint public key is not a valid base64 Ed25519 key")]
    InvalidPublicKey,
    /// `publicKey` is not the key the verifier trusts.
    #[error("checkpoint was signed by a different key than the trusted one")]
    KeyMismatch,
    /// The signature does not match `(seq, hash)` under the key.
    #[error("checkpoint signature does not verify")]
    BadSignature,
}

impl Checkpoint {
    /// The covered hash as bytes.
    pub fn hash_bytes(&self) -> Result<[u8; 32], CheckpointError> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(&self.hash, &mut out).map_err(|_| CheckpointError::InvalidHash)?;
        Ok(out)
    }

    /// The covered chain head, e.g. for
    /// [`super::chain::ChainVerifier::resume_after`]. Verify the checkpoint
    /// first.
    pub fn head(&self) -> Result<ChainHead, CheckpointError> {
        Ok(ChainHead {
            seq: self.seq,
            hash: self.hash_bytes()?,
        })
    }

    /// `true` if the checkpoint covers exactly `head` (same seq and hash).
    /// Comparing each checkpoint with the hash of the stored entry at its seq
    /// detects truncation and rewrites that the chain alone cannot.
    pub fn matches(&self, head: &ChainHead) -> bool {
        self.head().is_ok_and(|h| h == *head)
    }

    fn public_key_bytes(&self) -> Result<[u8; 32], CheckpointError> {
        B64.decode(&self.public_key)
            .ok()
            .and_then(|v| <[u8; 32]>::try_from(v).ok())
            .ok_or(CheckpointError::InvalidPublicKey)
    }
}

/// Signs checkpoints with an Ed25519 key.
///
/// `Debug` shows only the public key; the secret is zeroized on drop.
#[derive(Clone)]
pub struct CheckpointSigner {
    key: SigningKey,
}

impl std::fmt::Debug for CheckpointSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckpointSigner")
            .field("public_key", &self.public_key_base64())
            .finish()
    }
}

impl CheckpointSigner {
    /// Builds the key from 32 secret seed bytes (the Ed25519 "secret key").
    /// Generating and storing the seed is the caller's job.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        CheckpointSigner {
            key: SigningKey::from_bytes(&seed),
        }
    }

    /// The 32-byte public key, to pin in verifiers.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// The public key as standard base64 (as in [`Checkpoint::public_key`]).
    pub fn public_key_base64(&self) -> String {
        B64.encode(self.public_key())
    }

    /// Signs the chain head `(seq, hash)`. Deterministic (Ed25519).
    pub fn sign(&self, seq: i64, hash: &[u8; 32]) -> Checkpoint {
        let sig = self.key.sign(&checkpoint_message(seq, hash));
        Checkpoint {
            seq,
            hash: hex::encode(hash),
            signature: B64.encode(sig.to_bytes()),
            public_key: self.public_key_base64(),
        }
    }
}

fn verify_with(cp: &Checkpoint, key: &[u8; 32]) -> Result<(), CheckpointError> {
    let key = VerifyingKey::from_bytes(key).map_err(|_| CheckpointError::InvalidPublicKey)?;
    let hash = cp.hash_bytes()?;
    let sig: [u8; 64] = B64
        .decode(&cp.signature)
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or(CheckpointError::InvalidSignatureEncoding)?;
    key.verify_strict(
        &checkpoint_message(cp.seq, &hash),
        &Signature::from_bytes(&sig),
    )
    .map_err(|_| CheckpointError::BadSignature)
}

/// Verifies a checkpoint against the public key it carries.
///
/// This only proves the checkpoint is self-consistent; use
/// [`verify_checkpoint_with_key`] with a pinned key to prove who signed it.
pub fn verify_checkpoint(cp: &Checkpoint) -> Result<(), CheckpointError> {
    verify_with(cp, &cp.public_key_bytes()?)
}

/// Verifies a checkpoint against a trusted (pinned) public key; the key
/// carried in the checkpoint must be the same key.
pub fn verify_checkpoint_with_key(
    cp: &Checkpoint,
    public_key: &[u8; 32],
) -> Result<(), CheckpointError> {
    if cp.public_key_bytes()? != *public_key {
        return Err(CheckpointError::KeyMismatch);
    }
    verify_with(cp, public_key)
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

    const SEED: [u8; 32] = [9; 32];
    const HASH: [u8; 32] = [0xa5; 32];

    #[test]
    fn message_layout() {
        let m = checkpoint_message(0x0102030405060708, &HASH);
        assert_eq!(m.len(), 70);
        assert_eq!(&m[..30], b"gatehouse-audit-checkpoint-v1\n");
        assert_eq!(&m[30..38], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(&m[38..], &HASH);
    }

    #[test]
    fn sign_and_verify() {
        let s = CheckpointSigner::from_seed(SEED);
        let cp = s.sign(7, &HASH);
        assert_eq!(cp.hash, "a5".repeat(32));
        assert_eq!(cp.public_key, s.public_key_base64());
        assert_eq!(cp, s.sign(7, &HASH), "Ed25519 is deterministic");
        verify_checkpoint(&cp).unwrap();
        verify_checkpoint_with_key(&cp, &s.public_key()).unwrap();
        assert!(cp.matches(&ChainHead { seq: 7, hash: HASH }));
        assert!(!cp.matches(&ChainHead { seq: 6, hash: HASH }));
        let json = serde_json::to_value(&cp).unwrap();
        assert!(json.get("publicKey").is_some());
        assert!(!format!("{s:?}").contains("0909"));
    }

    #[test]
    fn tampering_fails() {
        let s = CheckpointSigner::from_seed(SEED);
        let cp = s.sign(7, &HASH);
        let key = s.public_key();

        let seq = Checkpoint {
            seq: 8,
            ..cp.clone()
        };
        assert_eq!(verify_checkpoint(&seq), Err(CheckpointError::BadSignature));
        assert_eq!(
            verify_checkpoint_with_key(&seq, &key),
            Err(CheckpointError::BadSignature)
        );

        let mut h = HASH;
        h[31] ^= 1;
        let hash = Checkpoint {
            hash: hex::encode(h),
            ..cp.clone()
        };
        assert_eq!(verify_checkpoint(&hash), Err(CheckpointError::BadSignature));

        let mut sig = B64.decode(&cp.signature).unwrap();
        sig[0] ^= 1;
        let bad_sig = Checkpoint {
            signature: B64.encode(&sig),
            ..cp.clone()
        };
        assert_eq!(
            verify_checkpoint(&bad_sig),
            Err(CheckpointError::BadSignature)
        );

        let other = CheckpointSigner::from_seed([1; 32]);
        let forged = other.sign(7, &HASH);
        verify_checkpoint(&forged).unwrap();
        assert_eq!(
            verify_checkpoint_with_key(&forged, &key),
            Err(CheckpointError::KeyMismatch)
        );
        // Swapping in the trusted key does not help the forger.
        let relabeled = Checkpoint {
            public_key: cp.public_key.clone(),
            ..forged
        };
        assert_eq!(
            verify_checkpoint_with_key(&relabeled, &key),
            Err(CheckpointError::BadSignature)
        );

        let enc = Checkpoint {
            signature: "!!".into(),
            ..cp.clone()
        };
        assert_eq!(
            verify_checkpoint(&enc),
            Err(CheckpointError::InvalidSignatureEncoding)
        );
        let short = Checkpoint {
            hash: "ab".into(),
            ..cp.clone()
        };
        assert_eq!(verify_checkpoint(&short), Err(CheckpointError::InvalidHash));
        let pk = Checkpoint {
            public_key: "AAAA".into(),
            ..cp
        };
        assert_eq!(
            verify_checkpoint(&pk),
            Err(CheckpointError::InvalidPublicKey)
        );
    }
}
