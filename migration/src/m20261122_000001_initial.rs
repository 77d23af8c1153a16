//! The first schema: the flag domain, members and teams, roles, tokens and the audit chain.
//!
//! Written with sea-query builders (not the entities) so this step stays frozen as the
//! entities evolve; the audit table's append-only triggers are per-backend SQL.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, big_integer_null, boolean, integer, string, string_null, text,
};
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261122_000001_initial"
    }
}

fn a(name: &str) -> Alias {
    Alias::new(name)
}

fn id() -> ColumnDef {
    string(a("id")).primary_key().to_owned()
}

fn table(name: &str, columns: Vec<ColumnDef>) -> TableCreateStatement {
    let mut t = Table::create();
    t.table(a(name)).if_not_exists();
    for mut c in columns {
        t.col(&mut c);
    }
    t.to_owned()
}

fn unique_index(name: &str, table: &str, columns: &[&str]) -> IndexCreateStatement {
    let mut i = Index::create();
    i.name(name).table(a(table)).unique().if_not_exists();
    for c in columns {
        i.col(a(c));
    }
    i.to_owned()
}

fn index(name: &str, table: &str, columns: &[&str]) -> IndexCreateStatement {
    let mut i = Index::create();
    i.name(name).table(a(table)).if_not_exists();
    for c in columns {
        i.col(a(c));
    }
    i.to_owned()
}

