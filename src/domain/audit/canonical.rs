//! Canonical byte encoding of an [`AuditEntry`], the input of the hash chain.
//!
//! Format (version 1, frozen: changing a single byte breaks every stored
//! chain, see the golden test):
//!
//! * JSON text, UTF-8, no insignificant whitespace;
//! * object keys sorted by their UTF-8 bytes (this is *not* RFC 8785 / JCS,
//!   which sorts by UTF-16 code units; the two differ only for non-BMP keys);
//! * `None` fields (and `Some(Value::Null)` payloads) omitted, exactly as in
//!   the REST JSON;
//! * strings escaped like serde_json does: `\"`, `\\`, `\b`, `\f`, `\n`, `\r`,
//!   `\t`, other control characters below U+0020 as `\u00xx` (lowercase
//!   hex); everything else, including `/`, DEL and non-ASCII, verbatim;
//! * integers in plain decimal.
//!
//! Floats are never stored in entries: [`AuditEntry::validate`] refuses them
//! and [`super::chain::ChainHead::append`] calls it. If one sneaks into a JSON
//! payload anyway, `canonical_bytes` is still deterministic (serde_json's
//! shortest round-trip formatter writes it), but (a) that formatter changed
//! implementation between serde_json releases (ryu, then zmij), and (b)
//! serde_json's default parser (without the `float_roundtrip` feature) may
//! read a float back 1 ulp off (seen: `2.9392729881927726e-111`), so stored
//! text holding a float may not re-hash to its stored hash. Integers have
//! neither problem.
//!
//! The entry's own fields are written by hand in sorted order rather than via
//! `serde_json::to_value`: it is infallible, allocation-light and does not
//! depend on serde_json features. serde_json's `Map` is a `BTreeMap` with the
//! default features we use, so `to_value` would also sort keys, and the tests
//! check both paths agree; payload objects are re-sorted here anyway in case
//! another crate in the final binary turns on `preserve_order`.

use serde_json::{Map, Number, Value};

use super::entry::{Access, Actor, AuditEntry, Parent, Target, value_absent};

/// Error from [`canonical_from_json`].
#[derive(Debug, thiserror::Error)]
pub enum CanonicalError {
    /// The text is not the JSON of an audit entry.
    #[error("stored audit entry is not valid JSON of an entry: {0}")]
    Json(#[from] serde_json::Error),
}

/// The canonical bytes of `entry`; see the module docs for the format.
pub fn canonical_bytes(entry: &AuditEntry) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    write_entry(&mut out, entry);
    out
}

/// Like [`canonical_bytes`], but clears `out` and writes into it, so a
/// buffer can be reused across entries without allocating.
pub fn canonical_into(entry: &AuditEntry, out: &mut Vec<u8>) {
    out.clear();
    write_entry(out, entry);
}

/// Re-canonicalises stored JSON text of an entry.
///
/// Accepts the REST JSON of an [`AuditEntry`] or of a
/// [`super::entry::StoredEntry`] (`prevHash`/`hash` and any other unknown
/// keys are ignored; they are not part of the hashed entry, and dropping an
/// unknown key that *was* hashed shows up as a hash mismatch). Whitespace, key
/// order and `null` fields of the input do not matter.
pub fn canonical_from_json(s: &str) -> Result<Vec<u8>, CanonicalError> {
    let entry: AuditEntry = serde_json::from_str(s)?;
    Ok(canonical_bytes(&entry))
}

/// Canonical encoding of an arbitrary JSON value (same rules as entries).
pub fn canonical_value_bytes(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write_value(&mut out, value);
    out
}

/// Writes one JSON object; keys must be pushed in sorted order.
struct Obj<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
    #[cfg(debug_assertions)]
    last: &'static str,
}

impl<'a> Obj<'a> {
    fn begin(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        Obj {
            out,
            first: true,
            #[cfg(debug_assertions)]
            last: "",
        }
    }

    /// Writes `"key":` and returns the buffer for the value.
    fn key(&mut self, key: &'static str) -> &mut Vec<u8> {
        #[cfg(debug_assertions)]
        {
            debug_assert!(
                self.first || self.last < key,
                "canonical keys out of order: {key}"
            );
            self.last = key;
        }
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        write_str(self.out, key);
        self.out.push(b':');
        self.out
    }

    fn str(&mut self, key: &'static str, value: &str) {
        write_str(self.key(key), value);
    }

