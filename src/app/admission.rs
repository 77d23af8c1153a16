//! Admission: more work than can be served in time is answered, not queued. At most
//! `max_in_flight` requests to REST, SCIM and SSO are served at once; others wait for a slot
//! up to `max_queue_wait`, and one that would wait longer (judged from how long requests
//! take lately and how many wait ahead of it) is told at once to come back: 429 with
//! `Retry-After`, in the edge's error shape. The operational URLs (`/health`, `/ready`,
//! `/metrics`, docs) never wait here.
//!
//! Why: IdPs retry and back off on 429, while a request queued for seconds times out at the
//! client, is retried on top of the queue, and 5xx answers push Entra's job into quarantine.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use poem::http::{HeaderValue, StatusCode, header};
use poem::{Endpoint, IntoResponse, Request, Response, Result};
use tokio::sync::Semaphore;

/// Limits on the work in flight (settings `GATEHOUSE_MAX_IN_FLIGHT` and
/// `GATEHOUSE_MAX_QUEUE_WAIT_MS`).
#[derive(Debug, Clone, Copy)]
pub struct AdmissionLimits {
    pub max_in_flight: usize,
    pub max_queue_wait: Duration,
}

impl Default for AdmissionLimits {
    fn default() -> Self {
        AdmissionLimits {
            max_in_flight: 64,
            max_queue_wait: Duration::from_millis(2000),
        }
    }
}

/// The admission state of one app.
pub struct Admission {
    limits: AdmissionLimits,
    slots: Semaphore,
    waiting: AtomicUsize,
    /// Moving average of how long an admitted request holds its slot, in microseconds.
    service_micros: AtomicU64,
}

impl Admission {
    pub fn new(limits: AdmissionLimits) -> Arc<Self> {
        Arc::new(Admission {
            limits,
            slots: Semaphore::new(limits.max_in_flight.max(1)),
            waiting: AtomicUsize::new(0),
            service_micros: AtomicU64::new(1_000),
        })
    }

    /// How long a request arriving now would wait for a slot, judged from the requests
    /// waiting ahead of it and how long requests hold their slot lately.
    fn expected_wait(&self, ahead: usize) -> Duration {
        let per_slot = self.service_micros.load(Ordering::Relaxed);
        let rounds = (ahead as u64 + 1).div_ceil(self.limits.max_in_flight.max(1) as u64);
        Duration::from_micros(per_slot.saturating_mul(rounds))
    }

    fn record(&self, held: Duration) {
        let sample = u64::try_from(held.as_micros()).unwrap_or(u64::MAX);
        let old = self.service_micros.load(Ordering::Relaxed);
        // An average over the last ~16 requests: quick to follow a change of load.
        let new = old - old / 16 + sample / 16;
        self.service_micros.store(new.max(1), Ordering::Relaxed);
    }
}

/// Whether a path is served through admission: everything but the operational URLs.
fn admitted(path: &str) -> bool {
    path.starts_with("/api/")
        || path.starts_with("/scim/")
        || path.starts_with("/sso/")
        || crate::console::is_console_path(path)
}

/// The middleware: waits for a slot, or answers 429.
pub async fn admit<E: Endpoint>(
    next: E,
    req: Request,
    admission: Arc<Admission>,
) -> Result<Response> {
    if !admitted(req.uri().path()) {
        return next.call(req).await.map(IntoResponse::into_response);
    }
    let permit = match admission.slots.try_acquire() {
        Ok(permit) => permit,
        Err(_) => {
            let ahead = admission.waiting.fetch_add(1, Ordering::SeqCst);
            let expected = admission.expected_wait(ahead);
            let waited = if expected > admission.limits.max_queue_wait {
                None
            } else {
                tokio::time::timeout(admission.limits.max_queue_wait, admission.slots.acquire())
                    .await
                    .ok()
                    .and_then(std::result::Result::ok)
            };
            admission.waiting.fetch_sub(1, Ordering::SeqCst);
            match waited {
                Some(permit) => permit,
                None => return Ok(too_busy(req.uri().path(), expected)),
            }
        }
    };
    let started = Instant::now();
    let result = next.call(req).await.map(IntoResponse::into_response);
    admission.record(started.elapsed());
    drop(permit);
    result
}

/// The 429 answer: come back once the work ahead is likely done (at least a second).
pub fn too_busy(path: &str, expected: Duration) -> Response {
    let retry_after = expected.as_secs().clamp(1, 60);
    let message = "more requests are in flight than can be served in time; retry after the \
                   delay Retry-After gives";
    let mut resp = if path.starts_with("/scim/") {
        crate::scim::error::respond(StatusCode::TOO_MANY_REQUESTS, None, message)
    } else if crate::console::is_console_path(path) {
        crate::console::refusal_page(StatusCode::TOO_MANY_REQUESTS, message)
    } else {
        crate::api::error::rate_limited(message.to_owned())
    };
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_wait_grows_with_the_queue_and_the_service_time() {
        let a = Admission::new(AdmissionLimits {
            max_in_flight: 4,
            max_queue_wait: Duration::from_secs(2),
        });
        for _ in 0..200 {
            a.record(Duration::from_millis(100));
        }
        let one_round = a.expected_wait(0);
        assert!(one_round >= Duration::from_millis(90), "{one_round:?}");
        assert_eq!(a.expected_wait(3), one_round);
        assert_eq!(a.expected_wait(4), one_round * 2);
        assert!(a.expected_wait(100) > Duration::from_secs(2));
        assert!(admitted("/scim/v2/Users") && admitted("/api/v2/members"));
        assert!(!admitted("/ready") && !admitted("/health") && !admitted("/metrics"));
    }
}
