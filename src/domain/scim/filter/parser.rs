//! A recursive-descent parser for the filter grammar. `not` binds tighter than `and`, which
//! binds tighter than `or`; keywords and operators are case-insensitive; values are JSON
//! literals. Errors carry the character offset where the parser gave up.

use super::ast::{AttrPath, CompareOp, Filter, Literal};

/// Deepest nesting of parentheses, `not` and value paths accepted.
pub const MAX_DEPTH: usize = 32;
/// Longest filter accepted, in bytes: far above what IdPs send, low enough that no tree is
/// too deep to walk recursively.
pub const MAX_LEN: usize = 8192;

/// Why a filter does not parse, and where (in characters from its start).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid filter at character {offset}: {message}")]
pub struct FilterError {
    pub offset: usize,
    pub message: String,
}

/// Why a literal holding NUL is refused: no stored value has one.
const NUL_IN_LITERAL: &str = "a string literal must not contain U+0000 (NUL)";

impl FilterError {
    /// True when the filter is well-formed but names a value no resource can hold (NUL).
    pub fn is_invalid_value(&self) -> bool {
        self.message == NUL_IN_LITERAL
    }
}

/// Parses a whole filter.
pub fn parse_filter(input: &str) -> Result<Filter, FilterError> {
    let mut p = Parser::new(input)?;
    let filter = p.or_expr(false)?;
    p.skip_ws();
    match p.peek() {
        None => Ok(filter),
        Some(c) => Err(p.err(p.pos, format!("unexpected {c:?}"))),
    }
}

/// Parses the value filter of a path, starting just after its `[`; returns the filter and
/// the byte offset just after the closing `]`.
pub fn parse_path_filter(input: &str, start: usize) -> Result<(Filter, usize), FilterError> {
    let mut p = Parser::new(input)?;
    p.pos = start;
    p.depth = 1;
    let filter = p.or_expr(true)?;
    p.skip_ws();
    if p.peek() != Some(']') {
        return Err(p.err(p.pos, "expected ']' to close the value filter"));
    }
    Ok((filter, p.pos + 1))
}

struct Parser<'a> {
    s: &'a str,
    pos: usize,
    depth: usize,
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic()
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// `ATTRNAME = ALPHA *(nameChar)`, or `$ref`.
fn valid_name(name: &str) -> bool {
    name == "$ref"
        || (name.chars().next().is_some_and(is_name_start) && name.chars().all(is_name_char))
}

/// Characters that end a bare word (an attribute path, operator or non-string literal).
fn ends_word(c: char) -> bool {
    c.is_whitespace() || matches!(c, '(' | ')' | '[' | ']' | '"')
}

impl<'a> Parser<'a> {
    fn new(s: &'a str) -> Result<Self, FilterError> {
        if s.len() > MAX_LEN {
            return Err(FilterError {
                offset: 0,
                message: format!("a filter is at most {MAX_LEN} bytes"),
            });
        }
        Ok(Parser {
            s,
            pos: 0,
            depth: 0,
        })
    }

    fn rest(&self) -> &'a str {
        self.s.get(self.pos..).unwrap_or("")
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn err(&self, at: usize, message: impl Into<String>) -> FilterError {
        FilterError {
            offset: self.s.get(..at).map_or(0, |p| p.chars().count()),
            message: message.into(),
        }
    }

    fn skip_ws(&mut self) {
        let rest = self.rest();
        self.pos += rest.len() - rest.trim_start().len();
    }

    /// Consumes `kw` (case-insensitive) when it stands as a word at the cursor.
    fn keyword(&mut self, kw: &str) -> bool {
        let rest = self.rest();
        let Some(head) = rest.get(..kw.len()) else {
            return false;
        };
        if !head.eq_ignore_ascii_case(kw) {
            return false;
        }
        let after = rest.get(kw.len()..).and_then(|r| r.chars().next());
        if after.is_none_or(|c| c.is_whitespace() || c == '(') {
            self.pos += kw.len();
            true
        } else {
            false
        }
    }

