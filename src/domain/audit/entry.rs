//! The audit entry model.
//!
//! The serde representation of [`AuditEntry`] (camelCase, `None` fields
//! omitted) is also the REST JSON of an entry. [`StoredEntry`] is an entry as
//! persisted in the chain: the same JSON plus `prevHash` and `hash` as
//! lowercase hex.
//!
//! Floats are never stored in entries: every numeric field is an `i64`, and
//! the free-form JSON payloads (`previousVersion`, `currentVersion`, `delta`)
//! must carry integers only. [`AuditEntry::validate`] rejects floats; the
//! canonical encoding stays deterministic even if one sneaks in, but its text
//! form is then only as stable as serde_json's float formatter.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One permission check that the audited change required.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Access {
    /// The action, e.g. `"updateFlag"`.
    pub action: String,
    /// The resource string the action was checked against.
    pub resource: String,
}

/// Who made the change.
///
/// Serialized with an internal `kind` tag:
/// `{"kind":"member","id":..,"email":..}`,
/// `{"kind":"token","id":..,"name":..,"serviceToken":bool,"ownerId"?:..}`,
/// `{"kind":"app","id":..,"name":..,"isScim":bool,"isSso":bool}` or
/// `{"kind":"system"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Actor {
    /// A human member of the organisation.
    #[serde(rename_all = "camelCase")]
    Member {
        /// Member id.
        id: String,
        /// Member e-mail at the time of the change.
        email: String,
    },
    /// An API access token (personal or service).
    #[serde(rename_all = "camelCase")]
    Token {
        /// Token id.
        id: String,
        /// Token display name.
        name: String,
        /// `true` for a service token, `false` for a personal one.
        service_token: bool,
        /// The member owning a personal token, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        owner_id: Option<String>,
    },
    /// An integration (SCIM provisioning, SSO, ...).
    #[serde(rename_all = "camelCase")]
    App {
        /// Application id.
        id: String,
        /// Application name.
        name: String,
        /// The change came through SCIM provisioning.
        is_scim: bool,
        /// The change came through SSO.
        is_sso: bool,
    },
    /// Gatehouse itself (scheduled changes, migrations, ...).
    System,
}

impl Actor {
    /// The actor's id, `None` for [`Actor::System`].
    pub fn id(&self) -> Option<&str> {
        match self {
            Actor::Member { id, .. } | Actor::Token { id, .. } | Actor::App { id, .. } => {
                Some(id.as_str())
            }
            Actor::System => None,
        }
    }

    /// The serialized `kind` tag: `"member"`, `"token"`, `"app"` or `"system"`.
    pub fn kind_str(&self) -> &'static str {
        match self {
            Actor::Member { .. } => "member",
            Actor::Token { .. } => "token",
            Actor::App { .. } => "app",
            Actor::System => "system",
        }
    }
}

/// The resource(s) a change was applied to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    /// Display name of the target.
    pub name: String,
    /// Resource strings of the target.
    pub resources: Vec<String>,
}

/// The parent resource of the target (e.g. the project of a flag).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Parent {
    /// Display name of the parent.
    pub name: String,
    /// Resource string of the parent.
    pub resource: String,
}

/// `true` when an optional JSON payload is absent.
///
/// `Some(Value::Null)` counts as absent: JSON `null` reads back as `None`, so
/// writing it would make the stored text hash differently from the value it
/// was built from.
pub(super) fn value_absent(v: &Option<Value>) -> bool {
    matches!(v, None | Some(Value::Null))
}

