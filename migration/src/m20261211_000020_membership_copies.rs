//! Each membership row carries a copy of its member's sort keys (email, display name, last
//! seen, created) and of the columns a team's page is filtered by besides the team (role,
//! last seen), so a member page of one team walks that team's index in the page's order,
//! tests those filters on the membership rows, and reads only the page's members. Before,
//! the database looked up every member of the team to sort or filter them: 2,000
//! primary-key reads for one page on PostgreSQL, most of the page's time.
//!
//! The copies are the member's: the row is inserted with them (the service's membership
//! insert reads them from `member`), and a trigger copies them again whenever one changes
//! on `member` (SCIM and sign-in updates, role changes, the sign-in's `last_seen`), inside
//! the statement that changed it. They are never written otherwise. The role is not
//! indexed: a team's rows sit together, so testing it on them is cheap, and a role change
//! then moves no index entry.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

use crate::m20261207_000010_directory_indexes::MEMBER_DISPLAY_KEY;

/// The member's sort keys as `team_member` stores them: email, display name, last seen,
/// created.
pub const SORT_KEYS: [&str; 4] = [
    "member_email_lower",
    "member_display_key",
    "member_last_seen",
    "member_created_at",
];

/// The member's role as `team_member` stores it.
pub const ROLE: &str = "member_role";

/// Every copied column, in the order of [`COPIED_FROM`].
pub const COPIED: [&str; 5] = [SORT_KEYS[0], SORT_KEYS[1], SORT_KEYS[2], SORT_KEYS[3], ROLE];

/// What each of [`COPIED`] is, as an expression over `member`.
pub const COPIED_FROM: [&str; 5] = [
    "email_lower",
    MEMBER_DISPLAY_KEY,
    "last_seen",
    "created_at",
    "role",
];

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261211_000020_membership_copies"
    }
}

/// The statement that copies a member's changeable columns (all but the creation time) onto
/// its membership rows; `id` is the SQL naming the member.
fn copy_keys(id: &str) -> String {
    let (columns, sources): (Vec<&str>, Vec<&str>) = COPIED
        .iter()
        .zip(COPIED_FROM)
        .filter(|(column, _)| **column != SORT_KEYS[3])
        .map(|(column, source)| (*column, source))
        .unzip();
    let (columns, sources) = (columns.join(", "), sources.join(", "));
    format!(
        "UPDATE team_member SET ({columns}) = \
         (SELECT {sources} FROM member WHERE member.id = {id}) WHERE member_id = {id}"
    )
}

/// The columns whose change the trigger follows, and the condition that one changed.
const WATCHED: &str = "email_lower, first_name, last_name, last_seen, role";

fn changed(distinct: &str) -> String {
    [
        "email_lower",
        "first_name",
        "last_name",
        "last_seen",
        "role",
    ]
    .map(|c| format!("OLD.{c} {distinct} NEW.{c}"))
    .join(" OR ")
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// One transaction: the columns come with their values, indexes and trigger, or not at all.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let backend = manager.get_database_backend();
        for (column, kind) in COPIED.iter().zip([
            "TEXT NOT NULL DEFAULT ''",
            "TEXT NOT NULL DEFAULT ''",
            "BIGINT",
            "BIGINT NOT NULL DEFAULT 0",
            "TEXT NOT NULL DEFAULT ''",
        ]) {
            db.execute_unprepared(&format!(
                "ALTER TABLE team_member ADD COLUMN {column} {kind}"
            ))
            .await?;
        }
        let columns = COPIED.join(", ");
        let sources = COPIED_FROM.join(", ");
        db.execute_unprepared(&format!(
            "UPDATE team_member SET ({columns}) = \
             (SELECT {sources} FROM member WHERE member.id = team_member.member_id)"
        ))
        .await?;
        // Members never seen sort first in ascending order, as on `member`: PostgreSQL puts
        // NULLs last unless told; SQLite always puts them first.
        let last_seen = match backend {
            DatabaseBackend::Postgres => "member_last_seen NULLS FIRST",
            _ => "member_last_seen",
        };
        for (name, key) in [
            ("ix_team_member_by_email", "member_email_lower"),
            ("ix_team_member_by_display", "member_display_key"),
            ("ix_team_member_by_last_seen", last_seen),
            ("ix_team_member_by_created", "member_created_at"),
        ] {
            db.execute_unprepared(&format!(
                "CREATE INDEX {name} ON team_member (team_id, {key}, member_id)"
            ))
            .await?;
        }
        match backend {
            DatabaseBackend::Postgres => {
                db.execute_unprepared(&format!(
                    "CREATE FUNCTION team_member_follow_member() RETURNS trigger \
                     LANGUAGE plpgsql AS $$ BEGIN {}; RETURN NULL; END $$",
                    copy_keys("NEW.id")
                ))
                .await?;
                db.execute_unprepared(&format!(
                    "CREATE TRIGGER tr_team_member_follow_member \
                     AFTER UPDATE OF {WATCHED} ON member FOR EACH ROW \
                     WHEN ({}) EXECUTE FUNCTION team_member_follow_member()",
                    changed("IS DISTINCT FROM")
                ))
                .await?;
            }
            _ => {
                db.execute_unprepared(&format!(
                    "CREATE TRIGGER tr_team_member_follow_member \
                     AFTER UPDATE OF {WATCHED} ON member FOR EACH ROW \
                     WHEN {} BEGIN {}; END",
                    changed("IS NOT"),
                    copy_keys("NEW.id")
                ))
                .await?;
            }
        }
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Err(DbErr::Migration(
            "the membership sort keys are not rolled back".into(),
        ))
    }
}
