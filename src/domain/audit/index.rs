//! The query columns stored beside each entry's hashed body (`kind`, actor, `actions`,
//! `resources`, `search_text`, `date`, `id`). Queries read them, not the body, so they must
//! say what the body says: an edited column would hide an entry from a filter while the
//! hash chain still holds. They are derived here, once for writing and once for checking.

use std::borrow::Cow;

use serde::Deserialize;

use super::entry::{Actor, AuditEntry};

/// An entry's query columns, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexColumns {
    pub id: String,
    pub date: i64,
    pub kind: String,
    pub actor_kind: String,
    /// The id the `actor` filter finds the entry by.
    pub actor_id: Option<String>,
    /// Space-delimited action names, with a leading and trailing space, for LIKE filters.
    pub actions: String,
    /// Newline-joined resources of the accesses.
    pub resources: String,
    /// Lower-cased name, description and comment.
    pub search_text: String,
}

impl IndexColumns {
    /// The columns as a stored row holds them, borrowed.
    pub fn stored(&self) -> StoredColumns<'_> {
        StoredColumns {
            id: &self.id,
            date: self.date,
            kind: &self.kind,
            actor_kind: &self.actor_kind,
            actor_id: self.actor_id.as_deref(),
            actions: &self.actions,
            resources: &self.resources,
            search_text: &self.search_text,
        }
    }
}

/// The stored columns of one entry, borrowed from the row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredColumns<'a> {
    pub id: &'a str,
    pub date: i64,
    pub kind: &'a str,
    pub actor_kind: &'a str,
    pub actor_id: Option<&'a str>,
    pub actions: &'a str,
    pub resources: &'a str,
    pub search_text: &'a str,
}

/// Why an entry's stored columns do not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexMismatch {
    /// The named column differs from what the body says.
    Column(&'static str),
    /// The body is not an entry the columns can be derived from.
    Unreadable(String),
}

impl std::fmt::Display for IndexMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IndexMismatch::Column(column) => write!(
                f,
                "the stored column `{column}` differs from the entry's hashed body"
            ),
            IndexMismatch::Unreadable(why) => {
                write!(f, "the entry's body cannot be read: {why}")
            }
        }
    }
}

/// The columns an entry is stored with.
pub fn index_columns(entry: &AuditEntry) -> IndexColumns {
    let actor_id = match &entry.actor {
        // People are searched for, not their tokens: a personal token's owner.
        Actor::Token {
            owner_id: Some(owner),
            ..
        } => Some(owner.clone()),
        other => other.id().map(str::to_owned),
    };
    IndexColumns {
        id: entry.id.clone(),
        date: entry.date,
        kind: entry.kind.clone(),
        actor_kind: entry.actor.kind_str().to_owned(),
        actor_id,
        actions: actions(entry.accesses.iter().map(|a| a.action.as_str())),
        resources: resources(entry.accesses.iter().map(|a| a.resource.as_str())),
        search_text: search_text(&entry.name, &entry.description, entry.comment.as_deref()),
    }
}

