//! Resource specifiers: the `resources` / `notResources` strings of a policy statement.
//!
//! ```text
//! specifier := segment ( ":" segment )*
//! segment   := "acct" | type "/" name [ ";" selectors ]
//! name      := ( glob-char | placeholder )+        glob-char := [A-Za-z0-9._@+-] | "*" | "?"
//! placeholder := "${roleAttribute/" attr-key "}"    attr-key  := [A-Za-z0-9._-]+
//! selectors := selector ( "," selector )*
//! selector  := tag-glob                            -- AND semantics across tags
//!            | "{" prop ":" value "}"              -- e.g. {critical:true}
//! ```
//!
//! Types are valid only in their scope: `proj`, `proj/*:env`, `proj/*:env/*:flag|segment|var|request`,
//! `member`, `member/*:token`, `service-token`, `team`, `role`, `connection`, `acct`.
//! Keys, tags and types are case-sensitive. `view:` selectors (LaunchDarkly views) are not
//! supported and are rejected with an error.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use super::resource::{
    PropertyValue, Resource, ResourceParseError, ResourceSegment, ResourceType, is_key_char,
    is_property_name_char,
};

/// A parse error: where (character offset, not byte) and what, naming the offending
/// character, e.g. `unexpected '!' at 14: expected a resource name`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SpecifierError {
    /// Character offset of the offending character (or the input length at end of input).
    pub position: usize,
    /// The full message, e.g. `unexpected '!' at 14: expected a resource name`.
    pub message: String,
}

/// One piece of a name or tag pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PatternPart {
    /// Glob text (`*`, `?` and key characters).
    Text(String),
    /// `${roleAttribute/<key>}`: replaced by each of the attribute's values when the role is
    /// compiled for an assignment. Values are inserted as glob text.
    Attribute(String),
}

/// A glob over a key or tag, possibly containing role-attribute placeholders.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Pattern {
    /// The pieces, in order.
    pub parts: Vec<PatternPart>,
}

impl Pattern {
    /// The role-attribute keys the pattern refers to.
    pub fn attributes(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            PatternPart::Attribute(k) => Some(k.as_str()),
            PatternPart::Text(_) => None,
        })
    }

    /// The pattern as a literal key, if it has no glob metacharacter and no placeholder.
    pub fn as_literal(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [] => Some(""),
            [PatternPart::Text(t)] if !t.contains(['*', '?']) => Some(t),
            _ => None,
        }
    }

    /// Every glob text the pattern stands for, given the role attributes of an assignment
    /// (the cartesian product when several placeholders appear). `Err(key)` names the first
    /// attribute that has no value.
    pub fn expand(
        &self,
        attributes: &BTreeMap<String, Vec<String>>,
    ) -> Result<Vec<String>, String> {
        let mut out = vec![String::new()];
        for part in &self.parts {
            match part {
                PatternPart::Text(t) => out.iter_mut().for_each(|s| s.push_str(t)),
                PatternPart::Attribute(k) => {
                    let values = attributes
                        .get(k)
                        .filter(|v| !v.is_empty())
                        .ok_or_else(|| k.clone())?;
                    out = out
                        .iter()
                        .flat_map(|prefix| values.iter().map(move |v| format!("{prefix}{v}")))
                        .collect();
                }
            }
        }
        Ok(out)
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.parts {
            match p {
                PatternPart::Text(t) => f.write_str(t)?,
                PatternPart::Attribute(k) => write!(f, "${{roleAttribute/{k}}}")?,
            }
        }
        Ok(())
    }
}

/// One selector after `;`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Selector {
    /// The resource must carry a tag matching this glob.
    Tag(Pattern),
    /// The resource must have property `name` equal to `value`.
    Property {
        /// Property name, e.g. `critical`.
        name: String,
        /// Required value (`true`/`false` parse as booleans).
        value: PropertyValue,
    },
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Selector::Tag(p) => p.fmt(f),
            Selector::Property { name, value } => write!(f, "{{{name}:{value}}}"),
        }
    }
}

