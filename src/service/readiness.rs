//! Readiness, answered from memory. A background probe asks the database every second
//! whether it answers and whether every migration is applied; `/ready` reads the last answer,
//! so it never waits behind the work whose capacity it reports on. A probe that has not
//! answered for `STALE_AFTER` (the database hangs) reads as not ready.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sea_orm::DatabaseConnection;

/// How often the probe runs.
const PROBE_EVERY: Duration = Duration::from_secs(1);

/// How old the last good answer may be.
const STALE_AFTER: Duration = Duration::from_secs(5);

/// What the last probe found.
#[derive(Debug)]
struct Found {
    ok_at: Option<Instant>,
    error: Option<String>,
    /// Migrations, once applied, stay applied: the probe stops asking.
    migrated: bool,
}

/// The readiness of one service.
#[derive(Debug)]
pub(crate) struct Readiness {
    found: Mutex<Found>,
}

impl Readiness {
    /// Probes once, then keeps probing in the background until the pool closes.
    pub async fn start(db: DatabaseConnection) -> Arc<Self> {
        let readiness = Arc::new(Readiness {
            found: Mutex::new(Found {
                ok_at: None,
                error: Some("not probed yet".to_owned()),
                migrated: false,
            }),
        });
        readiness.probe(&db).await;
        let probing = readiness.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(PROBE_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if !probing.probe(&db).await {
                    return;
                }
            }
        });
        readiness
    }

    /// One probe; false once the pool is closed (the service is gone).
    async fn probe(&self, db: &DatabaseConnection) -> bool {
        let migrated = self.found.lock().map(|f| f.migrated).unwrap_or(false);
        let outcome = async {
            crate::db::ping(db).await.map_err(|e| {
                let closed = matches!(e, sea_orm::DbErr::ConnectionAcquire(_));
                (format!("database unreachable: {e}"), closed)
            })?;
            if migrated {
                return Ok(());
            }
            match crate::db::migrations_applied(db).await {
                Ok(true) => Ok(()),
                Ok(false) => Err(("migrations pending".to_owned(), false)),
                Err(e) => Err((format!("cannot read migrations: {e}"), false)),
            }
        }
        .await;
        let Ok(mut found) = self.found.lock() else {
            return false;
        };
        match outcome {
            Ok(()) => {
                found.ok_at = Some(Instant::now());
                found.error = None;
                found.migrated = true;
                true
            }
            Err((error, closed)) => {
                found.error = Some(error);
                !closed
            }
        }
    }

    /// Ready, or why not.
    pub fn check(&self) -> Result<(), String> {
        let found = self
            .found
            .lock()
            .map_err(|_| "readiness state is poisoned".to_owned())?;
        if let Some(error) = &found.error {
            return Err(error.clone());
        }
        match found.ok_at {
            Some(at) if at.elapsed() <= STALE_AFTER => Ok(()),
            _ => Err("the database has not answered the readiness probe lately".to_owned()),
        }
    }
}
