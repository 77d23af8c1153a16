//! The back channel to an OpenID Provider over reqwest 0.12 (rustls, no redirects followed):
//! discovery, the JWKS with a cache that is refetched on an unknown `kid` (at most once a
//! minute per provider), the token request and userinfo.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jsonwebtoken::jwk::JwkSet;
use serde::Deserialize;
use serde_json::Value;

use crate::domain::sso::Refusal;

/// Discovery documents are kept this long.
const DISCOVERY_TTL_MS: i64 = 60 * 60 * 1000;
/// Cached key sets are used this long before a routine refetch.
const JWKS_TTL_MS: i64 = 60 * 60 * 1000;
/// At most one refetch for an unknown `kid` per provider in this window.
const UNKNOWN_KID_REFETCH_MS: i64 = 60 * 1000;
/// The largest provider answer read.
const MAX_BODY_BYTES: usize = 256 * 1024;

/// The parts of `/.well-known/openid-configuration` we use.
#[derive(Debug, Clone, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    #[serde(default)]
    pub userinfo_endpoint: Option<String>,
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Option<Vec<String>>,
    /// RP-initiated logout.
    #[serde(default)]
    pub end_session_endpoint: Option<String>,
}

#[derive(Debug, Clone)]
struct CachedJwks {
    keys: Arc<JwkSet>,
    fetched_at: i64,
    last_unknown_kid_refetch: Option<i64>,
}

/// The token endpoint's answer.
#[derive(Debug, Clone, Deserialize)]
pub struct TokenResponse {
    pub id_token: Option<String>,
    pub access_token: Option<String>,
}

/// Discovery documents by issuer, with when they were fetched.
type DiscoveryCache = Arc<Mutex<HashMap<String, (i64, Arc<Discovery>)>>>;

/// Provider metadata and keys, cached per issuer for the whole process.
#[derive(Clone)]
pub struct ProviderCache {
    http: reqwest::Client,
    discovery: DiscoveryCache,
    jwks: Arc<Mutex<HashMap<String, CachedJwks>>>,
}

impl Default for ProviderCache {
    fn default() -> Self {
        // Never follow redirects on the back channel (SSRF), and never wait forever.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default();
        ProviderCache {
            http,
            discovery: Arc::default(),
            jwks: Arc::default(),
        }
    }
}

async fn read_json<T: serde::de::DeserializeOwned>(resp: reqwest::Response) -> Result<T, Refusal> {
    if !resp.status().is_success() {
        return Err(Refusal::ProviderUnavailable);
    }
    if resp
        .content_length()
        .is_some_and(|l| l > MAX_BODY_BYTES as u64)
    {
        return Err(Refusal::ProviderUnavailable);
    }
    let bytes = resp
        .bytes()
        .await
        .map_err(|_| Refusal::ProviderUnavailable)?;
    if bytes.len() > MAX_BODY_BYTES {
        return Err(Refusal::ProviderUnavailable);
    }
    serde_json::from_slice(&bytes).map_err(|_| Refusal::ProviderUnavailable)
}

impl ProviderCache {
    /// The issuer's discovery document; its `issuer` must equal the configured one exactly.
    pub async fn discover(&self, issuer: &str, now: i64) -> Result<Arc<Discovery>, Refusal> {
        if let Ok(map) = self.discovery.lock()
            && let Some((at, doc)) = map.get(issuer)
            && now - at < DISCOVERY_TTL_MS
        {
            return Ok(doc.clone());
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let resp = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|_| Refusal::ProviderUnavailable)?;
        let doc: Discovery = read_json(resp).await?;
        if doc.issuer != issuer {
            return Err(Refusal::WrongIssuer);
        }
        let doc = Arc::new(doc);
        if let Ok(mut map) = self.discovery.lock() {
            map.insert(issuer.to_owned(), (now, doc.clone()));
        }
        Ok(doc)
    }

    async fn fetch_jwks(&self, jwks_uri: &str) -> Result<JwkSet, Refusal> {
        let resp = self
            .http
            .get(jwks_uri)
            .send()
            .await
            .map_err(|_| Refusal::ProviderUnavailable)?;
        // Keys we cannot parse are dropped rather than failing the whole set.
        let raw: Value = read_json(resp).await?;
        let keys = raw
            .get("keys")
            .and_then(Value::as_array)
            .ok_or(Refusal::ProviderUnavailable)?
            .iter()
            .filter_map(|k| serde_json::from_value(k.clone()).ok())
            .collect();
        Ok(JwkSet { keys })
    }

