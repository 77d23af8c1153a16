//! Webhooks as pure logic: which URLs may receive deliveries, which entries a subscription
//! takes, how a delivery is signed, and how long to wait after a failure.
//!
//! No I/O, no clock, no randomness: the caller passes the time and the jitter.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::audit::{AuditEntry, check_pattern, event_of, pattern_matches};
use super::policy::{self, BasePermissions, CompiledRole, Resource, decide};

/// The header that carries a delivery's signature.
pub const SIGNATURE_HEADER: &str = "X-Gatehouse-Signature";
/// Events per delivery at most.
pub const MAX_BATCH: u64 = 100;
/// The first retry waits this long; each failure doubles it up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// Why a webhook's settings are refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("url: {0}")]
    Url(String),
    #[error("events[{index}]: {reason}")]
    Event { index: usize, reason: String },
    #[error("statements: {0}")]
    Statements(String),
}

/// Checks a receiver URL: `http` or `https`, a host, no credentials, and not a link-local
/// address (where cloud metadata services answer) unless the deployment allows it.
pub fn check_url(text: &str, allow_link_local: bool) -> Result<url::Url, WebhookError> {
    let bad = |m: &str| WebhookError::Url(m.to_owned());
    let url = url::Url::parse(text).map_err(|e| WebhookError::Url(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("only http and https URLs are accepted"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad(
            "credentials in the URL are refused; use the secret to authenticate",
        ));
    }
    let Some(host) = url.host() else {
        return Err(bad("a host is required"));
    };
    let ip = match host {
        url::Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
        url::Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
        url::Host::Domain(_) => None,
    };
    if !allow_link_local && ip.is_some_and(is_link_local) {
        return Err(bad(
            "link-local addresses (169.254.0.0/16, fe80::/10) are refused; \
             set GATEHOUSE_WEBHOOK_ALLOW_LINK_LOCAL=true to allow them",
        ));
    }
    Ok(url)
}

/// 169.254.0.0/16 and fe80::/10, also as IPv4-mapped IPv6.
pub fn is_link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.is_link_local(),
            None => (v6.segments().first().copied().unwrap_or(0) & 0xffc0) == 0xfe80,
        },
    }
}

/// The addresses a receiver's host name resolved to that a delivery may connect to: a name
/// may point at the cloud metadata service even though the URL names no address.
pub fn usable_addresses(
    found: impl IntoIterator<Item = SocketAddr>,
    allow_link_local: bool,
) -> Vec<SocketAddr> {
    found
        .into_iter()
        .filter(|a| allow_link_local || !is_link_local(a.ip()))
        .collect()
}

/// Checks event patterns, naming the first bad one.
pub fn check_events(patterns: &[String]) -> Result<(), WebhookError> {
    for (index, p) in patterns.iter().enumerate() {
        check_pattern(p).map_err(|e| WebhookError::Event {
            index,
            reason: e.to_string(),
        })?;
    }
    Ok(())
}

/// What a subscription takes from the log: entries whose event matches one of `events`
/// (all when there are none) and, when there are statements, one of whose accesses the
/// statements allow (deny beats allow, unmatched is left out, as in a role).
#[derive(Debug, Clone)]
pub struct WebhookFilter {
    events: Vec<String>,
    statements: Option<CompiledRole>,
}

impl WebhookFilter {
    /// Builds the filter, validating the statements as a role's (no role attributes).
    pub fn new(events: &[String], statements: &[serde_json::Value]) -> Result<Self, WebhookError> {
        check_events(events)?;
        let statements = if statements.is_empty() {
            None
        } else {
            let parsed = policy::validate(statements, &[])
                .map_err(|e| WebhookError::Statements(e.to_string()))?;
            Some(
                CompiledRole::compile(
                    "webhook",
                    &parsed,
                    BasePermissions::NoAccess,
                    &BTreeMap::new(),
                )
                .map_err(|e| WebhookError::Statements(e.to_string()))?,
            )
        };
        Ok(WebhookFilter {
            events: events.to_vec(),
            statements,
        })
    }

    /// Whether the subscription takes this entry.
    pub fn accepts(&self, entry: &AuditEntry) -> bool {
        let name = event_of(entry).name();
        if !self.events.is_empty() && !self.events.iter().any(|p| pattern_matches(p, name)) {
            return false;
        }
        let Some(role) = &self.statements else {
            return true;
        };
        entry.accesses.iter().any(|access| {
            access
                .resource
                .parse::<Resource>()
                .is_ok_and(|r| decide(&[role], access.action.as_str(), &r).allowed)
        })
    }
}

/// A delivery carries a signed checkpoint of its last entry when this many entries passed
/// since the last checkpoint ...
pub const CHECKPOINT_EVERY_ENTRIES: i64 = 1000;
/// ... or this much time (ms), whichever comes first.
pub const CHECKPOINT_EVERY_MS: i64 = 60_000;

/// Whether a delivery ending at `to_seq` at `now` (ms) carries a checkpoint, given the last
/// one sent (`None`: none yet, so the first delivery does).
pub fn checkpoint_due(last: Option<(i64, i64)>, to_seq: i64, now: i64) -> bool {
    match last {
        None => true,
        Some((seq, at)) => {
            to_seq > seq
                && (to_seq - seq >= CHECKPOINT_EVERY_ENTRIES || now - at >= CHECKPOINT_EVERY_MS)
        }
    }
}