    fn opt_str(&mut self, key: &'static str, value: Option<&String>) {
        if let Some(v) = value {
            self.str(key, v);
        }
    }

    fn int(&mut self, key: &'static str, value: i64) {
        write_i64(self.key(key), value);
    }

    fn bool(&mut self, key: &'static str, value: bool) {
        self.key(key)
            .extend_from_slice(if value { b"true" } else { b"false" });
    }

    fn opt_value(&mut self, key: &'static str, value: &Option<Value>) {
        if let Some(v) = value
            && !value_absent(value)
        {
            write_value(self.key(key), v);
        }
    }

    fn end(self) {
        self.out.push(b'}');
    }
}

fn write_entry(out: &mut Vec<u8>, e: &AuditEntry) {
    // Keys in sorted (bytewise) order.
    let mut o = Obj::begin(out);
    write_array(o.key("accesses"), &e.accesses, write_access);
    write_actor(o.key("actor"), &e.actor);
    o.opt_str("approvalRequestId", e.approval_request_id.as_ref());
    o.opt_str("comment", e.comment.as_ref());
    o.opt_value("currentVersion", &e.current_version);
    o.int("date", e.date);
    o.opt_value("delta", &e.delta);
    o.str("description", &e.description);
    o.opt_str("environment", e.environment.as_ref());
    o.str("id", &e.id);
    o.str("kind", &e.kind);
    o.str("name", &e.name);
    if let Some(p) = &e.parent {
        write_parent(o.key("parent"), p);
    }
    o.opt_value("previousVersion", &e.previous_version);
    o.opt_str("requestId", e.request_id.as_ref());
    o.int("seq", e.seq);
    o.opt_str("sourceIp", e.source_ip.as_ref());
    if let Some(t) = &e.target {
        write_target(o.key("target"), t);
    }
    o.end();
}

fn write_access(out: &mut Vec<u8>, a: &Access) {
    let mut o = Obj::begin(out);
    o.str("action", &a.action);
    o.str("resource", &a.resource);
    o.end();
}

fn write_actor(out: &mut Vec<u8>, a: &Actor) {
    let mut o = Obj::begin(out);
    match a {
        Actor::Member { id, email } => {
            o.str("email", email);
            o.str("id", id);
            o.str("kind", "member");
        }
        Actor::Token {
            id,
            name,
            service_token,
            owner_id,
        } => {
            o.str("id", id);
            o.str("kind", "token");
            o.str("name", name);
            o.opt_str("ownerId", owner_id.as_ref());
            o.bool("serviceToken", *service_token);
        }
        Actor::App {
            id,
            name,
            is_scim,
            is_sso,
        } => {
            o.str("id", id);
            o.bool("isScim", *is_scim);
            o.bool("isSso", *is_sso);
            o.str("kind", "app");
            o.str("name", name);
        }
        Actor::System => o.str("kind", "system"),
    }
    o.end();
}

fn write_target(out: &mut Vec<u8>, t: &Target) {
    let mut o = Obj::begin(out);
    o.str("name", &t.name);
    write_array(o.key("resources"), &t.resources, |out, r| write_str(out, r));
    o.end();
}

fn write_parent(out: &mut Vec<u8>, p: &Parent) {
    let mut o = Obj::begin(out);
    o.str("name", &p.name);
    o.str("resource", &p.resource);
    o.end();
}

fn write_array<T>(out: &mut Vec<u8>, items: &[T], mut f: impl FnMut(&mut Vec<u8>, &T)) {
    out.push(b'[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        f(out, item);
    }
    out.push(b']');
}

fn write_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_str(out, s),
        Value::Array(items) => write_array(out, items, write_value),
        Value::Object(map) => write_object(out, map),
    }
}

fn write_object(out: &mut Vec<u8>, map: &Map<String, Value>) {
    out.push(b'{');
    let mut write_member = |i: usize, k: &str, v: &Value| {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, k);
        out.push(b':');
        write_value(out, v);
    };
    // With serde_json's default `BTreeMap` the keys are already sorted and no
    // allocation happens; sort defensively if `preserve_order` is on.
    if map.keys().is_sorted() {
        for (i, (k, v)) in map.iter().enumerate() {
            write_member(i, k, v);
        }
    } else {
        let mut members: Vec<(&String, &Value)> = map.iter().collect();
        members.sort_unstable_by(|a, b| a.0.cmp(b.0));
        for (i, (k, v)) in members.into_iter().enumerate() {
            write_member(i, k, v);
        }
    }
    out.push(b'}');
}

