//! Indexes for the team, custom role and token list queries (`filter=query:...`, `sort=...`),
//! so that a filtered, sorted page is read through an index rather than by filtering every
//! row. `query:` matches a lower-cased prefix of a key or name; the indexes are on the same
//! expressions, which the queries repeat exactly ([`LOWER_KEY`], [`LOWER_NAME`]).

use sea_orm_migration::prelude::*;

/// A key as `query:` matches it: lower-cased.
pub const LOWER_KEY: &str = "lower(key)";
/// A name as `query:` matches it and `sort=name` orders it: lower-cased.
pub const LOWER_NAME: &str = "lower(name)";

/// `(index, table, columns)`.
const INDEXES: [(&str, &str, &str); 6] = [
    ("ix_team_key_lower", "team", "lower(key), id"),
    ("ix_team_name_lower", "team", "lower(name), id"),
    ("ix_team_member_count", "team", "member_count, id"),
    ("ix_custom_role_key_lower", "custom_role", "lower(key), id"),
    (
        "ix_custom_role_name_lower",
        "custom_role",
        "lower(name), id",
    ),
    ("ix_api_token_name_lower", "api_token", "lower(name), id"),
];

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000013_directory_query_indexes"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for (name, table, on) in INDEXES {
            db.execute_unprepared(&format!("CREATE INDEX {name} ON {table} ({on})"))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for (name, _, _) in INDEXES {
            db.execute_unprepared(&format!("DROP INDEX {name}")).await?;
        }
        Ok(())
    }
}
