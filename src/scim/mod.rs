//! SCIM 2.0 (RFC 7643 schemas, RFC 7644 protocol).
//!
//! The pure parts have no I/O and serve the service the way `domain/` does: `filter` (parser
//! -> AST, in-memory evaluation), `path` (PATCH paths), `patch` (PatchOp and RFC 6902 JSON
//! Patch applied to a resource's JSON), `schema` (attribute definitions), `resource`
//! (normalising what an IdP sends, projecting what we return), `discovery` (what
//! ServiceProviderConfig, ResourceTypes and Schemas publish) and `error`. `http` is the edge
//! at `/scim/v2`: thin poem handlers that authenticate, call one service command and render.

pub mod discovery;
pub mod error;
pub mod filter;
pub mod http;
pub mod patch;
pub mod path;
pub mod resource;
pub mod schema;
