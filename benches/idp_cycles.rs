//! Replays the first provisioning cycles of Microsoft Entra ID and Okta against a real
//! `gatehouse serve` process (a separate process, so its peak RSS is its own), on SQLite or
//! PostgreSQL, and prints one line per figure:
//!
//! 1. Entra's first cycle: per user `GET /Users?filter=userName eq` then `POST /Users`, then per
//!    group a lookup, a `POST /Groups` and one `PATCH` per member adding exactly that member,
//!    from many concurrent clients: users/s, one-member PATCHes/s, total time (target: under
//!    5 minutes on SQLite), the server's peak RSS (target: under 200 MB) and the 429s;
//! 2. one-member PATCH latency from one client, into a new empty group and into the big group
//!    (target: p99 under 5 ms, big-group p50 within 1.5x of the empty group's);
//! 3. one-member PATCHes/s into the big group with 16 clients (target: at least 2,000/s);
//! 4. Okta's first cycle: lookup + create per user, one profile `PUT` per user, then group push
//!    (`POST` without members, then the member list as `PATCH replace`);
//! 5. audit entry bytes per SCIM change, median and p99, for kinds `member` and `team`.
//!
//! `cargo bench --bench idp_cycles` (SQLite in a temp dir), or with
//! `GATEHOUSE_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/<fresh db>`.
//! `GATEHOUSE_BENCH_USERS` (100000), `GATEHOUSE_BENCH_BIG_GROUP` (50000),
//! `GATEHOUSE_BENCH_GROUPS` (100), `GATEHOUSE_BENCH_GROUP_SIZE` (500),
//! `GATEHOUSE_BENCH_CLIENTS` (16) and `GATEHOUSE_BENCH_OKTA_USERS` (min(users, 20000)) tune it;
//! under `cargo test` it runs as a small smoke test against the debug binary.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod harness;

use std::future::Future;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use harness::{benching, env_or, percentile};
use reqwest::Method;
use serde_json::{Value, json};

const USER_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH_URN: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// Members per PATCH of Okta's group push. A member value of a UUID id is about 49 bytes, so
/// 15,000 of them make a ~735 KB request, under the server's default 1 MiB body limit; a
/// 50,000-member list in one request (~2.5 MB) would be refused. Okta batches large pushes
/// too: the first request replaces, the rest add.
const PUSH_CHUNK: usize = 15_000;

/// Audit pages (of 1,000 entries) sampled for entry sizes: the newest entries are enough.
const AUDIT_PAGES: usize = 5;

/// How big the replayed directory is.
struct Sizes {
    users: usize,
    big_group: usize,
    groups: usize,
    group_size: usize,
    clients: usize,
    okta_users: usize,
    okta_groups: usize,
    /// One-client latency samples per group, and the extra Entra users they add to the big group.
    samples: usize,
    /// Members per PATCH of Okta's push: `PUSH_CHUNK`, less in the smoke test so that its
    /// small push is chunked too.
    push_chunk: usize,
}

impl Sizes {
    fn get() -> Sizes {
        if !benching() {
            return Sizes {
                users: 300,
                big_group: 150,
                groups: 3,
                group_size: 20,
                clients: 4,
                okta_users: 100,
                okta_groups: 1,
                samples: 100,
                push_chunk: 40,
            };
        }
        let users = env_or("GATEHOUSE_BENCH_USERS", 100_000) as usize;
        let groups = env_or("GATEHOUSE_BENCH_GROUPS", 100) as usize;
        let sizes = Sizes {
            users,
            big_group: env_or("GATEHOUSE_BENCH_BIG_GROUP", 50_000) as usize,
            groups,
            group_size: env_or("GATEHOUSE_BENCH_GROUP_SIZE", 500) as usize,
            clients: env_or("GATEHOUSE_BENCH_CLIENTS", 16) as usize,
            okta_users: env_or("GATEHOUSE_BENCH_OKTA_USERS", users.min(20_000) as u64) as usize,
            // At least one, so a reduced run still pushes a small group.
            okta_groups: (groups / 10).max(1),
            samples: 2_000,
            push_chunk: PUSH_CHUNK,
        };
        // Groups are drawn from the users, each member once.
        assert!(
            sizes.big_group.max(sizes.samples).max(sizes.group_size) <= sizes.users,
            "GATEHOUSE_BENCH_USERS must be at least the big group, the group size and 2000"
        );
        assert!(
            sizes.group_size <= sizes.okta_users,
            "GATEHOUSE_BENCH_OKTA_USERS must be at least GATEHOUSE_BENCH_GROUP_SIZE"
        );
        sizes
    }
}

