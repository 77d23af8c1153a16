//! Webhooks: subscriptions that deliver the audit log from a cursor, their delivery lease,
//! and the record of recent delivery attempts.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, big_integer_null, boolean, integer, integer_null, string, string_null, text,
    text_null,
};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000009_webhooks"
    }
}

fn a(name: &str) -> Alias {
    Alias::new(name)
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(a("webhook"))
                    .if_not_exists()
                    .col(string(a("id")).primary_key())
                    .col(string(a("name")))
                    .col(text(a("url")))
                    .col(string(a("secret")))
                    .col(boolean(a("on")))
                    .col(text_null(a("statements")))
                    .col(text_null(a("events")))
                    // The last seq delivered (or skipped by the cursor endpoint).
                    .col(big_integer(a("cursor_seq")))
                    .col(integer(a("failures")))
                    .col(big_integer(a("next_attempt_at")))
                    // Which replica delivers it, until when.
                    .col(string_null(a("lease_holder")))
                    .col(big_integer_null(a("lease_expires_at")))
                    .col(big_integer(a("version")))
                    .col(big_integer(a("created_at")))
                    .col(big_integer(a("updated_at")))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(a("webhook_delivery"))
                    .if_not_exists()
                    .col(string(a("id")).primary_key())
                    .col(string(a("webhook_id")))
                    .col(big_integer(a("at")))
                    .col(big_integer(a("from_seq")))
                    .col(big_integer(a("to_seq")))
                    .col(integer(a("event_count")))
                    .col(integer_null(a("status")))
                    .col(text_null(a("error")))
                    .col(big_integer(a("latency_ms")))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_webhook_delivery_webhook_at")
                    .table(a("webhook_delivery"))
                    .if_not_exists()
                    .col(a("webhook_id"))
                    .col(a("at"))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["webhook_delivery", "webhook"] {
            manager
                .drop_table(Table::drop().table(a(table)).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
