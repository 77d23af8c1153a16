//! Secrets: fresh random tokens, their stored hashes, and comparing them without leaking
//! where they differ. Sessions, API tokens, SCIM tokens and sign-in state all use these.

use sha2::{Digest, Sha256};

/// A fresh random value for cookies, state, nonces and CSRF tokens: 32 bytes, URL-safe.
pub fn random_token() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Compares two secrets without leaking where they differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Hex SHA-256 of a token secret: secrets are random and long, so a fast hash is the right
/// tool (argon2 would cost milliseconds per request without adding safety).
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}