/// The `gatehouse serve` child process; killed when dropped, also on a panic (then its log
/// is shown, since the panic is likely about what it answered).
struct Server {
    child: Child,
    base: String,
    backend: &'static str,
    log: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Server {
    fn spawn(bootstrap: &str) -> Server {
        let tmp = tempfile::tempdir().unwrap();
        let (url, backend) = harness::bench_database(tmp.path());
        // Freed before the server binds it: a race in principle, not on a quiet loopback.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let base = format!("http://127.0.0.1:{port}");
        let log = tmp.path().join("server.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .arg("serve")
            .env("GATEHOUSE_DATABASE_URL", &url)
            .env("GATEHOUSE_LISTEN", format!("127.0.0.1:{port}"))
            .env("GATEHOUSE_PUBLIC_URL", &base)
            .env("GATEHOUSE_BOOTSTRAP_TOKEN", bootstrap)
            .env("GATEHOUSE_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        Server {
            child,
            base,
            backend,
            log,
            _tmp: tmp,
        }
    }

    /// Waits for `GET /ready` to answer 200 (migrations run first).
    async fn wait_ready(&mut self, http: &reqwest::Client) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("gatehouse serve exited with {status}:\n{}", self.log_text());
            }
            let ready = http.get(format!("{}/ready", self.base)).send().await;
            if ready.is_ok_and(|r| r.status() == 200) {
                return;
            }
            assert!(Instant::now() < deadline, "gatehouse not ready in 120 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = self.log_text();
            let lines: Vec<&str> = log.lines().collect();
            eprintln!("--- last lines of the server log ---");
            for line in &lines[lines.len().saturating_sub(40)..] {
                eprintln!("{line}");
            }
        }
    }
}

/// An HTTP client with one credential that behaves like an IdP on 429: waits `Retry-After`
/// seconds and sends the same request again. Anything but the expected status is a bug.
#[derive(Clone)]
struct Client {
    http: reqwest::Client,
    base: String,
    auth: String,
    content_type: &'static str,
    throttled: Arc<AtomicU64>,
}

impl Client {
    /// The same server and 429 count, another credential.
    fn as_scim(&self, token: &str) -> Client {
        Client {
            auth: format!("Bearer {token}"),
            content_type: "application/scim+json",
            ..self.clone()
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
        expect: u16,
    ) -> Value {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .query(query)
            .header("Authorization", &self.auth);
        if let Some(body) = body {
            req = req
                .header("Content-Type", self.content_type)
                .body(serde_json::to_vec(body).unwrap());
        }
        loop {
            let resp = req.try_clone().unwrap().send().await.unwrap();
            let status = resp.status().as_u16();
            if status == 429 {
                self.throttled.fetch_add(1, Ordering::Relaxed);
                let wait = resp
                    .headers()
                    .get("Retry-After")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1);
                tokio::time::sleep(Duration::from_secs(wait)).await;
                continue;
            }
            let bytes = resp.bytes().await.unwrap();
            assert_eq!(
                status,
                expect,
                "{method} {path} {query:?} answered {status}: {}",
                String::from_utf8_lossy(&bytes)
            );
            if bytes.is_empty() {
                return Value::Null;
            }
            return serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                panic!(
                    "{method} {path}: body is not JSON ({e}): {}",
                    String::from_utf8_lossy(&bytes)
                )
            });
        }
    }

    fn throttled(&self) -> u64 {
        self.throttled.load(Ordering::Relaxed)
    }
}

/// Runs `work(0..n)` on `clients` concurrent tasks sharing one counter, as an IdP's worker
/// pool does; the results in index order and the wall time.
async fn parallel<T, F, Fut>(clients: usize, n: usize, work: F) -> (Vec<T>, Duration)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let next = Arc::new(AtomicU64::new(0));
    let work = Arc::new(work);
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (next, work) = (next.clone(), work.clone());
            tokio::spawn(async move {
                let mut done = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                    if i >= n {
                        return done;
                    }
                    done.push((i, work(i).await));
                }
            })
        })
        .collect();
    let mut all = Vec::with_capacity(n);
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    all.sort_unstable_by_key(|(i, _)| *i);
    (all.into_iter().map(|(_, v)| v).collect(), started.elapsed())
}

