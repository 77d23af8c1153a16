//! Schema migrations of Gatehouse: one module per additive step, never edited once shipped.

pub use sea_orm_migration::prelude::*;

mod m20261122_000001_initial;
mod m20261122_000002_role_presets;
mod m20261122_000003_identity_connections;
mod m20261202_000004_scim;
mod m20261202_000005_sso;
mod m20261202_000006_approvals;
pub mod m20261203_000007_audit_head_trigger;
mod m20261206_000008_team_member_count;
mod m20261207_000009_webhooks;
pub mod m20261207_000010_directory_indexes;
mod m20261207_000011_ip_allowlist;
mod m20261207_000012_session_details;
pub mod m20261207_000013_directory_query_indexes;
mod m20261207_000014_token_lifecycle;
mod m20261207_000015_grant_sources;
mod m20261208_000016_member_team_count;
mod m20261208_000017_audit_link_per_statement;
mod m20261209_000018_session_idp_ids;
mod m20261210_000019_audit_resources_scan;
pub mod m20261211_000020_membership_copies;
pub mod m20261211_000021_member_total;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_initial::Migration),
            Box::new(m20261122_000002_role_presets::Migration),
            Box::new(m20261122_000003_identity_connections::Migration),
            Box::new(m20261202_000004_scim::Migration),
            Box::new(m20261202_000005_sso::Migration),
            Box::new(m20261202_000006_approvals::Migration),
            Box::new(m20261203_000007_audit_head_trigger::Migration),
            Box::new(m20261206_000008_team_member_count::Migration),
            Box::new(m20261207_000009_webhooks::Migration),
            Box::new(m20261207_000010_directory_indexes::Migration),
            Box::new(m20261207_000011_ip_allowlist::Migration),
            Box::new(m20261207_000012_session_details::Migration),
            Box::new(m20261207_000013_directory_query_indexes::Migration),
            Box::new(m20261207_000014_token_lifecycle::Migration),
            Box::new(m20261207_000015_grant_sources::Migration),
            Box::new(m20261208_000016_member_team_count::Migration),
            Box::new(m20261208_000017_audit_link_per_statement::Migration),
            Box::new(m20261209_000018_session_idp_ids::Migration),
            Box::new(m20261210_000019_audit_resources_scan::Migration),
            Box::new(m20261211_000020_membership_copies::Migration),
            Box::new(m20261211_000021_member_total::Migration),
        ]
    }
}
