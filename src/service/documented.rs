//! Request values whose OpenAPI schema is written down exactly but which the domain parses:
//! the document tells a client what to send, and the domain's parser stays the one judge of
//! it, so its error messages (which name the item, `policy[2]`, `instructions[0]`) hold.
//!
//! Semantic-patch instructions are documented from a table of their kinds
//! ([`InstructionKinds`]): one component per kind, gathered in a `oneOf` discriminated by
//! `kind`. `testing` checks a table against the serde parser that reads the instructions.

use std::borrow::Cow;
use std::marker::PhantomData;

use poem_openapi::registry::{MetaDiscriminatorObject, MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::{ParseFromJSON, ParseResult, ToJSON, Type};
use serde::Serialize;
use serde_json::Value;

/// The parts of poem-openapi's `Type` that every request value type here writes alike: the
/// value is required where it stands (`Option` says otherwise) and is its own raw value.
macro_rules! value_type_basics {
    () => {
        const IS_REQUIRED: bool = true;
        type RawValueType = Self;
        type RawElementValueType = Self;

        fn as_raw_value(&self) -> Option<&Self::RawValueType> {
            Some(self)
        }

        fn raw_element_iter<'a>(
            &'a self,
        ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
            Box::new(self.as_raw_value().into_iter())
        }
    };
}
pub(crate) use value_type_basics;

/// A JSON value documented as `S` and taken as it comes; the service hands it to the domain.
#[derive(Serialize)]
#[serde(transparent)]
pub struct Documented<S> {
    /// The value as sent.
    pub value: Value,
    #[serde(skip)]
    shape: PhantomData<fn() -> S>,
}

impl<S> Documented<S> {
    /// Wraps a value.
    pub fn new(value: Value) -> Self {
        Documented {
            value,
            shape: PhantomData,
        }
    }

    /// The values of a list, as the domain takes them.
    pub fn values(items: &[Self]) -> Vec<Value> {
        items.iter().map(|item| item.value.clone()).collect()
    }
}

// Written out rather than derived: a derive would ask `S` for the same traits.
impl<S> Clone for Documented<S> {
    fn clone(&self) -> Self {
        Documented::new(self.value.clone())
    }
}

impl<S> std::fmt::Debug for Documented<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.value.fmt(f)
    }
}

impl<S: Type> Type for Documented<S> {
    value_type_basics!();

    fn name() -> Cow<'static, str> {
        S::name()
    }

    fn schema_ref() -> MetaSchemaRef {
        S::schema_ref()
    }

    fn register(registry: &mut Registry) {
        S::register(registry);
    }
}

impl<S: Type> ParseFromJSON for Documented<S> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        Ok(Documented::new(value.unwrap_or_default()))
    }
}

impl<S: Type> ToJSON for Documented<S> {
    fn to_json(&self) -> Option<Value> {
        Some(self.value.clone())
    }
}

/// One parameter of an instruction kind: its name, its schema, and whether it is required.
pub type ParamDoc = (&'static str, fn() -> MetaSchemaRef, bool);

/// One instruction kind as the document shows it.
pub struct KindDoc {
    /// The `kind` value.
    pub kind: &'static str,
    /// What it does.
    pub description: &'static str,
    /// Its parameters besides `kind`.
    pub params: &'static [ParamDoc],
}

/// A family of instructions: the union's name, and its kinds in groups, each group's
/// components named by its prefix and the kind (`FlagInstruction` + `TurnFlagOn`).
pub trait InstructionKinds: Send + Sync + 'static {
    /// The union's component name.
    const NAME: &'static str;
    /// The union's description.
    const DESCRIPTION: &'static str;
    /// `(component prefix, kinds)`.
    const GROUPS: &'static [(&'static str, &'static [KindDoc])];

    /// Registers the components the parameters refer to.
    fn register_parameters(_registry: &mut Registry) {}
}

/// Documents an instruction union; never holds a value (requests hold a [`Documented`]).
pub struct InstructionUnion<K>(PhantomData<fn() -> K>);

impl KindDoc {
    /// The component name: the prefix and the kind in upper camel case.
    pub fn schema_name(&self, prefix: &str) -> String {
        let mut chars = self.kind.chars();
        let first = chars.next().map(|c| c.to_ascii_uppercase().to_string());
        format!("{prefix}{}{}", first.unwrap_or_default(), chars.as_str())
    }

    fn schema(&self) -> MetaSchema {
        let kind = MetaSchema {
            enum_items: vec![Value::from(self.kind)],
            ..MetaSchema::new("string")
        };
        let mut required = vec!["kind"];
        let mut properties = vec![("kind", MetaSchemaRef::Inline(Box::new(kind)))];
        for &(name, schema, is_required) in self.params {
            if is_required {
                required.push(name);
            }
            properties.push((name, schema()));
        }
        MetaSchema {
            description: Some(self.description),
            required,
            properties,
            ..MetaSchema::new("object")
        }
    }
}

impl<K: InstructionKinds> Type for InstructionUnion<K> {
    value_type_basics!();

