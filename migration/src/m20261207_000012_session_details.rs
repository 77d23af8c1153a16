//! What admins see of a browser session: a public id that is not the cookie secret's hash
//! (the hash is the lookup key of a live cookie, so it never leaves the database), and the
//! browser's user agent. Sessions opened before this step get a random public id and no
//! user agent.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{string, text_null};
use sea_orm_migration::sea_orm::DatabaseBackend;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000012_session_details"
    }
}

fn a(name: &str) -> Alias {
    Alias::new(name)
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// One transaction: the column comes with its ids and its unique index or not at all.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds a NOT NULL column only with a default; the backfill replaces it.
        manager
            .alter_table(
                Table::alter()
                    .table(a("session"))
                    .add_column(string(a("public_id")).default(""))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(a("session"))
                    .add_column(text_null(a("user_agent")))
                    .to_owned(),
            )
            .await?;
        let backfill = match manager.get_database_backend() {
            DatabaseBackend::Postgres => {
                "UPDATE session SET public_id = md5(random()::text || id) WHERE public_id = ''"
            }
            _ => "UPDATE session SET public_id = lower(hex(randomblob(16))) WHERE public_id = ''",
        };
        manager
            .get_connection()
            .execute_unprepared(backfill)
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_session_public_id")
                    .table(a("session"))
                    .col(a("public_id"))
                    .unique()
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Err(DbErr::Migration(
            "session details are not rolled back".into(),
        ))
    }
}
