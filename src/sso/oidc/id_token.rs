//! ID-token validation: the signature with a key from the provider's JWKS (jsonwebtoken), and
//! every claim check ourselves on the service clock, each failure a named refusal.

use base64::Engine;
use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use crate::domain::sso::Refusal;

/// Tolerated clock skew for `exp`/`iat`/`nbf`.
pub const MAX_SKEW_S: i64 = 120;

/// Asymmetric algorithms only: an HS* token could be "signed" with the provider's public key
/// as the HMAC secret (key confusion), so symmetric algorithms are never accepted.
const ALLOWED: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
];

/// What the token must say.
pub struct Expectations<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub nonce: &'a str,
    pub now_s: i64,
}

/// The header fields we read before trusting anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenHeader {
    pub alg: Algorithm,
    pub kid: Option<String>,
}

/// Reads the JOSE header, refusing `none` and non-allow-listed algorithms with their reasons.
pub fn read_header(token: &str) -> Result<TokenHeader, Refusal> {
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Refusal::MalformedInput);
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header.trim_end_matches('='))
        .map_err(|_| Refusal::MalformedInput)?;
    let header: Value = serde_json::from_slice(&bytes).map_err(|_| Refusal::MalformedInput)?;
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or(Refusal::MalformedInput)?;
    if alg.eq_ignore_ascii_case("none") {
        return Err(Refusal::AlgNone);
    }
    let alg: Algorithm = alg.parse().map_err(|_| Refusal::AlgNotAllowed)?;
    if !ALLOWED.contains(&alg) {
        return Err(Refusal::AlgNotAllowed);
    }
    let kid = header.get("kid").and_then(Value::as_str).map(str::to_owned);
    Ok(TokenHeader { alg, kid })
}

/// The key of the JWKS that may verify this header, if any.
pub fn find_key<'a>(jwks: &'a JwkSet, header: &TokenHeader) -> Option<&'a Jwk> {
    let usable = |k: &&Jwk| {
        let family_ok = match &k.algorithm {
            jsonwebtoken::jwk::AlgorithmParameters::RSA(_) => matches!(
                header.alg,
                Algorithm::RS256
                    | Algorithm::RS384
                    | Algorithm::RS512
                    | Algorithm::PS256
                    | Algorithm::PS384
                    | Algorithm::PS512
            ),
            jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(_) => {
                matches!(header.alg, Algorithm::ES256 | Algorithm::ES384)
            }
            _ => false,
        };
        let alg_ok = k
            .common
            .key_algorithm
            .is_none_or(|a| key_algorithm_matches(a, header.alg));
        family_ok && alg_ok
    };
    match &header.kid {
        Some(kid) => jwks
            .keys
            .iter()
            .filter(|k| k.common.key_id.as_deref() == Some(kid.as_str()))
            .find(usable),
        // Without a kid, only an unambiguous key set will do.
        None => {
            let mut candidates = jwks.keys.iter().filter(usable);
            match (candidates.next(), candidates.next()) {
                (Some(k), None) => Some(k),
                _ => None,
            }
        }
    }
}

fn key_algorithm_matches(key: KeyAlgorithm, alg: Algorithm) -> bool {
    matches!(
        (key, alg),
        (KeyAlgorithm::RS256, Algorithm::RS256)
            | (KeyAlgorithm::RS384, Algorithm::RS384)
            | (KeyAlgorithm::RS512, Algorithm::RS512)
            | (KeyAlgorithm::PS256, Algorithm::PS256)
            | (KeyAlgorithm::PS384, Algorithm::PS384)
            | (KeyAlgorithm::PS512, Algorithm::PS512)
            | (KeyAlgorithm::ES256, Algorithm::ES256)
            | (KeyAlgorithm::ES384, Algorithm::ES384)
    )
}

/// Verifies the signature with `key` and checks iss, aud, azp, exp, iat, nbf and nonce.
/// Returns the claims.
pub fn validate(
    token: &str,
    header: &TokenHeader,
    key: &Jwk,
    expect: &Expectations<'_>,
) -> Result<serde_json::Map<String, Value>, Refusal> {
    let claims = signed_claims(
        token,
        header,
        key,
        expect.issuer,
        expect.client_id,
        expect.now_s,
    )?;
    let exp = claims
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or(Refusal::Expired)?;
    if expect.now_s - MAX_SKEW_S >= exp {
        return Err(Refusal::Expired);
    }
    let nonce = claims.get("nonce").and_then(Value::as_str).unwrap_or("");
    if nonce.is_empty() || !crate::service::secrets::constant_time_eq(nonce, expect.nonce) {
        return Err(Refusal::NonceMismatch);
    }
    if claims
        .get("sub")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err(Refusal::MissingSubject);
    }
    Ok(claims)
}

