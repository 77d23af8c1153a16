//! One integration-test binary: the real app over HTTP on a real database.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
#![allow(unsafe_code)] // only the counting allocator in no_alloc.rs

mod access_review;
mod access_who;
mod approvals;
mod audit;
mod bulk;
mod cli;
mod connections;
mod console;
mod contract;
mod directory;
mod domain;
mod ip_allowlist;
mod ld_compat;
mod members;
mod no_alloc;
mod ops;
mod outbound;
mod overload;
mod policy_enforced;
mod policy_props;
mod policy_rules;
mod policy_validation;
mod roles_teams;
mod scim;
mod session_admin;
mod sessions;
mod sso_idp;
mod sso_metadata;
mod sso_oidc;
mod sso_saml;
mod sso_slo;
mod support;
mod text_refusals;
mod tokens;
mod tokens_lifecycle;
mod write_batches;
