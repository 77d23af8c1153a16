//! Indexes for directory queries (`/api/v2/members?filter=...&sort=...`), so that a filtered,
//! sorted page is read through an index rather than by filtering every row: base role, last
//! seen, creation time, and the lower-cased display name and last name that `query:` and
//! `sort=displayName` use. The name indexes are on expressions, which the queries repeat
//! exactly ([`MEMBER_DISPLAY_KEY`], [`MEMBER_LAST_NAME_KEY`]), so no write path keeps a copy.

use sea_orm_migration::prelude::*;

/// A member's display name as queries sort and match it: first and last name, lower-cased.
pub const MEMBER_DISPLAY_KEY: &str =
    "lower(trim(coalesce(first_name, '') || ' ' || coalesce(last_name, '')))";
/// A member's last name as `query:` matches it.
pub const MEMBER_LAST_NAME_KEY: &str = "lower(coalesce(last_name, ''))";

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000010_directory_indexes"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for (name, on) in [
            ("ix_member_role", "role, id".to_owned()),
            ("ix_member_last_seen", "last_seen, id".to_owned()),
            ("ix_member_created_at", "created_at, id".to_owned()),
            ("ix_member_display", format!("({MEMBER_DISPLAY_KEY}), id")),
            (
                "ix_member_last_name",
                format!("({MEMBER_LAST_NAME_KEY}), id"),
            ),
        ] {
            db.execute_unprepared(&format!("CREATE INDEX {name} ON member ({on})"))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for name in [
            "ix_member_role",
            "ix_member_last_seen",
            "ix_member_created_at",
            "ix_member_display",
            "ix_member_last_name",
        ] {
            db.execute_unprepared(&format!("DROP INDEX {name}")).await?;
        }
        Ok(())
    }
}