/// Checks stored columns against the body they sit beside, naming the first that differs.
pub fn check_columns(stored: &StoredColumns<'_>, body: &str) -> Result<(), IndexMismatch> {
    let fields = match scan::body_fields(body) {
        Some(fields) => fields,
        // Not in the plain canonical form the scanner reads (an escaped character, say).
        None => serde_json::from_str(body).map_err(|e| IndexMismatch::Unreadable(e.to_string()))?,
    };
    let differs = |column: &'static str, same: bool| {
        if same {
            Ok(())
        } else {
            Err(IndexMismatch::Column(column))
        }
    };
    differs("id", stored.id == fields.id)?;
    differs("date", stored.date == fields.date)?;
    differs("kind", stored.kind == fields.kind)?;
    differs("actor_kind", stored.actor_kind == fields.actor.kind)?;
    let actor_id = match (&*fields.actor.kind, &fields.actor.owner_id) {
        ("token", Some(owner)) => Some(owner),
        _ => fields.actor.id.as_ref(),
    };
    differs("actor_id", stored.actor_id == actor_id.map(|a| &**a))?;
    differs(
        "actions",
        joined_equals(
            stored.actions,
            " ",
            fields.accesses.iter().map(|a| &*a.action),
            " ",
        ),
    )?;
    differs(
        "resources",
        joined_equals(
            stored.resources,
            "",
            fields.accesses.iter().map(|a| &*a.resource),
            "\n",
        ),
    )?;
    let (name, description, comment) = (&fields.name, &fields.description, &fields.comment);
    // ASCII without NUL lowers byte by byte; anything else the way the column was built.
    let plain = |t: &str| t.bytes().all(|b| b.is_ascii() && b != 0);
    let text_is_ascii = plain(name) && plain(description) && comment.as_deref().is_none_or(plain);
    let same_text = if text_is_ascii {
        lowered_equals(stored.search_text, name, description, comment.as_deref())
    } else {
        stored.search_text == search_text(name, description, comment.as_deref())
    };
    differs("search_text", same_text)
}

/// `stored == first + parts joined by sep (+ sep after the last when first is not empty)`,
/// the shapes of `actions` (" a b ") and `resources` ("r1\nr2"), without building it.
fn joined_equals<'a>(
    stored: &str,
    first: &str,
    parts: impl Iterator<Item = &'a str>,
    sep: &str,
) -> bool {
    let Some(mut rest) = stored.strip_prefix(first) else {
        return false;
    };
    let trailing = !first.is_empty();
    let mut any = false;
    for part in parts {
        if any && !trailing {
            let Some(r) = rest.strip_prefix(sep) else {
                return false;
            };
            rest = r;
        }
        let Some(r) = rest.strip_prefix(part) else {
            return false;
        };
        rest = r;
        if trailing {
            let Some(r) = rest.strip_prefix(sep) else {
                return false;
            };
            rest = r;
        }
        any = true;
    }
    rest.is_empty()
}

/// `stored == search_text(name, description, comment)` for ASCII text, without building it.
fn lowered_equals(stored: &str, name: &str, description: &str, comment: Option<&str>) -> bool {
    let expected = [name, "\n", description, "\n", comment.unwrap_or("")];
    let mut stored = stored.bytes();
    for part in expected {
        for byte in part.bytes() {
            if stored.next() != Some(byte.to_ascii_lowercase()) {
                return false;
            }
        }
    }
    stored.next().is_none()
}

fn actions<'a>(names: impl Iterator<Item = &'a str>) -> String {
    names.fold(String::from(" "), |mut s, a| {
        s.push_str(a);
        s.push(' ');
        s
    })
}

fn resources<'a>(mut specs: impl Iterator<Item = &'a str>) -> String {
    let mut out = specs.next().map(str::to_owned).unwrap_or_default();
    for spec in specs {
        out.push('\n');
        out.push_str(spec);
    }
    out
}

/// The body keeps every character (escaped); the column cannot hold a NUL on PostgreSQL, so
/// a NUL an entry quotes (a refused sign-in's subject) is stored as U+FFFD there.
fn search_text(name: &str, description: &str, comment: Option<&str>) -> String {
    format!("{name}\n{description}\n{}", comment.unwrap_or(""))
        .to_lowercase()
        .replace('\0', "\u{fffd}")
}

/// The parts of a body the columns come from; the rest is skipped unread.
#[derive(Deserialize, Debug, PartialEq)]
struct BodyFields<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    date: i64,
    #[serde(borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    actor: BodyActor<'a>,
    #[serde(borrow, default)]
    accesses: Vec<BodyAccess<'a>>,
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow)]
    description: Cow<'a, str>,
    #[serde(borrow, default)]
    comment: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Debug, PartialEq)]
