//! Approvals: approval requests and their reviews.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, big_integer_null, string, string_null, text, text_null,
};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261202_000006_approvals"
    }
}

fn a(name: &str) -> Alias {
    Alias::new(name)
}

fn index(name: &str, table: &str, columns: &[&str], unique: bool) -> IndexCreateStatement {
    let mut i = Index::create();
    i.name(name).table(a(table)).if_not_exists();
    if unique {
        i.unique();
    }
    for c in columns {
        i.col(a(c));
    }
    i.to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(a("approval_request"))
                    .if_not_exists()
                    .col(string(a("id")).primary_key())
                    .col(string(a("project_id")))
                    .col(string(a("project_key")))
                    .col(string(a("environment_id")))
                    .col(string(a("environment_key")))
                    .col(string(a("resource_kind")))
                    .col(string(a("resource_key")))
                    .col(string(a("resource_id")))
                    .col(string_null(a("flag_id")))
                    .col(string_null(a("requestor_member_id")))
                    .col(string_null(a("requestor_token_id")))
                    .col(text(a("authors")))
                    .col(text(a("description")))
                    .col(text(a("instructions")))
                    .col(text(a("base")))
                    .col(big_integer_null(a("base_version")))
                    .col(big_integer(a("revision")))
                    .col(string(a("status")))
                    .col(text(a("conflicts")))
                    .col(text(a("notify_member_ids")))
                    .col(text(a("notify_team_keys")))
                    .col(big_integer_null(a("applied_at")))
                    .col(string_null(a("applied_by_member_id")))
                    .col(string_null(a("applied_by_token_id")))
                    .col(big_integer(a("version")))
                    .col(big_integer(a("created_at")))
                    .col(big_integer(a("updated_at")))
                    .to_owned(),
            )
            .await?;
        for (name, cols) in [
            ("ix_approval_request_status", &["status"][..]),
            ("ix_approval_request_project", &["project_id"][..]),
            ("ix_approval_request_resource", &["resource_id"][..]),
        ] {
            manager
                .create_index(index(name, "approval_request", cols, false))
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(a("approval_review"))
                    .if_not_exists()
                    .col(string(a("id")).primary_key())
                    .col(string(a("request_id")))
                    .col(string(a("kind")))
                    .col(text_null(a("comment")))
                    .col(string_null(a("member_id")))
                    .col(string_null(a("token_id")))
                    .col(big_integer(a("revision")))
                    .col(big_integer(a("position")))
                    .col(big_integer(a("created_at")))
                    .to_owned(),
            )
            .await?;
        // One review per request version: two reviews racing on the same version cannot
        // both land, whatever the isolation level.
        manager
            .create_index(index(
                "ux_approval_review_position",
                "approval_review",
                &["request_id", "position"],
                true,
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(a("approval_review")).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(a("approval_request")).to_owned())
            .await
    }
}