    fn enter(&mut self) -> Result<(), FilterError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err(
                self.pos,
                format!("nested more than {MAX_DEPTH} levels deep"),
            ));
        }
        Ok(())
    }

    fn or_expr(&mut self, in_value: bool) -> Result<Filter, FilterError> {
        let mut left = self.and_expr(in_value)?;
        loop {
            let save = self.pos;
            self.skip_ws();
            if self.keyword("or") {
                let right = self.and_expr(in_value)?;
                left = Filter::or(left, right);
            } else {
                self.pos = save;
                return Ok(left);
            }
        }
    }

    fn and_expr(&mut self, in_value: bool) -> Result<Filter, FilterError> {
        let mut left = self.unary(in_value)?;
        loop {
            let save = self.pos;
            self.skip_ws();
            if self.keyword("and") {
                let right = self.unary(in_value)?;
                left = Filter::and(left, right);
            } else {
                self.pos = save;
                return Ok(left);
            }
        }
    }

    fn unary(&mut self, in_value: bool) -> Result<Filter, FilterError> {
        self.skip_ws();
        let start = self.pos;
        if self.keyword("not") {
            self.skip_ws();
            if self.peek() == Some('(') {
                let inner = self.group(in_value)?;
                return Ok(Filter::Not(Box::new(inner)));
            }
            // An attribute that happens to be called `not`.
            self.pos = start;
        }
        if self.peek() == Some('(') {
            return self.group(in_value);
        }
        self.atom(in_value)
    }

    /// `"(" filter ")"` at the cursor.
    fn group(&mut self, in_value: bool) -> Result<Filter, FilterError> {
        self.enter()?;
        self.pos += 1;
        let inner = self.or_expr(in_value)?;
        self.skip_ws();
        if self.peek() != Some(')') {
            return Err(self.err(self.pos, "expected ')'"));
        }
        self.pos += 1;
        self.depth -= 1;
        Ok(inner)
    }

    fn word(&mut self) -> (usize, &'a str) {
        let start = self.pos;
        let rest = self.rest();
        let len = rest.find(ends_word).unwrap_or(rest.len());
        self.pos += len;
        (start, rest.get(..len).unwrap_or(""))
    }

    fn attr_path(&mut self) -> Result<AttrPath, FilterError> {
        let (start, word) = self.word();
        if word.is_empty() {
            return Err(match self.peek() {
                None => self.err(start, "expected an attribute name, found the end"),
                Some(c) => self.err(start, format!("expected an attribute name, found {c:?}")),
            });
        }
        split_attr_path(word)
            .ok_or_else(|| self.err(start, format!("{word:?} is not an attribute path")))
    }

    fn atom(&mut self, in_value: bool) -> Result<Filter, FilterError> {
        let path_start = self.pos;
        let path = self.attr_path()?;
        if self.peek() == Some('[') {
            if in_value {
                return Err(self.err(self.pos, "value paths cannot nest"));
            }
            if path.sub.is_some() {
                return Err(self.err(
                    path_start,
                    "a value path filters a multi-valued attribute, not a sub-attribute",
                ));
            }
            self.enter()?;
            self.pos += 1;
            let inner = self.or_expr(true)?;
            self.skip_ws();
            if self.peek() != Some(']') {
                return Err(self.err(self.pos, "expected ']' to close the value filter"));
            }
            self.pos += 1;
            self.depth -= 1;
            // Entra writes `emails[type eq "work"].value eq "x"`: the element's `value`
            // must also match, which is `emails[type eq "work" and value eq "x"]`.
            if self.peek() == Some('.') {
                self.pos += 1;
                let (sub_start, sub) = self.word();
                if !valid_name(sub) {
                    return Err(self.err(sub_start, "expected a sub-attribute name after ']'"));
                }
                let sub_path = AttrPath::simple(sub);
                let condition = self.condition(sub_path)?;
                return Ok(Filter::ValuePath {
                    path,
                    filter: Box::new(Filter::and(inner, condition)),
                });
            }
            return Ok(Filter::ValuePath {
                path,
                filter: Box::new(inner),
            });
        }
        self.condition(path)
    }

    /// `SP op SP value` or `SP "pr"` after an attribute path.
    fn condition(&mut self, path: AttrPath) -> Result<Filter, FilterError> {
        self.skip_ws();
        let (op_start, op) = self.word();
        if op.eq_ignore_ascii_case("pr") {
            return Ok(Filter::Present(path));
        }
        let Some(op) = CompareOp::parse(op) else {
            let found = if op.is_empty() {
                self.peek()
                    .map_or("the end".to_owned(), |c| format!("{c:?}"))
            } else {
                format!("{op:?}")
            };
            return Err(self.err(
                op_start,
                format!("expected an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr) after {path}, found {found}"),
            ));
        };
        self.skip_ws();
        let value = self.literal()?;
        Ok(Filter::Compare { path, op, value })
    }

    fn literal(&mut self) -> Result<Literal, FilterError> {
        let start = self.pos;
        if self.peek() == Some('"') {
            let rest = self.rest();
            let mut escaped = false;
            let mut end = None;
            for (i, c) in rest.char_indices().skip(1) {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == '"' {
                    end = Some(i + 1);
                    break;
                }
            }
            let Some(end) = end else {
                return Err(self.err(start, "unterminated string"));
            };
            let text = rest.get(..end).unwrap_or("");
            let value: String = serde_json::from_str(text)
                .map_err(|e| self.err(start, format!("invalid string literal: {e}")))?;
            if value.contains('\0') {
                return Err(self.err(start, NUL_IN_LITERAL));
            }
            self.pos += end;
            return Ok(Literal::String(value));
        }
        let (start, word) = self.word();
        if word.is_empty() {
            return Err(self.err(
                start,
                "expected a value (a string, number, true, false or null)",
            ));
        }
        if word.eq_ignore_ascii_case("true") {
            return Ok(Literal::Bool(true));
        }
        if word.eq_ignore_ascii_case("false") {
            return Ok(Literal::Bool(false));
        }
        if word.eq_ignore_ascii_case("null") {
            return Ok(Literal::Null);
        }
        let number_like = word
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E'));
        // JSON's grammar decides what is a number; std parses it with correct rounding.
        let number = match serde_json::from_str::<serde_json::Number>(word) {
            Ok(n) if number_like && (n.is_i64() || n.is_u64()) => Some(n),
            Ok(_) if number_like => word
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64),
            _ => None,
        };
        match number {
            Some(n) => Ok(Literal::Number(n)),
            None => Err(self.err(
                start,
                format!("{word:?} is not a value: strings need double quotes"),
            )),
        }
    }
}

/// An attribute path word as PATCH paths and attribute lists write it; `None` if malformed.
pub fn split_path_word(word: &str) -> Option<AttrPath> {
    if word.is_empty() || word.chars().any(ends_word) {
        return None;
    }
    split_attr_path(word)
}

/// Splits `[uri ":"] name ["." sub]`: the URI is everything before the last colon (URNs
/// contain dots, as in `2.0`, so the colon decides).
pub(crate) fn split_attr_path(word: &str) -> Option<AttrPath> {
    let (uri, rest) = match word.rfind(':') {
        Some(i) => {
            let uri = word.get(..i)?;
            if uri.is_empty() {
                return None;
            }
            (Some(uri.to_owned()), word.get(i + 1..)?)
        }
        None => (None, word),
    };
    let (name, sub) = match rest.split_once('.') {
        Some((name, sub)) => (name, Some(sub)),
        None => (rest, None),
    };
    if !valid_name(name) || sub.is_some_and(|s| !valid_name(s)) {
        return None;
    }
    Some(AttrPath {
        uri,
        name: name.to_owned(),
        sub: sub.map(str::to_owned),
    })
}
