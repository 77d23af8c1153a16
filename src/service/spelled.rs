//! Strings whose spelling the document states exactly.
//!
//! Two kinds. Resource specifiers, concrete resources and webhook event patterns are taken
//! as they come and the domain judges them, so its messages (`policy[0].resources[1]:
//! unexpected '!' at 4: ...`) stay the ones clients see; their schema is generated from the
//! same grammar or table, and tests hold the two to the same language
//! (`domain::policy::specifier_pattern`, `domain::audit::event`). The others (keys, names,
//! addresses, role names, ...) are refused at the edge by the [`Matches`] validator, which
//! each such field names (`#[oai(validator(custom = "Matches::new()"))]`) so that poem's
//! message names the field; the pattern is compiled once. poem-openapi's own `pattern`
//! validator compiles its regex on every check, which cost a write more than its SQL did:
//! use these instead. Each pattern is written once here, for the schema and the check.

use std::borrow::Cow;
use std::marker::PhantomData;
use std::sync::LazyLock;

use regex::Regex;

use poem_openapi::registry::{MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::{
    ParseError, ParseFromJSON, ParseFromParameter, ParseResult, ToJSON, Type,
};
use poem_openapi::validation::Validator;
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
    /// What the pattern describes, as a refusal names it.
    const EXPECTED: &'static str = "any text";
    /// Whether the text is spelt this way. Spellings the domain judges take every text here.
    fn matches(_text: &str) -> bool {
        true
    }
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

/// Declares a spelling refused at the edge unless its anchored pattern matches.
macro_rules! matched_spelling {
    ($(#[$doc:meta])* $name:ident = $pattern:expr, expecting $expected:literal) => {
        $(#[$doc])*
        pub struct $name;

        impl Spelling for $name {
            const NAME: &'static str = stringify!($name);
            fn schema() -> MetaSchema {
                with_pattern($pattern.to_owned())
            }
            const EXPECTED: &'static str = $expected;
            fn matches(text: &str) -> bool {
                // A pattern that does not compile refuses everything; a test compiles each.
                static MATCHER: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new($pattern).ok());
                MATCHER.as_ref().is_some_and(|matcher| matcher.is_match(text))
            }
        }
    };
}

/// Whitespace and control characters, spelt out rather than `\s`, which generators of test
/// data read differently from the server's regex engine.
macro_rules! blank_class {
    () => {
        r"\x00-\x20\x7f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
    };
}

/// A key: what policies and URLs name resources by.
pub const KEY_PATTERN: &str = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$";
/// A flag tag.
pub const TAG_PATTERN: &str = r"^[A-Za-z0-9._-]{1,64}$";
/// Not blank: some character that is not whitespace or a control character.
pub const NOT_BLANK_PATTERN: &str = concat!(r"^[\s\S]*[^", blank_class!(), r"][\s\S]*$");
/// A name: not blank, and no control characters anywhere.
pub const NAME_PATTERN: &str = concat!(
    r"^[^\x00-\x1f\x7f]*[^",
    blank_class!(),
    r"][^\x00-\x1f\x7f]*$"
);
/// An address: no whitespace or control characters, a domain with a dot inside it.
pub const EMAIL_PATTERN: &str = concat!(
    r"^[^@",
    blank_class!(),
    r"]+@[^@",
    blank_class!(),
    r".][^@",
    blank_class!(),
    r"]*\.[^@",
    blank_class!(),
    r"]*[^@",
    blank_class!(),
    r".]$"
);

matched_spelling!(
    /// Letters, digits, `.`, `_`, `-`, starting with a letter or digit; at most 128.
    Key = KEY_PATTERN,
    expecting "a key (1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit)"
);
matched_spelling!(
    /// 1 to 64 letters, digits, `.`, `_` or `-`.
    Tag = TAG_PATTERN,
    expecting "a tag (1 to 64 letters, digits, '.', '_' or '-')"
);
matched_spelling!(
    /// Text that is not blank.
    NotBlank = NOT_BLANK_PATTERN,
    expecting "text that is not blank"
);
matched_spelling!(
    /// A name: not blank, no control characters.
    Name = NAME_PATTERN,
    expecting "a name (not blank, without control characters)"
);
matched_spelling!(
    /// Text without control characters.
    PlainText = r"^[^\x00-\x1f\x7f]*$",
    expecting "text without control characters"
);
matched_spelling!(
    /// An email address.
    Email = EMAIL_PATTERN,
    expecting "an email address (no whitespace or control characters, a domain with a dot inside it)"
);
matched_spelling!(
    /// A signing secret.
    WebhookSecret = r"^[^\x00-\x1f\x7f-\x9f]{16,256}$",
    expecting "a secret (16 to 256 characters without control characters)"
);
matched_spelling!(
    /// A member's base role.
    RoleName = "^(reader|writer|admin|no_access|owner)$",
    expecting "a base role (reader, writer, admin, no_access or owner)"
);
matched_spelling!(
    /// A base role an identity provider may grant: never `owner`.
    GrantedRoleName = "^(reader|writer|admin|no_access)$",
    expecting "a base role an identity provider may grant (reader, writer, admin or no_access)"
);
matched_spelling!(
    /// What a custom role's holders may do beyond its policy.
    BasePermissionsName = "^(reader|no_access)$",
    expecting "base permissions (reader or no_access)"
);
matched_spelling!(
    /// The identity provider a connection is tuned for.
    ConnectionKindName = "^(okta|entra|generic)$",
    expecting "a connection kind (okta, entra or generic)"
);
matched_spelling!(
    /// What deprovisioning does to a member.
    DeprovisionName = "^(deactivate|delete)$",
    expecting "a deprovisioning action (deactivate or delete)"
);
matched_spelling!(
    /// The kind of a new flag.
    FlagKindWord = "^(boolean|multivariate)$",
    expecting "a flag kind (boolean or multivariate)"
);
matched_spelling!(
    /// What a review does.
    ReviewKindName = "^(approve|decline|comment)$",
    expecting "a review kind (approve, decline or comment)"
);
matched_spelling!(
    /// What a member list is sorted by.
    MemberSort = "^-?(displayName|lastSeen|createdAt)$",
    expecting "a member sort (displayName, lastSeen or createdAt, a leading '-' for descending)"
);
matched_spelling!(
    /// What a team list is sorted by.
    TeamSort = "^-?(name|memberCount)$",
    expecting "a team sort (name or memberCount, a leading '-' for descending)"
);
matched_spelling!(
    /// An action name or a prefix ending in `*`, as audit queries take it.
    ActionFilter = r"^[^\s%_]+$",
    expecting "an action name or a prefix ending in '*' (no whitespace, '%' or '_')"
);
matched_spelling!(
    /// The audit log's page cursor: a positive number.
    AuditCursor = "^[1-9][0-9]{0,17}$",
    expecting "a page cursor (the `next` of the previous page)"
);
matched_spelling!(
    /// The approval requests' page cursor: a number.
    ApprovalCursor = "^[0-9]{1,18}$",
    expecting "a page cursor (the `next` of the previous page)"
);
matched_spelling!(
    /// Approval request states, comma-separated.
    ApprovalStatusList = r"^\s*(pending|completed|failed)\s*(,\s*(pending|completed|failed)\s*)*$",
    expecting "a list of pending, completed and failed, separated by commas"
);
matched_spelling!(
    /// Review states, comma-separated.
    ReviewStatusList = r"^\s*(pending|approved|declined)\s*(,\s*(pending|approved|declined)\s*)*$",
    expecting "a list of pending, approved and declined, separated by commas"
);

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

    /// The text, moved out.
    pub fn into_text(self) -> String {
        self.text
    }

    /// The texts of a list.
    pub fn texts(items: &[Self]) -> Vec<String> {
        items.iter().map(|item| item.text.clone()).collect()
    }

    /// The texts of a list, moved out.
    pub fn into_texts(items: Vec<Self>) -> Vec<String> {
        items.into_iter().map(Spelled::into_text).collect()
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

impl<G> From<Spelled<G>> for String {
    fn from(spelled: Spelled<G>) -> String {
        spelled.text
    }
}

impl<G> From<&Spelled<G>> for String {
    fn from(spelled: &Spelled<G>) -> String {
        spelled.text.clone()
    }
}

impl<G> From<&str> for Spelled<G> {
    fn from(text: &str) -> Self {
        Spelled::new(text)
    }
}

impl<G> PartialEq<&str> for Spelled<G> {
    fn eq(&self, other: &&str) -> bool {
        self.text == *other
    }
}

impl<G> AsRef<str> for Spelled<G> {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

impl<G> std::ops::Deref for Spelled<G> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.text
    }
}

impl<G: Spelling> ParseFromJSON for Spelled<G> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        String::parse_from_json(value)
            .map(Spelled::new)
            .map_err(ParseError::propagate)
    }
}

