//! Each member keeps the number of teams it is on, so `noteam:true` is an index range
//! rather than a probe of `team_member` for every member, and the member list pages "on no
//! team" among 100,000 members in what the page costs. The service moves the count in the
//! same statements as the `team_member` rows it inserts or deletes, as it does for the
//! team's own `member_count`.
//!
//! The role index gains the last-seen time (`role, last_seen, id`), so "admins not seen since
//! a date" is one index range, counted without reading a row, where SQLite otherwise
//! counted it by reading the whole table; the role alone still uses its prefix.
//!
//! Also drops `ix_member_created_at`: step 10 added it on the same columns as the initial
//! `ix_member_created`, so every member write kept two copies of one index.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::big_integer;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261208_000016_member_team_count"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// One transaction on one connection: the column comes with its counts or not at all.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("member"))
                    .add_column(big_integer(Alias::new("team_count")).default(0))
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        db.execute_unprepared(
            "UPDATE member SET team_count = \
             (SELECT COUNT(*) FROM team_member WHERE team_member.member_id = member.id)",
        )
        .await?;
        db.execute_unprepared("CREATE INDEX ix_member_team_count ON member (team_count, id)")
            .await?;
        db.execute_unprepared("CREATE INDEX ix_member_role_seen ON member (role, last_seen, id)")
            .await?;
        for index in ["ix_member_role", "ix_member_created_at"] {
            db.execute_unprepared(&format!("DROP INDEX {index}"))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Err(DbErr::Migration(
            "the member team count is not rolled back".into(),
        ))
    }
}
