//! Fetches IdP metadata published at a URL (`saml.idpMetadataUrl`): when a connection is
//! saved, and every `metadataRefreshMinutes` after. The service keeps the last good document
//! and its status; here each document is fetched and read, and refused with a named reason
//! when it cannot be trusted.
//!
//! What is refused: an unreachable URL or a non-200 answer; a redirect to a link-local
//! address (where cloud metadata services answer), or away from https; a body over 1 MiB;
//! a body that is not XML, or not SAML metadata; metadata for another entity ID than the
//! connection's (the configured one, else the one its first good document named); metadata
//! without a signing certificate.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::metadata::parse_idp_metadata;
use crate::domain::webhook::is_link_local;
use crate::service::Service;
use crate::service::saml_metadata::{FetchedMetadata, MetadataRefusal, MetadataSource};
use crate::service::webhooks::delivery::GuardedResolver;

/// How often due connections are looked for (each has its own refresh interval).
const LOOK_EVERY: Duration = Duration::from_secs(60);
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_REDIRECTS: usize = 5;
const MAX_BYTES: usize = 1 << 20;

/// Starts the fetcher: it looks for due connections every minute, and at once when the
/// service says a connection with a metadata URL was saved.
pub fn start(service: Service) {
    tokio::spawn(async move {
        let client = client();
        loop {
            match service.saml_metadata_sources().await {
                Ok(sources) => {
                    for source in sources {
                        let fetched = fetch(&client, &source).await;
                        if let Err(error) = service.record_saml_metadata(&source, fetched).await {
                            tracing::warn!(connection = %source.key, %error, "IdP metadata not recorded");
                        }
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot list connections to fetch IdP metadata for")
                }
            }
            tokio::select! {
                () = tokio::time::sleep(LOOK_EVERY) => {}
                () = service.saml_metadata_due().notified() => {}
            }
        }
    });
}

fn client() -> reqwest::Client {
    let policy = reqwest::redirect::Policy::custom(|attempt| {
        if attempt.previous().len() >= MAX_REDIRECTS {
            return attempt.error("too many redirects");
        }
        match redirect_refusal(attempt.url()) {
            Some(reason) => attempt.error(reason),
            None => attempt.follow(),
        }
    });
    reqwest::Client::builder()
        .timeout(FETCH_TIMEOUT)
        .redirect(policy)
        .dns_resolver(Arc::new(GuardedResolver {
            allow_link_local: Arc::new(AtomicBool::new(false)),
        }))
        .build()
        .unwrap_or_default()
}

/// Why a redirect may not be followed: to a link-local address, or to plain http anywhere
/// but a loopback host.
fn redirect_refusal(url: &reqwest::Url) -> Option<&'static str> {
    let ip = match url.host() {
        Some(url::Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
        Some(url::Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
        _ => None,
    };
    if ip.is_some_and(is_link_local) {
        return Some("a redirect to a link-local address");
    }
    let loopback = ip.is_some_and(|ip| ip.is_loopback()) || url.host_str() == Some("localhost");
    (url.scheme() != "https" && !(url.scheme() == "http" && loopback))
        .then_some("a redirect away from https")
}

fn refusal(reason: &'static str, detail: impl Into<String>) -> MetadataRefusal {
    MetadataRefusal {
        reason,
        detail: detail.into(),
    }
}

/// Fetches and reads one connection's metadata.
async fn fetch(
    client: &reqwest::Client,
    source: &MetadataSource,
) -> Result<FetchedMetadata, MetadataRefusal> {
    let url = reqwest::Url::parse(&source.url).map_err(|e| refusal("bad_url", e.to_string()))?;
    if let Some(reason) = redirect_refusal(&url).filter(|r| r.contains("link-local")) {
        return Err(refusal("link_local", reason));
    }
    let response = client.get(url).send().await.map_err(|e| {
        let text = with_causes(&e);
        if e.is_redirect() && text.contains("link-local") {
            refusal("link_local_redirect", text)
        } else if e.is_redirect() {
            refusal("bad_redirect", text)
        } else {
            refusal("unreachable", text)
        }
    })?;
    if response.status() != reqwest::StatusCode::OK {
        return Err(refusal(
            "http_status",
            format!("the metadata URL answered {}", response.status()),
        ));
    }
    let body = read_capped(response).await?;
    read(&body, source)
}

/// An error and the errors it wraps, `: `-separated (a refused redirect's reason is a cause).
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        text.push_str(": ");
        text.push_str(&e.to_string());
        cause = e.source();
    }
    text
}

async fn read_capped(mut response: reqwest::Response) -> Result<Vec<u8>, MetadataRefusal> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| refusal("unreachable", e.to_string()))?
    {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_BYTES {
            return Err(refusal("too_large", "the metadata is over 1 MiB"));
        }
    }
    Ok(body)
}

/// Reads a fetched body as the connection's metadata.
fn read(body: &[u8], source: &MetadataSource) -> Result<FetchedMetadata, MetadataRefusal> {
    let text = std::str::from_utf8(body)
        .ok()
        .filter(|t| t.trim_start().starts_with('<'))
        .ok_or_else(|| refusal("not_xml", "the metadata URL did not answer XML"))?;
    let meta = parse_idp_metadata(text).map_err(|e| refusal("invalid_metadata", e))?;
    if let Some(expected) = &source.entity_id
        && &meta.entity_id != expected
    {
        return Err(refusal(
            "other_entity",
            format!("the metadata is for {:?}, not {expected:?}", meta.entity_id),
        ));
    }
    if meta.certificates.is_empty() {
        return Err(refusal(
            "no_certificate",
            "the metadata has no signing certificate",
        ));
    }
    Ok(FetchedMetadata {
        xml: text.to_owned(),
        entity_id: meta.entity_id,
        certificates: meta
            .certificates
            .iter()
            .map(|der| hex::encode(Sha256::digest(der)))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_stay_on_https_or_loopback_and_off_link_local() {
        let url = |u: &str| reqwest::Url::parse(u).unwrap();
        assert_eq!(redirect_refusal(&url("https://idp.example.com/m")), None);
        assert_eq!(redirect_refusal(&url("http://127.0.0.1:8080/m")), None);
        assert_eq!(redirect_refusal(&url("http://localhost/m")), None);
        assert!(redirect_refusal(&url("http://169.254.169.254/latest/meta-data")).is_some());
        assert!(redirect_refusal(&url("https://[fe80::1]/m")).is_some());
        assert!(redirect_refusal(&url("http://idp.example.com/m")).is_some());
    }

    #[test]
    fn bodies_that_are_not_metadata_for_the_connection_are_named() {
        let source = MetadataSource {
            key: "k".into(),
            url: "https://idp/m".into(),
            entity_id: Some("https://idp/entity".into()),
        };
        let reason = |body: &str| read(body.as_bytes(), &source).err().map(|r| r.reason);
        assert_eq!(reason("{\"json\": true}"), Some("not_xml"));
        assert_eq!(
            reason("<html><body>login</body></html>"),
            Some("invalid_metadata")
        );
        let other = r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://evil/entity"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"/></md:EntityDescriptor>"#;
        assert_eq!(reason(other), Some("other_entity"));
        let no_cert = other.replace("https://evil/entity", "https://idp/entity");
        assert_eq!(reason(&no_cert), Some("no_certificate"));
    }
}
