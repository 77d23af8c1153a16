//! The SP's own private key: it decrypts assertions encrypted to our certificate and signs
//! the AuthnRequests we send over the HTTP-Redirect binding.

use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::sign::Signer;

/// The `SigAlg` of a signed redirect: RSA with SHA-256.
pub const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";

/// The SP's private key.
#[derive(Clone)]
pub struct SpKey(PKey<Private>);

impl std::fmt::Debug for SpKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SpKey(..)")
    }
}

impl SpKey {
    /// Reads a PEM private key (PKCS#8 or PKCS#1 RSA).
    pub fn from_pem(pem: &str) -> Result<SpKey, String> {
        PKey::private_key_from_pem(pem.as_bytes())
            .map(SpKey)
            .map_err(|_| "not a PEM private key".to_owned())
    }

    /// The key as RSA, if it is one (decryption and request signing need RSA).
    pub fn rsa(&self) -> Option<Rsa<Private>> {
        self.0.rsa().ok()
    }

    /// An RSA-SHA256 (PKCS #1 v1.5) signature of `data`.
    pub fn sign_rsa_sha256(&self, data: &[u8]) -> Result<Vec<u8>, String> {
        if self.rsa().is_none() {
            return Err("signing requests needs an RSA spPrivateKey".to_owned());
        }
        let mut signer =
            Signer::new(MessageDigest::sha256(), &self.0).map_err(|e| e.to_string())?;
        signer.update(data).map_err(|e| e.to_string())?;
        signer.sign_to_vec().map_err(|e| e.to_string())
    }
}
