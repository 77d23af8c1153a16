//! Decryption of `EncryptedAssertion` with the connection's SP key (XML Encryption 1.0/1.1).
//!
//! Ours rather than samael's, whose decryption indexes and unwraps on attacker-controlled
//! lengths. Key transport: RSA-OAEP (`rsa-oaep-mgf1p`, and `xmlenc11#rsa-oaep` with SHA-1
//! MGF/digest); RSA PKCS#1 v1.5 is refused (Bleichenbacher). Content: AES-CBC and AES-GCM
//! with 128/192/256-bit keys.

use base64::Engine;
use openssl::rsa::Padding;
use openssl::symm::{Cipher, Crypter, Mode};

use super::sp_key::SpKey;
use super::xml::{Element, NS_DSIG};
use crate::domain::sso::Refusal;

const NS_XENC: &str = "http://www.w3.org/2001/04/xmlenc#";

fn cipher_value(e: &Element) -> Result<Vec<u8>, Refusal> {
    let text: String = e
        .child(NS_XENC, "CipherData")
        .and_then(|d| d.child(NS_XENC, "CipherValue"))
        .map(Element::text)
        .ok_or(Refusal::DecryptionFailed)?
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| Refusal::DecryptionFailed)
}

fn algorithm(e: &Element) -> &str {
    e.child(NS_XENC, "EncryptionMethod")
        .and_then(|m| m.attr("Algorithm"))
        .unwrap_or("")
}

/// Decrypts the assertion inside an `EncryptedAssertion` and returns its XML text.
pub fn decrypt_assertion(encrypted: &Element, key: &SpKey) -> Result<String, Refusal> {
    let data = encrypted
        .child(NS_XENC, "EncryptedData")
        .ok_or(Refusal::DecryptionFailed)?;
    // The wrapped key sits in EncryptedData/KeyInfo or next to EncryptedData.
    let encrypted_key = data
        .child(NS_DSIG, "KeyInfo")
        .and_then(|k| k.child(NS_XENC, "EncryptedKey"))
        .or_else(|| encrypted.child(NS_XENC, "EncryptedKey"))
        .ok_or(Refusal::DecryptionFailed)?;
    let content_key = unwrap_key(encrypted_key, key)?;
    let plain = decrypt_content(algorithm(data), &content_key, &cipher_value(data)?)?;
    String::from_utf8(plain).map_err(|_| Refusal::DecryptionFailed)
}

fn unwrap_key(encrypted_key: &Element, key: &SpKey) -> Result<Vec<u8>, Refusal> {
    let method = encrypted_key
        .child(NS_XENC, "EncryptionMethod")
        .ok_or(Refusal::DecryptionFailed)?;
    match method.attr("Algorithm") {
        Some("http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p") => {}
        Some("http://www.w3.org/2009/xmlenc11#rsa-oaep") => {
            // Only the default SHA-1 MGF and digest, which is what openssl's OAEP does.
            let digest = method
                .child(NS_DSIG, "DigestMethod")
                .and_then(|d| d.attr("Algorithm"));
            if digest.is_some_and(|d| d != "http://www.w3.org/2000/09/xmldsig#sha1") {
                return Err(Refusal::DecryptionFailed);
            }
        }
        _ => return Err(Refusal::DecryptionFailed),
    }
    let wrapped = cipher_value(encrypted_key)?;
    let rsa = key.rsa().ok_or(Refusal::DecryptionFailed)?;
    let mut out = vec![0u8; usize::try_from(rsa.size()).map_err(|_| Refusal::DecryptionFailed)?];
    if wrapped.len() != out.len() {
        return Err(Refusal::DecryptionFailed);
    }
    let n = rsa
        .private_decrypt(&wrapped, &mut out, Padding::PKCS1_OAEP)
        .map_err(|_| Refusal::DecryptionFailed)?;
    out.truncate(n);
    Ok(out)
}

fn decrypt_content(method: &str, key: &[u8], data: &[u8]) -> Result<Vec<u8>, Refusal> {
    let (cipher, gcm) = match (method, key.len()) {
        ("http://www.w3.org/2001/04/xmlenc#aes128-cbc", 16) => (Cipher::aes_128_cbc(), false),
        ("http://www.w3.org/2001/04/xmlenc#aes192-cbc", 24) => (Cipher::aes_192_cbc(), false),
        ("http://www.w3.org/2001/04/xmlenc#aes256-cbc", 32) => (Cipher::aes_256_cbc(), false),
        ("http://www.w3.org/2009/xmlenc11#aes128-gcm", 16) => (Cipher::aes_128_gcm(), true),
        ("http://www.w3.org/2009/xmlenc11#aes192-gcm", 24) => (Cipher::aes_192_gcm(), true),
        ("http://www.w3.org/2009/xmlenc11#aes256-gcm", 32) => (Cipher::aes_256_gcm(), true),
        _ => return Err(Refusal::DecryptionFailed),
    };
    let fail = |_| Refusal::DecryptionFailed;
    if gcm {
        const IV: usize = 12;
        const TAG: usize = 16;
        if data.len() < IV + TAG {
            return Err(Refusal::DecryptionFailed);
        }
        let (iv, rest) = data.split_at(IV);
        let (body, tag) = rest.split_at(rest.len() - TAG);
        let mut crypter = Crypter::new(cipher, Mode::Decrypt, key, Some(iv)).map_err(fail)?;
        crypter.set_tag(tag).map_err(fail)?;
        let mut out = vec![0u8; body.len() + cipher.block_size()];
        let mut n = crypter.update(body, &mut out).map_err(fail)?;
        n += crypter
            .finalize(out.get_mut(n..).ok_or(Refusal::DecryptionFailed)?)
            .map_err(fail)?;
        out.truncate(n);
        Ok(out)
    } else {
        const IV: usize = 16;
        if data.len() < 2 * IV || !data.len().is_multiple_of(IV) {
            return Err(Refusal::DecryptionFailed);
        }
        let (iv, body) = data.split_at(IV);
        // XML Encryption padding: the last byte says how many bytes to drop; the others may be
        // anything, so openssl's PKCS#7 check is off and we strip it ourselves.
        let mut crypter = Crypter::new(cipher, Mode::Decrypt, key, Some(iv)).map_err(fail)?;
        crypter.pad(false);
        let mut out = vec![0u8; body.len() + cipher.block_size()];
        let mut n = crypter.update(body, &mut out).map_err(fail)?;
        n += crypter
            .finalize(out.get_mut(n..).ok_or(Refusal::DecryptionFailed)?)
            .map_err(fail)?;
        out.truncate(n);
        let pad = usize::from(*out.last().ok_or(Refusal::DecryptionFailed)?);
        if pad == 0 || pad > IV || pad > out.len() {
            return Err(Refusal::DecryptionFailed);
        }
        out.truncate(out.len() - pad);
        Ok(out)
    }
}
