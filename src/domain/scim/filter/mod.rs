//! The RFC 7644 §3.4.2.2 filter language: a parser to an AST ([`Filter`]), a printer that the
//! parser reads back to the same AST, and an in-memory evaluator used by PATCH value paths.
//! The translation to SQL lives in the service (`service::scim::query`), next to the tables.

mod ast;
mod eval;
mod parser;
#[cfg(test)]
mod tests;

pub use ast::{AttrPath, CompareOp, Filter, Literal};
pub(crate) use eval::as_bool;
pub use eval::matches;
pub use parser::{FilterError, MAX_DEPTH, parse_filter, parse_path_filter, split_path_word};
