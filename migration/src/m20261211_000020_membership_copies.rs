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

/// The copied columns a member's change moves (all but the creation time), and what each
/// is over `member`.
fn changeable() -> (Vec<&'static str>, Vec<&'static str>) {
    COPIED
        .iter()
        .zip(COPIED_FROM)
        .filter(|(column, _)| **column != SORT_KEYS[3])
        .map(|(column, source)| (*column, source))
        .unzip()
}

/// SQLite's statement, run per changed row, that copies the member's changeable columns
/// onto its membership rows.
fn copy_row() -> String {
    let (columns, sources) = changeable();
    let (columns, sources) = (columns.join(", "), sources.join(", "));
    format!(
        "UPDATE team_member SET ({columns}) = \
         (SELECT {sources} FROM member WHERE member.id = NEW.id) WHERE member_id = NEW.id"
    )
}

/// PostgreSQL's statement, run once per UPDATE of `member`, that copies the changeable
/// columns of the rows whose watched columns changed, from the statement's transition
/// tables: a bulk role change of 10,000 members on teams then costs one set-based UPDATE
/// per statement instead of a trigger call and an UPDATE per member (+0.5 to 0.9 s).
fn copy_changed_rows() -> String {
    let (columns, sources) = changeable();
    let named: Vec<String> = (0..columns.len()).map(|i| format!("v{i}")).collect();
    let set = columns
        .iter()
        .zip(&named)
        .map(|(column, value)| format!("{column} = changed.{value}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "UPDATE team_member SET {set} \
         FROM (SELECT id, {sources} FROM new_rows WHERE id IN \
               (SELECT n.id FROM new_rows n JOIN old_rows o ON o.id = n.id WHERE {changed})) \
              AS changed (id, {named}) \
         WHERE team_member.member_id = changed.id",
        sources = sources.join(", "),
        changed = changed("o", "IS DISTINCT FROM", "n"),
        named = named.join(", "),
    )
}

/// The columns whose change the trigger follows, and the condition that one changed.
const WATCHED: [&str; 5] = [
    "email_lower",
    "first_name",
    "last_name",
    "last_seen",
    "role",
];

fn changed(old: &str, distinct: &str, new: &str) -> String {
    WATCHED
        .map(|c| format!("{old}.{c} {distinct} {new}.{c}"))
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
                    copy_changed_rows()
                ))
                .await?;
                // Transition tables take no column list: every UPDATE of `member` runs it,
                // and the join finds the rows whose watched columns changed.
                db.execute_unprepared(
                    "CREATE TRIGGER tr_team_member_follow_member AFTER UPDATE ON member \
                     REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows \
                     FOR EACH STATEMENT EXECUTE FUNCTION team_member_follow_member()",
                )
                .await?;
            }
            _ => {
                db.execute_unprepared(&format!(
                    "CREATE TRIGGER tr_team_member_follow_member \
                     AFTER UPDATE OF {} ON member FOR EACH ROW \
                     WHEN {} BEGIN {}; END",
                    WATCHED.join(", "),
                    changed("OLD", "IS NOT", "NEW"),
                    copy_row()
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
