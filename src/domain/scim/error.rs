//! SCIM's one error type: an RFC 7644 §3.12 failure, an optional `scimType` and a detail
//! that says what was wrong and where. The SCIM edge renders it with its HTTP status.

/// RFC 7644 Table 9 `scimType` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScimType {
    InvalidFilter,
    TooMany,
    Uniqueness,
    Mutability,
    InvalidSyntax,
    InvalidPath,
    NoTarget,
    InvalidValue,
    InvalidVers,
    Sensitive,
}

impl ScimType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidFilter => "invalidFilter",
            Self::TooMany => "tooMany",
            Self::Uniqueness => "uniqueness",
            Self::Mutability => "mutability",
            Self::InvalidSyntax => "invalidSyntax",
            Self::InvalidPath => "invalidPath",
            Self::NoTarget => "noTarget",
            Self::InvalidValue => "invalidValue",
            Self::InvalidVers => "invalidVers",
            Self::Sensitive => "sensitive",
        }
    }
}

/// What kind of failure a SCIM request met, in RFC 7644's terms; the SCIM edge gives each
/// its HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScimFailure {
    /// The request is malformed or names something invalid (a `scimType` says what).
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    /// A uniqueness conflict.
    Conflict,
    /// `If-Match` names another version.
    PreconditionFailed,
    PayloadTooLarge,
    /// More work in flight than can be served in time: come back later.
    TooManyRequests,
    /// An optional part of the protocol Gatehouse does not offer.
    NotImplemented,
    /// A fault of ours.
    Internal,
}

/// A refused or failed SCIM request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct ScimError {
    pub failure: ScimFailure,
    pub scim_type: Option<ScimType>,
    pub detail: String,
}

impl ScimError {
    pub fn new(
        failure: ScimFailure,
        scim_type: Option<ScimType>,
        detail: impl Into<String>,
    ) -> Self {
        ScimError {
            failure,
            scim_type,
            detail: detail.into(),
        }
    }
    /// A bad request with a `scimType`.
    pub fn bad(scim_type: ScimType, detail: impl Into<String>) -> Self {
        Self::new(ScimFailure::BadRequest, Some(scim_type), detail)
    }
    pub fn invalid_value(detail: impl Into<String>) -> Self {
        Self::bad(ScimType::InvalidValue, detail)
    }
    pub fn invalid_syntax(detail: impl Into<String>) -> Self {
        Self::bad(ScimType::InvalidSyntax, detail)
    }
    pub fn invalid_path(detail: impl Into<String>) -> Self {
        Self::bad(ScimType::InvalidPath, detail)
    }
    pub fn no_target(detail: impl Into<String>) -> Self {
        Self::bad(ScimType::NoTarget, detail)
    }
    pub fn mutability(detail: impl Into<String>) -> Self {
        Self::bad(ScimType::Mutability, detail)
    }
    pub fn invalid_filter(detail: impl Into<String>) -> Self {
        Self::bad(ScimType::InvalidFilter, detail)
    }
    pub fn too_many(detail: impl Into<String>) -> Self {
        Self::bad(ScimType::TooMany, detail)
    }
    pub fn uniqueness(detail: impl Into<String>) -> Self {
        Self::new(ScimFailure::Conflict, Some(ScimType::Uniqueness), detail)
    }
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(ScimFailure::NotFound, None, detail)
    }
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(ScimFailure::Forbidden, None, detail)
    }
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(ScimFailure::Unauthorized, None, detail)
    }
    pub fn precondition_failed(detail: impl Into<String>) -> Self {
        Self::new(ScimFailure::PreconditionFailed, None, detail)
    }
    pub fn not_implemented(detail: impl Into<String>) -> Self {
        Self::new(ScimFailure::NotImplemented, None, detail)
    }
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        Self::new(ScimFailure::Internal, None, detail.to_string())
    }
}

/// Shorthand for SCIM results.
pub type ScimResult<T> = Result<T, ScimError>;
