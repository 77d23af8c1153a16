//! Examples in the served document, so that Swagger UI at `/docs` shows, next to each
//! operation's permission, what an admin sends, what comes back and what the errors look like.
//!
//! - `examples.json` holds, by `operationId`, the JSON body of the request (for operations that
//!   take one) and of the success response (none for a 204). They were answered by a real server
//!   walking one story: project `shop` with environments `test` and `production`, flag
//!   `checkout`, team `platform`, custom role `viewer`, member `ada@example.test`.
//! - Every error status gets one example from a table by status, with the `code` and a
//!   `message` the server really answers.
//!
//! The tests hold every example to its schema in the served document, and
//! `scripts/api-conformance` (its `examples` phase) sends the request examples to a real server.

use serde_json::{Map, Value, json};

/// `{"<operationId>": {"request"?: <body>, "response"?: <body>}}`.
const EXAMPLES: &str = include_str!("examples.json");

/// Puts the examples into a derived document: request examples into the JSON request body,
/// response examples into every success status with a body, and the error table's example into
/// every error status.
pub(super) fn add_examples(doc: &mut Value) {
    // The file is ours and a test parses it; a broken one would only leave the examples out.
    let examples = match serde_json::from_str::<Value>(EXAMPLES) {
        Ok(Value::Object(examples)) => examples,
        _ => Map::new(),
    };
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for item in paths.values_mut().filter_map(Value::as_object_mut) {
        for operation in item.values_mut() {
            add_to_operation(operation, &examples);
        }
    }
}

fn add_to_operation(operation: &mut Value, examples: &Map<String, Value>) {
    let own = operation
        .get("operationId")
        .and_then(Value::as_str)
        .and_then(|id| examples.get(id))
        .cloned()
        .unwrap_or(Value::Null);
    if let Some(request) = own.get("request") {
        for (media_type, media) in media_types(operation.pointer_mut("/requestBody/content")) {
            if media_type.contains("json") {
                set_example(media, request);
            }
        }
    }
    let Some(responses) = operation
        .get_mut("responses")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for (status, response) in responses.iter_mut() {
        let example = if status.starts_with('2') {
            own.get("response").cloned()
        } else {
            error_example(status)
        };
        if let Some(example) = example {
            for (_, media) in media_types(response.get_mut("content")) {
                set_example(media, &example);
            }
        }
    }
}

/// The media-type objects of a `content` map.
fn media_types(content: Option<&mut Value>) -> impl Iterator<Item = (&String, &mut Value)> {
    content
        .and_then(Value::as_object_mut)
        .into_iter()
        .flat_map(|c| c.iter_mut())
}

fn set_example(media: &mut Value, example: &Value) {
    if let Value::Object(media) = media {
        media.insert("example".to_owned(), example.clone());
    }
}