fn write_number(out: &mut Vec<u8>, n: &Number) {
    // Integers are written here in plain decimal, independent of serde_json's
    // `arbitrary_precision` feature (which would keep the source text).
    if let Some(i) = n.as_i64() {
        write_i64(out, i);
    } else if let Some(u) = n.as_u64() {
        write_u64(out, u);
    } else {
        // Float: never stored by Gatehouse; deterministic via serde_json.
        // Writing to a Vec cannot fail, and a `Number` is always finite.
        let _ = serde_json::to_writer(&mut *out, n);
    }
}

fn write_i64(out: &mut Vec<u8>, v: i64) {
    if v < 0 {
        out.push(b'-');
    }
    write_u64(out, v.unsigned_abs());
}

fn write_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut start = buf.len();
    for slot in buf.iter_mut().rev() {
        // `v % 10 < 10`, so the cast is lossless.
        *slot = b'0' + (v % 10) as u8;
        start -= 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(buf.get(start..).unwrap_or_default());
}

fn hex_digit(n: u8) -> u8 {
    if n < 10 { b'0' + n } else { b'a' + (n - 10) }
}

/// Writes a JSON string literal, escaping like serde_json.
fn write_str(out: &mut Vec<u8>, s: &str) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    // All escaped characters are ASCII, so working on bytes is UTF-8 safe;
    // runs of unescaped bytes are copied in one go.
    let bytes = s.as_bytes();
    if !bytes.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\') {
        // Fast path (the usual case): nothing to escape.
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    let mut run_start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x0c => b"\\f",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x00..=0x1f => &[
                b'\\',
                b'u',
                b'0',
                b'0',
                hex_digit(b >> 4),
                hex_digit(b & 0xf),
            ],
            _ => continue,
        };
        out.extend_from_slice(bytes.get(run_start..i).unwrap_or_default());
        out.extend_from_slice(esc);
        run_start = i + 1;
    }
    out.extend_from_slice(bytes.get(run_start..).unwrap_or_default());
    out.push(b'"');
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
pub(super) mod tests {
    use super::super::chain::{GENESIS, link};
    use super::*;
    use serde_json::json;

    /// The fixed entry of the golden test. Never change it.
    fn golden_entry() -> AuditEntry {
        AuditEntry {
            id: "01HZX3K9QF7M2V6T8N4R5B1C0D".into(),
            seq: 42,
            date: 1_717_171_717_171,
            accesses: vec![Access {
                action: "updateFlag".into(),
                resource: "proj/web:env/production:flag/new-checkout".into(),
            }],
            kind: "flag".into(),
            name: "new-checkout".into(),
            description: "Turned \"new-checkout\" on in production\n\u{e9}\u{1f680}\t\u{1}".into(),
            actor: Actor::Token {
                id: "tok_7".into(),
                name: "deploy-bot".into(),
                service_token: true,
                owner_id: None,
            },
            target: Some(Target {
                name: "new-checkout".into(),
                resources: vec!["proj/web:env/production:flag/new-checkout".into()],
            }),
            parent: Some(Parent {
                name: "Web".into(),
                resource: "proj/web".into(),
            }),
            environment: Some("production".into()),
            previous_version: Some(json!({"version": 3, "on": false, "rules": []})),
            current_version: Some(json!({"version": 4, "on": true, "rules": []})),
            delta: Some(json!({"on": {"old": false, "new": true}, "n": -12345678901i64})),
            comment: Some("INC-123 \\ rollout/step".into()),
            approval_request_id: None,
            request_id: Some("req-9f2".into()),
            source_ip: Some("203.0.113.7".into()),
        }
    }

