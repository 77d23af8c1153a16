//! What an identity provider calls a browser session, so that its logout can end it: the
//! subject it signed in (SAML NameID, OIDC `sub`), its own session id (SAML SessionIndex,
//! OIDC `sid`), and for OIDC the ID token, sent back as `id_token_hint` when the member signs
//! out here. Sessions opened before this step have none and end only here. A stored SAML
//! request says what it asked (`authn` or `logout`), so that only its own kind of answer
//! takes it.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{string, text_null};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261209_000018_session_idp_ids"
    }
}

fn a(name: &str) -> Alias {
    Alias::new(name)
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in ["idp_subject", "idp_session", "id_token_hint"] {
            manager
                .alter_table(
                    Table::alter()
                        .table(a("session"))
                        .add_column(text_null(a(column)))
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(a("saml_request"))
                    .add_column(string(a("kind")).default("authn"))
                    .to_owned(),
            )
            .await?;
        // A logout names the connection and a session id or a subject.
        for (name, column) in [
            ("ix_session_idp_session", "idp_session"),
            ("ix_session_idp_subject", "idp_subject"),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(a("session"))
                        .col(a("connection_key"))
                        .col(a(column))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Err(DbErr::Migration(
            "session identity-provider ids are not rolled back".into(),
        ))
    }
}
