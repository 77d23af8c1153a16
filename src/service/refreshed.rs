//! A process's copy of a small account setting that every request reads (session timeouts,
//! the IP allowlist): held in memory and read again from the database once it is older than
//! its refresh age, so other replicas' changes apply within that age without a restart.
//!
//! Each stored setting carries a version that grows with every change. A copy is replaced
//! only by a newer or equal version, so a re-read that started before a change committed in
//! this process cannot put the older setting back. One re-read runs at a time; requests
//! that find the copy stale meanwhile wait for it rather than read too.

use std::future::Future;
use std::sync::RwLock;

use crate::error::Result;

/// The copy of one setting, re-read when older than `max_age_ms`.
pub(crate) struct Refreshed<T> {
    held: RwLock<Option<Held<T>>>,
    reread: tokio::sync::Mutex<()>,
    max_age_ms: i64,
}

struct Held<T> {
    value: T,
    version: i64,
    read_at_ms: i64,
}

impl<T: Clone> Refreshed<T> {
    pub(crate) fn new(max_age_ms: i64) -> Self {
        Refreshed {
            held: RwLock::new(None),
            reread: tokio::sync::Mutex::new(()),
            max_age_ms,
        }
    }

    /// The copy, unless it is older than the refresh age at `now`. A copy read "after" now
    /// (the clock went back) is stale too: its age is unknown.
    fn fresh(&self, now_ms: i64) -> Option<T> {
        let guard = self.held.read().ok()?;
        let held = guard.as_ref()?;
        (0..self.max_age_ms)
            .contains(&now_ms.saturating_sub(held.read_at_ms))
            .then(|| held.value.clone())
    }

    /// Keeps the newer of the copy and `value` (read or written at `now_ms`), and answers
    /// what is kept. An older `value` still counts as a fresh read of the copy.
    pub(crate) fn store(&self, value: T, version: i64, now_ms: i64) -> T {
        let Ok(mut guard) = self.held.write() else {
            return value;
        };
        match guard.as_mut() {
            Some(held) if held.version > version => {
                held.read_at_ms = now_ms;
                held.value.clone()
            }
            _ => {
                *guard = Some(Held {
                    value: value.clone(),
                    version,
                    read_at_ms: now_ms,
                });
                value
            }
        }
    }

    /// The setting: the copy while fresh, else what `read` answers (value and version),
    /// with `now` the clock read before and after waiting for another re-read.
    pub(crate) async fn get<F, Fut>(&self, now: impl Fn() -> i64, read: F) -> Result<T>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(T, i64)>>,
    {
        if let Some(value) = self.fresh(now()) {
            return Ok(value);
        }
        let _one_reread = self.reread.lock().await;
        let now_ms = now();
        if let Some(value) = self.fresh(now_ms) {
            return Ok(value);
        }
        let (value, version) = read().await?;
        Ok(self.store(value, version, now_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read(value: &'static str, version: i64) -> Result<(&'static str, i64)> {
        Ok((value, version))
    }

    #[tokio::test]
    async fn a_copy_is_kept_until_its_age_runs_out() {
        let copy = Refreshed::new(5_000);
        assert_eq!(copy.get(|| 1_000, || read("a", 1)).await.unwrap(), "a");
        assert_eq!(copy.get(|| 5_999, || read("b", 2)).await.unwrap(), "a");
        assert_eq!(copy.get(|| 6_000, || read("b", 2)).await.unwrap(), "b");
    }

    #[tokio::test]
    async fn a_clock_gone_back_makes_the_copy_stale() {
        let copy = Refreshed::new(5_000);
        copy.get(|| 10_000, || read("a", 1)).await.unwrap();
        assert_eq!(copy.get(|| 9_999, || read("b", 2)).await.unwrap(), "b");
    }

    #[tokio::test]
    async fn an_older_read_never_replaces_a_newer_write() {
        let copy = Refreshed::new(5_000);
        copy.store("written", 3, 1_000);
        // A re-read that began before the write committed answers version 2.
        assert_eq!(
            copy.get(|| 7_000, || read("stale", 2)).await.unwrap(),
            "written"
        );
        // ... and counts as a read: the copy is fresh again.
        assert_eq!(
            copy.get(|| 8_000, || read("other", 4)).await.unwrap(),
            "written"
        );
        assert_eq!(
            copy.get(|| 12_000, || read("newer", 4)).await.unwrap(),
            "newer"
        );
    }
}
