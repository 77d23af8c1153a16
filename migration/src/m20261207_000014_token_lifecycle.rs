//! Token lifecycle: a description, statements a service token holds itself (`inline_role`, JSON,
//! null when none), and the one previous secret a reset keeps working until its grace ends.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer_null, string_null, text_null};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000014_token_lifecycle"
    }
}

fn a(name: &str) -> Alias {
    Alias::new(name)
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// One transaction: the columns and the index come together or not at all.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        for column in [
            text_null(a("description")),
            text_null(a("inline_role")),
            string_null(a("previous_secret_hash")),
            big_integer_null(a("previous_secret_expires_at")),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(a("api_token"))
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        // A request with an old secret is looked up by its hash, as a current one is.
        manager
            .create_index(
                Index::create()
                    .name("ix_api_token_previous_secret_hash")
                    .table(a("api_token"))
                    .col(a("previous_secret_hash"))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Err(DbErr::Migration(
            "token lifecycle columns are not rolled back".into(),
        ))
    }
}
