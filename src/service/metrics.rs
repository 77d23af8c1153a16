//! Prometheus metrics kept in process: request counts and latencies by route and status, and
//! audit entries written.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds of the latency histogram, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(Default)]
struct Series {
    count: u64,
    sum_seconds: f64,
    buckets: [u64; BUCKETS.len()],
}

/// The process's metrics registry.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), Series>>,
    audit_entries: AtomicU64,
    audit_head_refreshes: AtomicU64,
    write_batches: AtomicU64,
    saml_metadata_fetches: AtomicU64,
    saml_metadata_refusals: AtomicU64,
}

impl Metrics {
    /// Records one finished request. `route` is the operation id (bounded cardinality), never the raw path.
    pub fn observe_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let Ok(mut map) = self.requests.lock() else {
            return;
        };
        let series = map
            .entry((method.to_owned(), route.to_owned(), status))
            .or_default();
        series.count += 1;
        series.sum_seconds += seconds;
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound
                && let Some(b) = series.buckets.get_mut(i)
            {
                *b += 1;
            }
        }
    }

    pub fn audit_entries_written(&self, n: u64) {
        self.audit_entries.fetch_add(n, Ordering::Relaxed);
    }

    /// A write batch (group commit) committed.
    pub fn write_batch_committed(&self) {
        self.write_batches.fetch_add(1, Ordering::Relaxed);
    }

    /// An append found the chain head moved by another process and relinked its entries.
    pub fn audit_head_refreshed(&self) {
        self.audit_head_refreshes.fetch_add(1, Ordering::Relaxed);
    }

    /// A fetch of a connection's IdP metadata ended, good or refused.
    pub fn saml_metadata_fetched(&self, good: bool) {
        let counter = if good {
            &self.saml_metadata_fetches
        } else {
            &self.saml_metadata_refusals
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP gatehouse_http_requests_total HTTP requests by method, route and status.\n",
        );
        out.push_str("# TYPE gatehouse_http_requests_total counter\n");
        let Ok(map) = self.requests.lock() else {
            return out;
        };
        for ((method, route, status), s) in map.iter() {
            let _ = writeln!(
                out,
                "gatehouse_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {}",
                s.count
            );
        }
        out.push_str("# HELP gatehouse_http_request_duration_seconds HTTP request latency.\n");
        out.push_str("# TYPE gatehouse_http_request_duration_seconds histogram\n");
        for ((method, route, status), s) in map.iter() {
            let labels = format!("method=\"{method}\",route=\"{route}\",status=\"{status}\"");
            for (bound, n) in BUCKETS.iter().zip(s.buckets.iter()) {
                let _ = writeln!(
                    out,
                    "gatehouse_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {n}"
                );
            }
            let _ = writeln!(
                out,
                "gatehouse_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                s.count
            );
            let _ = writeln!(
                out,
                "gatehouse_http_request_duration_seconds_sum{{{labels}}} {}",
                s.sum_seconds
            );
            let _ = writeln!(
                out,
                "gatehouse_http_request_duration_seconds_count{{{labels}}} {}",
                s.count
            );
        }
        for (name, help, value) in [
            (
                "gatehouse_audit_entries_written_total",
                "Audit entries appended by this process.",
                &self.audit_entries,
            ),
            (
                "gatehouse_audit_head_refreshes_total",
                "Appends that found the audit chain head moved by another process (SQLite) and relinked their entries.",
                &self.audit_head_refreshes,
            ),
            (
                "gatehouse_write_batches_total",
                "Transactions that committed a batch of changes (group commit); audit entries written over this is the average batch.",
                &self.write_batches,
            ),
            (
                "gatehouse_saml_metadata_fetches_total",
                "Fetches of IdP metadata by URL that brought good metadata.",
                &self.saml_metadata_fetches,
            ),
            (
                "gatehouse_saml_metadata_refusals_total",
                "Fetches of IdP metadata by URL that failed or were refused; the last good metadata stays in use.",
                &self.saml_metadata_refusals,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            let _ = writeln!(out, "{name} {}", value.load(Ordering::Relaxed));
        }
        out
    }
}
