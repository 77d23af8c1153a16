//! IP allowlists: the account's list (one row, its entries as JSON, two switches and a version
//! that replicas compare), and an optional SCIM allowlist on each connection.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, boolean, string, text, text_null};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000011_ip_allowlist"
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
                    .table(a("ip_allowlist"))
                    .if_not_exists()
                    // `account`: one list per deployment; the key leaves room for more.
                    .col(string(a("id")).primary_key())
                    // JSON array of {cidr, description}.
                    .col(text(a("entries")))
                    .col(boolean(a("sessions_enabled")))
                    .col(boolean(a("tokens_enabled")))
                    .col(big_integer(a("version")))
                    .col(big_integer(a("updated_at")))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(a("connection"))
                    // JSON array of {cidr, description}; NULL: SCIM from anywhere.
                    .add_column(text_null(a("scim_allowlist")))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(a("connection"))
                    .drop_column(a("scim_allowlist"))
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(a("ip_allowlist")).to_owned())
            .await
    }
}
