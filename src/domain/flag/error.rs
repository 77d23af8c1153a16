//! The single error type of the flag domain.

use thiserror::Error;

/// Why a flag operation was refused.
///
/// Every variant carries the path of the offending field (e.g.
/// `instructions[2].rolloutWeights`) so API clients can point at it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FlagError {
    /// A value is malformed or breaks an invariant (maps to HTTP 400).
    #[error("{path}: {message}")]
    Invalid {
        /// Field path, e.g. `rules[0].clauses[1].attribute`.
        path: String,
        /// Human-readable reason.
        message: String,
    },
    /// An instruction refers to something that does not exist, e.g. an unknown rule id.
    #[error("{path}: {message}")]
    NotFound {
        /// Field path, e.g. `instructions[0].ruleId`.
        path: String,
        /// Human-readable reason.
        message: String,
    },
    /// An environment-scoped instruction was sent without an environment.
    #[error("{path}: {kind} needs environmentKey")]
    NeedsEnvironment {
        /// Path of the instruction, e.g. `instructions[3]`.
        path: String,
        /// The instruction kind, e.g. `turnFlagOn`.
        kind: &'static str,
    },
}

impl FlagError {
    /// Shorthand for [`FlagError::Invalid`].
    pub fn invalid(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            path: path.into(),
            message: message.into(),
        }
    }

    /// Shorthand for [`FlagError::NotFound`].
    pub fn not_found(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::NotFound {
            path: path.into(),
            message: message.into(),
        }
    }

    /// The path of the offending field.
    pub fn path(&self) -> &str {
        match self {
            Self::Invalid { path, .. }
            | Self::NotFound { path, .. }
            | Self::NeedsEnvironment { path, .. } => path,
        }
    }
}
