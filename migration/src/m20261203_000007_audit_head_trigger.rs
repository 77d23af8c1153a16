//! The database links the audit chain: a trigger refuses an entry that does not continue the
//! head (`seq` = head + 1, `prev_hash` = head hash) and moves the head to it.
//!
//! Writers no longer read and update the head row around every append: the service knows the
//! head (cached on SQLite, locked on PostgreSQL) and the trigger both checks that knowledge and
//! keeps the row current, so an append is one INSERT. A writer whose cached head is stale
//! (another process appended) is refused by the trigger and retries with the fresh head.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261203_000007_audit_head_trigger"
    }
}

/// The message the service recognises to retry an append with a fresh head.
pub const HEAD_MOVED: &str = "audit chain head moved";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DatabaseBackend::Sqlite => {
                // Row triggers fire row by row, so a multi-row INSERT links each row to the
                // one before it.
                db.execute_unprepared(&format!(
                    "CREATE TRIGGER IF NOT EXISTS audit_entry_link BEFORE INSERT ON audit_entry \
                     BEGIN \
                       SELECT RAISE(ABORT, '{HEAD_MOVED}') FROM audit_head \
                         WHERE id = 1 AND (NEW.seq <> seq + 1 OR NEW.prev_hash <> hash); \
                       UPDATE audit_head SET seq = NEW.seq, hash = NEW.hash WHERE id = 1; \
                     END"
                ))
                .await?;
            }
            DatabaseBackend::Postgres => {
                db.execute_unprepared(&format!(
                    "CREATE OR REPLACE FUNCTION audit_entry_link() RETURNS trigger \
                     LANGUAGE plpgsql AS $$ \
                     BEGIN \
                       UPDATE audit_head SET seq = NEW.seq, hash = NEW.hash \
                         WHERE id = 1 AND seq + 1 = NEW.seq AND hash = NEW.prev_hash; \
                       IF NOT FOUND THEN RAISE EXCEPTION '{HEAD_MOVED}'; END IF; \
                       RETURN NEW; \
                     END $$"
                ))
                .await?;
                db.execute_unprepared(
                    "CREATE TRIGGER audit_entry_link BEFORE INSERT ON audit_entry \
                     FOR EACH ROW EXECUTE FUNCTION audit_entry_link()",
                )
                .await?;
            }
            other => {
                return Err(DbErr::Migration(format!(
                    "unsupported database backend {other:?}"
                )));
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DatabaseBackend::Postgres => {
                db.execute_unprepared("DROP TRIGGER IF EXISTS audit_entry_link ON audit_entry")
                    .await?;
                db.execute_unprepared("DROP FUNCTION IF EXISTS audit_entry_link()")
                    .await?;
            }
            _ => {
                db.execute_unprepared("DROP TRIGGER IF EXISTS audit_entry_link")
                    .await?;
            }
        }
        Ok(())
    }
}
