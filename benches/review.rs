//! Access review harness: streams `GET /api/v2/access/review` (JSON lines, then CSV) over a
//! seeded directory of `GATEHOUSE_BENCH_MEMBERS` people (default 100,000; 500 when run as a
//! test), on SQLite or PostgreSQL (`GATEHOUSE_BENCH_DATABASE_URL`), and prints the time to
//! the last byte and the process's resident memory. The server runs in this process, so its
//! memory is ours: RSS is sampled before the review and on every chunk received (the body is
//! counted, never kept), so the growth shown is what serving the review costs.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod harness;

use std::time::Instant;

use harness::{Harness, TOKEN, benching, env_or};

#[tokio::main]
async fn main() {
    let benching = benching();
    let h = Harness::start().await;
    let members = if benching {
        env_or("GATEHOUSE_BENCH_MEMBERS", 100_000)
    } else {
        500
    } as usize;
    let started = Instant::now();
    let seeded = h.seed_directory(members, 50).await;
    assert_eq!(seeded.member_ids.len(), members);
    println!(
        "{}: seeded {members} members on {} teams in {:.1} s",
        h.backend,
        seeded.team_keys.len(),
        started.elapsed().as_secs_f64()
    );
    for accept in ["application/x-ndjson", "text/csv"] {
        let figures = stream_review(&h, accept).await;
        // Every member and the bootstrap token, plus the CSV header.
        let header = usize::from(accept == "text/csv");
        assert!(figures.lines > members + header, "{} lines", figures.lines);
        println!(
            "{}: review as {accept}: {} rows, {:.1} MB in {:.2} s; RSS {:.0} MB before, \
             {:.0} MB at most while streaming (+{:.0} MB)",
            h.backend,
            figures.lines - header,
            figures.bytes as f64 / 1e6,
            figures.seconds,
            mb(figures.rss_before),
            mb(figures.rss_peak),
            mb(figures.rss_peak.saturating_sub(figures.rss_before)),
        );
    }
}

struct Figures {
    lines: usize,
    bytes: usize,
    seconds: f64,
    rss_before: u64,
    rss_peak: u64,
}

/// Reads the whole review chunk by chunk, counting lines and sampling RSS.
async fn stream_review(h: &Harness, accept: &str) -> Figures {
    let rss_before = rss_kb();
    let started = Instant::now();
    let mut resp = h
        .client
        .get(format!("{}/api/v2/access/review", h.base))
        .header("Authorization", TOKEN)
        .header("Accept", accept)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let (mut lines, mut bytes, mut rss_peak) = (0, 0, rss_before);
    while let Some(chunk) = resp.chunk().await.unwrap() {
        bytes += chunk.len();
        lines += chunk.iter().filter(|b| **b == b'\n').count();
        rss_peak = rss_peak.max(rss_kb());
    }
    Figures {
        lines,
        bytes,
        seconds: started.elapsed().as_secs_f64(),
        rss_before,
        rss_peak,
    }
}

/// This process's resident set size in kB (`VmRSS`), 0 where /proc is missing.
fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}