/// The signature header's value: `t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
pub fn signature(secret: &str, unix_seconds: i64, body: &[u8]) -> String {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(unix_seconds.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "t={unix_seconds},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

/// How long to wait after `failures` failed attempts in a row (1 or more): 1 s doubling up
/// to 5 min, then scaled by `jitter` in [0, 1) to between half and all of it, so receivers
/// coming back are not hit by every replica's retries at once.
pub fn backoff(failures: u32, jitter: f64) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    let full = FIRST_BACKOFF
        .saturating_mul(1u32 << doublings)
        .min(MAX_BACKOFF);
    let jitter = jitter.clamp(0.0, 1.0);
    full.mul_f64(0.5 + jitter / 2.0)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn entry(kind: &str, action: &str, resource: &str) -> AuditEntry {
        AuditEntry::for_test(kind, &[(action, resource)])
    }

    #[test]
    fn urls() {
        assert!(check_url("https://siem.example.com/hook", false).is_ok());
        assert!(check_url("http://127.0.0.1:9000/x", false).is_ok());
        assert!(check_url("http://[::1]:9000/x", false).is_ok());
        assert!(check_url("ftp://example.com/", false).is_err());
        assert!(check_url("https://user:pw@example.com/", false).is_err());
        assert!(check_url("https://user@example.com/", false).is_err());
        assert!(check_url("http://169.254.169.254/latest", false).is_err());
        assert!(check_url("http://169.254.169.254/latest", true).is_ok());
        assert!(check_url("http://[fe80::1]/", false).is_err());
        assert!(check_url("http://[::ffff:169.254.1.1]/", false).is_err());
        assert!(check_url("not a url", false).is_err());
    }

    #[test]
    fn a_name_resolving_to_link_local_addresses_keeps_only_the_others() {
        let addr = |text: &str| text.parse::<SocketAddr>().unwrap();
        let found = [
            addr("169.254.169.254:80"),
            addr("203.0.113.7:80"),
            addr("[fe80::1]:80"),
            addr("[::ffff:169.254.1.1]:80"),
            addr("[2001:db8::1]:80"),
        ];
        assert_eq!(
            usable_addresses(found, false),
            [addr("203.0.113.7:80"), addr("[2001:db8::1]:80")]
        );
        assert_eq!(usable_addresses(found, true), found);
        // Only metadata addresses: nothing to connect to, and the delivery fails.
        assert!(usable_addresses([addr("169.254.169.254:80")], false).is_empty());
    }

    #[test]
    fn filters_by_event_and_statement() {
        let member = entry("member", "createMember", "member/m1");
        let flag = entry("flag", "updateOn", "proj/p:env/production:flag/f");
        let all = WebhookFilter::new(&[], &[]).unwrap();
        assert!(all.accepts(&member) && all.accepts(&flag));
        let members = WebhookFilter::new(&["member.*".into()], &[]).unwrap();
        assert!(members.accepts(&member) && !members.accepts(&flag));
        let production = WebhookFilter::new(
            &[],
            &[
                json!({"effect": "allow", "actions": ["*"], "resources": ["proj/*:env/*:flag/*"]}),
                json!({"effect": "deny", "actions": ["*"], "resources": ["proj/*:env/test:flag/*"]}),
            ],
        )
        .unwrap();
        assert!(production.accepts(&flag));
        assert!(!production.accepts(&member));
        assert!(!production.accepts(&entry("flag", "updateOn", "proj/p:env/test:flag/f")));
        assert!(WebhookFilter::new(&["nope.*".into()], &[]).is_err());
        assert!(WebhookFilter::new(&[], &[json!({"effect": "maybe"})]).is_err());
    }

    #[test]
    fn statements_select_sign_ins_and_sign_outs() {
        let sign_in = entry("session", "signIn", "connection/okta");
        let sign_out = entry("session", "signOut", "member/m1");
        let sessions = WebhookFilter::new(
            &[],
            &[
                json!({"effect": "allow", "actions": ["signIn"], "resources": ["connection/okta"]}),
                json!({"effect": "allow", "actions": ["signOut"], "resources": ["member/*"]}),
            ],
        )
        .unwrap();
        assert!(sessions.accepts(&sign_in) && sessions.accepts(&sign_out));
        assert!(!sessions.accepts(&entry("session", "signIn", "connection/entra")));
        assert!(!sessions.accepts(&entry("member", "createMember", "member/m1")));
    }

    #[test]
    fn signature_is_hmac_of_time_dot_body() {
        // The expected value was computed independently, with Python's hmac module.
        let sig = signature("key", 1, b"{}");
        assert_eq!(
            sig,
            "t=1,v1=1ba6b8171186efc613e8bcc0cbdab2748f24984d7c5a84faa2637afa0e40d224"
        );
        assert_ne!(sig, signature("other", 1, b"{}"));
        assert_ne!(sig, signature("key", 2, b"{}"));
    }

    #[test]
    fn checkpoints_every_thousand_entries_or_minute() {
        assert!(checkpoint_due(None, 5, 0));
        assert!(!checkpoint_due(Some((5, 0)), 100, 1_000));
        assert!(checkpoint_due(Some((5, 0)), 1_005, 1_000));
        assert!(checkpoint_due(Some((5, 0)), 6, 60_000));
        assert!(!checkpoint_due(Some((5, 0)), 5, 120_000), "nothing new");
    }

    #[test]
    fn backoff_doubles_to_five_minutes_with_jitter() {
        assert_eq!(backoff(1, 1.0), Duration::from_secs(1));
        assert_eq!(backoff(2, 1.0), Duration::from_secs(2));
        assert_eq!(backoff(4, 1.0), Duration::from_secs(8));
        assert_eq!(backoff(30, 1.0), MAX_BACKOFF);
        assert_eq!(backoff(1, 0.0), Duration::from_millis(500));
        assert!(backoff(9, 0.3) <= MAX_BACKOFF);
    }
}
