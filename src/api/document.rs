//! The OpenAPI document as served: what poem-openapi derives, plus facts about how it parses
//! request bodies that its derive does not write down, so that a client generated from
//! the document (or a tester such as schemathesis) sends what the server accepts, plus
//! examples (see `api::examples`).
//!
//! - Every request object refuses unknown fields (`deny_unknown_fields`): `additionalProperties: false`.
//! - An untagged union (`anyOf`) has no type of its own: its branches have theirs.
//! - An optional field given as `null` is taken as absent (it gets its default, if any): its
//!   schema is `nullable`.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use poem::web::Html;
use poem::{IntoResponse, Response, handler};
use serde_json::{Map, Value};

use super::openapi_service;

/// The served document, pretty-printed, built once: `GET /openapi.json`, `/docs`, the
/// request check (`api::strict_request`) and `gatehouse openapi` all read this one.
pub fn served() -> &'static str {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    DOCUMENT.get_or_init(|| refine(&openapi_service().spec()))
}

/// `GET /openapi.json`.
#[handler]
pub fn serve_document() -> Response {
    served()
        .to_owned()
        .with_content_type("application/json; charset=utf-8")
        .into_response()
}

/// `GET /docs`: Swagger UI over the served document rather than the derived one.
#[handler]
pub fn serve_docs() -> Html<String> {
    static PAGE: OnceLock<String> = OnceLock::new();
    Html(
        PAGE.get_or_init(|| {
            let api = openapi_service();
            api.swagger_ui_html().replacen(&api.spec(), served(), 1)
        })
        .clone(),
    )
}

/// Applies the request-body facts and the examples to a derived document. A document that
/// does not parse is returned unchanged (it cannot happen: poem-openapi wrote it).
pub fn refine(spec: &str) -> String {
    let Ok(mut doc) = serde_json::from_str::<Value>(spec) else {
        return spec.to_owned();
    };
    let names = request_schema_names(&doc);
    if let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        for name in &names {
            if let Some(schema) = schemas.get_mut(name).and_then(Value::as_object_mut) {
                refine_request_object(schema);
            }
        }
        for schema in schemas.values_mut().filter_map(Value::as_object_mut) {
            untype_union(schema);
        }
    }
    super::examples::add_examples(&mut doc);
    serde_json::to_string_pretty(&doc).unwrap_or_else(|_| spec.to_owned())
}

/// poem-openapi writes an untagged union as `{"type": "object", "anyOf": [...]}` even when a
/// branch is a string or a number; the branches carry their own types, so the outer one goes.
fn untype_union(schema: &mut Map<String, Value>) {
    if schema.contains_key("anyOf") && schema.get("type") == Some(&Value::from("object")) {
        schema.remove("type");
    }
}

/// The component schemas a request body can hold, directly or nested.
fn request_schema_names(doc: &Value) -> BTreeSet<String> {
    let mut pending = Vec::new();
    for item in objects(doc.get("paths")) {
        for operation in objects(Some(item)) {
            for media in objects(operation.pointer("/requestBody/content")) {
                if let Some(schema) = media.get("schema") {
                    collect_refs(schema, &mut pending);
                }
            }
        }
    }
    let schemas = doc.pointer("/components/schemas");
    let mut seen = BTreeSet::new();
    while let Some(name) = pending.pop() {
        let schema = schemas.and_then(|s| s.get(&name));
        if seen.insert(name)
            && let Some(schema) = schema
        {
            collect_refs(schema, &mut pending);
        }
    }
    seen
}

/// The values of a JSON object, none for anything else.
fn objects(value: Option<&Value>) -> impl Iterator<Item = &Value> {
    value
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(Map::values)
}

/// Names of the component schemas `schema` refers to anywhere inside it.
fn collect_refs(schema: &Value, out: &mut Vec<String>) {
    match schema {
        Value::Object(map) => {
            if let Some(name) = map
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/components/schemas/"))
            {
                out.push(name.to_owned());
            }
            map.values().for_each(|v| collect_refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

/// Closes a request object and marks its optional properties nullable.
fn refine_request_object(schema: &mut Map<String, Value>) {
    let required: BTreeSet<String> = schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect();
    let Some(Value::Object(properties)) = schema.get_mut("properties") else {
        return;
    };
    for (name, property) in properties.iter_mut() {
        // Fields with a default too: null is taken for the default.
        if !required.contains(name) {
            make_nullable(property);
        }
    }
    schema
        .entry("additionalProperties")
        .or_insert(Value::Bool(false));
}

/// OpenAPI 3.0 ignores siblings of `$ref`, so a bare reference is wrapped in `allOf` first.
fn make_nullable(property: &mut Value) {
    let Value::Object(map) = property else {
        return;
    };
    if map.len() == 1
        && let Some(reference) = map.remove("$ref")
    {
        let mut inner = Map::new();
        inner.insert("$ref".to_owned(), reference);
        map.insert("allOf".to_owned(), Value::Array(vec![Value::Object(inner)]));
    }
    // A generated client cannot hold a nullable map with a map default (openapi-python-client
    // drops the whole schema); absent, null and `{}` mean the same there anyway.
    if map.get("default").is_some_and(Value::is_object) {
        map.remove("default");
    }
    map.insert("nullable".to_owned(), Value::Bool(true));
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn request_objects_are_closed_and_their_optional_fields_nullable() {
        let spec = json!({
            "paths": {"/things": {"post": {
                "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/ThingPost"}}}},
                "responses": {"200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}}}
            }}},
            "components": {"schemas": {
                "ThingPost": {"type": "object", "required": ["key"], "properties": {
                    "key": {"type": "string"},
                    "note": {"type": "string"},
                    "part": {"$ref": "#/components/schemas/Part"}
                }},
                "Part": {"type": "object", "properties": {"size": {"type": "integer"}}},
                "Thing": {"type": "object", "properties": {"note": {"type": "string"}}}
            }}
        });
        let refined: Value = serde_json::from_str(&refine(&spec.to_string())).unwrap();
        let schemas = &refined["components"]["schemas"];
        assert_eq!(schemas["ThingPost"]["additionalProperties"], json!(false));
        assert_eq!(
            schemas["ThingPost"]["properties"]["key"],
            json!({"type": "string"})
        );
        assert_eq!(
            schemas["ThingPost"]["properties"]["note"],
            json!({"type": "string", "nullable": true})
        );
        assert_eq!(
            schemas["ThingPost"]["properties"]["part"],
            json!({"allOf": [{"$ref": "#/components/schemas/Part"}], "nullable": true})
        );
        assert_eq!(schemas["Part"]["additionalProperties"], json!(false));
        assert_eq!(schemas["Thing"], spec["components"]["schemas"]["Thing"]);
    }
}