    fn name() -> Cow<'static, str> {
        K::NAME.into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Reference(K::NAME.to_owned())
    }

    fn register(registry: &mut Registry) {
        registry.create_schema::<Self, _>(K::NAME.to_owned(), |registry| {
            K::register_parameters(registry);
            let mut one_of = Vec::new();
            let mut mapping = Vec::new();
            for &(prefix, kinds) in K::GROUPS {
                for kind in kinds {
                    let name = kind.schema_name(prefix);
                    registry.schemas.insert(name.clone(), kind.schema());
                    mapping.push((kind.kind.to_owned(), format!("#/components/schemas/{name}")));
                    one_of.push(MetaSchemaRef::Reference(name));
                }
            }
            let discriminator = MetaDiscriminatorObject {
                property_name: "kind",
                mapping,
            };
            MetaSchema {
                description: Some(K::DESCRIPTION),
                one_of,
                discriminator: Some(discriminator),
                ..MetaSchema::ANY
            }
        });
    }
}

/// Checks for an instruction table against the parser that reads the instructions.
#[cfg(test)]
pub mod testing {
    use std::collections::BTreeSet;

    use serde::de::DeserializeOwned;
    use serde_json::{Map, Value, json};

    use super::*;

    /// The names serde lists after `expected` in its error for `probe`: the variants or
    /// fields the parser knows. Empty when it knows none ("there are no fields").
    pub fn known_to_serde<T: DeserializeOwned>(probe: Value) -> BTreeSet<String> {
        let Err(e) = serde_json::from_value::<T>(probe) else {
            panic!("the probe parsed");
        };
        let message = e.to_string();
        let Some((_, expected)) = message.split_once("expected") else {
            assert!(message.contains("there are no fields"), "{message}");
            return BTreeSet::new();
        };
        expected
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect()
    }

    /// A small value the schema allows, following references through `registry`.
    pub fn sample(registry: &Registry, schema: &MetaSchemaRef) -> Value {
        let schema = match schema {
            MetaSchemaRef::Inline(schema) => schema,
            MetaSchemaRef::Reference(name) => &registry.schemas[name],
        };
        if let Some(first) = schema.enum_items.first() {
            return first.clone();
        }
        match schema.ty {
            "integer" => json!(0),
            "boolean" => json!(false),
            "string" => json!("x"),
            "array" => Value::Array(schema.items.iter().map(|i| sample(registry, i)).collect()),
            "object" if schema.properties.is_empty() => {
                let value = schema.additional_properties.as_ref();
                let mut map = Map::new();
                map.extend(value.map(|v| ("0".to_owned(), sample(registry, v))));
                Value::Object(map)
            }
            _ => {
                let required = schema
                    .properties
                    .iter()
                    .filter(|(n, _)| schema.required.contains(n));
                let fields = required.map(|(n, s)| ((*n).to_owned(), sample(registry, s)));
                Value::Object(fields.collect())
            }
        }
    }

    /// An instruction of `kind` with its required parameters, or with all of them.
    fn instance(registry: &Registry, kind: &KindDoc, all: bool) -> Map<String, Value> {
        let mut object = Map::new();
        object.insert("kind".to_owned(), json!(kind.kind));
        for &(name, schema, required) in kind.params {
            if required || all {
                object.insert(name.to_owned(), sample(registry, &schema()));
            }
        }
        object
    }

    /// Every kind `T` parses is in `kinds` with the same parameters; an instruction built
    /// from the document parses, leaving out a parameter fails exactly when it is required,
    /// and an optional one may be `null`.
    pub fn check_kinds<T: DeserializeOwned>(registry: &Registry, kinds: &[KindDoc]) {
        let parsed = known_to_serde::<T>(json!({"kind": "\u{0}"}));
        let documented: BTreeSet<String> = kinds.iter().map(|k| k.kind.to_owned()).collect();
        assert_eq!(documented, parsed);
        for kind in kinds {
            let params = known_to_serde::<T>(json!({"kind": kind.kind, "\u{0}": 0}));
            let names = kind.params.iter().map(|(name, _, _)| (*name).to_owned());
            assert_eq!(names.collect::<BTreeSet<_>>(), params, "{}", kind.kind);
            for all in [false, true] {
                let object = Value::Object(instance(registry, kind, all));
                assert!(
                    serde_json::from_value::<T>(object.clone()).is_ok(),
                    "{object}"
                );
            }
            for &(name, _, required) in kind.params {
                let mut object = instance(registry, kind, true);
                object.remove(name);
                let parsed = serde_json::from_value::<T>(Value::Object(object.clone()));
                assert_eq!(parsed.is_err(), required, "{}.{name}", kind.kind);
                // The served document marks every optional parameter nullable.
                if !required {
                    object.insert(name.to_owned(), Value::Null);
                    let parsed = serde_json::from_value::<T>(Value::Object(object));
                    assert!(parsed.is_ok(), "{}.{name}: null", kind.kind);
                }
            }
        }
    }
}
