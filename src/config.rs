//! Typed configuration: every setting is a `GATEHOUSE_*` environment variable and a flag.

use std::net::SocketAddr;

use clap::{Args, ValueEnum};

use crate::domain::ip_allowlist::AddressList;
use crate::domain::session::SessionTimeouts;
use crate::edge::client_address::TrustedProxies;

/// Settings shared by every subcommand. Each can be given as a flag or as its environment
/// variable; the flag wins.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Database URL: a SQLite file (`sqlite://path?mode=rwc`) or PostgreSQL (`postgres://user@host/db`).
    #[arg(
        long,
        env = "GATEHOUSE_DATABASE_URL",
        default_value = "sqlite://gatehouse.db?mode=rwc",
        global = true
    )]
    pub database_url: String,

    /// Address the HTTP server binds to.
    #[arg(
        long,
        env = "GATEHOUSE_LISTEN",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub listen: SocketAddr,

    /// Public base URL of this service: the base of SAML entity IDs and ACS URLs, OIDC redirect
    /// URIs and SCIM `meta.location`.
    #[arg(
        long,
        env = "GATEHOUSE_PUBLIC_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub public_url: String,

    /// If set, an owner-role API token with exactly this secret exists (created once, audited).
    /// Use it to make the first calls on a fresh deployment; at least 16 characters.
    #[arg(
        long,
        env = "GATEHOUSE_BOOTSTRAP_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub bootstrap_token: Option<String>,

    /// Log filter in `tracing` syntax, for example `info` or `gatehouse=debug,sqlx=warn`.
    #[arg(long, env = "GATEHOUSE_LOG", default_value = "info", global = true)]
    pub log: String,

    /// Log format: `text` for people, `json` for log collectors (one JSON object per line).
    #[arg(long, env = "GATEHOUSE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,

    /// Largest request body accepted, in bytes; larger bodies get 413.
    #[arg(
        long,
        env = "GATEHOUSE_MAX_BODY_BYTES",
        default_value_t = 1_048_576,
        global = true
    )]
    pub max_body_bytes: usize,

    /// Most REST, SCIM and SSO requests served at once; more wait for a slot.
    #[arg(
        long,
        env = "GATEHOUSE_MAX_IN_FLIGHT",
        default_value_t = 64,
        global = true
    )]
    pub max_in_flight: usize,

    /// Longest a request waits for a slot, in milliseconds; one that would wait longer gets
    /// 429 with `Retry-After` at once.
    #[arg(
        long,
        env = "GATEHOUSE_MAX_QUEUE_WAIT_MS",
        default_value_t = 2000,
        global = true
    )]
    pub max_queue_wait_ms: u64,

    /// Minutes of inactivity after which an SSO browser session ends, until the account sets
    /// its own timeouts (`PUT /api/v2/account/session-settings`).
    #[arg(
        long,
        env = "GATEHOUSE_SESSION_IDLE_MINUTES",
        default_value_t = 480,
        global = true
    )]
    pub session_idle_minutes: i64,

    /// Hours after sign-in at which an SSO browser session ends, used or not, until the
    /// account sets its own timeouts.
    #[arg(
        long,
        env = "GATEHOUSE_SESSION_ABSOLUTE_HOURS",
        default_value_t = 24,
        global = true
    )]
    pub session_absolute_hours: i64,

    /// Accept webhook receivers on link-local addresses (169.254.0.0/16, fe80::/10), where
    /// cloud metadata services answer; refused by default.
    #[arg(
        long,
        env = "GATEHOUSE_WEBHOOK_ALLOW_LINK_LOCAL",
        default_value_t = false,
        action = clap::ArgAction::Set,
        global = true
    )]
    pub webhook_allow_link_local: bool,

    /// Proxies (comma-separated addresses or CIDR ranges) whose `X-Forwarded-For` header names
    /// the client: from such a peer, the client is the right-most forwarded address that is
    /// not itself a trusted proxy. From any other peer the header is ignored. Unset: the
    /// socket peer is always the client.
    #[arg(
        long,
        env = "GATEHOUSE_TRUSTED_PROXIES",
        default_value = "",
        global = true
    )]
    pub trusted_proxies: String,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// A configuration that cannot work, with a one-line reason.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("GATEHOUSE_DATABASE_URL must start with sqlite: or postgres:// (got {0:?})")]
    DatabaseUrl(String),
    #[error(
        "GATEHOUSE_PUBLIC_URL must be an absolute http(s) URL without a trailing slash (got {0:?})"
    )]
    PublicUrl(String),
    #[error(
        "GATEHOUSE_BOOTSTRAP_TOKEN must be 16 to 256 printable ASCII characters without spaces"
    )]
    BootstrapToken,
    #[error("GATEHOUSE_MAX_BODY_BYTES must be between 1024 and 104857600")]
    MaxBodyBytes,
    #[error(
        "GATEHOUSE_SESSION_IDLE_MINUTES must be 1 to 10080 and GATEHOUSE_SESSION_ABSOLUTE_HOURS 1 to 720, idle not longer than absolute"
    )]
    Session,
    #[error(
        "GATEHOUSE_MAX_IN_FLIGHT must be 1 to 100000 and GATEHOUSE_MAX_QUEUE_WAIT_MS 1 to 60000"
    )]
    Admission,
    #[error("GATEHOUSE_TRUSTED_PROXIES must be comma-separated IP addresses or CIDR ranges: {0}")]
    TrustedProxies(String),
    #[error("GATEHOUSE_LOG is not a valid filter: {0}")]
    Log(String),
}