/// One segment of a specifier, e.g. `env/prod*;{critical:true}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SpecSegment {
    /// The segment's type.
    pub kind: ResourceType,
    /// The name pattern (empty for `acct`).
    pub name: Pattern,
    /// Tag and property selectors, all of which must hold.
    pub selectors: Vec<Selector>,
    /// Character offset of the segment's type in the source.
    pub position: usize,
}

impl fmt::Display for SpecSegment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind.as_str())?;
        if self.kind != ResourceType::Acct {
            write!(f, "/{}", self.name)?;
        }
        for (i, s) in self.selectors.iter().enumerate() {
            f.write_str(if i == 0 { ";" } else { "," })?;
            s.fmt(f)?;
        }
        Ok(())
    }
}

/// A parsed resource specifier.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Specifier {
    /// The segments, outermost first.
    pub segments: Vec<SpecSegment>,
}

impl fmt::Display for Specifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.segments.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            s.fmt(f)?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Specifier {
    type Err = SpecifierError;
    fn from_str(s: &str) -> Result<Specifier, SpecifierError> {
        Specifier::parse(s)
    }
}

impl Specifier {
    /// Text that every resource the specifier matches contains, written as resources are
    /// written: `type/key` for each segment whose key is literal, `type/` (or `acct`) for the
    /// others. A store can narrow its candidates by it before matching; it is a necessary
    /// condition, never a sufficient one (tags, properties and globs are left to the matcher).
    pub fn required_texts(&self) -> Vec<String> {
        self.segments
            .iter()
            .map(|s| match (s.kind, s.name.as_literal()) {
                (ResourceType::Acct, _) => s.kind.as_str().to_owned(),
                (kind, Some(key)) => format!("{}/{key}", kind.as_str()),
                (kind, None) => format!("{}/", kind.as_str()),
            })
            .collect()
    }

    /// Parses a specifier. Never panics, whatever the input.
    pub fn parse(input: &str) -> Result<Specifier, SpecifierError> {
        let mut p = Parser {
            chars: input.chars().collect(),
            pos: 0,
        };
        let mut segments = Vec::new();
        loop {
            segments.push(p.segment()?);
            match p.peek() {
                None => break,
                Some(':') => p.pos += 1,
                Some(_) => return Err(p.error("expected ':' or end of specifier")),
            }
        }
        check_scope(&segments, &p)?;
        Ok(Specifier { segments })
    }

    /// Every role-attribute key referred to, in order of appearance (may repeat).
    pub fn attributes(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().flat_map(|s| {
            s.name
                .attributes()
                .chain(s.selectors.iter().flat_map(|sel| match sel {
                    Selector::Tag(p) => p.attributes().collect::<Vec<_>>(),
                    Selector::Property { .. } => Vec::new(),
                }))
        })
    }

    /// Converts a specifier without globs or placeholders into a concrete resource.
    /// `Err((position, message))` otherwise.
    pub fn to_concrete(&self) -> Result<Resource, (usize, String)> {
        let mut segments = Vec::with_capacity(self.segments.len());
        for s in &self.segments {
            let literal_error = |what: &str| {
                (
                    s.position,
                    format!(
                        "unexpected glob or placeholder in {what} of segment at {}: a concrete resource names exact keys",
                        s.position
                    ),
                )
            };
            let key = s
                .name
                .as_literal()
                .ok_or_else(|| literal_error("the name"))?;
            let mut tags = Vec::new();
            let mut properties = Vec::new();
            for sel in &s.selectors {
                match sel {
                    Selector::Tag(p) => {
                        tags.push(p.as_literal().ok_or_else(|| literal_error("a tag"))?)
                    }
                    Selector::Property { name, value } => {
                        properties.push((name.clone(), value.clone()))
                    }
                }
            }
            segments.push(ResourceSegment::new(s.kind, key, &tags, properties));
        }
        Ok(Resource { segments })
    }
}

