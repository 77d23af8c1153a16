//! How the request values the domain parses treat `null`: like the REST edge's own bodies,
//! an optional field given as `null` is taken as absent, so it gets its default.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// Reads an optional field with a default, taking `null` for the default
/// (`#[serde(default, deserialize_with = "null_as_default")]`).
pub fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// An object with its `null` fields left out, for types whose defaults are functions
/// (`#[serde(default = "...")]`), which `null_as_default` cannot name. Other values as they are.
pub fn without_nulls(value: &Value) -> Value {
    match value {
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Deserialize, Debug, PartialEq)]
    struct Shape {
        #[serde(default, deserialize_with = "null_as_default")]
        flag: bool,
    }

    #[test]
    fn null_and_absence_give_the_default_and_a_value_stays() {
        let parse = |v| serde_json::from_value::<Shape>(v).unwrap();
        assert_eq!(parse(json!({"flag": null})), Shape { flag: false });
        assert_eq!(parse(json!({})), Shape { flag: false });
        assert_eq!(parse(json!({"flag": true})), Shape { flag: true });
        assert!(serde_json::from_value::<Shape>(json!({"flag": 1})).is_err());
    }

    #[test]
    fn only_an_object_s_own_null_fields_are_left_out() {
        assert_eq!(
            without_nulls(&json!({"a": null, "b": 1, "c": {"d": null}})),
            json!({"b": 1, "c": {"d": null}})
        );
        assert_eq!(without_nulls(&json!([null])), json!([null]));
    }
}
