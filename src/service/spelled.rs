//! Strings whose spelling the document states exactly: resource specifiers and concrete
//! resources as a `pattern`, webhook event patterns as an `enum`. The value is taken as it
//! comes and the domain judges it, so its messages (`policy[0].resources[1]: unexpected '!'
//! at 4: ...`) stay the ones clients see; the schema is generated from the same grammar or
//! table, and tests hold the two to the same language (`domain::policy::specifier_pattern`,
//! `domain::audit::event`), so what the document takes the domain takes.

use std::borrow::Cow;
use std::marker::PhantomData;

use poem_openapi::registry::{MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::{ParseFromJSON, ParseFromParameter, ParseResult, ToJSON, Type};
use serde_json::Value;

use super::documented::value_type_basics;
use crate::domain::audit::event;
use crate::domain::policy::ResourceType;
use crate::domain::policy::specifier_pattern::{SpecifierForm, chain_pattern, specifier_pattern};

/// A family of strings and how the document spells them.
pub trait Spelling: Send + Sync + 'static {
    /// A name for the type (not a component: the schema is written inline where it is used).
    const NAME: &'static str;
    /// The string schema: a `pattern` or an `enum`.
    fn schema() -> MetaSchema;
}

/// A string schema with an anchored pattern.
fn with_pattern(pattern: String) -> MetaSchema {
    MetaSchema {
        pattern: Some(pattern),
        ..MetaSchema::new("string")
    }
}

/// A policy's resource specifier: globs and role-attribute placeholders.
pub struct PolicySpecifier;
/// A resource specifier with globs that filters stored resources.
pub struct FilterSpecifier;
/// A concrete resource: exact keys.
pub struct ConcreteResource;
/// The flag or variable an approval request is about.
pub struct ApprovalTarget;
/// A webhook's event subscription: an event name, `<noun>.*` or `*`.
pub struct EventPattern;
/// Text that is not blank.
pub struct NotBlank;

/// Not blank: some character that is not whitespace or a control character. Whitespace is
/// spelt out rather than `\s`, which generators of test data read differently from the
/// server's regex engine.
pub const NOT_BLANK_PATTERN: &str =
    r"^[\s\S]*[^\x00-\x20\x7f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][\s\S]*$";

impl Spelling for PolicySpecifier {
    const NAME: &'static str = "PolicySpecifier";
    fn schema() -> MetaSchema {
        with_pattern(specifier_pattern(SpecifierForm::Policy))
    }
}

impl Spelling for FilterSpecifier {
    const NAME: &'static str = "FilterSpecifier";
    fn schema() -> MetaSchema {
        with_pattern(specifier_pattern(SpecifierForm::Filter))
    }
}

impl Spelling for ConcreteResource {
    const NAME: &'static str = "ConcreteResource";
    fn schema() -> MetaSchema {
        with_pattern(specifier_pattern(SpecifierForm::Concrete))
    }
}

impl Spelling for ApprovalTarget {
    const NAME: &'static str = "ApprovalTarget";
    fn schema() -> MetaSchema {
        use ResourceType as T;
        with_pattern(chain_pattern(&[&[T::Proj], &[T::Env], &[T::Flag, T::Var]]))
    }
}

impl Spelling for NotBlank {
    const NAME: &'static str = "NotBlank";
    fn schema() -> MetaSchema {
        with_pattern(NOT_BLANK_PATTERN.to_owned())
    }
}

impl Spelling for EventPattern {
    const NAME: &'static str = "EventPattern";
    fn schema() -> MetaSchema {
        MetaSchema {
            enum_items: event::subscription_patterns()
                .into_iter()
                .map(Value::from)
                .collect(),
            ..MetaSchema::new("string")
        }
    }
}

/// A string documented as `G` spells it.
pub struct Spelled<G> {
    /// The string as sent.
    pub text: String,
    spelling: PhantomData<fn() -> G>,
}

impl<G> Spelled<G> {
    /// Wraps a string.
    pub fn new(text: impl Into<String>) -> Self {
        Spelled {
            text: text.into(),
            spelling: PhantomData,
        }
    }

    /// The texts of a list.
    pub fn texts(items: &[Self]) -> Vec<String> {
        items.iter().map(|item| item.text.clone()).collect()
    }
}

// Written out rather than derived: a derive would ask `G` for the same traits.
impl<G> Clone for Spelled<G> {
    fn clone(&self) -> Self {
        Spelled::new(self.text.clone())
    }
}

impl<G> std::fmt::Debug for Spelled<G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.text.fmt(f)
    }
}

impl<G: Spelling> Type for Spelled<G> {
    value_type_basics!();

    fn name() -> Cow<'static, str> {
        G::NAME.into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(G::schema()))
    }

    fn register(_registry: &mut Registry) {}
}

impl<G: Spelling> ParseFromJSON for Spelled<G> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        String::parse_from_json(value)
            .map(Spelled::new)
            .map_err(poem_openapi::types::ParseError::propagate)
    }
}

impl<G: Spelling> ParseFromParameter for Spelled<G> {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        Ok(Spelled::new(value))
    }
}

impl<G: Spelling> ToJSON for Spelled<G> {
    fn to_json(&self) -> Option<Value> {
        Some(Value::from(self.text.as_str()))
    }
}
