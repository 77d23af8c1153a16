//! Pure domain logic: no I/O, no database. Unit-tested, fuzzed and benchmarked on its own.

pub mod access_review;
pub mod approval;
pub mod audit;
pub mod connection;
pub mod directory_query;
pub mod flag;
pub mod grant_source;
pub mod ip_allowlist;
pub mod json;
pub mod mapping;
pub mod policy;
pub mod provisioning;
pub mod scim;
pub mod session;
pub mod sso;
pub mod text;
pub mod webhook;