fn user_name(domain: &str, i: usize) -> String {
    format!("u{i}@{domain}")
}

fn user_body(domain: &str, i: usize, family: &str) -> Value {
    json!({
        "schemas": [USER_URN],
        "userName": user_name(domain, i), "active": true, "externalId": format!("ext-{domain}-{i}"),
        "name": {"givenName": "U", "familyName": family},
        "emails": [{"value": user_name(domain, i), "type": "work", "primary": true}],
    })
}

fn id_of(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {v}"))
        .to_owned()
}

/// Users `from..to` of `domain`, each looked up by userName first (not found) then created,
/// as both IdPs import; their ids in index order and the wall time.
async fn create_users(
    scim: &Client,
    domain: &'static str,
    from: usize,
    to: usize,
    clients: usize,
) -> (Vec<String>, Duration) {
    let scim = scim.clone();
    parallel(clients, to - from, move |k| {
        let scim = scim.clone();
        async move {
            let i = from + k;
            let filter = format!("userName eq \"{}\"", user_name(domain, i));
            let found = scim
                .call(
                    Method::GET,
                    "/scim/v2/Users",
                    &[("filter", filter.as_str())],
                    None,
                    200,
                )
                .await;
            assert_eq!(found["totalResults"], 0, "{filter}: {found}");
            let body = user_body(domain, i, &format!("N{i}"));
            id_of(
                &scim
                    .call(Method::POST, "/scim/v2/Users", &[], Some(&body), 201)
                    .await,
            )
        }
    })
    .await
}

/// Looks a group up by displayName (not found) and creates it without members, as Entra does.
async fn lookup_and_create_group(scim: &Client, name: &str) -> String {
    let filter = format!("displayName eq \"{name}\"");
    let found = scim
        .call(
            Method::GET,
            "/scim/v2/Groups",
            &[
                ("filter", filter.as_str()),
                ("excludedAttributes", "members"),
            ],
            None,
            200,
        )
        .await;
    assert_eq!(found["totalResults"], 0, "{filter}: {found}");
    create_group(scim, name).await
}

async fn create_group(scim: &Client, name: &str) -> String {
    let body = json!({"schemas": [GROUP_URN], "displayName": name, "members": []});
    id_of(
        &scim
            .call(Method::POST, "/scim/v2/Groups", &[], Some(&body), 201)
            .await,
    )
}

fn members_patch(op: &str, ids: &[String]) -> Value {
    let value: Vec<Value> = ids.iter().map(|id| json!({"value": id})).collect();
    json!({"schemas": [PATCH_URN], "Operations": [{"op": op, "path": "members", "value": value}]})
}

/// Entra sends one member per request.
async fn add_member(scim: &Client, group: &str, user: &str) {
    let body = members_patch("Add", &[user.to_owned()]);
    scim.call(
        Method::PATCH,
        &format!("/scim/v2/Groups/{group}"),
        &[],
        Some(&body),
        204,
    )
    .await;
}

/// What Entra's group phase took.
struct EntraGroups {
    big_id: String,
    big_patches: Duration,
    patches: usize,
    took: Duration,
}

/// Entra's groups: the big group of the first `big_group` users and `groups` groups of
/// `group_size` consecutive users after them (wrapping around), every member added by its own
/// PATCH. The big group's PATCHes go first, all clients at once on the same group: the hot
/// row this is meant to measure.
async fn entra_groups(scim: &Client, ids: &Arc<Vec<String>>, s: &Sizes) -> EntraGroups {
    let started = Instant::now();
    let client = scim.clone();
    let (group_ids, _) = parallel(s.clients, 1 + s.groups, move |g| {
        let scim = client.clone();
        async move {
            let name = if g == 0 {
                "Entra All Staff".to_owned()
            } else {
                format!("Entra Team {g:03}")
            };
            lookup_and_create_group(&scim, &name).await
        }
    })
    .await;
    let big_id = group_ids[0].clone();

    let (client, users, group) = (scim.clone(), ids.clone(), big_id.clone());
    let (_, big_patches) = parallel(s.clients, s.big_group, move |i| {
        let (scim, users, group) = (client.clone(), users.clone(), group.clone());
        async move { add_member(&scim, &group, &users[i]).await }
    })
    .await;

    let (client, users, groups) = (scim.clone(), ids.clone(), Arc::new(group_ids));
    let (big_group, group_size) = (s.big_group, s.group_size);
    parallel(s.clients, s.groups * s.group_size, move |k| {
        let (scim, users, groups) = (client.clone(), users.clone(), groups.clone());
        async move {
            let (g, j) = (k / group_size, k % group_size);
            let user = &users[(big_group + g * group_size + j) % users.len()];
            add_member(&scim, &groups[1 + g], user).await
        }
    })
    .await;
    EntraGroups {
        big_id,
        big_patches,
        patches: s.big_group + s.groups * s.group_size,
        took: started.elapsed(),
    }
}