    /// The provider's keys: cached, or fetched when missing or stale.
    pub async fn keys(&self, jwks_uri: &str, now: i64) -> Result<Arc<JwkSet>, Refusal> {
        if let Ok(map) = self.jwks.lock()
            && let Some(c) = map.get(jwks_uri)
            && now - c.fetched_at < JWKS_TTL_MS
        {
            return Ok(c.keys.clone());
        }
        let keys = Arc::new(self.fetch_jwks(jwks_uri).await?);
        if let Ok(mut map) = self.jwks.lock() {
            let last = map.get(jwks_uri).and_then(|c| c.last_unknown_kid_refetch);
            map.insert(
                jwks_uri.to_owned(),
                CachedJwks {
                    keys: keys.clone(),
                    fetched_at: now,
                    last_unknown_kid_refetch: last,
                },
            );
        }
        Ok(keys)
    }

    /// Refetches the keys after an unknown `kid` (key rotation), unless a refetch for an
    /// unknown `kid` already happened within the last minute. None when rate-limited.
    pub async fn refetch_for_unknown_kid(
        &self,
        jwks_uri: &str,
        now: i64,
    ) -> Result<Option<Arc<JwkSet>>, Refusal> {
        if let Ok(mut map) = self.jwks.lock()
            && let Some(c) = map.get_mut(jwks_uri)
        {
            if c.last_unknown_kid_refetch
                .is_some_and(|t| now - t < UNKNOWN_KID_REFETCH_MS)
            {
                return Ok(None);
            }
            c.last_unknown_kid_refetch = Some(now);
        }
        let keys = Arc::new(self.fetch_jwks(jwks_uri).await?);
        if let Ok(mut map) = self.jwks.lock() {
            map.insert(
                jwks_uri.to_owned(),
                CachedJwks {
                    keys: keys.clone(),
                    fetched_at: now,
                    last_unknown_kid_refetch: Some(now),
                },
            );
        }
        Ok(Some(keys))
    }

    /// Exchanges the authorization code (with the PKCE verifier) for tokens.
    pub async fn exchange_code(
        &self,
        discovery: &Discovery,
        client_id: &str,
        client_secret: Option<&str>,
        code: &str,
        redirect_uri: &str,
        code_verifier: &str,
    ) -> Result<TokenResponse, Refusal> {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", code_verifier),
        ];
        let post_auth = discovery
            .token_endpoint_auth_methods_supported
            .as_ref()
            .is_some_and(|m| {
                !m.iter().any(|x| x == "client_secret_basic")
                    && m.iter().any(|x| x == "client_secret_post")
            });
        let mut req = self.http.post(&discovery.token_endpoint);
        match client_secret {
            Some(secret) if post_auth => {
                form.push(("client_id", client_id));
                form.push(("client_secret", secret));
            }
            Some(secret) => {
                // RFC 6749 §2.3.1: form-urlencode the parts before Basic.
                let enc = |s: &str| url_encode(s);
                req = req.basic_auth(enc(client_id), Some(enc(secret)));
            }
            None => form.push(("client_id", client_id)),
        }
        let resp = req
            .form(&form)
            .send()
            .await
            .map_err(|_| Refusal::ProviderUnavailable)?;
        if resp.status().is_client_error() {
            return Err(Refusal::ProviderError);
        }
        read_json(resp).await
    }

    /// Userinfo claims with the access token.
    pub async fn userinfo(
        &self,
        endpoint: &str,
        access_token: &str,
    ) -> Result<serde_json::Map<String, Value>, Refusal> {
        let resp = self
            .http
            .get(endpoint)
            .bearer_auth(access_token)
            .header("Accept", "application/json")
            .send()
            .await
            .map_err(|_| Refusal::ProviderUnavailable)?;
        read_json(resp).await
    }
}

/// `application/x-www-form-urlencoded` of one value.
fn url_encode(s: &str) -> String {
    reqwest::Url::parse_with_params("http://x/", &[("v", s)])
        .ok()
        .and_then(|u| u.query().map(|q| q.trim_start_matches("v=").to_owned()))
        .unwrap_or_default()
}

/// The PKCE S256 challenge of a verifier.
pub fn pkce_challenge(verifier: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_challenge_is_base64url_sha256() {
        // Expected value computed independently:
        // printf %s VERIFIER | openssl dgst -sha256 -binary | base64 | tr '+/' '-_' | tr -d =
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gXFG6EA8Y"),
            "vlA8PsZhrBqc8hXkBbI7arpd3BAGxn-VUS-WG4H_tV8"
        );
    }

    #[test]
    fn url_encode_escapes_reserved_characters() {
        assert_eq!(url_encode("a b:c&d"), "a+b%3Ac%26d");
    }
}
