//! What the HTTP load harnesses share: the real app on loopback over a fresh database, an
//! owner token, tuning from the environment, and latency percentiles.

// Each harness is its own crate and uses part of this.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use gatehouse::clock::SystemClock;
use gatehouse::service::Service;
use poem::listener::{Acceptor, Listener, TcpListener};
use serde_json::Value;

/// The service binary's allocator, so the figures are the binary's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub const TOKEN: &str = "bench-bootstrap-token-0123456789";

/// A number from the environment, or `default`.
pub fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// True under `cargo bench` (which passes `--bench`); under `cargo test` the harnesses run as
/// small smoke tests.
pub fn benching() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// The database a bench runs on: `GATEHOUSE_BENCH_DATABASE_URL`, else a SQLite file in
/// `dir`; with the backend's name for the printed figures.
pub fn bench_database(dir: &std::path::Path) -> (String, &'static str) {
    let url = std::env::var("GATEHOUSE_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}/bench.db?mode=rwc", dir.display()));
    let backend = if url.starts_with("postgres") {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    (url, backend)
}

/// The app serving on loopback.
pub struct Harness {
    /// "SQLite" or "PostgreSQL", for the printed figures.
    pub backend: &'static str,
    pub base: String,
    pub client: reqwest::Client,
    pub service: Service,
    _tmp: tempfile::TempDir,
}

impl Harness {
    /// Starts the app on `GATEHOUSE_BENCH_DATABASE_URL`, else on SQLite in a temp dir.
    pub async fn start() -> Harness {
        let tmp = tempfile::tempdir().unwrap();
        let (url, backend) = bench_database(tmp.path());
        let db = gatehouse::db::connect(&url).await.unwrap();
        gatehouse::db::migrate(&db).await.unwrap();
        let service = Service::new(db, Arc::new(SystemClock)).await.unwrap();
        service.ensure_bootstrap_token(TOKEN).await.unwrap();
        let app = gatehouse::build_app(service.clone(), gatehouse::AppLimits::default());
        let acceptor = TcpListener::bind("127.0.0.1:0")
            .into_acceptor()
            .await
            .unwrap();
        let addr = acceptor.local_addr()[0].as_socket_addr().cloned().unwrap();
        tokio::spawn(async move { poem::Server::new_with_acceptor(acceptor).run(app).await });
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .build()
            .unwrap();
        Harness {
            backend,
            base: format!("http://{addr}"),
            client,
            service,
            _tmp: tmp,
        }
    }

    /// `POST path` with the owner token; the status and the JSON body (`null` if none).
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let resp = self
            .client
            .post(format!("{}{path}", self.base))
            .header("Authorization", TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// `GET path` with the owner token, as JSON.
    pub async fn get_json(&self, path: &str) -> Value {
        self.client
            .get(format!("{}{path}", self.base))
            .header("Authorization", TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

/// The `p`-quantile of sorted latencies.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let last = sorted.len().saturating_sub(1);
    sorted[((sorted.len() as f64 * p) as usize).min(last)]
}
