//! sea-orm entities of Gatehouse: one module per table, no logic.
//!
//! Portability rules (SQLite and PostgreSQL): ids are text, times are epoch milliseconds,
//! structured values are JSON text, enums are strings.

pub mod api_token;
pub mod approval_request;
pub mod approval_review;
pub mod audit_entry;
pub mod audit_head;
pub mod connection;
pub mod custom_role;
pub mod env_variable;
pub mod environment;
pub mod flag;
pub mod flag_state;
pub mod ip_allowlist;
pub mod member;
pub mod oidc_login;
pub mod project;
pub mod saml_replay;
pub mod saml_request;
pub mod scim_token;
pub mod scim_value;
pub mod session;
pub mod setting;
pub mod team;
pub mod team_member;
pub mod webhook;
pub mod webhook_delivery;