/// The event a back-channel logout token carries.
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// What a back-channel logout token names: the provider's session, its subject, or both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutClaims {
    pub sid: Option<String>,
    pub sub: Option<String>,
}

/// Validates a back-channel logout token (OpenID Connect Back-Channel Logout 1.0 §2.6): the
/// signature, iss, aud, azp, iat and nbf as for an ID token, `exp` when present, then the
/// logout event in `events`, a `jti`, no `nonce` (an ID token cannot pass as one), and a
/// `sid` or a `sub`.
pub fn validate_logout(
    token: &str,
    header: &TokenHeader,
    key: &Jwk,
    issuer: &str,
    client_id: &str,
    now_s: i64,
) -> Result<LogoutClaims, Refusal> {
    let claims = signed_claims(token, header, key, issuer, client_id, now_s)?;
    if let Some(exp) = claims.get("exp") {
        let exp = exp.as_i64().ok_or(Refusal::MalformedInput)?;
        if now_s - MAX_SKEW_S >= exp {
            return Err(Refusal::Expired);
        }
    }
    let has_event = claims
        .get("events")
        .and_then(Value::as_object)
        .is_some_and(|events| events.contains_key(BACKCHANNEL_LOGOUT_EVENT));
    let text = |name: &str| {
        claims
            .get(name)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let (sid, sub) = (text("sid"), text("sub"));
    if !has_event
        || claims.contains_key("nonce")
        || text("jti").is_none()
        || (sid.is_none() && sub.is_none())
    {
        return Err(Refusal::NotALogoutToken);
    }
    Ok(LogoutClaims { sid, sub })
}

/// The claims of a token whose signature `key` verifies, issued by `issuer` for `client_id`
/// (iss, aud, azp), already issued and valid (iat, nbf) with the allowed skew.
fn signed_claims(
    token: &str,
    header: &TokenHeader,
    key: &Jwk,
    issuer: &str,
    client_id: &str,
    now_s: i64,
) -> Result<serde_json::Map<String, Value>, Refusal> {
    let decoding = DecodingKey::from_jwk(key).map_err(|_| Refusal::UnknownKey)?;
    let mut validation = Validation::new(header.alg);
    validation.algorithms = vec![header.alg];
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let data =
        jsonwebtoken::decode::<serde_json::Map<String, Value>>(token, &decoding, &validation)
            .map_err(|_| Refusal::BadSignature)?;
    let claims = data.claims;
    if claims.get("iss").and_then(Value::as_str) != Some(issuer) {
        return Err(Refusal::WrongIssuer);
    }
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !audiences.contains(&client_id) {
        return Err(Refusal::WrongAudience);
    }
    let azp = claims.get("azp").and_then(Value::as_str);
    if (audiences.len() > 1 || azp.is_some()) && azp != Some(client_id) {
        return Err(Refusal::AzpMismatch);
    }
    let iat = claims
        .get("iat")
        .and_then(Value::as_i64)
        .ok_or(Refusal::MalformedInput)?;
    if iat > now_s + MAX_SKEW_S {
        return Err(Refusal::NotYetValid);
    }
    if let Some(nbf) = claims.get("nbf").and_then(Value::as_i64)
        && nbf > now_s + MAX_SKEW_S
    {
        return Err(Refusal::NotYetValid);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token_with_header(header: &str) -> String {
        let enc = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!("{}.{}.sig", enc(header), enc("{}"))
    }

    #[test]
    fn header_refuses_none_and_symmetric_algorithms() {
        assert_eq!(
            read_header(&token_with_header(r#"{"alg":"none"}"#)),
            Err(Refusal::AlgNone)
        );
        assert_eq!(
            read_header(&token_with_header(r#"{"alg":"NoNe"}"#)),
            Err(Refusal::AlgNone)
        );
        for alg in ["HS256", "HS384", "HS512", "EdDSA", "XYZ"] {
            assert_eq!(
                read_header(&token_with_header(&format!(r#"{{"alg":"{alg}"}}"#))),
                Err(Refusal::AlgNotAllowed),
                "{alg}"
            );
        }
        let h = read_header(&token_with_header(r#"{"alg":"RS256","kid":"k1"}"#)).unwrap();
        assert_eq!(h.alg, Algorithm::RS256);
        assert_eq!(h.kid.as_deref(), Some("k1"));
        assert_eq!(read_header("a.b"), Err(Refusal::MalformedInput));
        assert_eq!(read_header("!!.b.c"), Err(Refusal::MalformedInput));
    }
}
