//! The `gatehouse` command: serve (default), migrate, openapi, token, audit.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use gatehouse::clock::SystemClock;
use gatehouse::config::{Config, LogFormat};
use gatehouse::domain::policy::BaseRole;
use gatehouse::service::Service;
use gatehouse::service::sessions::{SessionPolicy, SsoSettings};
use gatehouse::service::tokens::NewToken;
use gatehouse::{build_app, db};

/// mimalloc rather than the system allocator: a request allocates many small short-lived
/// values, and glibc's malloc spent about a tenth of the service's CPU under load
/// (`benches/load.rs`, which uses the same allocator).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use poem::listener::TcpListener;

/// Gatehouse: the identity edge of a feature-flag governance platform.
///
/// Every setting is an environment variable and a flag of the same name (the flag wins).
#[derive(Debug, Parser)]
#[command(name = "gatehouse", version, about, long_about)]
struct Cli {
    #[command(flatten)]
    config: Config,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Apply pending migrations and serve HTTP (the default).
    Serve,
    /// Apply pending migrations and exit.
    Migrate,
    /// Print the OpenAPI document.
    Openapi,
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Inspect the audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create a token and print its secret (the last word printed; shown once).
    Create {
        /// A name to recognise the token by.
        #[arg(long)]
        name: String,
        /// Base role of a new service token: reader, writer, admin or owner.
        #[arg(long, conflicts_with = "member", required_unless_present = "member")]
        role: Option<String>,
        /// Email of the member a new personal token acts as.
        #[arg(long)]
        member: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Recompute the hash chain; exit 1 and name the first broken entry if it does not hold.
    Verify,
    /// Check a JSON-lines file of events received from a webhook or the stream: hashes, links,
    /// checkpoints, gaps and order; exit 0 only when nothing is broken. Needs no database.
    VerifyStream {
        /// The file: one event (or one delivery body, or its `{fromSeq, toSeq}`) per line.
        file: std::path::PathBuf,
        /// The checkpoint signer's Ed25519 public key (64 hex digits, or base64 as
        /// `GET /api/v2/auditlog/checkpoint` shows it) to pin.
        #[arg(long)]
        public_key: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = cli.config.validate() {
        eprintln!("gatehouse: {e}");
        return ExitCode::from(2);
    }
    init_tracing(&cli.config);
    gatehouse::memory::without_transparent_huge_pages();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("gatehouse: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("gatehouse: {e}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(config: &Config) {
    let filter =
        tracing_subscriber::EnvFilter::try_new(&config.log).unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .init(),
        LogFormat::Text => builder.init(),
    }
}

async fn open(config: &Config) -> Result<Service, String> {
    let conn = db::connect(&config.database_url).await.map_err(|e| {
        format!(
            "cannot open the database {}: {e}",
            redact(&config.database_url)
        )
    })?;
    db::migrate(&conn)
        .await
        .map_err(|e| format!("migration failed: {e}"))?;
    let service = Service::new(conn, Arc::new(SystemClock))
        .await
        .map_err(|e| e.to_string())?;
    service.set_sso_settings(SsoSettings {
        public_url: config.public_url.clone(),
        session: SessionPolicy {
            idle_ms: config.session_idle_minutes * 60_000,
            absolute_ms: config.session_absolute_hours * 3_600_000,
        },
    });
    Ok(service)
}

/// `gatehouse audit verify-stream`: prints the report as JSON.
fn verify_stream(file: &std::path::Path, public_key: Option<&str>) -> Result<ExitCode, String> {
    let key = public_key.map(parse_public_key).transpose()?;
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let report = gatehouse::domain::audit::check_stream(text.lines(), key.as_ref());
    println!(
        "{}",
        serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?
    );
    Ok(if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// An Ed25519 public key as 64 hex digits or standard base64.
fn parse_public_key(text: &str) -> Result<[u8; 32], String> {
    use base64::Engine;
    let bytes = hex::decode(text)
        .ok()
        .or_else(|| base64::engine::general_purpose::STANDARD.decode(text).ok());
    bytes
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| "--public-key: not 32 bytes of hex or base64".to_owned())
}

/// Hides a password in a database URL before it reaches a log or terminal.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

async fn run(cli: Cli) -> Result<ExitCode, String> {
    let config = cli.config;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Openapi => {
            println!("{}", gatehouse::openapi_json());
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate => {
            open(&config).await?;
            eprintln!("migrations applied");
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve => serve(config).await.map(|()| ExitCode::SUCCESS),
        Command::Token {
            command: TokenCommand::Create { name, role, member },
        } => {
            let service = open(&config).await?;
            let token = match member {
                Some(email) => service.create_personal_token_for(&name, &email, None).await,
                None => {
                    let role = role.unwrap_or_default();
                    let role = BaseRole::parse(&role).ok_or_else(|| {
                        format!("--role {role:?} is not reader, writer, admin or owner")
                    })?;
                    service
                        .insert_token(
                            &gatehouse::service::Ctx::system(),
                            NewToken {
                                name,
                                description: None,
                                owner_id: None,
                                role: Some(role),
                                custom_roles: vec![],
                                inline_role: None,
                                expires_at: None,
                                secret: None,
                            },
                        )
                        .await
                }
            }
            .map_err(|e| e.to_string())?;
            eprintln!(
                "created token {} ({}); the secret is shown once:",
                token.id, token.name
            );
            println!("{}", token.token.unwrap_or_default());
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit {
            command: AuditCommand::VerifyStream { file, public_key },
        } => verify_stream(&file, public_key.as_deref()),
        Command::Audit {
            command: AuditCommand::Verify,
        } => {
            let service = open(&config).await?;
            let report = service.verify_audit().await.map_err(|e| e.to_string())?;
            println!(
                "{}",
                serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?
            );
            Ok(if report.valid {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}

async fn serve(config: Config) -> Result<(), String> {
    let service = open(&config).await?;
    if let Some(secret) = &config.bootstrap_token {
        service
            .ensure_bootstrap_token(secret)
            .await
            .map_err(|e| format!("bootstrap token: {e}"))?;
    }
    service.set_max_write_wait(Duration::from_millis(config.max_queue_wait_ms));
    service.set_webhook_allow_link_local(config.webhook_allow_link_local);
    service.start_webhook_delivery();
    gatehouse::sso::saml::metadata_refresh::start(service.clone());
    let app = build_app(service, config.app_limits());
    tracing::info!(listen = %config.listen, public_url = %config.public_url, "gatehouse listening");
    poem::Server::new(TcpListener::bind(config.listen))
        .run_with_graceful_shutdown(app, shutdown_signal(), Some(Duration::from_secs(20)))
        .await
        .map_err(|e| format!("cannot serve on {}: {e}", config.listen))
}

/// Resolves on SIGTERM or Ctrl-C: in-flight requests finish, new ones are refused.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
    tracing::info!("shutting down");
}