fn describe(c: Option<char>) -> String {
    match c {
        Some(c) => format!("{c:?}"),
        None => "end of input".to_owned(),
    }
}

fn check_scope(segments: &[SpecSegment], p: &Parser) -> Result<(), SpecifierError> {
    let mut prev: Option<ResourceType> = None;
    for s in segments {
        if s.kind.parent() != prev {
            let message = match (s.kind.parent(), prev) {
                (None, _) => format!(
                    "resource type `{}` is top-level and cannot be nested; write {}",
                    s.kind,
                    s.kind.scope()
                ),
                (Some(_), _) => format!(
                    "resource type `{}` is only valid in its scope; write {}",
                    s.kind,
                    s.kind.scope()
                ),
            };
            return Err(p.error_at(s.position, &message));
        }
        prev = Some(s.kind);
    }
    Ok(())
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

const PLACEHOLDER_OPEN: &str = "${roleAttribute/";

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, pos: usize) -> Option<char> {
        self.chars.get(pos).copied()
    }

    fn error(&self, expected: &str) -> SpecifierError {
        self.error_at(self.pos, expected)
    }

    fn error_at(&self, pos: usize, expected: &str) -> SpecifierError {
        SpecifierError {
            position: pos,
            message: format!(
                "unexpected {} at {pos}: {expected}",
                describe(self.peek_at(pos))
            ),
        }
    }

    fn expect(&mut self, c: char, expected: &str) -> Result<(), SpecifierError> {
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(expected))
        }
    }

    fn take_while(&mut self, f: impl Fn(char) -> bool) -> String {
        let mut s = String::new();
        while let Some(c) = self.peek().filter(|c| f(*c)) {
            s.push(c);
            self.pos += 1;
        }
        s
    }

    fn segment(&mut self) -> Result<SpecSegment, SpecifierError> {
        let start = self.pos;
        let type_name = self.take_while(|c| c.is_ascii_lowercase() || c == '-');
        if type_name.is_empty() {
            return Err(self.error("expected a resource type"));
        }
        let kind = ResourceType::from_name(&type_name)
            .ok_or_else(|| self.error_at(start, &format!("unknown resource type `{type_name}`")))?;
        if kind == ResourceType::Acct {
            if self.peek() == Some('/') {
                return Err(self.error("`acct` takes no name"));
            }
            return Ok(SpecSegment {
                kind,
                name: Pattern::default(),
                selectors: Vec::new(),
                position: start,
            });
        }
        self.expect('/', "expected '/' after the resource type")?;
        let name = self.pattern("expected a resource name")?;
        let mut selectors = Vec::new();
        match self.peek() {
            None | Some(':') => {}
            Some(';') => {
                self.pos += 1;
                loop {
                    selectors.push(self.selector()?);
                    match self.peek() {
                        Some(',') => self.pos += 1,
                        None | Some(':') => break,
                        Some(_) => return Err(self.error("expected ',', ':' or end of specifier")),
                    }
                }
            }
            Some(_) => {
                return Err(self.error("expected a resource name, ';', ':' or end of specifier"));
            }
        }
        Ok(SpecSegment {
            kind,
            name,
            selectors,
            position: start,
        })
    }

    fn selector(&mut self) -> Result<Selector, SpecifierError> {
        if self.peek() == Some('{') {
            self.pos += 1;
            let name = self.take_while(is_property_name_char);
            if name.is_empty() {
                return Err(self.error("expected a property name"));
            }
            self.expect(':', "expected ':' after the property name")?;
            let value = self.take_while(is_key_char);
            if value.is_empty() {
                return Err(self.error("expected a property value"));
            }
            self.expect('}', "expected '}' to close the property selector")?;
            return Ok(Selector::Property {
                name,
                value: PropertyValue::parse(&value),
            });
        }
        let start = self.pos;
        let tag = self.pattern("expected a tag or a property selector")?;
        if tag.as_literal() == Some("view") && self.peek() == Some(':') && !self.segment_follows() {
            return Err(self.error_at(start, "view selectors (`view:<key>`) are not supported"));
        }
        Ok(Selector::Tag(tag))
    }

    /// After a ':' at `self.pos`, does a segment (`type/` or `acct`) start?
    fn segment_follows(&self) -> bool {
        let mut i = self.pos + 1;
        let mut name = String::new();
        while let Some(c) = self
            .peek_at(i)
            .filter(|c| c.is_ascii_lowercase() || *c == '-')
        {
            name.push(c);
            i += 1;
        }
        match ResourceType::from_name(&name) {
            Some(ResourceType::Acct) => matches!(self.peek_at(i), None | Some(':')),
            Some(_) => self.peek_at(i) == Some('/'),
            None => false,
        }
    }

    fn pattern(&mut self, expected: &str) -> Result<Pattern, SpecifierError> {
        let mut parts = Vec::new();
        let mut text = String::new();
        loop {
            match self.peek() {
                Some(c) if is_key_char(c) || c == '*' || c == '?' => {
                    text.push(c);
                    self.pos += 1;
                }
                Some('$') => {
                    if !text.is_empty() {
                        parts.push(PatternPart::Text(std::mem::take(&mut text)));
                    }
                    parts.push(PatternPart::Attribute(self.placeholder()?));
                }
                _ => break,
            }
        }
        if !text.is_empty() {
            parts.push(PatternPart::Text(text));
        }
        if parts.is_empty() {
            return Err(self.error(expected));
        }
        Ok(Pattern { parts })
    }

    fn placeholder(&mut self) -> Result<String, SpecifierError> {
        for want in PLACEHOLDER_OPEN.chars() {
            self.expect(want, "expected `${roleAttribute/<key>}`")?;
        }
        let key = self.take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if key.is_empty() {
            return Err(self.error("expected a role attribute key"));
        }
        self.expect('}', "expected '}' to close the role attribute placeholder")?;
        Ok(key)
    }
}

