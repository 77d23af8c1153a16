//! What the HTTP load harnesses share: the real app on loopback over a fresh database, an
//! owner token, tuning from the environment, and latency percentiles.

// Each harness is its own crate and uses part of this.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use gatehouse::clock::SystemClock;
use gatehouse::service::Service;
use poem::listener::{Acceptor, Listener, TcpListener};
use serde_json::{Value, json};

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
        gatehouse::memory::without_transparent_huge_pages();
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

    /// Keeps the app up for `GATEHOUSE_BENCH_HOLD_SECONDS` (none by default), its address and
    /// owner token printed, so that a client in another process can time it too.
    pub async fn hold_if_asked(&self) {
        let hold = env_or("GATEHOUSE_BENCH_HOLD_SECONDS", 0);
        if hold > 0 {
            println!(
                "serving {} with owner token {TOKEN} for {hold} s",
                self.base
            );
            tokio::time::sleep(Duration::from_secs(hold)).await;
        }
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

/// A seeded directory: member ids in creation order, and team keys.
pub struct SeededDirectory {
    pub member_ids: Vec<String>,
    pub team_keys: Vec<String>,
}

impl Harness {
    /// Seeds a directory through the REST API as an admin would build it: `teams` teams
    /// (`team0`..), then `members` people in LaunchDarkly's batches of 50, eight batches at a
    /// time. Person `i` is `person{i}@seed.example`, named over the alphabet, an admin when
    /// `i % 50 == 0`, a writer when `i % 5 == 0`, else a reader, and on team `i % teams`
    /// (none when `teams` is 0). A third of them are marked seen `i` minutes before now,
    /// through the database, as sign-ins would have done.
    pub async fn seed_directory(&self, members: usize, teams: usize) -> SeededDirectory {
        let team_keys: Vec<String> = (0..teams).map(|t| format!("team{t}")).collect();
        for key in &team_keys {
            let (status, body) = self
                .post(
                    "/api/v2/teams",
                    json!({"key": key, "name": format!("Team {key}")}),
                )
                .await;
            assert_eq!(status, 201, "{body}");
        }
        let batches: Vec<Vec<Value>> = (0..members)
            .map(|i| seed_person(i, &team_keys))
            .collect::<Vec<_>>()
            .chunks(50)
            .map(<[Value]>::to_vec)
            .collect();
        let mut member_ids = Vec::with_capacity(members);
        for round in batches.chunks(8) {
            let mut posts = tokio::task::JoinSet::new();
            for (n, batch) in round.iter().enumerate() {
                let client = self.client.clone();
                let url = format!("{}/api/v2/members", self.base);
                let batch = Value::Array(batch.clone());
                posts.spawn(async move {
                    let (status, body) = post_backing_off(&client, &url, &batch).await;
                    (n, status, body)
                });
            }
            let mut answers = posts.join_all().await;
            answers.sort_by_key(|(n, _, _)| *n);
            for (_, status, body) in answers {
                assert_eq!(status, 201, "{body}");
                let items = body["items"].as_array().expect("items");
                member_ids.extend(items.iter().map(|m| m["id"].as_str().unwrap().to_owned()));
            }
        }
        self.mark_seen(&member_ids).await;
        self.settle_after_import().await;
        SeededDirectory {
            member_ids,
            team_keys,
        }
    }

    /// The database as it stands minutes after an import, not the moment it ends: the
    /// service refreshes SQLite's planner statistics every few minutes, and PostgreSQL's
    /// autovacuum vacuums and analyzes a table within a minute of a 100,000-row import
    /// (without it, counts read every row's heap page and plans guess). The audit log took an
    /// entry per member.
    async fn settle_after_import(&self) {
        use sea_orm::ConnectionTrait;
        let db = self.service.db();
        if db.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            db.execute_unprepared("VACUUM (ANALYZE) member, team_member, team, audit_entry")
                .await
                .unwrap();
        }
        gatehouse::db::refresh_planner_statistics(db).await.unwrap();
    }

    async fn mark_seen(&self, member_ids: &[String]) {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
        let now = chrono_millis();
        for (i, chunk) in member_ids.chunks(3 * 500).enumerate() {
            let seen: Vec<String> = chunk.iter().step_by(3).cloned().collect();
            entity::member::Entity::update_many()
                .col_expr(
                    entity::member::Column::LastSeen,
                    Expr::value(now - (i as i64 + 1) * 60_000),
                )
                .filter(entity::member::Column::Id.is_in(seen))
                .exec(self.service.db())
                .await
                .unwrap();
        }
    }
}

/// `POST url` with the owner token as an IdP would send it: a 429 is retried after its
/// `Retry-After`, up to 30 times. The final status and JSON body.
pub async fn post_backing_off(client: &reqwest::Client, url: &str, body: &Value) -> (u16, Value) {
    for _ in 0..30 {
        let resp = client
            .post(url)
            .header("Authorization", TOKEN)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        if status == 429 {
            let wait = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
                .unwrap_or(1);
            tokio::time::sleep(Duration::from_secs(wait)).await;
            continue;
        }
        return (status, resp.json().await.unwrap_or(Value::Null));
    }
    panic!("{url}: still refused as too busy after 30 tries");
}

fn seed_person(i: usize, team_keys: &[String]) -> Value {
    let letter = (b'a' + (i % 26) as u8) as char;
    let role = match i {
        i if i % 50 == 0 => "admin",
        i if i % 5 == 0 => "writer",
        _ => "reader",
    };
    let mut person = json!({
        "email": format!("person{i}@seed.example"),
        "firstName": format!("{}{i}", letter.to_ascii_uppercase()),
        "lastName": format!("{letter}son"),
        "role": role,
    });
    if !team_keys.is_empty() {
        person["teamKeys"] = json!([team_keys[i % team_keys.len()]]);
    }
    person
}

// The bench stands in for sign-ins, which record the wall clock: no service Clock here.
#[allow(clippy::disallowed_methods)]
fn chrono_millis() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(since.as_millis()).unwrap()
}

/// The `p`-quantile of sorted latencies.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let last = sorted.len().saturating_sub(1);
    sorted[((sorted.len() as f64 * p) as usize).min(last)]
}