struct BodyActor<'a> {
    #[serde(borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default, rename = "ownerId")]
    owner_id: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Debug, PartialEq)]
struct BodyAccess<'a> {
    #[serde(borrow)]
    action: Cow<'a, str>,
    #[serde(borrow)]
    resource: Cow<'a, str>,
}

/// A reader of the canonical form (sorted keys, no spaces) for the fields above, an order of
/// magnitude faster than a general JSON parser over bodies whose versions and deltas it only
/// skips; verify runs it for every entry. It gives up (`None`) on anything it does not
/// expect, a wanted string with an escape included, and the general parser decides.
mod scan {
    use std::borrow::Cow;

    use super::{BodyAccess, BodyActor, BodyFields};

    struct Reader<'a> {
        text: &'a str,
        at: usize,
    }

    /// Where the next `"` or `\` is in `bytes`, eight bytes at a time: strings are most of a
    /// body, and looking at them a byte at a time was most of the scanner's time.
    pub(super) fn quote_or_backslash(bytes: &[u8]) -> Option<usize> {
        const ONES: u64 = u64::from_ne_bytes([1; 8]);
        const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
        const QUOTES: u64 = u64::from_ne_bytes([b'"'; 8]);
        const BACKSLASHES: u64 = u64::from_ne_bytes([b'\\'; 8]);
        // A byte of `x` is zero where the word had the byte looked for; the lowest flagged
        // byte is exact (borrows only flag bytes above it).
        let zero_bytes = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
        let mut words = bytes.chunks_exact(8);
        let mut offset = 0;
        for word in &mut words {
            let word = u64::from_le_bytes(<[u8; 8]>::try_from(word).unwrap_or_default());
            let found = zero_bytes(word ^ QUOTES) | zero_bytes(word ^ BACKSLASHES);
            if found != 0 {
                return Some(offset + found.trailing_zeros() as usize / 8);
            }
            offset += 8;
        }
        let tail = words
            .remainder()
            .iter()
            .position(|&b| b == b'"' || b == b'\\')?;
        Some(offset + tail)
    }

    impl<'a> Reader<'a> {
        fn peek(&self) -> Option<u8> {
            self.text.as_bytes().get(self.at).copied()
        }

        fn eat(&mut self, byte: u8) -> Option<()> {
            (self.peek()? == byte).then(|| self.at += 1)
        }

        /// Where the next `"` or `\` is, from the reader's place.
        fn next_quote_or_backslash(&self) -> Option<usize> {
            let rest = self.text.as_bytes().get(self.at..)?;
            Some(self.at + quote_or_backslash(rest)?)
        }

        /// A string without escapes, borrowed.
        fn plain_str(&mut self) -> Option<&'a str> {
            self.eat(b'"')?;
            let end = self.next_quote_or_backslash()?;
            if self.text.as_bytes().get(end) != Some(&b'"') {
                return None;
            }
            let value = self.text.get(self.at..end)?;
            self.at = end + 1;
            Some(value)
        }

        /// Moves past a string whose opening quote is already read, escapes included.
        fn skip_str(&mut self) -> Option<()> {
            loop {
                let at = self.next_quote_or_backslash()?;
                if self.text.as_bytes().get(at) == Some(&b'"') {
                    self.at = at + 1;
                    return Some(());
                }
                // A backslash and the byte it escapes.
                self.at = at + 2;
            }
        }

        fn int(&mut self) -> Option<i64> {
            let rest = self.text.get(self.at..)?;
            let end = rest
                .bytes()
                .position(|b| !(b.is_ascii_digit() || b == b'-'))
                .unwrap_or(rest.len());
            let value = rest.get(..end)?.parse().ok()?;
            self.at += end;
            Some(value)
        }

        /// Skips any value: strings (escapes included), nested objects and arrays, scalars.
        /// Stops before the `,`, `}` or `]` that ends it.
        fn skip_value(&mut self) -> Option<()> {
            let mut depth = 0usize;
            loop {
                match self.peek()? {
                    b'"' => {
                        self.at += 1;
                        self.skip_str()?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' | b',' if depth == 0 => return Some(()),
                    b'}' | b']' => depth -= 1,
                    _ => {}
                }
                self.at += 1;
            }
        }

        /// An object's members in order: `each(key, reader)` reads or skips each value.
        fn object(&mut self, mut each: impl FnMut(&'a str, &mut Self) -> Option<()>) -> Option<()> {
            self.eat(b'{')?;
            if self.eat(b'}').is_some() {
                return Some(());
            }
            loop {
                let key = self.plain_str()?;
                self.eat(b':')?;
                each(key, self)?;
                if self.eat(b'}').is_some() {
                    return Some(());
                }
                self.eat(b',')?;
            }
        }
    }

    pub(super) fn body_fields(body: &str) -> Option<BodyFields<'_>> {
        let mut r = Reader { text: body, at: 0 };
        let (mut id, mut date, mut kind, mut actor) = (None, None, None, None);
        let (mut name, mut description, mut comment) = (None, None, None);
        let mut accesses = Vec::new();
        r.object(|key, r| {
            match key {
                "accesses" => accesses = access_list(r)?,
                "actor" => actor = Some(actor_of(r)?),
                "comment" => comment = Some(Cow::Borrowed(r.plain_str()?)),
                "date" => date = Some(r.int()?),
                "description" => description = Some(r.plain_str()?),
                "id" => id = Some(r.plain_str()?),
                "kind" => kind = Some(r.plain_str()?),
                "name" => name = Some(r.plain_str()?),
                _ => r.skip_value()?,
            }
            Some(())
        })?;
        (r.at == body.len()).then_some(())?;
        Some(BodyFields {
            id: Cow::Borrowed(id?),
            date: date?,
            kind: Cow::Borrowed(kind?),
            actor: actor?,
            accesses,
            name: Cow::Borrowed(name?),
            description: Cow::Borrowed(description?),
            comment,
        })
    }

    fn access_list<'a>(r: &mut Reader<'a>) -> Option<Vec<BodyAccess<'a>>> {
        let mut list = Vec::new();
        r.eat(b'[')?;
        if r.eat(b']').is_some() {
            return Some(list);
        }
        loop {
            let (mut action, mut resource) = (None, None);
            r.object(|key, r| {
                match key {
                    "action" => action = Some(r.plain_str()?),
                    "resource" => resource = Some(r.plain_str()?),
                    _ => r.skip_value()?,
                }
                Some(())
            })?;
            list.push(BodyAccess {
                action: Cow::Borrowed(action?),
                resource: Cow::Borrowed(resource?),
            });
            if r.eat(b']').is_some() {
                return Some(list);
            }
            r.eat(b',')?;
        }
    }

    fn actor_of<'a>(r: &mut Reader<'a>) -> Option<BodyActor<'a>> {
        let (mut kind, mut id, mut owner_id) = (None, None, None);
        r.object(|key, r| {
            match key {
                "kind" => kind = Some(r.plain_str()?),
                "id" => id = Some(Cow::Borrowed(r.plain_str()?)),
                "ownerId" => owner_id = Some(Cow::Borrowed(r.plain_str()?)),
                _ => r.skip_value()?,
            }
            Some(())
        })?;
        Some(BodyActor {
            kind: Cow::Borrowed(kind?),
            id,
            owner_id,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::domain::audit::entry::Access;
    use crate::domain::audit::{Target, canonical_bytes};

    fn entry(actor: Actor, accesses: Vec<(&str, &str)>, comment: Option<&str>) -> AuditEntry {
        AuditEntry {
            id: "ae_1".into(),
            seq: 7,
            date: 1_717_171_717_171,
            accesses: accesses
                .into_iter()
                .map(|(action, resource)| Access {
                    action: action.into(),
                    resource: resource.into(),
                })
                .collect(),
            kind: "flag".into(),
            name: "Checkout \"v2\"".into(),
            description: "Turned ON\nin Production".into(),
            actor,
            target: Some(Target {
                name: "checkout".into(),
                resources: vec!["proj/web:env/prod:flag/checkout".into()],
            }),
            parent: None,
            environment: Some("prod".into()),
            previous_version: Some(serde_json::json!({"on": false})),
            current_version: Some(serde_json::json!({"on": true, "x": [1, {"y": "z"}]})),
            delta: None,
            comment: comment.map(str::to_owned),
            approval_request_id: None,
            request_id: Some("req".into()),
            source_ip: None,
        }
    }

    fn body(e: &AuditEntry) -> String {
        String::from_utf8(canonical_bytes(e)).unwrap()
    }

    fn actors() -> Vec<Actor> {
        vec![
            Actor::Member {
                id: "m1".into(),
                email: "a@b.c".into(),
            },
            Actor::Token {
                id: "t1".into(),
                name: "ci".into(),
                service_token: false,
                owner_id: Some("m1".into()),
            },
            Actor::Token {
                id: "t2".into(),
                name: "svc".into(),
                service_token: true,
                owner_id: None,
            },
            Actor::App {
                id: "okta".into(),
                name: "Okta".into(),
                is_scim: true,
                is_sso: false,
            },
            Actor::System,
        ]
    }

    #[test]
    fn the_columns_written_are_the_columns_checked() {
        for actor in actors() {
            let e = entry(
                actor,
                vec![
                    ("updateOn", "proj/web:env/prod:flag/a"),
                    ("createFlag", "x"),
                ],
                Some("Because\0"),
            );
            let columns = index_columns(&e);
            assert_eq!(check_columns(&columns.stored(), &body(&e)), Ok(()));
        }
        let token = index_columns(&entry(actors()[1].clone(), vec![], None));
        assert_eq!(token.actor_id.as_deref(), Some("m1"));
        assert_eq!(token.actions, " ");
        assert_eq!(token.resources, "");
    }

    #[test]
    fn each_edited_column_is_named() {
        let e = entry(actors()[0].clone(), vec![("updateOn", "r/1")], None);
        let c = index_columns(&e);
        let b = body(&e);
        let edits: Vec<(&str, StoredColumns<'_>)> = vec![
            (
                "id",
                StoredColumns {
                    id: "ae_2",
                    ..c.stored()
                },
            ),
            (
                "date",
                StoredColumns {
                    date: 1,
                    ..c.stored()
                },
            ),
            (
                "kind",
                StoredColumns {
                    kind: "team",
                    ..c.stored()
                },
            ),
            (
                "actor_kind",
                StoredColumns {
                    actor_kind: "app",
                    ..c.stored()
                },
            ),
            (
                "actor_id",
                StoredColumns {
                    actor_id: None,
                    ..c.stored()
                },
            ),
            (
                "actions",
                StoredColumns {
                    actions: " ",
                    ..c.stored()
                },
            ),
            (
                "resources",
                StoredColumns {
                    resources: "r/2",
                    ..c.stored()
                },
            ),
            (
                "search_text",
                StoredColumns {
                    search_text: "x",
                    ..c.stored()
                },
            ),
        ];
        for (column, edited) in edits {
            assert_eq!(
                check_columns(&edited, &b),
                Err(IndexMismatch::Column(column))
            );
        }
        assert!(matches!(
            check_columns(&c.stored(), "{\"id\":1}"),
            Err(IndexMismatch::Unreadable(_))
        ));
    }

    #[test]
    fn the_scanner_reads_what_the_parser_reads() {
        for actor in actors() {
            let mut e = entry(actor, vec![("a", "r1"), ("b", "r2")], Some("c"));
            e.name = "Checkout v2 ü".into();
            e.description = "Turned on".into();
            let b = body(&e);
            let general: BodyFields<'_> = serde_json::from_str(&b).unwrap();
            assert_eq!(scan::body_fields(&b), Some(general));
        }
        // Escaped wanted strings are left to the general parser.
        let e = entry(actors()[0].clone(), vec![], Some("a\"quote"));
        assert_eq!(scan::body_fields(&body(&e)), None);
        // Escapes in skipped strings, on either side of every eight-byte boundary.
        for pad in 0..17 {
            let mut e = entry(actors()[0].clone(), vec![("a", "r")], None);
            e.name = "plain".into();
            e.description = "plain too".into();
            let text = format!("{}\"\\\"}}]", "x".repeat(pad));
            e.delta = Some(serde_json::json!({"k": text, "n": [text]}));
            let b = body(&e);
            let general: BodyFields<'_> = serde_json::from_str(&b).unwrap();
            assert_eq!(scan::body_fields(&b), Some(general), "{b}");
        }
    }

    #[test]
    fn quotes_and_backslashes_are_found_in_any_word_position() {
        assert_eq!(scan::quote_or_backslash(b""), None);
        assert_eq!(scan::quote_or_backslash(b"abcdefgh"), None);
        for at in 0..20 {
            for found in [b'"', b'\\'] {
                let mut text = vec![b'a'; 20];
                text[at] = found;
                // Bytes that differ from `"` or `\` by the high bit only, or are zero.
                text.extend_from_slice(&[0xa2, 0xdc, 0, b'"']);
                assert_eq!(scan::quote_or_backslash(&text), Some(at));
            }
        }
    }

    proptest! {
        #[test]
        fn the_scanner_never_disagrees_with_the_parser(
            name in ".{0,20}", delta in ".{0,40}", accesses in prop::collection::vec(("[a-z]{1,5}", ".{0,10}"), 0..3),
        ) {
            let mut e = entry(
                actors()[1].clone(),
                accesses.iter().map(|(a, r)| (a.as_str(), r.as_str())).collect(),
                None,
            );
            e.name = name;
            e.delta = Some(serde_json::json!({"k": delta, "n": [1, -2.5, null, true, {"a": "]}"}]}));
            let b = body(&e);
            let general: BodyFields<'_> = serde_json::from_str(&b).unwrap();
            if let Some(fast) = scan::body_fields(&b) {
                prop_assert_eq!(fast, general);
            }
        }

        #[test]
        fn the_word_search_finds_what_a_byte_loop_finds(bytes in prop::collection::vec(
            prop_oneof![any::<u8>(), Just(b'"'), Just(b'\\'), Just(0xa2u8), Just(0xdcu8)], 0..40,
        )) {
            let naive = bytes.iter().position(|&b| b == b'"' || b == b'\\');
            prop_assert_eq!(scan::quote_or_backslash(&bytes), naive);
        }

        #[test]
        fn the_scanner_never_panics(text in ".{0,200}") {
            let _ = scan::body_fields(&text);
        }

        #[test]
        fn any_entry_checks_against_its_own_columns(
            name in ".{0,20}", description in ".{0,40}", comment in proptest::option::of(".{0,20}"),
            accesses in prop::collection::vec(("[a-zA-Z]{1,12}", ".{0,30}"), 0..4),
            actor in 0usize..5,
        ) {
            let mut e = entry(
                actors()[actor].clone(),
                accesses.iter().map(|(a, r)| (a.as_str(), r.as_str())).collect(),
                comment.as_deref(),
            );
            e.name = name;
            e.description = description;
            let columns = index_columns(&e);
            prop_assert_eq!(check_columns(&columns.stored(), &body(&e)), Ok(()));
        }

        #[test]
        fn never_panics_on_any_body(body in ".{0,200}") {
            let c = index_columns(&entry(actors()[4].clone(), vec![], None));
            let _ = check_columns(&c.stored(), &body);
        }
    }
}