impl Config {
    /// Checks what clap cannot: URL shapes and secret quality.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let db = &self.database_url;
        if !(db.starts_with("sqlite:")
            || db.starts_with("postgres://")
            || db.starts_with("postgresql://"))
        {
            return Err(ConfigError::DatabaseUrl(db.clone()));
        }
        let public = &self.public_url;
        let scheme_ok = public.starts_with("http://") || public.starts_with("https://");
        let host = public.split_once("://").map(|(_, rest)| rest).unwrap_or("");
        if !scheme_ok
            || host.is_empty()
            || public.ends_with('/')
            || public.contains(char::is_whitespace)
        {
            return Err(ConfigError::PublicUrl(public.clone()));
        }
        if let Some(token) = &self.bootstrap_token {
            let printable = token.chars().all(|c| c.is_ascii_graphic());
            if !(16..=256).contains(&token.len()) || !printable {
                return Err(ConfigError::BootstrapToken);
            }
        }
        if !(1024..=104_857_600).contains(&self.max_body_bytes) {
            return Err(ConfigError::MaxBodyBytes);
        }
        let timeouts = SessionTimeouts {
            idle_minutes: self.session_idle_minutes,
            absolute_hours: self.session_absolute_hours,
        };
        if timeouts.check().is_err() {
            return Err(ConfigError::Session);
        }
        if !(1..=100_000).contains(&self.max_in_flight)
            || !(1..=60_000).contains(&self.max_queue_wait_ms)
        {
            return Err(ConfigError::Admission);
        }
        self.trusted_proxy_list()?;
        tracing_subscriber::EnvFilter::try_new(&self.log)
            .map_err(|e| ConfigError::Log(e.to_string()))?;
        Ok(())
    }

    /// The trusted proxies, parsed.
    fn trusted_proxy_list(&self) -> Result<AddressList, ConfigError> {
        AddressList::parse_comma_separated(&self.trusted_proxies)
            .map_err(ConfigError::TrustedProxies)
    }

    /// The HTTP application's limits. Call after `validate` (a bad proxy list is then empty).
    pub fn app_limits(&self) -> crate::AppLimits {
        crate::AppLimits {
            trusted_proxies: TrustedProxies::new(self.trusted_proxy_list().unwrap_or_default()),
            max_body_bytes: self.max_body_bytes,
            admission: crate::AdmissionLimits {
                max_in_flight: self.max_in_flight,
                max_queue_wait: std::time::Duration::from_millis(self.max_queue_wait_ms),
            },
        }
    }

    /// Whether the public URL is https (then cookies are `Secure`).
    pub fn public_url_is_https(&self) -> bool {
        self.public_url.starts_with("https://")
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        config: Config,
    }

    fn config(args: &[&str]) -> Config {
        let mut argv = vec!["gatehouse"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv).unwrap().config
    }

    #[test]
    fn trusted_proxies_are_parsed_at_start_up_or_named_in_the_error() {
        assert!(config(&[]).app_limits().trusted_proxies.is_empty());
        let good = config(&["--trusted-proxies", "10.0.0.0/8, 192.168.1.7,2001:db8::/32"]);
        assert!(good.validate().is_ok());
        let bad = config(&["--trusted-proxies", "10.0.0.0/8,proxy.internal"]);
        let err = bad.validate().unwrap_err().to_string();
        assert!(
            err.starts_with("GATEHOUSE_TRUSTED_PROXIES") && err.contains("proxy.internal"),
            "{err}"
        );
    }
}
