//! SCIM 2.0 as pure logic (RFC 7643 schemas, RFC 7644 protocol), with no I/O and no HTTP:
//! `filter` (parser -> AST, in-memory evaluation), `path` (PATCH paths), `patch` (PatchOp and
//! RFC 6902 JSON Patch applied to a resource's JSON), `membership` (a group PATCH's member
//! operations folded into one delta), `schema` (attribute definitions), `resource`
//! (normalising what an IdP sends, projecting what we return), `discovery` (what
//! ServiceProviderConfig, ResourceTypes and Schemas publish) and `error`.

pub mod discovery;
pub mod error;
pub mod filter;
pub mod membership;
pub mod patch;
pub mod path;
pub mod resource;
pub mod schema;
pub mod user;
