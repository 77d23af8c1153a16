//! What text the service accepts. No string may hold U+0000 (PostgreSQL cannot store it, and
//! no identity has one); identifiers and names, which people read and match, hold no C0
//! control character either. Free text (descriptions, comments) may hold tabs and line
//! breaks.

use std::fmt;

/// A string that is not acceptable, with the field it came in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextError {
    pub field: String,
    pub reason: &'static str,
}

impl fmt::Display for TextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

impl std::error::Error for TextError {}

const NUL: &str = "must not contain U+0000 (NUL)";
const CONTROL: &str = "must not contain control characters";

/// Refuses a string holding NUL.
pub fn check_no_nul(field: &str, s: &str) -> Result<(), TextError> {
    if s.contains('\0') {
        return Err(TextError {
            field: field.to_owned(),
            reason: NUL,
        });
    }
    Ok(())
}

/// Refuses an identifier or name holding a C0 control character (or DEL).
pub fn check_plain(field: &str, s: &str) -> Result<(), TextError> {
    check_no_nul(field, s)?;
    if s.chars().any(|c| c.is_ascii_control()) {
        return Err(TextError {
            field: field.to_owned(),
            reason: CONTROL,
        });
    }
    Ok(())
}

/// Whether a JSON text holds a string with NUL in it: the escape `\u0000` inside a string
/// (JSON has no other way to write NUL; a raw NUL byte is malformed JSON, which the parser
/// refuses anyway). An escaped backslash followed by `u0000` is text, not NUL.
pub fn json_has_nul(json: &[u8]) -> bool {
    let mut i = 0;
    while let Some(offset) = json
        .get(i..)
        .and_then(|rest| rest.iter().position(|&b| b == b'\\'))
    {
        let at = i + offset;
        match json.get(at + 1) {
            Some(b'u') => {
                if json.get(at + 2..at + 6) == Some(b"0000") {
                    return true;
                }
                i = at + 2;
            }
            // Any other escape (including `\\`) is two bytes: skip both.
            Some(_) => i = at + 2,
            None => return false,
        }
    }
    false
}

/// Whether a percent-encoded URL part (path or query) decodes to something holding NUL.
pub fn url_has_nul(encoded: &str) -> bool {
    let bytes = encoded.as_bytes();
    bytes
        .windows(3)
        .any(|w| w.first() == Some(&b'%') && w.get(1..3) == Some(b"00"))
        || bytes.contains(&0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn nul_escapes_are_found_in_json_text() {
        assert!(json_has_nul(br#"{"userName": "a\u0000b"}"#));
        assert!(json_has_nul(br#"["\u0000"]"#));
        assert!(json_has_nul(br#"{"a\u0000": 1}"#));
        assert!(
            !json_has_nul(br#"{"userName": "a\\u0000b"}"#),
            "an escaped backslash"
        );
        assert!(json_has_nul(br#"{"userName": "a\\\u0000b"}"#));
        assert!(!json_has_nul(br#"{"userName": "a\u0001b \n \" \\"}"#));
        assert!(json_has_nul(br#"{"x": "\u00001"}"#));
        assert!(!json_has_nul(b"\\"));
        assert!(!json_has_nul(b"\\u000"));
    }

    #[test]
    fn nul_is_found_in_urls() {
        assert!(url_has_nul("/scim/v2/Users/%00"));
        assert!(url_has_nul("filter=userName%20eq%20%22a%00%22"));
        assert!(
            !url_has_nul("/scim/v2/Users/%2500"),
            "an encoded percent sign"
        );
        assert!(!url_has_nul("/api/v2/members?limit=100"));
    }

    #[test]
    fn names_refuse_control_characters_free_text_does_not_need_to() {
        assert!(check_plain("userName", "ann@example.com").is_ok());
        assert!(check_plain("userName", "Zoë Ångström").is_ok());
        assert_eq!(
            check_plain("userName", "a\tb").unwrap_err().to_string(),
            "userName: must not contain control characters"
        );
        assert!(check_plain("name", "a\u{7f}").is_err());
        assert!(check_no_nul("description", "line\nline\ttab").is_ok());
        assert!(check_no_nul("description", "a\0").is_err());
    }

    proptest! {
        /// The scanner agrees with a real JSON parser on every document serde writes.
        #[test]
        fn scanner_agrees_with_parsing(s in ".*", key in "[a-z\u{0}]{0,3}") {
            let doc = serde_json::json!({ key.clone(): [s.clone(), {"k": s.clone()}] });
            let text = serde_json::to_vec(&doc).unwrap();
            prop_assert_eq!(json_has_nul(&text), s.contains('\0') || key.contains('\0'));
        }
    }
}
