//! Pure domain logic: no I/O, no database. Unit-tested, fuzzed and benchmarked on its own.

pub mod audit;
pub mod flag;
pub mod policy;
pub mod sso;