/// One audit log entry (also its REST JSON, camelCase, `None` omitted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// Opaque unique id.
    pub id: String,
    /// Position in the chain, starting at 1, no gaps.
    pub seq: i64,
    /// When the change happened, epoch milliseconds (passed in, never read
    /// from a clock here).
    pub date: i64,
    /// Permission checks the change required.
    pub accesses: Vec<Access>,
    /// Kind of resource changed: `"flag"`, `"project"`, `"environment"`,
    /// `"member"`, `"team"`, `"role"`, `"token"`, `"variable"`, ...
    pub kind: String,
    /// Display name of the changed resource.
    pub name: String,
    /// Human readable description of the change.
    pub description: String,
    /// Who made the change.
    pub actor: Actor,
    /// The resource(s) changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
    /// The parent resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<Parent>,
    /// Key of the environment the change touched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// The resource before the change (integers only, no floats).
    #[serde(default, skip_serializing_if = "value_absent")]
    pub previous_version: Option<Value>,
    /// The resource after the change (integers only, no floats).
    #[serde(default, skip_serializing_if = "value_absent")]
    pub current_version: Option<Value>,
    /// Structured difference (integers only, no floats).
    #[serde(default, skip_serializing_if = "value_absent")]
    pub delta: Option<Value>,
    /// Free text comment supplied with the change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Approval request that authorised the change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_request_id: Option<String>,
    /// Request id for correlation with service logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Client IP address as seen by the service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<String>,
}

/// Why an entry is not fit to be appended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    /// A JSON payload contains a floating point number.
    #[error(
        "audit entry field `{field}` contains a floating point number; entries store integers only"
    )]
    FloatInValue {
        /// camelCase name of the offending field.
        field: &'static str,
    },
}

fn contains_float(v: &Value) -> bool {
    match v {
        Value::Number(n) => !(n.is_i64() || n.is_u64()),
        Value::Array(items) => items.iter().any(contains_float),
        Value::Object(map) => map.values().any(contains_float),
        Value::Null | Value::Bool(_) | Value::String(_) => false,
    }
}

impl AuditEntry {
    /// Checks the "integers only" rule on the free-form JSON payloads.
    ///
    /// Call this before appending; the canonical encoding does not need it to
    /// be deterministic, but floats make the stored text depend on
    /// serde_json's float formatter, which has changed between releases.
    pub fn validate(&self) -> Result<(), EntryError> {
        let payloads = [
            ("previousVersion", &self.previous_version),
            ("currentVersion", &self.current_version),
            ("delta", &self.delta),
        ];
        for (field, value) in payloads {
            if value.as_ref().is_some_and(contains_float) {
                return Err(EntryError::FloatInValue { field });
            }
        }
        Ok(())
    }
}

/// Serde helper: `[u8; 32]` as 64 hex digits (lowercase on output, either
/// case accepted on input).
pub(super) mod hex32 {
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    /// Serialize as lowercase hex.
    pub fn serialize<S: Serializer>(bytes: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(bytes))
    }

    /// Deserialize from exactly 64 hex digits.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        let mut out = [0u8; 32];
        hex::decode_to_slice(text.as_bytes(), &mut out).map_err(D::Error::custom)?;
        Ok(out)
    }
}

/// An entry as persisted in the chain.
///
/// JSON: every [`AuditEntry`] field plus `prevHash` and `hash` (lowercase
/// hex). `hash = SHA-256(prevHash || canonical_bytes(entry))`, see
/// [`super::chain::link`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredEntry {
    /// The entry itself.
    #[serde(flatten)]
    pub entry: AuditEntry,
    /// Hash of the previous entry ([`super::chain::GENESIS`] for seq 1).
    #[serde(with = "hex32")]
    pub prev_hash: [u8; 32],
    /// Hash of this entry.
    #[serde(with = "hex32")]
    pub hash: [u8; 32],
}

