//! Where each grant came from: the source of a member's base role and of each of its custom
//! roles, the source of each team membership, and the member's last sign-in (time,
//! connection, protocol), for the access review. Rows from before this step have no
//! recorded source (the review says `unknown`): guessing one from today's values could name
//! the wrong grantor in an access review, which is worse than saying nothing.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer_null, text_null};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000015_grant_sources"
    }
}

fn a(name: &str) -> Alias {
    Alias::new(name)
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// One transaction: all the columns or none.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        let member_columns = [
            text_null(a("role_source")),
            text_null(a("custom_role_sources")),
            big_integer_null(a("last_sign_in_at")),
            text_null(a("last_sign_in_connection")),
            text_null(a("last_sign_in_protocol")),
        ];
        for mut column in member_columns {
            manager
                .alter_table(
                    Table::alter()
                        .table(a("member"))
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(a("team_member"))
                    .add_column(text_null(a("source")))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Err(DbErr::Migration("grant sources are not rolled back".into()))
    }
}
