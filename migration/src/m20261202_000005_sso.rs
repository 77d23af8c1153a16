//! Sign-in over SAML and OIDC: browser sessions, issued SAML AuthnRequest ids, the SAML
//! assertion replay store and pending OIDC logins. All in the database so that every replica
//! sees every session, request and replay record.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, big_integer_null, string, string_null, text};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261202_000005_sso"
    }
}

fn a(name: &str) -> Alias {
    Alias::new(name)
}

fn index(name: &str, table: &str, column: &str) -> IndexCreateStatement {
    Index::create()
        .name(name)
        .table(a(table))
        .col(a(column))
        .if_not_exists()
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // A signed-in browser. `id` is the SHA-256 of the cookie secret: a database leak
        // does not hand out live sessions.
        manager
            .create_table(
                Table::create()
                    .table(a("session"))
                    .if_not_exists()
                    .col(string(a("id")).primary_key())
                    .col(string(a("member_id")))
                    .col(string_null(a("connection_key")))
                    .col(string(a("protocol")))
                    .col(string(a("csrf_token")))
                    .col(string_null(a("source_ip")))
                    .col(big_integer(a("created_at")))
                    .col(big_integer(a("last_seen_at")))
                    .col(big_integer(a("expires_at")))
                    .col(big_integer_null(a("revoked_at")))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("ix_session_member", "session", "member_id"))
            .await?;
        // An AuthnRequest we sent: its id may be answered once, before it expires.
        manager
            .create_table(
                Table::create()
                    .table(a("saml_request"))
                    .if_not_exists()
                    .col(string(a("id")).primary_key())
                    .col(string(a("connection_id")))
                    .col(text(a("return_to")))
                    .col(big_integer(a("created_at")))
                    .col(big_integer(a("expires_at")))
                    .to_owned(),
            )
            .await?;
        // Assertion ids already used, kept until the assertion would expire anyway. The key is
        // a hash of (connection, issuer, assertion id) so the primary key refuses a replay
        // even when two replicas race.
        manager
            .create_table(
                Table::create()
                    .table(a("saml_replay"))
                    .if_not_exists()
                    .col(string(a("id")).primary_key())
                    .col(string(a("connection_id")))
                    .col(big_integer(a("expires_at")))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("ix_saml_replay_expires", "saml_replay", "expires_at"))
            .await?;
        // An OIDC login in flight: `id` is the hash of `state`; the browser holds a cookie
        // whose hash is `browser_hash`, so a state value alone cannot complete the login.
        manager
            .create_table(
                Table::create()
                    .table(a("oidc_login"))
                    .if_not_exists()
                    .col(string(a("id")).primary_key())
                    .col(string(a("connection_id")))
                    .col(string(a("browser_hash")))
                    .col(string(a("nonce")))
                    .col(string(a("pkce_verifier")))
                    .col(text(a("return_to")))
                    .col(big_integer(a("created_at")))
                    .col(big_integer(a("expires_at")))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Err(DbErr::Migration("sso tables are not rolled back".into()))
    }
}
