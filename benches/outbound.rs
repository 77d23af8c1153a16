//! Outbound harness: webhook delivery throughput to a receiver on loopback, end-to-end lag at
//! a steady change rate, and the append rate with and without subscriptions: three troubled
//! ones (hanging, failing, slow), and three with a healthy receiver (healthy, failing,
//! hanging), on SQLite or PostgreSQL (`GATEHOUSE_BENCH_DATABASE_URL`). A healthy receiver
//! here runs in the same process and parses every delivery, so its own work counts against
//! the append rate too.
//!
//! `cargo bench --bench outbound`; `GATEHOUSE_BENCH_BACKLOG` (default 20,000 entries),
//! `GATEHOUSE_BENCH_SECONDS` (default 5), `GATEHOUSE_BENCH_CLIENTS` (default 16) and
//! `GATEHOUSE_BENCH_RATE` (changes/s for the lag, default 1,000) and `GATEHOUSE_BENCH_PAIRS`
//! (alternations of the subscribed rounds with off rounds, default 6) tune it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod harness;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use gatehouse::clock::{Clock, SystemClock};
use gatehouse::domain::policy::{NO_TAGS, Resource};
use gatehouse::service::{AuditDraft, Ctx};
use harness::{Harness, TOKEN, benching, env_or, percentile};
use poem::listener::{Acceptor, Listener, TcpListener};
use serde_json::{Value, json};

/// What a receiver saw: the highest seq, and each entry's lag (arrival - entry date, ms).
#[derive(Default)]
struct Seen {
    last_seq: AtomicI64,
    lags: std::sync::Mutex<Vec<i64>>,
}

/// A receiver on loopback that answers `status` after `delay`, or never (`None`).
async fn receiver(status: Option<u16>, delay: Duration, seen: Arc<Seen>) -> String {
    let endpoint = poem::endpoint::make(move |req: poem::Request| {
        let seen = seen.clone();
        async move {
            let Some(code) = status else {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                return poem::Response::builder()
                    .status(poem::http::StatusCode::OK)
                    .finish();
            };
            tokio::time::sleep(delay).await;
            let body: Value =
                serde_json::from_slice(&req.into_body().into_vec().await.unwrap()).unwrap();
            let now = SystemClock.now_ms();
            let mut lags = seen.lags.lock().unwrap();
            for e in body["events"].as_array().unwrap() {
                if let Some(date) = e["date"].as_i64() {
                    lags.push(now - date);
                }
            }
            seen.last_seq
                .fetch_max(body["toSeq"].as_i64().unwrap(), Ordering::SeqCst);
            poem::Response::builder()
                .status(poem::http::StatusCode::from_u16(code).unwrap())
                .finish()
        }
    });
    let acceptor = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .unwrap();
    let addr = acceptor.local_addr()[0].as_socket_addr().cloned().unwrap();
    tokio::spawn(async move {
        poem::Server::new_with_acceptor(acceptor)
            .run(endpoint)
            .await
    });
    format!("http://{addr}/hook")
}

/// Appends `count` entries directly through the write path, 500 per transaction.
async fn append(h: &Harness, count: u64) {
    let ctx = Ctx::system();
    let flag = Resource::project("bench", NO_TAGS)
        .env("production", NO_TAGS, false)
        .flag("f", NO_TAGS);
    let mut written = 0;
    while written < count {
        let mut tx = h.service.begin_write(&ctx).await.unwrap();
        for i in 0..(count - written).min(500) {
            tx.audit(
                AuditDraft::new("flag", "f", "updateOn", &flag)
                    .describe(format!("entry {}", written + i))
                    .after(Some(json!({"on": true, "version": written + i}))),
            );
        }
        written += tx.commit().await.unwrap().len() as u64;
    }
}

/// This process's resident memory in KiB (Linux), 0 elsewhere.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

async fn head(h: &Harness) -> i64 {
    h.get_json("/api/v2/auditlog/stream?limit=1").await["headSeq"]
        .as_i64()
        .unwrap()
}

