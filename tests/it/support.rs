//! `TestApp`: the real application on a fresh database, served over real HTTP on loopback.
//!
//! SQLite (a temp file) by default; PostgreSQL when `TEST_DATABASE_URL` is set, with a fresh
//! schema per test so tests never see each other's rows or audit chain.

use std::sync::Arc;

use gatehouse::clock::{Clock, SystemClock};
use gatehouse::service::Service;
use poem::listener::{Acceptor, Listener, TcpListener};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

pub const BOOTSTRAP: &str = "test-bootstrap-token-0123456789";

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub service: Service,
    /// The URL the app's database was opened with (for CLI tests on the same database).
    pub database_url: String,
    _tmp: Option<tempfile::TempDir>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A database URL no other test uses.
pub async fn fresh_database() -> (String, Option<tempfile::TempDir>) {
    match std::env::var("TEST_DATABASE_URL") {
        Ok(base) if !base.is_empty() => {
            let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
            let admin = gatehouse::db::connect(&base)
                .await
                .expect("connect to TEST_DATABASE_URL");
            use sea_orm::ConnectionTrait;
            admin
                .execute_unprepared(&format!("CREATE SCHEMA {schema}"))
                .await
                .expect("create schema");
            admin.close().await.ok();
            let sep = if base.contains('?') { '&' } else { '?' };
            (
                format!("{base}{sep}options=-c%20search_path%3D{schema}"),
                None,
            )
        }
        _ => {
            let tmp = tempfile::tempdir().expect("tempdir");
            let url = format!("sqlite://{}/gatehouse.db?mode=rwc", tmp.path().display());
            (url, Some(tmp))
        }
    }
}

impl TestApp {
    /// A running app with the bootstrap owner token.
    pub async fn spawn() -> TestApp {
        let (url, tmp) = fresh_database().await;
        Self::spawn_on(url, tmp).await
    }

    pub async fn spawn_on(database_url: String, tmp: Option<tempfile::TempDir>) -> TestApp {
        Self::spawn_with(
            database_url,
            tmp,
            gatehouse::AppLimits {
                max_body_bytes: 64 * 1024,
                ..Default::default()
            },
        )
        .await
    }

    /// A running app on a fresh database with the given limits.
    pub async fn spawn_limited(limits: gatehouse::AppLimits) -> TestApp {
        let (url, tmp) = fresh_database().await;
        Self::spawn_with(url, tmp, limits).await
    }

    /// A running app on a fresh database whose time is `clock`'s.
    pub async fn spawn_with_clock(clock: Arc<dyn Clock>) -> TestApp {
        let (url, tmp) = fresh_database().await;
        Self::spawn_timed(url, tmp, gatehouse::AppLimits::default(), clock).await
    }

    /// Another app on an existing database with the given limits (a second replica).
    pub async fn spawn_on_limited(database_url: String, limits: gatehouse::AppLimits) -> TestApp {
        Self::spawn_with(database_url, None, limits).await
    }

    async fn spawn_with(
        database_url: String,
        tmp: Option<tempfile::TempDir>,
        limits: gatehouse::AppLimits,
    ) -> TestApp {
        Self::spawn_timed(database_url, tmp, limits, Arc::new(SystemClock)).await
    }

    async fn spawn_timed(
        database_url: String,
        tmp: Option<tempfile::TempDir>,
        limits: gatehouse::AppLimits,
        clock: Arc<dyn Clock>,
    ) -> TestApp {
        let db = gatehouse::db::connect(&database_url)
            .await
            .expect("connect");
        gatehouse::db::migrate(&db).await.expect("migrate");
        let service = Service::new(db, clock).await.expect("service");
        service
            .ensure_bootstrap_token(BOOTSTRAP)
            .await
            .expect("bootstrap");
        service.start_webhook_delivery();
        gatehouse::sso::saml::metadata_refresh::start(service.clone());
        let app = gatehouse::build_app(service.clone(), limits);
        let acceptor = TcpListener::bind("127.0.0.1:0")
            .into_acceptor()
            .await
            .expect("bind");
        let addr = acceptor
            .local_addr()
            .into_iter()
            .next()
            .and_then(|a| a.as_socket_addr().cloned())
            .expect("local addr");
        service.set_sso_settings(gatehouse::service::sessions::SsoSettings {
            public_url: format!("http://{addr}"),
            ..Default::default()
        });
        let server = tokio::spawn(async move {
            let _ = poem::Server::new_with_acceptor(acceptor).run(app).await;
        });
        TestApp {
            base: format!("http://{addr}"),
            client: reqwest::Client::new(),
            service,
            database_url,
            _tmp: tmp,
            server,
        }
    }

    /// Sends a request with `token` (None: no Authorization header) and returns status and JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .client
            .request(method, format!("{}{}", self.base, path));
        if let Some(t) = token {
            req = req.header("Authorization", t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, json)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(BOOTSTRAP), None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(BOOTSTRAP), Some(body))
            .await
    }
    pub async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PATCH, path, Some(BOOTSTRAP), Some(body))
            .await
    }
    pub async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PUT, path, Some(BOOTSTRAP), Some(body))
            .await
    }
    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, Some(BOOTSTRAP), None).await
    }

    /// A project `p` with environments `test` and `production` (critical), and a boolean flag `f`.
    pub async fn seed_flag_domain(&self) {
        let (s, body) = self
            .post(
                "/api/v2/projects",
                json!({"key": "p", "name": "Project P", "tags": ["web"]}),
            )
            .await;
        assert_eq!(s, 201, "{body}");
        let (s, body) = self
            .post(
                "/api/v2/projects/p/environments",
                json!({"key": "test", "name": "Test"}),
            )
            .await;
        assert_eq!(s, 201, "{body}");
        let (s, body) = self
            .post(
                "/api/v2/projects/p/environments",
                json!({"key": "production", "name": "Production", "critical": true}),
            )
            .await;
        assert_eq!(s, 201, "{body}");
        let (s, body) = self
            .post("/api/v2/flags/p", json!({"key": "f", "name": "Flag F"}))
            .await;
        assert_eq!(s, 201, "{body}");
    }

    /// A member with `role` and a personal token acting as that member.
    pub async fn member_with_token(&self, email: &str, role: &str) -> (String, String) {
        let (s, m) = self
            .post("/api/v2/members", json!({"email": email, "role": role}))
            .await;
        assert_eq!(s, 201, "{m}");
        let id = m["id"].as_str().expect("id").to_owned();
        let token = self
            .service
            .create_personal_token_for("test", email, None)
            .await
            .expect("token");
        (id, token.token.expect("secret"))
    }

    /// Audit entries (newest first) matching a query string like `action=updateOn`.
    pub async fn audit(&self, query: &str) -> Vec<Value> {
        let (s, body) = self
            .get(&format!("/api/v2/auditlog?limit=1000&{query}"))
            .await;
        assert_eq!(s, 200, "{body}");
        body["items"].as_array().cloned().unwrap_or_default()
    }

    /// A counter of the `/metrics` exposition served at `base` (this app's or another
    /// process's).
    pub async fn metric(&self, base: &str, name: &str) -> u64 {
        let text = self
            .client
            .get(format!("{base}/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text");
        metric_value(&text, name)
    }

    pub async fn audit_count(&self) -> u64 {
        let (_, body) = self.get("/api/v2/auditlog?limit=1").await;
        body["totalCount"].as_u64().expect("totalCount")
    }
}

/// The value of counter `name` in a Prometheus text exposition.
pub fn metric_value(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no counter {name} in {text}"))
}