fn versioned(mut columns: Vec<ColumnDef>) -> Vec<ColumnDef> {
    columns.push(big_integer(a("version")));
    columns.push(big_integer(a("created_at")));
    columns.push(big_integer(a("updated_at")));
    columns
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let tables = vec![
            table(
                "project",
                versioned(vec![
                    id(),
                    string(a("key")).unique_key().to_owned(),
                    string(a("name")),
                    text(a("tags")),
                ]),
            ),
            table(
                "environment",
                versioned(vec![
                    id(),
                    string(a("project_id")),
                    string(a("key")),
                    string(a("name")),
                    text(a("tags")),
                    boolean(a("critical")),
                    text(a("approval_settings")),
                ]),
            ),
            table(
                "flag",
                versioned(vec![
                    id(),
                    string(a("project_id")),
                    string(a("key")),
                    text(a("settings")),
                    boolean(a("archived")),
                ]),
            ),
            table(
                "flag_state",
                vec![
                    id(),
                    string(a("flag_id")),
                    string(a("environment_id")),
                    text(a("state")),
                    big_integer(a("version")),
                    big_integer(a("updated_at")),
                ],
            ),
            table(
                "env_variable",
                versioned(vec![
                    id(),
                    string(a("environment_id")),
                    string(a("name")),
                    text(a("value")),
                    boolean(a("secret")),
                ]),
            ),
            table(
                "member",
                versioned(vec![
                    id(),
                    string(a("email")),
                    string(a("email_lower")).unique_key().to_owned(),
                    string(a("user_name")),
                    string(a("user_name_lower")).unique_key().to_owned(),
                    string_null(a("first_name")),
                    string_null(a("last_name")),
                    string(a("role")),
                    text(a("custom_roles")),
                    text(a("role_attributes")),
                    string(a("status")),
                    string(a("source")),
                    string_null(a("connection_key")),
                    string_null(a("external_id")),
                    big_integer_null(a("last_seen")),
                ]),
            ),
            table(
                "team",
                versioned(vec![
                    id(),
                    string(a("key")).unique_key().to_owned(),
                    string(a("name")),
                    text(a("description")),
                    text(a("custom_roles")),
                    text(a("role_attributes")),
                    boolean(a("idp_synced")),
                    string_null(a("connection_key")),
                ]),
            ),
            Table::create()
                .table(a("team_member"))
                .if_not_exists()
                .col(string(a("team_id")))
                .col(string(a("member_id")))
                .primary_key(Index::create().col(a("team_id")).col(a("member_id")))
                .to_owned(),
            table(
                "custom_role",
                versioned(vec![
                    id(),
                    string(a("key")).unique_key().to_owned(),
                    string(a("name")),
                    text(a("description")),
                    string(a("base_permissions")),
                    text(a("policy")),
                    text(a("role_attributes")),
                ]),
            ),
            table(
                "api_token",
                vec![
                    id(),
                    string(a("name")),
                    string_null(a("owner_id")),
                    boolean(a("service_token")),
                    string_null(a("role")),
                    text(a("custom_roles")),
                    string(a("secret_hash")).unique_key().to_owned(),
                    string(a("ending")),
                    big_integer_null(a("last_used")),
                    big_integer_null(a("expires_at")),
                    big_integer_null(a("revoked_at")),
                    string_null(a("created_by")),
                    big_integer(a("created_at")),
                ],
            ),
            table(
                "audit_entry",
                vec![
                    big_integer(a("seq")).primary_key().to_owned(),
                    string(a("id")).unique_key().to_owned(),
                    big_integer(a("date")),
                    string(a("kind")),
                    string(a("actor_kind")),
                    string_null(a("actor_id")),
                    text(a("actions")),
                    text(a("resources")),
                    text(a("search_text")),
                    text(a("body")),
                    string(a("prev_hash")),
                    string(a("hash")),
                ],
            ),
            table(
                "audit_head",
                vec![
                    integer(a("id")).primary_key().to_owned(),
                    big_integer(a("seq")),
                    string(a("hash")),
                ],
            ),
            table(
                "setting",
                vec![string(a("key")).primary_key().to_owned(), text(a("value"))],
            ),
        ];
        for t in tables {
            manager.create_table(t).await?;
        }
        let indexes = vec![
            unique_index(
                "ux_environment_project_key",
                "environment",
                &["project_id", "key"],
            ),
            unique_index("ux_flag_project_key", "flag", &["project_id", "key"]),
            unique_index(
                "ux_flag_state_flag_env",
                "flag_state",
                &["flag_id", "environment_id"],
            ),
            index("ix_flag_state_env", "flag_state", &["environment_id"]),
            unique_index(
                "ux_env_variable_env_name",
                "env_variable",
                &["environment_id", "name"],
            ),
            index("ix_team_member_member", "team_member", &["member_id"]),
            index("ix_api_token_owner", "api_token", &["owner_id"]),
            index("ix_audit_entry_date", "audit_entry", &["date"]),
            index("ix_audit_entry_actor", "audit_entry", &["actor_id"]),
        ];
        for i in indexes {
            manager.create_index(i).await?;
        }

        let db = manager.get_connection();
        db.execute_unprepared(&format!(
            "INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '{}')",
            "0".repeat(64)
        ))
        .await?;
        // The audit table is append-only: the database itself refuses UPDATE and DELETE, so
        // neither a bug nor a stray admin query can rewrite history without leaving a trace.
        match manager.get_database_backend() {
            DatabaseBackend::Sqlite => {
                for (name, event) in [
                    ("audit_entry_no_update", "UPDATE"),
                    ("audit_entry_no_delete", "DELETE"),
                ] {
                    db.execute_unprepared(&format!(
                        "CREATE TRIGGER IF NOT EXISTS {name} BEFORE {event} ON audit_entry \
                         BEGIN SELECT RAISE(ABORT, 'audit_entry is append-only'); END"
                    ))
                    .await?;
                }
            }
            DatabaseBackend::Postgres => {
                db.execute_unprepared(
                    "CREATE OR REPLACE FUNCTION audit_entry_append_only() RETURNS trigger \
                     LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit_entry is append-only'; END $$",
                )
                .await?;
                db.execute_unprepared(
                    "CREATE TRIGGER audit_entry_no_update BEFORE UPDATE OR DELETE ON audit_entry \
                     FOR EACH ROW EXECUTE FUNCTION audit_entry_append_only()",
                )
                .await?;
                db.execute_unprepared(
                    "CREATE TRIGGER audit_entry_no_truncate BEFORE TRUNCATE ON audit_entry \
                     FOR EACH STATEMENT EXECUTE FUNCTION audit_entry_append_only()",
                )
                .await?;
            }
            other => {
                return Err(DbErr::Migration(format!(
                    "unsupported database backend {other:?}"
                )));
            }
        }
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        // The audit log is evidence: this step is never rolled back.
        Err(DbErr::Migration(
            "the initial schema cannot be rolled back".into(),
        ))
    }
}
