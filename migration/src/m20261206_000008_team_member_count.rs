//! Each team keeps its member count, so a membership change costs what the change costs: the
//! audit entry states the count before and after, and nothing on the provisioning path counts
//! a 50,000-member team row by row. The service moves the count in the same statement batch
//! as the `team_member` rows it inserts or deletes.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::big_integer;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261206_000008_team_member_count"
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
                    .table(Alias::new("team"))
                    .add_column(big_integer(Alias::new("member_count")).default(0))
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE team SET member_count = \
                 (SELECT COUNT(*) FROM team_member WHERE team_member.team_id = team.id)",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Err(DbErr::Migration(
            "the team member count is not rolled back".into(),
        ))
    }
}
