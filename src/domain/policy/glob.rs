//! Allocation-free glob matching with `*` (any run of characters, possibly empty) and `?`
//! (exactly one character). Matching is case-sensitive; there is no escaping.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// `*`
    Any,
    /// No metacharacters.
    Exact,
    /// `abc*` (one trailing star, no `?`): holds `abc`.
    Prefix(String),
    /// `*abc` (one leading star, no `?`): holds `abc`.
    Suffix(String),
    /// Anything else.
    General,
}

/// A compiled glob pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    source: String,
    kind: Kind,
}

impl Glob {
    /// Compiles `pattern`. Every string is a valid glob.
    pub fn new(pattern: &str) -> Glob {
        let stars = pattern.matches('*').count();
        let has_q = pattern.contains('?');
        let kind = if pattern == "*" || (!has_q && stars > 0 && pattern.chars().all(|c| c == '*')) {
            Kind::Any
        } else if stars == 0 && !has_q {
            Kind::Exact
        } else if stars == 1 && !has_q && pattern.ends_with('*') {
            Kind::Prefix(pattern.trim_end_matches('*').to_owned())
        } else if stars == 1 && !has_q && pattern.starts_with('*') {
            Kind::Suffix(pattern.trim_start_matches('*').to_owned())
        } else {
            Kind::General
        };
        Glob {
            source: pattern.to_owned(),
            kind,
        }
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the pattern matches every string.
    pub fn matches_everything(&self) -> bool {
        self.kind == Kind::Any
    }

    /// Whether the pattern contains no metacharacter (matches exactly one string).
    pub fn is_literal(&self) -> bool {
        self.kind == Kind::Exact
    }

    /// Whether `text` matches the whole pattern. Never allocates.
    pub fn matches(&self, text: &str) -> bool {
        match &self.kind {
            Kind::Any => true,
            Kind::Exact => self.source == text,
            Kind::Prefix(p) => text.starts_with(p.as_str()),
            Kind::Suffix(s) => text.ends_with(s.as_str()),
            Kind::General => wildmatch(self.source.as_bytes(), text.as_bytes()),
        }
    }
}

impl fmt::Display for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// Length in bytes of the UTF-8 character starting with `lead` (1 for stray bytes).
fn char_len(lead: u8) -> usize {
    match lead {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

/// Iterative wildcard matching with single-star backtracking: O(|p|·|t|) worst case, no
/// recursion, no allocation. `?` consumes one whole UTF-8 character.
fn wildmatch(p: &[u8], t: &[u8]) -> bool {
    let mut pi = 0usize;
    let mut ti = 0usize;
    // (pattern index of the last '*', text index where it currently resumes)
    let mut star: Option<(usize, usize)> = None;
    while let Some(&tc) = t.get(ti) {
        match p.get(pi) {
            Some(b'*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(b'?') => {
                pi += 1;
                ti += char_len(tc);
            }
            Some(&pc) if pc == tc => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    let next = st + t.get(st).map_or(1, |&b| char_len(b));
                    star = Some((sp, next));
                    pi = sp + 1;
                    ti = next;
                }
                None => return false,
            },
        }
    }
    if ti > t.len() {
        return false;
    }
    while p.get(pi) == Some(&b'*') {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let cases: &[(&str, &str, bool)] = &[
            ("*", "", true),
            ("*", "anything", true),
            ("**", "x", true),
            ("abc", "abc", true),
            ("abc", "Abc", false),
            ("abc", "abcd", false),
            ("ops_*", "ops_", true),
            ("ops_*", "ops_team", true),
            ("ops_*", "op_team", false),
            ("*-prod", "eu-prod", true),
            ("*-prod", "eu-production", false),
            ("a*b?", "axxbc", true),
            ("a*b?", "ab", false),
            ("a*b?", "abc", true),
            ("a*b?", "abbb", true),
            ("?", "é", true),
            ("?", "ab", false),
            ("a?c", "aéc", true),
            ("*a*a*a*", "banana-a", true),
            ("*a*a*a*", "banan", false),
            ("update*", "updateOn", true),
            ("*Flag*", "createFlagLink", true),
            ("", "", true),
            ("", "x", false),
            ("x*y*z", "xyz", true),
            ("x*y*z", "xzy", false),
        ];
        for (p, t, want) in cases {
            assert_eq!(Glob::new(p).matches(t), *want, "{p} vs {t}");
            assert_eq!(
                wildmatch(p.as_bytes(), t.as_bytes()),
                *want,
                "general {p} vs {t}"
            );
        }
    }
}