impl<G: Spelling> ParseFromParameter for Spelled<G> {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        Ok(Spelled::new(value))
    }
}

/// Refuses a spelled field or parameter whose text `G` does not match. Named on the field
/// rather than run while parsing, so that poem's refusal names the field ("field `email`
/// verification failed. does not match the pattern of an email address (...)"). The text
/// itself is not repeated: it may be a secret.
pub struct Matches<G>(PhantomData<fn() -> G>);

impl<G> Matches<G> {
    /// The validator; `G` is the field's.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        Matches(PhantomData)
    }
}

impl<G: Spelling> std::fmt::Display for Matches<G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "does not match the pattern of {}", G::EXPECTED)
    }
}

impl<G: Spelling> Validator<Spelled<G>> for Matches<G> {
    fn check(&self, value: &Spelled<G>) -> bool {
        G::matches(&value.text)
    }
}

impl<G: Spelling> ToJSON for Spelled<G> {
    fn to_json(&self) -> Option<Value> {
        Some(Value::from(self.text.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Every pattern compiles (one that did not would refuse everything) and judges as its
    /// schema says.
    fn judges<G: Spelling>(taken: &[&str], refused: &[&str]) {
        for text in taken {
            assert!(G::matches(text), "{} refused {text:?}", G::NAME);
        }
        for text in refused {
            assert!(!G::matches(text), "{} took {text:?}", G::NAME);
        }
    }

    #[test]
    fn each_spelling_takes_what_its_pattern_takes() {
        let long_key = "k".repeat(129);
        judges::<Key>(
            &["a", "A.b_c-9", &long_key[1..]],
            &["", "-a", "a b", &long_key],
        );
        judges::<Tag>(&["beta", "-x"], &["", "a b", &"t".repeat(65)]);
        judges::<NotBlank>(&["x", " x\n"], &["", " \t\n", "\u{3000}"]);
        judges::<Name>(&["Ann", " Ann Lee "], &["", "  ", "a\nb", "\u{a0}"]);
        judges::<PlainText>(&["", "Ann Lee"], &["a\tb", "\u{7f}"]);
        judges::<Email>(
            &["a@b.co", "a.b+c@d.e.f"],
            &["a@b", "a b@c.d", "@b.co", "a@.b", "a@b."],
        );
        judges::<WebhookSecret>(&[&"s".repeat(16)], &[&"s".repeat(15), &"s\n".repeat(10)]);
        judges::<RoleName>(&["owner", "no_access"], &["Owner", "reader "]);
        judges::<GrantedRoleName>(&["admin"], &["owner"]);
        judges::<BasePermissionsName>(&["reader"], &["writer"]);
        judges::<ConnectionKindName>(&["entra"], &["azure"]);
        judges::<DeprovisionName>(&["delete"], &["suspend"]);
        judges::<FlagKindWord>(&["boolean"], &["string"]);
        judges::<ReviewKindName>(&["comment"], &["approved"]);
        judges::<ActionFilter>(&["updateOn", "update*"], &["a b", "50%", "a_b"]);
        judges::<AuditCursor>(&["1", "123"], &["0", "01", "-1"]);
        judges::<ApprovalCursor>(&["0", "42"], &["", "x"]);
        judges::<ApprovalStatusList>(
            &["pending", " pending , failed "],
            &["", "pending,", "open"],
        );
        judges::<ReviewStatusList>(&["approved,declined"], &["approve"]);
    }

    #[test]
    fn a_refusal_says_what_was_expected() {
        let secret = Spelled::<WebhookSecret>::parse_from_json(Some(json!("short"))).unwrap();
        let validator = Matches::new();
        assert!(!validator.check(&secret));
        assert_eq!(
            validator.to_string(),
            "does not match the pattern of a secret (16 to 256 characters without control characters)"
        );
        assert!(Matches::new().check(&Spelled::<Key>::new("shop")));
    }

    #[test]
    fn spellings_the_domain_judges_take_anything() {
        assert!(PolicySpecifier::matches("proj/!"));
        assert_eq!(PolicySpecifier::EXPECTED, "any text");
    }
}
