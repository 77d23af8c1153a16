//! Identity connections (Okta, Entra ID, generic) with their SCIM bearer tokens, and the SCIM
//! attributes a provisioned member or team carries.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, big_integer_null, boolean, string, string_null, text, text_null,
};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261122_000003_identity_connections"
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
                    .table(a("connection"))
                    .if_not_exists()
                    .col(string(a("id")).primary_key())
                    .col(string(a("key")).unique_key())
                    .col(string(a("kind")))
                    .col(string(a("name")))
                    .col(boolean(a("jit")))
                    .col(string(a("default_role")))
                    .col(string(a("deprovision")))
                    .col(boolean(a("sso_required")))
                    .col(text(a("mappings")))
                    .col(text_null(a("saml")))
                    .col(text_null(a("oidc")))
                    .col(big_integer(a("version")))
                    .col(big_integer(a("created_at")))
                    .col(big_integer(a("updated_at")))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(a("scim_token"))
                    .if_not_exists()
                    .col(string(a("id")).primary_key())
                    .col(string(a("connection_id")))
                    .col(string(a("secret_hash")).unique_key())
                    .col(string(a("ending")))
                    .col(big_integer_null(a("last_used")))
                    .col(big_integer_null(a("revoked_at")))
                    .col(big_integer(a("created_at")))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_scim_token_connection")
                    .table(a("scim_token"))
                    .col(a("connection_id"))
                    .to_owned(),
            )
            .await?;
        // SCIM attributes kept as the IdP sent them: display name, emails, name parts and
        // extension attributes (enterprise), returned on every read.
        for column in [text_null(a("scim_attributes"))] {
            manager
                .alter_table(
                    Table::alter()
                        .table(a("member"))
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(a("team"))
                    .add_column(string_null(a("external_id")))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_member_external_id")
                    .table(a("member"))
                    .col(a("external_id"))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Err(DbErr::Migration(
            "identity connections are not rolled back".into(),
        ))
    }
}