/// Concrete resources parse as specifiers without globs or placeholders (here, beside the
/// specifier parser, so that the resource model stays below it).
impl FromStr for Resource {
    type Err = ResourceParseError;

    /// Parses the canonical form produced by `Display`. Globs and placeholders are not
    /// allowed (this is a concrete resource, not a specifier). Tags and properties may come
    /// in any order; they are normalised.
    fn from_str(s: &str) -> Result<Resource, ResourceParseError> {
        let spec = Specifier::parse(s).map_err(|e| ResourceParseError {
            position: e.position,
            message: e.message,
        })?;
        spec.to_concrete()
            .map_err(|(position, message)| ResourceParseError { position, message })
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
mod tests {
    use super::*;

    #[test]
    fn required_texts_are_the_literal_segments_and_the_types_of_the_others() {
        let texts = |s: &str| Specifier::parse(s).unwrap().required_texts();
        assert_eq!(
            texts("proj/shop:env/production;{critical:true}:flag/new-*"),
            ["proj/shop", "env/production", "flag/"]
        );
        assert_eq!(texts("proj/${roleAttribute/p}:env/*"), ["proj/", "env/"]);
        assert_eq!(texts("acct"), ["acct"]);
    }

    #[test]
    fn parses_and_round_trips() {
        for s in [
            "proj/*",
            "proj/default:env/production:flag/*",
            "proj/*:env/*;{critical:true}:flag/*",
            "proj/X:env/*;{critical:false}:flag/*",
            "proj/*:env/*:flag/*;mobile,beta",
            "proj/*;qa_*:env/*:segment/a*b?",
            "proj/${roleAttribute/projects}:env/*:flag/*",
            "proj/brand-${roleAttribute/x}:env/*",
            "proj/${roleAttribute/a}-${roleAttribute/b}",
            "proj/*:env/*:var/*",
            "proj/*:env/*:request/*",
            "member/*",
            "member/*:token/*",
            "service-token/*",
            "team/ops_*",
            "role/*",
            "connection/okta",
            "acct",
            "proj/*;view",
            "proj/*;view:env/*",
            "proj/*:env/*;{region:eu}",
            "member/a@b.c+d",
        ] {
            let spec = Specifier::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(spec.to_string(), s);
        }
    }

    #[test]
    fn attributes_listed() {
        let s = Specifier::parse("proj/${roleAttribute/p}:env/*;${roleAttribute/t}").unwrap();
        assert_eq!(s.attributes().collect::<Vec<_>>(), vec!["p", "t"]);
    }

    #[test]
    fn errors_with_positions() {
        let cases: &[(&str, usize, &str)] = &[
            (
                "",
                0,
                "unexpected end of input at 0: expected a resource type",
            ),
            (
                "proj/default:env/!",
                17,
                "unexpected '!' at 17: expected a resource name",
            ),
            ("proj/default:env/prod!", 21, "unexpected '!' at 21"),
            ("proj", 4, "expected '/' after the resource type"),
            ("proj/", 5, "expected a resource name"),
            ("projects/*", 0, "unknown resource type `projects`"),
            ("Proj/*", 0, "expected a resource type"),
            ("env/*", 0, "write proj/*:env/*"),
            ("proj/*:flag/*", 7, "write proj/*:env/*:flag/*"),
            ("proj/*:env/*:token/*", 13, "write member/*:token/*"),
            ("proj/*:member/*", 7, "top-level"),
            ("acct/x", 4, "`acct` takes no name"),
            ("acct:proj/*", 5, "top-level"),
            ("proj/*;", 7, "expected a tag or a property selector"),
            ("proj/*;a,", 9, "expected a tag or a property selector"),
            (
                "proj/*;{critical}",
                16,
                "expected ':' after the property name",
            ),
            ("proj/*;{:true}", 8, "expected a property name"),
            ("proj/*;{critical:}", 17, "expected a property value"),
            ("proj/*;{critical:true", 21, "expected '}'"),
            ("proj/${role/x}", 11, "expected `${roleAttribute/<key>}`"),
            (
                "proj/${roleAttribute/}",
                21,
                "expected a role attribute key",
            ),
            ("proj/${roleAttribute/x", 22, "expected '}'"),
            ("proj/*;view:abc", 7, "view selectors"),
            ("proj/*:", 7, "expected a resource type"),
            ("proj/* ", 6, "unexpected ' ' at 6"),
            (
                "proj/é*",
                5,
                "unexpected 'é' at 5: expected a resource name",
            ),
            ("proj/ééé", 5, "unexpected 'é' at 5"),
            ("proj/*;a b", 8, "expected ',', ':' or end of specifier"),
            (
                "proj/*:env/*:flag/*:segment/*",
                20,
                "write proj/*:env/*:segment/*",
            ),
        ];
        for (input, pos, msg) in cases {
            let e = Specifier::parse(input).expect_err(input);
            assert_eq!(e.position, *pos, "{input}: {}", e.message);
            assert!(e.message.contains(msg), "{input}: {}", e.message);
            assert!(
                e.message.starts_with("unexpected "),
                "{input}: {}",
                e.message
            );
        }
    }

    #[test]
    fn expand_product() {
        let s = Specifier::parse("proj/${roleAttribute/a}-${roleAttribute/b}").unwrap();
        let mut attrs = BTreeMap::new();
        attrs.insert("a".to_owned(), vec!["x".to_owned(), "y".to_owned()]);
        assert_eq!(s.segments[0].name.expand(&attrs), Err("b".to_owned()));
        attrs.insert("b".to_owned(), vec!["1".to_owned(), "2".to_owned()]);
        assert_eq!(
            s.segments[0].name.expand(&attrs).unwrap(),
            vec!["x-1", "x-2", "y-1", "y-2"]
        );
    }
}
