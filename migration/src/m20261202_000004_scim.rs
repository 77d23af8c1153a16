//! SCIM provisioning: the filter index (`scim_value`: one row per attribute value of a
//! provisioned resource, rewritten with every SCIM write, so any filter runs as SQL), the
//! mark of a member that SCIM deleted but the connection keeps deactivated, and indexes for
//! SCIM's stable paging.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer_null, integer, string, text_null};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261202_000004_scim"
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
                    .table(a("scim_value"))
                    .if_not_exists()
                    .col(string(a("resource_kind")))
                    .col(string(a("resource_id")))
                    .col(string(a("path")))
                    .col(integer(a("elem")))
                    .col(text_null(a("value")))
                    .col(text_null(a("value_lower")))
                    .primary_key(
                        Index::create()
                            .col(a("resource_kind"))
                            .col(a("resource_id"))
                            .col(a("path"))
                            .col(a("elem")),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_scim_value_lookup")
                    .table(a("scim_value"))
                    .col(a("resource_kind"))
                    .col(a("path"))
                    .col(a("value_lower"))
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(a("member"))
                    .add_column(big_integer_null(a("scim_deleted_at")))
                    .to_owned(),
            )
            .await?;
        for (name, table, cols) in [
            ("ix_member_created", "member", vec!["created_at", "id"]),
            ("ix_member_connection", "member", vec!["connection_key"]),
            ("ix_team_connection", "team", vec!["connection_key"]),
            ("ix_team_external_id", "team", vec!["external_id"]),
        ] {
            let mut i = Index::create();
            i.name(name).table(a(table)).if_not_exists();
            for c in cols {
                i.col(a(c));
            }
            manager.create_index(i.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Err(DbErr::Migration(
            "the SCIM schema is not rolled back".into(),
        ))
    }
}
