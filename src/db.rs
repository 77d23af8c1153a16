//! Database connection and migrations, for SQLite (embedded default) and PostgreSQL.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, DbErr,
    Statement,
};

/// Bytes of an SQLite file read through a memory map (further bytes are read as usual).
const MMAP_SIZE: u64 = 1 << 30;

/// Prepared statements kept per SQLite connection (sqlx's default is 100; the write path's
/// multi-statement batches are statements of their own).
const STATEMENT_CACHE: usize = 400;

/// WAL pages after which a committing writer checkpoints itself: only when the background
/// checkpointer falls far behind.
const WAL_AUTOCHECKPOINT_PAGES: u32 = 16_384;

/// How often the background checkpointer copies the WAL into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// Opens the pool. SQLite gets WAL (readers never block the writer) and a busy timeout;
/// writes are serialized in-process by the service's write gate.
///
/// SQLite runs with `synchronous=NORMAL`, SQLite's recommendation for WAL: a commit does not
/// wait for an fsync, so a change costs microseconds instead of a disk flush (about 4 ms on
/// this class of disk). An application crash loses nothing; a power loss or OS crash may roll
/// back the last commits, each always together with its audit entry, so the chain stays
/// whole. Deployments that need every commit on disk before the answer run PostgreSQL.
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .sqlx_logging(false)
        .acquire_timeout(Duration::from_secs(10))
        // sqlx pings a pooled connection on every checkout by default: one extra round trip to
        // the database (on SQLite, to the connection's worker thread) per query. Only a
        // connection idle long enough to have been dropped by a server or proxy is pinged.
        .test_before_acquire_if_idle_for(Duration::from_secs(30));
    if url.starts_with("sqlite:") {
        options
            .max_connections(8)
            .min_connections(1)
            .map_sqlx_sqlite_opts(|o| {
                o.journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(true)
                    // Reads map the file instead of copying each page through a read(2):
                    // scanning the audit chain to verify it reads every page.
                    .pragma("mmap_size", MMAP_SIZE.to_string())
                    // Each writer of a write batch runs in a savepoint, whose journal of
                    // changed pages SQLite would otherwise keep in a temporary file.
                    .pragma("temp_store", "MEMORY")
                    // Checkpoints run in the background (`spawn_wal_checkpointer`); a writer
                    // checkpoints only if that falls far behind.
                    .pragma("wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES.to_string())
                    .statement_cache_capacity(STATEMENT_CACHE)
            })
            .map_sqlx_sqlite_before_acquire(|_, meta| {
                Box::pin(async move { Ok(has_current_statistics(meta.age)) })
            });
    } else {
        options.max_connections(16).min_connections(1);
    }
    Database::connect(options).await
}

/// Checkpoints an SQLite database's WAL twice a second, off the write path: a checkpoint
/// copies pages into the database file and syncs it, which SQLite would otherwise do inside
/// the commit that crosses the threshold, holding every queued writer up. PASSIVE never
/// waits for readers or the writer. Ends when the pool is closed.
pub fn spawn_wal_checkpointer(db: DatabaseConnection) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(error) = db
                .execute_unprepared("PRAGMA wal_checkpoint(PASSIVE)")
                .await
            {
                if matches!(error, DbErr::ConnectionAcquire(_)) {
                    return;
                }
                tracing::warn!(%error, "WAL checkpoint failed");
            }
        }
    });
}

/// How often SQLite's query planner statistics are looked at.
const PLANNER_STATISTICS_EVERY: Duration = Duration::from_secs(300);

/// When SQLite's planner statistics last changed, in milliseconds after `clock_base()`
/// (0: never in this process). SQLite loads them when a connection opens and does not tell
/// the other open connections when they change, so a pooled connection older than the
/// change is closed at its next checkout and the pool opens one that loads them.
static STATISTICS_CHANGED_MS: AtomicU64 = AtomicU64::new(0);

fn clock_base() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

/// True when a connection of this age opened after the statistics last changed.
fn has_current_statistics(age: Duration) -> bool {
    let changed = STATISTICS_CHANGED_MS.load(Ordering::Acquire);
    changed == 0
        || age
            < clock_base()
                .elapsed()
                .saturating_sub(Duration::from_millis(changed))
}

/// Refreshes SQLite's query planner statistics for every table that lacks them or whose size
/// changed tenfold since they were taken (`PRAGMA optimize`, sampling at most 2,000 rows per
/// index: milliseconds), and has every pooled connection load them; true when it did.
/// Without them SQLite guesses, and guesses wrong for directory queries: asked for readers
/// last seen before a date, it walked the role index through 80,000 readers instead of the
/// short last-seen range. PostgreSQL's autovacuum keeps its own statistics.
pub async fn refresh_planner_statistics(db: &DatabaseConnection) -> Result<bool, DbErr> {
    if db.get_database_backend() != DatabaseBackend::Sqlite {
        return Ok(false);
    }
    // With 0x1 SQLite lists the tables it would analyze and analyzes none.
    let stale = db
        .query_all_raw(Statement::from_string(
            DatabaseBackend::Sqlite,
            "PRAGMA optimize=0x10003",
        ))
        .await?;
    if stale.is_empty() {
        return Ok(false);
    }
    db.execute_unprepared("PRAGMA optimize=0x10002").await?;
    let now = u64::try_from(clock_base().elapsed().as_millis()).unwrap_or(u64::MAX);
    STATISTICS_CHANGED_MS.store(now.max(1), Ordering::Release);
    Ok(true)
}

/// Refreshes SQLite's planner statistics every few minutes (a bulk import shows in them
/// within minutes; the first look is one period after start, so short-lived processes and
/// tests never pay for it). Ends when the pool is closed.
pub fn spawn_planner_statistics(db: DatabaseConnection) {
    tokio::spawn(async move {
        let first = tokio::time::Instant::now() + PLANNER_STATISTICS_EVERY;
        let mut tick = tokio::time::interval_at(first, PLANNER_STATISTICS_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(error) = refresh_planner_statistics(&db).await {
                if matches!(error, DbErr::ConnectionAcquire(_)) {
                    return;
                }
                tracing::warn!(%error, "refreshing planner statistics failed");
            }
        }
    });
}

/// Applies every pending migration.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}

/// True when every known migration has been applied.
pub async fn migrations_applied(db: &DatabaseConnection) -> Result<bool, DbErr> {
    Ok(Migrator::get_pending_migrations(db).await?.is_empty())
}

/// Cheap liveness query.
pub async fn ping(db: &DatabaseConnection) -> Result<(), DbErr> {
    db.execute_unprepared("SELECT 1").await.map(|_| ())
}

/// Which SQL dialect the pool speaks.
pub fn backend(db: &DatabaseConnection) -> DatabaseBackend {
    db.get_database_backend()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_opened_before_the_statistics_changed_are_replaced() {
        clock_base();
        std::thread::sleep(Duration::from_millis(20));
        let now = u64::try_from(clock_base().elapsed().as_millis()).unwrap();
        STATISTICS_CHANGED_MS.store(now, Ordering::Release);
        std::thread::sleep(Duration::from_millis(5));
        assert!(!has_current_statistics(Duration::from_secs(3600)));
        assert!(has_current_statistics(Duration::ZERO));
    }
}