    const GOLDEN: &str = concat!(
        r#"{"accesses":[{"action":"updateFlag","resource":"proj/web:env/production:flag/new-checkout"}],"#,
        r#""actor":{"id":"tok_7","kind":"token","name":"deploy-bot","serviceToken":true},"#,
        r#""comment":"INC-123 \\ rollout/step","#,
        r#""currentVersion":{"on":true,"rules":[],"version":4},"#,
        r#""date":1717171717171,"#,
        r#""delta":{"n":-12345678901,"on":{"new":true,"old":false}},"#,
        "\"description\":\"Turned \\\"new-checkout\\\" on in production\\n\u{e9}\u{1f680}\\t\\u0001\",",
        r#""environment":"production","id":"01HZX3K9QF7M2V6T8N4R5B1C0D","kind":"flag","name":"new-checkout","#,
        r#""parent":{"name":"Web","resource":"proj/web"},"#,
        r#""previousVersion":{"on":false,"rules":[],"version":3},"#,
        r#""requestId":"req-9f2","seq":42,"sourceIp":"203.0.113.7","#,
        r#""target":{"name":"new-checkout","resources":["proj/web:env/production:flag/new-checkout"]}}"#,
    );

    /// SHA-256(32 zero bytes || GOLDEN). Both GOLDEN and this hash were
    /// cross-checked independently with Python: `json.dumps(e, sort_keys=True,
    /// separators=(',', ':'), ensure_ascii=False)` and `hashlib.sha256`.
    const GOLDEN_HASH: &str = "c9ad6f449f23033fc893fffd4d0647188a4d8cd7cf3850defeecac4002719467";

    #[test]
    fn golden_bytes_and_hash() {
        let bytes = canonical_bytes(&golden_entry());
        assert_eq!(String::from_utf8(bytes.clone()).unwrap(), GOLDEN);
        assert_eq!(hex::encode(link(&GENESIS, &bytes)), GOLDEN_HASH);
    }

    /// serde_json's compact encoding of `e` with every object's keys sorted. Sorting here, not
    /// relying on serde_json's `Map`, keeps the reference independent of its `preserve_order`
    /// feature (which a dev-dependency turns on for test builds).
    pub(in crate::domain::audit) fn serde_sorted(e: &AuditEntry) -> Vec<u8> {
        fn sort(v: Value) -> Value {
            match v {
                Value::Object(map) => {
                    let mut pairs: Vec<(String, Value)> = map.into_iter().collect();
                    pairs.sort_by(|a, b| a.0.cmp(&b.0));
                    Value::Object(pairs.into_iter().map(|(k, v)| (k, sort(v))).collect())
                }
                Value::Array(items) => Value::Array(items.into_iter().map(sort).collect()),
                other => other,
            }
        }
        serde_json::to_vec(&sort(serde_json::to_value(e).unwrap())).unwrap()
    }

    #[test]
    fn matches_serde_json_of_to_value() {
        let e = golden_entry();
        assert_eq!(canonical_bytes(&e), serde_sorted(&e));
    }

    #[test]
    fn from_json_ignores_layout_and_nulls() {
        let e = golden_entry();
        let pretty = serde_json::to_string_pretty(&e).unwrap();
        assert_eq!(canonical_from_json(&pretty).unwrap(), GOLDEN.as_bytes());
        let mut v = serde_json::to_value(&e).unwrap();
        v["approvalRequestId"] = Value::Null;
        v["prevHash"] = json!("00");
        assert_eq!(
            canonical_from_json(&v.to_string()).unwrap(),
            GOLDEN.as_bytes()
        );
        assert!(canonical_from_json("{").is_err());
        assert!(canonical_from_json(r#"{"id":"x"}"#).is_err());
    }

    #[test]
    fn null_payload_is_absent() {
        let mut e = golden_entry();
        e.delta = Some(Value::Null);
        let mut f = golden_entry();
        f.delta = None;
        assert_eq!(canonical_bytes(&e), canonical_bytes(&f));
    }

    #[test]
    fn strings_escape_like_serde_json() {
        let all: String = (0u32..0x80)
            .filter_map(char::from_u32)
            .chain("é€😀/".chars())
            .collect();
        let mut out = Vec::new();
        write_str(&mut out, &all);
        assert_eq!(out, serde_json::to_vec(&all).unwrap());
    }

    #[test]
    fn numbers() {
        for n in [0i64, 1, -1, 9, 10, i64::MIN, i64::MAX] {
            assert_eq!(canonical_value_bytes(&json!(n)), n.to_string().as_bytes());
        }
        assert_eq!(
            canonical_value_bytes(&json!(u64::MAX)),
            u64::MAX.to_string().as_bytes()
        );
        let f = json!([0.1, 1e300, -0.0, 2.5]);
        assert_eq!(canonical_value_bytes(&f), serde_json::to_vec(&f).unwrap());
    }
}
