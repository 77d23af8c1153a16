//! The SCIM edge at `/scim/v2`: HTTP only. `http` holds the thin handlers (authenticate,
//! parse, call one service command, render); `error` renders RFC 7644 errors with their HTTP
//! status. The protocol itself (filters, PATCH, schemas, resources) is pure logic under
//! `domain::scim`.

pub mod error;
pub mod http;