#[cfg(test)]
impl AuditEntry {
    /// A system's change of `kind` with these `(action, resource)` accesses and every optional
    /// field empty: the entry tests of what is derived from an entry start from.
    pub(crate) fn for_test(kind: &str, accesses: &[(&str, &str)]) -> AuditEntry {
        AuditEntry {
            id: "e".into(),
            seq: 1,
            date: 0,
            accesses: accesses
                .iter()
                .map(|(action, resource)| Access {
                    action: (*action).into(),
                    resource: (*resource).into(),
                })
                .collect(),
            kind: kind.into(),
            name: "n".into(),
            description: "d".into(),
            actor: Actor::System,
            target: None,
            parent: None,
            environment: None,
            previous_version: None,
            current_version: None,
            delta: None,
            comment: None,
            approval_request_id: None,
            request_id: None,
            source_ip: None,
        }
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests {
    use super::*;
    use serde_json::json;

    fn member() -> Actor {
        Actor::Member {
            id: "m1".into(),
            email: "a@b.c".into(),
        }
    }

    #[test]
    fn actor_json_shapes() {
        assert_eq!(
            serde_json::to_value(member()).unwrap(),
            json!({"kind":"member","id":"m1","email":"a@b.c"})
        );
        let tok = Actor::Token {
            id: "t1".into(),
            name: "ci".into(),
            service_token: true,
            owner_id: None,
        };
        assert_eq!(
            serde_json::to_value(&tok).unwrap(),
            json!({"kind":"token","id":"t1","name":"ci","serviceToken":true})
        );
        let tok2 = Actor::Token {
            id: "t2".into(),
            name: "me".into(),
            service_token: false,
            owner_id: Some("m1".into()),
        };
        assert_eq!(
            serde_json::to_value(&tok2).unwrap(),
            json!({"kind":"token","id":"t2","name":"me","serviceToken":false,"ownerId":"m1"})
        );
        let app = Actor::App {
            id: "a1".into(),
            name: "okta".into(),
            is_scim: true,
            is_sso: false,
        };
        assert_eq!(
            serde_json::to_value(&app).unwrap(),
            json!({"kind":"app","id":"a1","name":"okta","isScim":true,"isSso":false})
        );
        assert_eq!(
            serde_json::to_value(Actor::System).unwrap(),
            json!({"kind":"system"})
        );
        for a in [member(), tok, tok2, app, Actor::System] {
            let back: Actor = serde_json::from_value(serde_json::to_value(&a).unwrap()).unwrap();
            assert_eq!(back, a);
        }
    }

    #[test]
    fn actor_accessors() {
        assert_eq!(member().id(), Some("m1"));
        assert_eq!(member().kind_str(), "member");
        assert_eq!(Actor::System.id(), None);
        assert_eq!(Actor::System.kind_str(), "system");
    }

    fn entry() -> AuditEntry {
        AuditEntry {
            id: "e1".into(),
            date: 1_700_000_000_000,
            previous_version: Some(Value::Null),
            delta: Some(json!({"on": true})),
            request_id: Some("r".into()),
            ..AuditEntry::for_test("flag", &[])
        }
    }

    #[test]
    fn entry_json_omits_none_and_null() {
        let v = serde_json::to_value(entry()).unwrap();
        let obj = v.as_object().unwrap();
        assert!(!obj.contains_key("previousVersion"));
        assert!(!obj.contains_key("target"));
        assert_eq!(obj["requestId"], json!("r"));
        assert_eq!(obj["delta"], json!({"on": true}));
    }

    #[test]
    fn stored_entry_json_has_hex_hashes() {
        let s = StoredEntry {
            entry: entry(),
            prev_hash: [0; 32],
            hash: [0xab; 32],
        };
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["prevHash"], json!("0".repeat(64)));
        assert_eq!(v["hash"], json!("ab".repeat(32)));
        assert_eq!(v["id"], json!("e1"));
        let back: StoredEntry = serde_json::from_value(v).unwrap();
        assert_eq!(back.hash, s.hash);
        assert_eq!(back.entry.delta, s.entry.delta);
        assert_eq!(back.entry.previous_version, None);
        let bad = r#"{"id":"e1","seq":1,"date":0,"accesses":[],"kind":"k","name":"n",
            "description":"d","actor":{"kind":"system"},"prevHash":"00","hash":"00"}"#;
        assert!(serde_json::from_str::<StoredEntry>(bad).is_err());
    }

    #[test]
    fn validate_rejects_floats() {
        assert!(entry().validate().is_ok());
        let mut e = entry();
        e.current_version = Some(json!({"a": [1, 2, {"b": 1.5}]}));
        assert_eq!(
            e.validate(),
            Err(EntryError::FloatInValue {
                field: "currentVersion"
            })
        );
    }
}