/// What the server answers with each error status, as `api::error` renders it.
fn error_example(status: &str) -> Option<Value> {
    let (code, message) = match status {
        "400" => (
            "invalid_request",
            "policy[0].actions[0]: `viewProjects` matches no known action (action names are case-sensitive)",
        ),
        "401" => (
            "unauthorized",
            "missing or invalid credentials: send `Authorization: <token>` or sign in through SSO",
        ),
        "403" => (
            "forbidden",
            "not allowed to updateOn on proj/shop:env/production;{critical:true}:flag/checkout",
        ),
        "404" => (
            "not_found",
            "flag \"checkout\" in project \"shop\" not found",
        ),
        "409" => (
            "conflict",
            "flag is at version 3, the request was made against version 2",
        ),
        "412" => (
            "precondition_failed",
            "the resource no longer matches the request's precondition",
        ),
        "413" => (
            "payload_too_large",
            "request body is larger than 1048576 bytes",
        ),
        "415" => (
            "unsupported_media_type",
            "the `Content-Type` requested by the client is not supported: text/plain",
        ),
        "422" => (
            "approval_required",
            "flags in environment production require approval: this change needs an approved approval request. \
             Create one with POST /api/v2/approval-requests {\"resourceId\": \"proj/shop:env/production:flag/checkout\", \
             \"description\": \"...\", \"instructions\": [...]}",
        ),
        "429" => (
            "rate_limited",
            "more requests are in flight than can be served in time; retry after the delay Retry-After gives",
        ),
        "500" => (
            "internal",
            "internal error; see the server log for the request id",
        ),
        _ => return None,
    };
    Some(json!({"code": code, "message": message}))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::api::document;

    fn served() -> Value {
        serde_json::from_str(document::served()).unwrap()
    }

    fn examples() -> Map<String, Value> {
        match serde_json::from_str(EXAMPLES).unwrap() {
            Value::Object(map) => map,
            other => panic!("examples.json is not an object: {other}"),
        }
    }

    /// `(operationId, operation)` for every operation of the document.
    fn operations(doc: &Value) -> Vec<(String, &Value)> {
        let mut out = Vec::new();
        for item in doc["paths"].as_object().unwrap().values() {
            for operation in item.as_object().unwrap().values() {
                let id = operation["operationId"].as_str().unwrap().to_owned();
                out.push((id, operation));
            }
        }
        out
    }

    fn json_request_media(operation: &Value) -> Vec<&Value> {
        operation
            .pointer("/requestBody/content")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter(|(media_type, _)| media_type.contains("json"))
            .map(|(_, media)| media)
            .collect()
    }

    /// Every media type of every success status that has a body.
    fn success_media(operation: &Value) -> Vec<(String, &Value)> {
        let mut out = Vec::new();
        for (status, response) in operation["responses"].as_object().unwrap() {
            if !status.starts_with('2') {
                continue;
            }
            for media in response
                .get("content")
                .and_then(Value::as_object)
                .into_iter()
                .flat_map(|c| c.values())
            {
                out.push((status.clone(), media));
            }
        }
        out
    }

    #[test]
    fn every_operation_has_its_examples() {
        let doc = served();
        let examples = examples();
        let mut missing = Vec::new();
        for (id, operation) in operations(&doc) {
            let own = examples.get(&id);
            let has = |part: &str| own.and_then(|o| o.get(part)).is_some();
            if !json_request_media(operation).is_empty() && !has("request") {
                missing.push(format!("{id}: request"));
            }
            if !success_media(operation).is_empty() && !has("response") {
                missing.push(format!("{id}: response"));
            }
        }
        assert!(missing.is_empty(), "examples missing: {missing:?}");
    }

    #[test]
    fn examples_name_only_known_operations_and_parts() {
        let doc = served();
        let examples = examples();
        let known: BTreeSet<String> = operations(&doc).into_iter().map(|(id, _)| id).collect();
        for (id, parts) in &examples {
            assert!(
                known.contains(id),
                "examples.json names unknown operation {id}"
            );
            for part in parts.as_object().unwrap().keys() {
                assert!(
                    part == "request" || part == "response",
                    "{id}: unknown part {part}"
                );
            }
        }
        // An example for a part the operation does not have would never be shown.
        for (id, operation) in operations(&doc) {
            let Some(own) = examples.get(&id) else {
                continue;
            };
            if own.get("request").is_some() {
                assert!(
                    !json_request_media(operation).is_empty(),
                    "{id} takes no JSON body"
                );
            }
            if own.get("response").is_some() {
                assert!(
                    !success_media(operation).is_empty(),
                    "{id} answers without a body"
                );
            }
        }
    }

    #[test]
    fn every_error_status_is_described_and_has_an_example() {
        let doc = served();
        for (id, operation) in operations(&doc) {
            for (status, response) in operation["responses"].as_object().unwrap() {
                if status.starts_with('2') {
                    continue;
                }
                let description = response["description"].as_str().unwrap_or("");
                assert!(!description.is_empty(), "{id} {status}: no description");
                for media in response["content"].as_object().unwrap().values() {
                    assert!(media.get("example").is_some(), "{id} {status}: no example");
                }
            }
        }
    }

    #[test]
    fn every_example_validates_against_its_schema() {
        let doc = served();
        let mut failures = Vec::new();
        let mut checked = 0;
        for (id, operation) in operations(&doc) {
            let mut media: Vec<(String, &Value)> = json_request_media(operation)
                .into_iter()
                .map(|m| ("request".to_owned(), m))
                .collect();
            for (status, response) in operation["responses"].as_object().unwrap() {
                for m in response
                    .get("content")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flat_map(|c| c.values())
                {
                    media.push((status.clone(), m));
                }
            }
            for (part, m) in media {
                let example = m
                    .get("example")
                    .unwrap_or_else(|| panic!("{id} {part}: no example"));
                let schema = json_schema(&m["schema"], &doc);
                let validator = jsonschema::validator_for(&schema)
                    .unwrap_or_else(|e| panic!("{id} {part}: schema does not compile: {e}"));
                for error in validator.iter_errors(example) {
                    failures.push(format!(
                        "{id} {part}: at {}: {error}",
                        error.instance_path()
                    ));
                }
                checked += 1;
            }
        }
        assert!(checked > 64, "only {checked} examples checked");
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn a_wrong_example_is_caught() {
        let doc = served();
        let schema = json_schema(&json!({"$ref": "#/components/schemas/Project"}), &doc);
        let validator = jsonschema::validator_for(&schema).unwrap();
        let good = json!({"id": "01a24e6f-ee9f-7723-983c-b4d02a985d20", "key": "shop", "name": "Shop",
            "tags": [], "version": 1, "creationDate": 1796612288159_i64});
        assert!(validator.is_valid(&good));
        let mut wrong = good.clone();
        wrong["version"] = json!("1");
        assert!(!validator.is_valid(&wrong));
    }

    #[test]
    fn nullable_allows_null_and_refs_resolve() {
        let doc = json!({"components": {"schemas": {
            "Part": {"type": "object", "required": ["size"], "properties": {"size": {"type": "integer"}}}
        }}});
        let schema = json_schema(
            &json!({"type": "object", "properties": {
                "note": {"type": "string", "nullable": true},
                "part": {"allOf": [{"$ref": "#/components/schemas/Part"}], "nullable": true}
            }}),
            &doc,
        );
        let validator = jsonschema::validator_for(&schema).unwrap();
        assert!(validator.is_valid(&json!({"note": null, "part": null})));
        assert!(validator.is_valid(&json!({"note": "x", "part": {"size": 1}})));
        assert!(!validator.is_valid(&json!({"note": 1})));
        assert!(!validator.is_valid(&json!({"part": {"size": "big"}})));
    }

    /// An OpenAPI 3.0 schema as a JSON Schema (2020-12, where `$ref` siblings apply):
    /// `nullable: true` also admits null, and the document's component schemas come along
    /// under `$defs` so `$ref`s resolve.
    fn json_schema(schema: &Value, doc: &Value) -> Value {
        let mut definitions = Map::new();
        for (name, component) in doc
            .pointer("/components/schemas")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            definitions.insert(name.clone(), convert(component));
        }
        let mut root = match convert(schema) {
            Value::Object(map) => map,
            other => Map::from_iter([("allOf".to_owned(), json!([other]))]),
        };
        root.insert(
            "$schema".to_owned(),
            json!("https://json-schema.org/draft/2020-12/schema"),
        );
        root.insert("$defs".to_owned(), Value::Object(definitions));
        Value::Object(root)
    }

    fn convert(schema: &Value) -> Value {
        match schema {
            Value::Object(map) => {
                let mut out = Map::new();
                for (key, value) in map {
                    match key.as_str() {
                        "$ref" => {
                            let name = value
                                .as_str()
                                .and_then(|r| r.strip_prefix("#/components/schemas/"))
                                .unwrap_or_else(|| panic!("unexpected $ref {value}"));
                            out.insert(key.clone(), json!(format!("#/$defs/{name}")));
                        }
                        // Keywords of OpenAPI only, or whose values are not schemas.
                        "nullable" | "discriminator" | "example" | "xml" | "externalDocs"
                        | "deprecated" | "readOnly" | "writeOnly" | "format" => {}
                        "properties" => {
                            let props = value
                                .as_object()
                                .unwrap()
                                .iter()
                                .map(|(name, s)| (name.clone(), convert(s)))
                                .collect();
                            out.insert(key.clone(), Value::Object(props));
                        }
                        "enum" | "required" | "default" | "title" | "description" | "pattern"
                        | "type" => {
                            out.insert(key.clone(), value.clone());
                        }
                        _ => {
                            out.insert(key.clone(), convert(value));
                        }
                    }
                }
                if map.get("nullable") == Some(&Value::Bool(true)) {
                    // Either the schema as written or null (a `type` list alone would not
                    // reach through `allOf` or `$ref`).
                    return json!({"anyOf": [Value::Object(out), {"type": "null"}]});
                }
                Value::Object(out)
            }
            Value::Array(items) => Value::Array(items.iter().map(convert).collect()),
            other => other.clone(),
        }
    }
}