async fn subscribe(h: &Harness, url: &str) -> Value {
    let (status, w) = h
        .post("/api/v2/webhooks", json!({"name": "bench", "url": url}))
        .await;
    assert_eq!(status, 201, "{w}");
    w
}

/// Changes/s of `clients` concurrent flag toggles over HTTP for `seconds`.
async fn append_rate(h: &Harness, clients: u64, seconds: u64, round: &str) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (client, base) = (h.client.clone(), h.base.clone());
        let round = round.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                let resp = client
                    .post(format!("{base}/api/v2/projects"))
                    .header("Authorization", TOKEN)
                    .json(&json!({"key": format!("{round}-{c}-{n}"), "name": "P"}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), 201);
                n += 1;
            }
            n
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    total as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let benching = benching();
    let h = Harness::start().await;
    h.service.start_webhook_delivery();
    let backend = h.backend;
    let (status, _) = h
        .post("/api/v2/projects", json!({"key": "bench", "name": "Bench"}))
        .await;
    assert_eq!(status, 201);
    let backlog = if benching {
        env_or("GATEHOUSE_BENCH_BACKLOG", 20_000)
    } else {
        500
    };
    let seconds = if benching {
        env_or("GATEHOUSE_BENCH_SECONDS", 5)
    } else {
        1
    };
    let clients = if benching {
        env_or("GATEHOUSE_BENCH_CLIENTS", 16)
    } else {
        2
    };

    // Append rate with nobody subscribed.
    let alone = append_rate(&h, clients, seconds, "alone").await;

    // Delivery throughput: a backlog delivered from the start.
    let from = head(&h).await;
    append(&h, backlog).await;
    let fast = Arc::new(Seen::default());
    let w = subscribe(&h, &receiver(Some(200), Duration::ZERO, fast.clone()).await).await;
    let id = w["_id"].as_str().unwrap();
    let rss_before = rss_kib();
    let mut rss_peak = rss_before;
    let started = Instant::now();
    let (status, _) = h
        .post(
            &format!("/api/v2/webhooks/{id}/cursor"),
            json!({"seq": from}),
        )
        .await;
    assert_eq!(status, 200);
    let target = head(&h).await;
    while fast.last_seq.load(Ordering::SeqCst) < target {
        tokio::time::sleep(Duration::from_millis(5)).await;
        rss_peak = rss_peak.max(rss_kib());
    }
    let took = started.elapsed().as_secs_f64();
    println!(
        "{backend}: delivered a backlog of {} entries to a loopback receiver in {took:.2}s = {:.0} events/s; resident memory {} MiB before, at most {} MiB while delivering",
        target - from,
        (target - from) as f64 / took,
        rss_before / 1024,
        rss_peak / 1024,
    );

    // Lag at a steady rate of single-entry changes.
    let rate = env_or("GATEHOUSE_BENCH_RATE", 1_000);
    fast.lags.lock().unwrap().clear();
    let changes = rate * seconds;
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut writers = Vec::new();
    let steady_start = Instant::now();
    for _ in 0..changes {
        ticker.tick().await;
        let service = h.service.clone();
        writers.push(tokio::spawn(async move {
            let ctx = Ctx::system();
            let flag = Resource::project("bench", NO_TAGS)
                .env("production", NO_TAGS, false)
                .flag("g", NO_TAGS);
            let mut tx = service.begin_write(&ctx).await.unwrap();
            tx.audit(AuditDraft::new("flag", "g", "updateOn", &flag).describe("steady"));
            tx.commit().await.unwrap();
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    let achieved = changes as f64 / steady_start.elapsed().as_secs_f64();
    let target = head(&h).await;
    while fast.last_seq.load(Ordering::SeqCst) < target {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut lags = fast.lags.lock().unwrap().clone();
    lags.sort();
    let lags: Vec<Duration> = lags
        .iter()
        .map(|ms| Duration::from_millis(u64::try_from(*ms).unwrap_or(0)))
        .collect();
    println!(
        "{backend}: end-to-end lag at {achieved:.0} changes/s (asked {rate}): p50 {:?} p99 {:?} max {:?}",
        percentile(&lags, 0.50),
        percentile(&lags, 0.99),
        lags.last().copied().unwrap_or_default(),
    );

    // Append rate with subscriptions on and off, on the same (now larger) database: three
    // troubled receivers (hanging, failing, slow), then the healthy one above with a failing
    // and the hanging one, between two rounds with all of them off.
    let quiet = || Arc::new(Seen::default());
    let no_wait = Duration::ZERO;
    let hanging = subscribe(&h, &receiver(None, no_wait, quiet()).await).await;
    let failing = subscribe(&h, &receiver(Some(503), no_wait, quiet()).await).await;
    let slow = subscribe(
        &h,
        &receiver(Some(200), Duration::from_secs(2), quiet()).await,
    )
    .await;
    let id_of = |w: &Value| w["_id"].as_str().unwrap().to_owned();
    let everyone = [
        id.to_owned(),
        id_of(&hanging),
        id_of(&failing),
        id_of(&slow),
    ];
    let troubled = [id_of(&hanging), id_of(&failing), id_of(&slow)];
    let with_healthy = [id.to_owned(), id_of(&failing), id_of(&hanging)];
    let switch = |ids: &[String], on: bool| {
        let ids = ids.to_vec();
        let h = &h;
        async move {
            for id in &ids {
                let resp = h
                    .client
                    .patch(format!("{}/api/v2/webhooks/{id}", h.base))
                    .header("Authorization", TOKEN)
                    .json(&json!({"on": on}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), 200);
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    };
    // Rounds alternate off, troubled, off, healthy, ...: each on round is compared with
    // the off rounds either side of it, so that drift (the database grows) and the VM's
    // noise between rounds do not read as a cost; the median of the comparisons is reported.
    let pairs = if benching {
        env_or("GATEHOUSE_BENCH_PAIRS", 6)
    } else {
        1
    };
    switch(&everyone, false).await;
    let mut off_rates = vec![append_rate(&h, clients, seconds, "off0").await];
    let (mut troubled_rates, mut healthy_rates) = (Vec::new(), Vec::new());
    for round in 0..pairs {
        for (ids, rates, name) in [
            (&troubled, &mut troubled_rates, "troubled"),
            (&with_healthy, &mut healthy_rates, "healthy"),
        ] {
            switch(ids, true).await;
            rates.push(append_rate(&h, clients, seconds, &format!("{name}{round}")).await);
            switch(ids, false).await;
            off_rates.push(append_rate(&h, clients, seconds, &format!("off{name}{round}")).await);
        }
    }
    // On round i of a kind sits between off rounds 2i and 2i+1 (troubled) or 2i+1 and 2i+2.
    let against = |rates: &[f64], first_off: usize| -> Vec<f64> {
        rates
            .iter()
            .enumerate()
            .map(|(i, on)| {
                let before = off_rates[first_off + 2 * i];
                let after = off_rates[first_off + 2 * i + 1];
                (on / ((before + after) / 2.0) - 1.0) * 100.0
            })
            .collect()
    };
    let summary = |mut diffs: Vec<f64>| {
        diffs.sort_by(f64::total_cmp);
        format!(
            "median {:+.1}% (from {:+.1}% to {:+.1}% over {} rounds)",
            diffs[diffs.len() / 2],
            diffs[0],
            diffs[diffs.len() - 1],
            diffs.len()
        )
    };
    let mean_off = off_rates.iter().sum::<f64>() / off_rates.len() as f64;
    println!(
        "{backend}: append rate {alone:.0} changes/s on a fresh database, {mean_off:.0} on average with every subscription off; three troubled receivers on (hanging, failing, slow): {}; a healthy, a failing and the hanging one on: {} (each round of {seconds}s against the off rounds either side)",
        summary(against(&troubled_rates, 0)),
        summary(against(&healthy_rates, 1)),
    );
}
