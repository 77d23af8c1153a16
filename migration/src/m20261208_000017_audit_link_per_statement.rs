//! On PostgreSQL the audit chain is linked once per INSERT statement instead of once per row.
//!
//! Step 7's row trigger updated the head row for every entry. Inside one transaction each of
//! those updates leaves a row version that no one else may prune yet, and the next update
//! walks past all of them: a bulk change of 10,000 members wrote 10,000 entries in about
//! 1.2 s of trigger time, growing with the square of the count. The statement trigger checks
//! the same links (the first new row continues the head, each row the one before it, by
//! `seq`) over the statement's new rows, and moves the head once, to the last of them.
//! A statement that breaks a link fails with the same message, and nothing of it is kept.
//!
//! SQLite updates its one head row in place, so its row trigger stays.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};

use crate::m20261203_000007_audit_head_trigger::HEAD_MOVED;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261208_000017_audit_link_per_statement"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        db.execute_unprepared(&format!(
            "CREATE OR REPLACE FUNCTION audit_entry_link_rows() RETURNS trigger \
             LANGUAGE plpgsql AS $$ \
             DECLARE first_seq bigint; first_prev text; last_seq bigint; last_hash text; \
             BEGIN \
               SELECT seq, prev_hash INTO first_seq, first_prev FROM linked ORDER BY seq LIMIT 1; \
               IF first_seq IS NULL THEN RETURN NULL; END IF; \
               SELECT seq, hash INTO last_seq, last_hash FROM linked ORDER BY seq DESC LIMIT 1; \
               IF EXISTS (SELECT 1 FROM (SELECT seq, prev_hash, \
                            lag(seq) OVER (ORDER BY seq) AS prior_seq, \
                            lag(hash) OVER (ORDER BY seq) AS prior_hash FROM linked) AS rows \
                          WHERE prior_seq IS NOT NULL \
                            AND (seq <> prior_seq + 1 OR prev_hash <> prior_hash)) THEN \
                 RAISE EXCEPTION '{HEAD_MOVED}'; \
               END IF; \
               UPDATE audit_head SET seq = last_seq, hash = last_hash \
                 WHERE id = 1 AND seq + 1 = first_seq AND hash = first_prev; \
               IF NOT FOUND THEN RAISE EXCEPTION '{HEAD_MOVED}'; END IF; \
               RETURN NULL; \
             END $$"
        ))
        .await?;
        db.execute_unprepared("DROP TRIGGER audit_entry_link ON audit_entry")
            .await?;
        db.execute_unprepared("DROP FUNCTION audit_entry_link()")
            .await?;
        db.execute_unprepared(
            "CREATE TRIGGER audit_entry_link AFTER INSERT ON audit_entry \
             REFERENCING NEW TABLE AS linked \
             FOR EACH STATEMENT EXECUTE FUNCTION audit_entry_link_rows()",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
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
        db.execute_unprepared("DROP TRIGGER audit_entry_link ON audit_entry")
            .await?;
        db.execute_unprepared("DROP FUNCTION audit_entry_link_rows()")
            .await?;
        db.execute_unprepared(
            "CREATE TRIGGER audit_entry_link BEFORE INSERT ON audit_entry \
             FOR EACH ROW EXECUTE FUNCTION audit_entry_link()",
        )
        .await?;
        Ok(())
    }
}