/// Fields of `/proc/<pid>/status` in kB (`VmHWM` is the peak resident set).
fn peak_rss(pid: u32) -> Vec<(&'static str, Option<u64>)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    ["VmHWM", "VmRSS", "RssAnon", "RssFile"]
        .into_iter()
        .map(|field| {
            let kb = status.lines().find_map(|line| {
                let rest = line.strip_prefix(field)?.strip_prefix(':')?;
                rest.trim().trim_end_matches("kB").trim().parse().ok()
            });
            (field, kb)
        })
        .collect()
}

fn mb(kb: Option<u64>) -> String {
    kb.map_or_else(
        || "n/a".to_owned(),
        |kb| format!("{:.1} MB", kb as f64 / 1024.0),
    )
}

/// One-member PATCHes from one client, one after the other; sorted latencies.
async fn latency_samples(scim: &Client, group: &str, users: &[String]) -> Vec<Duration> {
    let mut took = Vec::with_capacity(users.len());
    for user in users {
        let t = Instant::now();
        add_member(scim, group, user).await;
        took.push(t.elapsed());
    }
    took.sort();
    took
}

/// Okta's group push: the group without members, then its member list in PATCHes of at
/// most `chunk` (see `PUSH_CHUNK`): `replace` first, `add` for the rest. The group's id.
async fn push_group(scim: &Client, name: &str, members: &[String], chunk: usize) -> String {
    let id = create_group(scim, name).await;
    for (n, part) in members.chunks(chunk).enumerate() {
        let op = if n == 0 { "replace" } else { "add" };
        scim.call(
            Method::PATCH,
            &format!("/scim/v2/Groups/{id}"),
            &[],
            Some(&members_patch(op, part)),
            204,
        )
        .await;
    }
    id
}

