//! Database connection and migrations, for SQLite (embedded default) and PostgreSQL.

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, DbErr,
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
