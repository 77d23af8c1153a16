//! The service's error type. Each edge renders it its own way: the REST edge as
//! `{"code", "message"}` JSON (see `api::error`), the SCIM edge as an RFC 7644 Error.

use sea_orm::{DbErr, SqlErr};

/// Everything a service command can refuse or fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input is malformed or violates a rule; the message names the field.
    #[error("{0}")]
    InvalidRequest(String),
    /// No or an unknown credential.
    #[error("{0}")]
    Unauthorized(String),
    /// The principal may not do this.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// A uniqueness or state conflict (duplicate key, stale version in the body).
    #[error("{0}")]
    Conflict(String),
    /// An `If-Match` style precondition failed.
    #[error("{0}")]
    PreconditionFailed(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The change needs an approval request.
    #[error("{0}")]
    ApprovalRequired(String),
    #[error("{0}")]
    RateLimited(String),
    /// A fault of ours; the message is logged, never shown.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Shorthand for service results.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The stable machine-readable code of the REST error JSON.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidRequest(_) => "invalid_request",
            Error::Unauthorized(_) => "unauthorized",
            Error::Forbidden(_) => "forbidden",
            Error::NotFound(_) => "not_found",
            Error::Conflict(_) => "conflict",
            Error::PreconditionFailed(_) => "precondition_failed",
            Error::PayloadTooLarge(_) => "payload_too_large",
            Error::ApprovalRequired(_) => "approval_required",
            Error::RateLimited(_) => "rate_limited",
            Error::Internal(_) => "internal",
        }
    }

    /// The message safe to show a client: internal details stay in the log.
    pub fn public_message(&self) -> String {
        match self {
            Error::Internal(_) => {
                "internal error; see the server log for the request id".to_owned()
            }
            other => other.to_string(),
        }
    }

    pub fn invalid(msg: impl Into<String>) -> Self {
        Error::InvalidRequest(msg.into())
    }
    pub fn not_found(what: impl std::fmt::Display) -> Self {
        Error::NotFound(format!("{what} not found"))
    }
    pub fn conflict(msg: impl Into<String>) -> Self {
        Error::Conflict(msg.into())
    }
    pub fn forbidden(msg: impl Into<String>) -> Self {
        Error::Forbidden(msg.into())
    }
    pub fn internal(msg: impl std::fmt::Display) -> Self {
        Error::Internal(msg.to_string())
    }
}

impl From<DbErr> for Error {
    fn from(err: DbErr) -> Self {
        // A unique index is the arbiter of duplicates, not a check-then-insert race.
        if let Some(SqlErr::UniqueConstraintViolation(_)) = err.sql_err() {
            return Error::Conflict("a resource with this key already exists".to_owned());
        }
        Error::Internal(err.to_string())
    }
}

impl From<serde_json::Error> for Error {
    fn from(err: serde_json::Error) -> Self {
        Error::Internal(format!("stored JSON is unreadable: {err}"))
    }
}
