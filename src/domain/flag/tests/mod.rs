//! Tests for the flag domain, kept inside the folder so they move with it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod apply;
mod diff;
mod evaluate;
mod model;
mod props;

use serde_json::{Value, json};

use super::{FlagEnvironmentState, FlagKind, FlagSettings, Instruction, Variation};

/// A normalized boolean flag.
pub(super) fn bool_flag() -> FlagSettings {
    FlagSettings::new("my-flag", "My flag", FlagKind::Boolean)
}

/// A multivariate flag with string variations a, b, c.
pub(super) fn multi_flag() -> FlagSettings {
    let mut s = FlagSettings::new("multi.flag", "Multi", FlagKind::Multivariate);
    s.variations = ["a", "b", "c"]
        .iter()
        .map(|v| Variation::new(json!(v)))
        .collect();
    s
}

pub(super) fn state_for(settings: &FlagSettings) -> FlagEnvironmentState {
    FlagEnvironmentState::initial(settings, "salt".into())
}

/// Rule ids rule-1, rule-2, ...
pub(super) fn id_gen() -> impl FnMut() -> String {
    let mut n = 0;
    move || {
        n += 1;
        format!("rule-{n}")
    }
}

pub(super) fn ins(value: Value) -> Instruction {
    serde_json::from_value(value).unwrap()
}