/// Okta's first cycle on its own connection; prints its figures and returns the big group's id.
async fn okta_cycle(backend: &str, scim: &Client, s: &Sizes) -> String {
    let started = Instant::now();
    let (ids, took) = create_users(scim, "okta.example", 0, s.okta_users, s.clients).await;
    println!(
        "{backend}: Okta users: {} lookups + creates with {} clients in {:.2}s = {:.0} users/s",
        ids.len(),
        s.clients,
        took.as_secs_f64(),
        ids.len() as f64 / took.as_secs_f64()
    );

    let ids = Arc::new(ids);
    let (client, users) = (scim.clone(), ids.clone());
    let (_, took) = parallel(s.clients, s.okta_users, move |i| {
        let (scim, users) = (client.clone(), users.clone());
        async move {
            let mut body = user_body("okta.example", i, &format!("N{i}-renamed"));
            body["id"] = json!(users[i]);
            scim.call(
                Method::PUT,
                &format!("/scim/v2/Users/{}", users[i]),
                &[],
                Some(&body),
                200,
            )
            .await;
        }
    })
    .await;
    println!(
        "{backend}: Okta profile updates: {} PUT /Users with {} clients in {:.2}s = {:.0} PUTs/s",
        s.okta_users,
        s.clients,
        took.as_secs_f64(),
        s.okta_users as f64 / took.as_secs_f64()
    );

    let t = Instant::now();
    let everyone = push_group(scim, "Okta Everyone", &ids, s.push_chunk).await;
    println!(
        "{backend}: Okta push of a {}-member group (POST + {} PATCHes of <= {}) took {:.3}s",
        s.okta_users,
        s.okta_users.div_ceil(s.push_chunk),
        s.push_chunk,
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    for g in 0..s.okta_groups {
        let members: Vec<String> = (0..s.group_size)
            .map(|j| ids[(g * s.group_size + j) % ids.len()].clone())
            .collect();
        push_group(scim, &format!("Okta Team {g:02}"), &members, s.push_chunk).await;
    }
    println!(
        "{backend}: Okta push of {} groups of {} took {:.3}s",
        s.okta_groups,
        s.group_size,
        t.elapsed().as_secs_f64()
    );
    println!(
        "{backend}: Okta first cycle took {:.1}s",
        started.elapsed().as_secs_f64()
    );
    everyone
}

fn nth(sorted: &[usize], p: f64) -> usize {
    let last = sorted.len().saturating_sub(1);
    sorted
        .get(((sorted.len() as f64 * p) as usize).min(last))
        .copied()
        .unwrap_or(0)
}

/// Serialized sizes of the newest SCIM-written audit entries, by entry kind, sorted.
async fn audit_sizes(api: &Client) -> (Vec<usize>, Vec<usize>) {
    let (mut members, mut teams) = (Vec::new(), Vec::new());
    let mut cursor: Option<String> = None;
    for _ in 0..AUDIT_PAGES {
        let mut query = vec![("limit", "1000")];
        if let Some(c) = &cursor {
            query.push(("cursor", c.as_str()));
        }
        let page = api
            .call(Method::GET, "/api/v2/auditlog", &query, None, 200)
            .await;
        for item in page["items"].as_array().unwrap() {
            if item["actor"]["isScim"] != true {
                continue;
            }
            let bytes = serde_json::to_vec(item).unwrap().len();
            match item["kind"].as_str() {
                Some("member") => members.push(bytes),
                Some("team") => teams.push(bytes),
                _ => {}
            }
        }
        match page["next"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    members.sort_unstable();
    teams.sort_unstable();
    (members, teams)
}

async fn print_audit_sizes(backend: &str, api: &Client, after: &str) {
    let (members, teams) = audit_sizes(api).await;
    for (kind, sizes) in [("member", &members), ("team", &teams)] {
        println!(
            "{backend}: audit bytes per SCIM change of kind {kind} (newest {} such entries, after {after}): median {} p99 {} max {}",
            sizes.len(),
            nth(sizes, 0.50),
            nth(sizes, 0.99),
            sizes.last().copied().unwrap_or(0)
        );
    }
}

/// Creates connection `key` of the IdP kind of the same name (`entra`, `okta`); a SCIM client
/// with a fresh token for it.
async fn connection(api: &Client, key: &str) -> Client {
    let body = json!({"key": key, "kind": key});
    api.call(Method::POST, "/api/v2/connections", &[], Some(&body), 201)
        .await;
    let token = api
        .call(
            Method::POST,
            &format!("/api/v2/connections/{key}/scim-tokens"),
            &[],
            Some(&json!({})),
            201,
        )
        .await;
    api.as_scim(token["token"].as_str().unwrap())
}

#[tokio::main]
async fn main() {
    let s = Sizes::get();
    // 32 hex characters: a valid bootstrap secret, new each run.
    let bootstrap = uuid::Uuid::new_v4().simple().to_string();
    let mut server = Server::spawn(&bootstrap);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    server.wait_ready(&http).await;
    let backend = server.backend;
    let api = Client {
        http,
        base: server.base.clone(),
        auth: bootstrap,
        content_type: "application/json",
        throttled: Arc::new(AtomicU64::new(0)),
    };
    let entra = connection(&api, "entra").await;
    let okta = connection(&api, "okta").await;

    // 1. and 3. Entra's first cycle.
    let started = Instant::now();
    let (ids, took) = create_users(&entra, "entra.example", 0, s.users, s.clients).await;
    println!(
        "{backend}: Entra users: {} lookups + creates with {} clients in {:.2}s = {:.0} users/s ({:.0} requests/s)",
        s.users,
        s.clients,
        took.as_secs_f64(),
        s.users as f64 / took.as_secs_f64(),
        2.0 * s.users as f64 / took.as_secs_f64()
    );
    let ids = Arc::new(ids);
    let groups = entra_groups(&entra, &ids, &s).await;
    println!(
        "{backend}: Entra groups: 1 of {} + {} of {} members, {} one-member PATCHes in {:.2}s = {:.0} PATCHes/s",
        s.big_group,
        s.groups,
        s.group_size,
        groups.patches,
        groups.took.as_secs_f64(),
        groups.patches as f64 / groups.took.as_secs_f64()
    );
    println!(
        "{backend}: one-member PATCHes into the {}-member group with {} clients: {:.0}/s (target >= 2000/s)",
        s.big_group,
        s.clients,
        s.big_group as f64 / groups.big_patches.as_secs_f64()
    );
    println!(
        "{backend}: Entra first cycle took {:.1}s (target < 300 s on SQLite)",
        started.elapsed().as_secs_f64()
    );
    let rss = peak_rss(server.pid());
    println!(
        "{backend}: server peak RSS after the Entra cycle: VmHWM {} (target < 200 MB); VmRSS {}, RssAnon {}, RssFile {}",
        mb(rss[0].1),
        mb(rss[1].1),
        mb(rss[2].1),
        mb(rss[3].1)
    );
    println!("{backend}: Entra cycle 429s: {}", api.throttled());

    // 2. One-client latency: a new group growing from empty, then the big group, each time
    // with a user not yet in it (the extras are created for that).
    let (extras, _) = create_users(
        &entra,
        "entra.example",
        s.users,
        s.users + s.samples,
        s.clients,
    )
    .await;
    let empty = create_group(&entra, "Entra Latency Empty").await;
    let on_empty = latency_samples(&entra, &empty, &ids[..s.samples]).await;
    let on_big = latency_samples(&entra, &groups.big_id, &extras).await;
    for (what, took) in [
        ("a new group growing from 0", &on_empty),
        ("the big group", &on_big),
    ] {
        println!(
            "{backend}: one-member PATCH latency, 1 client, {} samples on {what}: p50 {:?} p99 {:?} (target p99 < 5 ms)",
            took.len(),
            percentile(took, 0.50),
            percentile(took, 0.99)
        );
    }
    println!(
        "{backend}: big-group p50 / empty-group p50 = {:.2}x (target <= 1.5x)",
        percentile(&on_big, 0.50).as_secs_f64() / percentile(&on_empty, 0.50).as_secs_f64()
    );
    // Sampled here, the newest entries are Entra's one-member PATCHes and user creates.
    print_audit_sizes(backend, &api, "the Entra cycle").await;

    // 4. Okta's first cycle.
    let okta_everyone = okta_cycle(backend, &okta, &s).await;
    // 5. Sampled again: now Okta's profile updates and its chunked member pushes.
    print_audit_sizes(backend, &api, "the Okta cycle").await;

    // 6. What the server holds matches what was sent.
    let members_of = |scim: Client, id: String| async move {
        let v = scim
            .call(
                Method::GET,
                &format!("/scim/v2/Groups/{id}"),
                &[("attributes", "members")],
                None,
                200,
            )
            .await;
        v["members"].as_array().map_or(0, Vec::len)
    };
    let big = members_of(entra.clone(), groups.big_id.clone()).await;
    assert_eq!(
        big,
        s.big_group + s.samples,
        "members of the big Entra group"
    );
    let everyone = members_of(okta.clone(), okta_everyone).await;
    assert_eq!(everyone, s.okta_users, "members of Okta Everyone");
    let listed = entra
        .call(Method::GET, "/scim/v2/Users", &[("count", "1")], None, 200)
        .await;
    let total = listed["totalResults"].as_u64().unwrap() as usize;
    assert!(
        total >= s.users + s.samples,
        "Entra sees {total} users, sent {}",
        s.users + s.samples
    );
    println!(
        "{backend}: verified: big Entra group has {big} members, Okta Everyone {everyone}, Entra sees {total} users"
    );
    let rss = peak_rss(server.pid());
    println!(
        "{backend}: server peak RSS at the end: VmHWM {}; VmRSS {}, RssAnon {}, RssFile {}; 429s in all: {}",
        mb(rss[0].1),
        mb(rss[1].1),
        mb(rss[2].1),
        mb(rss[3].1),
        api.throttled()
    );
    let log = server.log_text();
    if !log.trim().is_empty() {
        eprintln!(
            "{backend}: the server logged {} line(s) at warn or above; the first:",
            log.lines().count()
        );
        for line in log.lines().take(10) {
            eprintln!("  {line}");
        }
    }
}
