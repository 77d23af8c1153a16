//! Feature flags: the stored model, LaunchDarkly-style semantic-patch instructions,
//! evaluation with LaunchDarkly's legacy bucketing, and environment comparison.
//!
//! Siblings refer to each other through `super::` so this folder can be moved as a unit.

pub mod apply;
pub mod diff;
pub mod error;
pub mod evaluate;
pub mod instruction;
pub mod model;
pub mod validate;

pub use apply::{Applied, apply};
pub use diff::{Difference, compare};
pub use error::FlagError;
pub use evaluate::{Context, EvalErrorKind, Evaluation, Reason, bucket_value, evaluate};
pub use instruction::{Instruction, InstructionScope};
pub use model::{
    Clause, ClauseOp, FlagEnvironmentState, FlagKind, FlagSettings, Rollout, Rule, TOTAL_WEIGHT,
    Target, Variation, VariationOrRollout, WeightedVariation,
};
pub use validate::is_valid_key;

#[cfg(test)]
mod tests;
