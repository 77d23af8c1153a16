//! The specifier grammar written as a regular expression, for the API document: a client (or
//! a generator of test requests) learns from the pattern exactly which strings the parser
//! takes. The expression is built from the same type table as the parser's scope check, and
//! property tests hold the two to the same language, so the pattern never says more or less
//! than the parser does.
//!
//! Only ASCII classes, escapes and non-capturing groups are used: the pattern means the same
//! in ECMA-262 (JSON Schema), Python's `re` and Rust's `regex`.

use super::resource::ResourceType;

/// Which strings a field takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecifierForm {
    /// A policy's `resources`: globs and `${roleAttribute/<key>}` placeholders.
    Policy,
    /// A filter over stored resources (the audit log's `spec`): globs, no placeholders.
    Filter,
    /// A concrete resource: exact keys, tags and properties.
    Concrete,
}

/// A name or tag: key characters, globs in the first two forms, placeholders in the first.
fn name(form: SpecifierForm) -> &'static str {
    match form {
        SpecifierForm::Policy => r"(?:[A-Za-z0-9._@+*?-]|\$\{roleAttribute/[A-Za-z0-9._-]+\})+",
        SpecifierForm::Filter => r"[A-Za-z0-9._@+*?-]+",
        SpecifierForm::Concrete => r"[A-Za-z0-9._@+-]+",
    }
}

/// `;` and the selectors after a name, optional: tags and `{property:value}`.
fn selectors(form: SpecifierForm) -> String {
    let selector = format!(r"(?:{}|\{{[A-Za-z0-9_]+:[A-Za-z0-9._@+-]+\}})", name(form));
    format!("(?:;{selector}(?:,{selector})*)?")
}

/// A segment of type `kind` and, optionally, one of its children after `:`.
fn segment(kind: ResourceType, form: SpecifierForm) -> String {
    let mut out = format!("{}/{}{}", kind.as_str(), name(form), selectors(form));
    let children: Vec<String> = ResourceType::ALL
        .into_iter()
        .filter(|child| child.parent() == Some(kind))
        .map(|child| segment(child, form))
        .collect();
    if !children.is_empty() {
        out.push_str(&format!("(?::(?:{}))?", children.join("|")));
    }
    out
}

/// The whole-string pattern (anchored) of the specifiers of `form`.
pub fn specifier_pattern(form: SpecifierForm) -> String {
    let top: Vec<String> = ResourceType::ALL
        .into_iter()
        .filter(|kind| kind.parent().is_none())
        .map(|kind| match kind {
            ResourceType::Acct => "acct".to_owned(),
            kind => segment(kind, form),
        })
        .collect();
    format!("^(?:{})$", top.join("|"))
}

/// The whole-string pattern of a concrete resource that is a segment chain of exactly these
/// types, one alternative list per level (`[[Proj], [Env], [Flag, Var]]`).
pub fn chain_pattern(levels: &[&[ResourceType]]) -> String {
    let form = SpecifierForm::Concrete;
    let parts: Vec<String> = levels
        .iter()
        .map(|kinds| {
            let names: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
            format!("(?:{})/{}{}", names.join("|"), name(form), selectors(form))
        })
        .collect();
    format!("^{}$", parts.join(":"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::LazyLock;

    use proptest::prelude::*;
    use regex::Regex;

    use super::*;
    use crate::domain::policy::compiled::ResourceMatcher;
    use crate::domain::policy::resource::Resource;
    use crate::domain::policy::specifier::Specifier;

    /// What the service takes in each form, by the parser.
    fn parser_takes(form: SpecifierForm, text: &str) -> bool {
        match form {
            SpecifierForm::Policy => Specifier::parse(text).is_ok(),
            SpecifierForm::Filter => {
                Specifier::parse(text).is_ok_and(|spec| ResourceMatcher::compile(&spec).is_ok())
            }
            SpecifierForm::Concrete => text.parse::<Resource>().is_ok(),
        }
    }

    const FORMS: [SpecifierForm; 3] = [
        SpecifierForm::Policy,
        SpecifierForm::Filter,
        SpecifierForm::Concrete,
    ];

    static PATTERNS: LazyLock<Vec<Regex>> = LazyLock::new(|| {
        FORMS
            .iter()
            .map(|form| Regex::new(&specifier_pattern(*form)).unwrap())
            .collect()
    });

    /// Pieces of specifiers, right and wrong, that random concatenation mixes.
    const TOKENS: &[&str] = &[
        "proj/",
        "env/",
        "flag/",
        "var/",
        "segment/",
        "request/",
        "member/",
        "token/",
        "service-token/",
        "team/",
        "role/",
        "connection/",
        "webhook/",
        "acct",
        "proj",
        "view",
        "unknown/",
        ":",
        ";",
        ",",
        "{",
        "}",
        "{critical:true}",
        "{a_1:x.y}",
        "*",
        "?",
        "a",
        "Z9",
        ".",
        "_",
        "@",
        "+",
        "-",
        "$",
        "${roleAttribute/",
        "${roleAttribute/team}",
        "}",
        "/",
        " ",
        "é",
        "!",
        "\u{0}",
    ];

    fn specifier_like() -> impl Strategy<Value = String> {
        prop::collection::vec(prop::sample::select(TOKENS), 1..14).prop_map(|t| t.concat())
    }

    #[test]
    fn examples_agree() {
        let cases = [
            "proj/*",
            "proj/web;tag1,{critical:true}:env/prod*:flag/${roleAttribute/flags}",
            "proj/a;view:env/b",
            "proj/a;view:x",
            "member/*:token/*",
            "acct",
            "acct:proj/x",
            "env/x",
            "proj/x:flag/y",
            "webhook/hook-1",
            "service-token/a@b",
            "",
        ];
        for form in FORMS {
            let re = Regex::new(&specifier_pattern(form)).unwrap();
            for case in cases {
                assert_eq!(
                    re.is_match(case),
                    parser_takes(form, case),
                    "{form:?} {case:?}"
                );
            }
        }
    }

    #[test]
    fn chains_name_exactly_their_levels() {
        use ResourceType as T;
        let re = Regex::new(&chain_pattern(&[&[T::Proj], &[T::Env], &[T::Flag, T::Var]])).unwrap();
        assert!(re.is_match("proj/a;t:env/b;{critical:true}:flag/c"));
        assert!(re.is_match("proj/a:env/b:var/API_URL"));
        assert!(!re.is_match("proj/a:env/b:segment/c"));
        assert!(!re.is_match("proj/a:env/b"));
        assert!(!re.is_match("proj/*:env/b:flag/c"));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        #[test]
        fn the_pattern_takes_what_the_parser_takes(text in specifier_like()) {
            for (form, re) in FORMS.iter().zip(PATTERNS.iter()) {
                prop_assert_eq!(re.is_match(&text), parser_takes(*form, &text), "{:?} {:?}", form, text);
            }
        }

    }
}
