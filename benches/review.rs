//! Access review harness: streams `GET /api/v2/access/review` (JSON lines, then CSV) over a
//! seeded directory of `GATEHOUSE_BENCH_MEMBERS` people (default 100,000; 500 when run as a
//! test), on SQLite or PostgreSQL (`GATEHOUSE_BENCH_DATABASE_URL`), and prints the time to
//! the last byte and the process's resident memory. The server runs in this process, so its
//! memory is ours: RSS is sampled before the review and on every chunk received (the body is
//! counted, never kept), so the growth shown is what serving the review costs. It is shown
//! in two parts: anonymous memory (the heap: what the review holds) and file pages (the
//! SQLite file read through its memory map, which the kernel reclaims under pressure and
//! which grow with the directory read, not with what is held).
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
            "{}: review as {accept}: {} rows, {:.1} MB in {:.2} s; heap (RssAnon) {:.0} MB \
             before, {:.0} MB at most while streaming (+{:.0} MB); mapped file pages \
             (RssFile) +{:.0} MB",
            h.backend,
            figures.lines - header,
            figures.bytes as f64 / 1e6,
            figures.seconds,
            mb(figures.before.anon_kb),
            mb(figures.peak.anon_kb),
            mb(figures.peak.anon_kb.saturating_sub(figures.before.anon_kb)),
            mb(figures.peak.file_kb.saturating_sub(figures.before.file_kb)),
        );
    }
}

struct Figures {
    lines: usize,
    bytes: usize,
    seconds: f64,
    before: Rss,
    peak: Rss,
}

/// Resident memory in kB, by kind; 0 where /proc is missing.
#[derive(Debug, Clone, Copy, Default)]
struct Rss {
    anon_kb: u64,
    file_kb: u64,
}

impl Rss {
    fn now() -> Rss {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or(0)
        };
        Rss {
            anon_kb: field("RssAnon:"),
            file_kb: field("RssFile:"),
        }
    }

    fn max(self, other: Rss) -> Rss {
        Rss {
            anon_kb: self.anon_kb.max(other.anon_kb),
            file_kb: self.file_kb.max(other.file_kb),
        }
    }
}

/// Reads the whole review chunk by chunk, counting lines and sampling RSS.
async fn stream_review(h: &Harness, accept: &str) -> Figures {
    let before = Rss::now();
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
    let (mut lines, mut bytes, mut peak) = (0, 0, before);
    while let Some(chunk) = resp.chunk().await.unwrap() {
        bytes += chunk.len();
        lines += chunk.iter().filter(|b| **b == b'\n').count();
        peak = peak.max(Rss::now());
    }
    Figures {
        lines,
        bytes,
        seconds: started.elapsed().as_secs_f64(),
        before,
        peak,
    }
}

fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}
