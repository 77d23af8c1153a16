//! REST requests held to the served document where poem-openapi is lenient, refused with 400
//! before the operation runs:
//! - **query parameters** the operation does not declare (poem ignores them, so a misspelt
//!   `?limt=5` would silently answer the default page);
//! - **JSON numbers and booleans where a string is declared**: poem parses `1` as `"1"`, so a
//!   client sending `{"tags": [false]}` would have the tag `"false"` stored. The body is walked
//!   along its operation's schema and the first such field is named.
//!
//! Everything else (missing fields, patterns, unknown body fields, other types) stays with the
//! operation's own parser, whose messages are the documented ones.

use std::sync::OnceLock;

use poem::http::Method;
use poem::{Endpoint, IntoResponse, Request, Response, Result};
use serde_json::{Map, Value};

/// One operation: the path template it answers on, its query parameters and its JSON
/// request-body schema, if it takes one.
struct Operation {
    method: Method,
    segments: Vec<Segment>,
    query: Vec<String>,
    body: Option<Value>,
}

enum Segment {
    Literal(String),
    Parameter,
}

/// The served document and its operations.
struct Operations {
    document: Value,
    operations: Vec<Operation>,
}

impl Operations {
    fn from_document(document: Value) -> Operations {
        let mut operations = Vec::new();
        for (path, item) in document
            .get("paths")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            for (method, operation) in item.as_object().into_iter().flatten() {
                let Ok(method) = method.to_uppercase().parse::<Method>() else {
                    continue;
                };
                let body = operation
                    .pointer("/requestBody/content")
                    .and_then(Value::as_object)
                    .and_then(|content| {
                        content
                            .iter()
                            .find(|(media, _)| media.starts_with("application/json"))
                    })
                    .and_then(|(_, media)| media.get("schema"))
                    .cloned();
                operations.push(Operation {
                    method,
                    segments: segments_of(path),
                    query: query_names(operation),
                    body,
                });
            }
        }
        Operations {
            document,
            operations,
        }
    }

    /// The operation answering `method path`: among templates that match, the one with the
    /// most literal segments (`/members/me` before `/members/{id}`).
    fn operation_for(&self, method: &Method, path: &str) -> Option<&Operation> {
        let parts: Vec<&str> = path.trim_end_matches('/').split('/').collect();
        self.operations
            .iter()
            .filter(|op| op.method == method && matches(&op.segments, &parts))
            .max_by_key(|op| {
                op.segments
                    .iter()
                    .filter(|s| matches!(s, Segment::Literal(_)))
                    .count()
            })
    }

    /// The first place in `value` where the schema declares a string and the JSON holds a
    /// number or a boolean, as a message naming the field.
    fn first_coerced(&self, schema: &Value, value: &Value, at: &str) -> Option<String> {
        let schema = self.resolve(schema)?;
        if value.is_null() {
            return None;
        }
        if let Some(parts) = schema.get("allOf").and_then(Value::as_array) {
            return parts
                .iter()
                .find_map(|part| self.first_coerced(part, value, at));
        }
        if let Some(branches) = schema.get("oneOf").and_then(Value::as_array) {
            let branch = self.branch_for(branches, value)?;
            return self.first_coerced(branch, value, at);
        }
        match (schema.get("type").and_then(Value::as_str), value) {
            (Some("string"), Value::Number(_)) => {
                Some(format!("{at}: expected a string, got a number"))
            }
            (Some("string"), Value::Bool(_)) => {
                Some(format!("{at}: expected a string, got a boolean"))
            }
            (Some("array"), Value::Array(items)) => {
                let item_schema = schema.get("items")?;
                items.iter().enumerate().find_map(|(i, item)| {
                    self.first_coerced(item_schema, item, &format!("{at}[{i}]"))
                })
            }
            (Some("object"), Value::Object(fields)) => self.first_coerced_field(schema, fields, at),
            _ => None,
        }
    }

    fn first_coerced_field(
        &self,
        schema: &Value,
        fields: &Map<String, Value>,
        at: &str,
    ) -> Option<String> {
        let properties = schema.get("properties").and_then(Value::as_object);
        let additional = schema.get("additionalProperties").filter(|a| a.is_object());
        fields.iter().find_map(|(name, field)| {
            let field_schema = properties.and_then(|p| p.get(name)).or(additional)?;
            let at = if at.is_empty() {
                name.clone()
            } else {
                format!("{at}.{name}")
            };
            self.first_coerced(field_schema, field, &at)
        })
    }

    /// The branch of a `oneOf` a value is meant for: the one whose `kind` constant it names
    /// (instructions, statements), else the only one of the value's JSON type (one member or
    /// a list of them). Otherwise no branch is chosen, and the operation's parser judges.
    fn branch_for<'a>(&'a self, branches: &'a [Value], value: &Value) -> Option<&'a Value> {
        if let Some(kind) = value.get("kind").and_then(Value::as_str) {
            return branches.iter().find(|branch| {
                self.resolve(branch)
                    .and_then(|b| b.pointer("/properties/kind/enum"))
                    .and_then(Value::as_array)
                    .is_some_and(|kinds| kinds.iter().any(|k| k.as_str() == Some(kind)))
            });
        }
        let json_type = match value {
            Value::Array(_) => "array",
            Value::Object(_) => "object",
            _ => return None,
        };
        let mut same_type = branches.iter().filter(|branch| {
            self.resolve(branch)
                .and_then(|b| b.get("type"))
                .and_then(Value::as_str)
                == Some(json_type)
        });
        match (same_type.next(), same_type.next()) {
            (Some(only), None) => Some(only),
            _ => None,
        }
    }

    /// Follows `$ref` into the document's component schemas.
    fn resolve<'a>(&'a self, schema: &'a Value) -> Option<&'a Value> {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(reference) => self
                .document
                .pointer(reference.strip_prefix('#')?)
                .and_then(|target| self.resolve(target)),
            None => Some(schema),
        }
    }
}

fn query_names(operation: &Value) -> Vec<String> {
    operation
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|p| p.get("in").and_then(Value::as_str) == Some("query"))
        .filter_map(|p| p.get("name").and_then(Value::as_str).map(str::to_owned))
        .collect()
}

/// The first query parameter of `query` that `operation` does not declare, as a message.
fn first_unknown_parameter(operation: &Operation, query: &str) -> Option<String> {
    let (name, _) = url::form_urlencoded::parse(query.as_bytes())
        .find(|(name, _)| !operation.query.iter().any(|known| known == name))?;
    let takes = if operation.query.is_empty() {
        "this operation takes none".to_owned()
    } else {
        format!("this operation takes {}", operation.query.join(", "))
    };
    Some(format!("unknown query parameter {name:?}: {takes}"))
}

fn segments_of(template: &str) -> Vec<Segment> {
    template
        .trim_end_matches('/')
        .split('/')
        .map(|part| {
            if part.starts_with('{') && part.ends_with('}') {
                Segment::Parameter
            } else {
                Segment::Literal(part.to_owned())
            }
        })
        .collect()
}

fn matches(segments: &[Segment], parts: &[&str]) -> bool {
    segments.len() == parts.len()
        && segments
            .iter()
            .zip(parts)
            .all(|(segment, part)| match segment {
                Segment::Literal(literal) => literal == part,
                Segment::Parameter => !part.is_empty(),
            })
}

/// Reads the document's body schemas now rather than on the first request, which would
/// otherwise wait for the whole document to be built.
pub fn prepare() {
    operations();
}

fn operations() -> &'static Operations {
    static OPERATIONS: OnceLock<Operations> = OnceLock::new();
    OPERATIONS.get_or_init(|| {
        let document = serde_json::from_str(super::document::served()).unwrap_or(Value::Null);
        Operations::from_document(document)
    })
}

/// Refuses an undeclared query parameter, or a JSON body holding a number or boolean where
/// its operation declares a string. The body limit and the NUL refusal have run before, so
/// the body read here is bounded.
pub async fn hold_to_document<E: Endpoint>(next: E, mut req: Request) -> Result<Response> {
    let Some(operation) = operations().operation_for(req.method(), req.uri().path()) else {
        return next.call(req).await.map(IntoResponse::into_response);
    };
    if let Some(message) = first_unknown_parameter(operation, req.uri().query().unwrap_or("")) {
        return Ok(super::error::invalid_request(message));
    }
    let json = req
        .content_type()
        .is_some_and(|t| t.starts_with("application/json"));
    let Some(schema) = operation.body.as_ref().filter(|_| json) else {
        return next.call(req).await.map(IntoResponse::into_response);
    };
    let bytes = req.take_body().into_bytes().await?;
    let refusal = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|value| operations().first_coerced(schema, &value, ""));
    req.set_body(bytes);
    match refusal {
        // A bare string body (none today) would name no field.
        Some(message) => Ok(super::error::invalid_request(
            message.trim_start_matches(": ").to_owned(),
        )),
        None => next.call(req).await.map(IntoResponse::into_response),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn schemas() -> Operations {
        Operations::from_document(json!({
            "paths": {
                "/things/{key}": {"patch": {"parameters": [{"in": "path", "name": "key"}, {"in": "query", "name": "dryRun"}], "requestBody": {"content": {"application/json; charset=utf-8": {
                    "schema": {"$ref": "#/components/schemas/ThingPatch"}}}}}},
                "/things/me": {"patch": {"requestBody": {"content": {"application/json; charset=utf-8": {
                    "schema": {"type": "object", "properties": {"me": {"type": "string"}}}}}}}}
            },
            "components": {"schemas": {
                "ThingPatch": {"type": "object", "properties": {
                    "name": {"type": "string", "nullable": true},
                    "count": {"type": "integer"},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "attributes": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
                    "part": {"allOf": [{"$ref": "#/components/schemas/Part"}], "nullable": true},
                    "steps": {"type": "array", "items": {"oneOf": [
                        {"$ref": "#/components/schemas/Rename"},
                        {"$ref": "#/components/schemas/Resize"}
                    ]}},
                    "free": {},
                    "either": {"oneOf": [
                        {"$ref": "#/components/schemas/Part"},
                        {"type": "array", "items": {"$ref": "#/components/schemas/Part"}}
                    ]}
                }},
                "Part": {"type": "object", "properties": {"label": {"type": "string"}}},
                "Rename": {"type": "object", "properties": {"kind": {"type": "string", "enum": ["rename"]}, "value": {"type": "string"}}},
                "Resize": {"type": "object", "properties": {"kind": {"type": "string", "enum": ["resize"]}, "value": {"type": "integer"}}}
            }}
        }))
    }

    fn check(body: Value) -> Option<String> {
        let s = schemas();
        let schema = s
            .operation_for(&Method::PATCH, "/things/a")
            .unwrap()
            .body
            .clone()
            .unwrap();
        s.first_coerced(&schema, &body, "")
    }

    #[test]
    fn numbers_and_booleans_where_strings_are_declared_are_named() {
        assert_eq!(
            check(json!({"name": 1})).unwrap(),
            "name: expected a string, got a number"
        );
        assert_eq!(
            check(json!({"tags": ["a", false]})).unwrap(),
            "tags[1]: expected a string, got a boolean"
        );
        assert_eq!(
            check(json!({"attributes": {"team": [2]}})).unwrap(),
            "attributes.team[0]: expected a string, got a number"
        );
        assert_eq!(
            check(json!({"part": {"label": 3}})).unwrap(),
            "part.label: expected a string, got a number"
        );
        assert_eq!(
            check(
                json!({"steps": [{"kind": "resize", "value": 3}, {"kind": "rename", "value": 4}]})
            )
            .unwrap(),
            "steps[1].value: expected a string, got a number"
        );
        assert_eq!(
            check(json!({"either": [{"label": 1}]})).unwrap(),
            "either[0].label: expected a string, got a number"
        );
    }

    #[test]
    fn everything_else_is_left_to_the_operation() {
        for body in [
            json!({"name": "a", "count": 2, "tags": ["x"], "part": null}),
            json!({"name": null, "count": "two", "unknown": 1, "tags": "x"}),
            json!({"steps": [{"kind": "unknown", "value": 1}, {"value": 1}]}),
            json!({"free": 1}),
            json!([1, 2]),
        ] {
            assert_eq!(check(body.clone()), None, "{body}");
        }
    }

    #[test]
    fn the_most_literal_template_answers() {
        let s = schemas();
        let me = s.operation_for(&Method::PATCH, "/things/me").unwrap();
        assert_eq!(
            me.body.as_ref().unwrap()["properties"]["me"],
            json!({"type": "string"})
        );
        let a = s.operation_for(&Method::PATCH, "/things/a").unwrap();
        assert!(a.body.as_ref().unwrap().get("$ref").is_some());
        assert!(s.operation_for(&Method::POST, "/things/a").is_none());
        assert!(s.operation_for(&Method::PATCH, "/things").is_none());
        assert!(s.operation_for(&Method::PATCH, "/things/a/b").is_none());
    }

    #[test]
    fn undeclared_query_parameters_are_named() {
        let s = schemas();
        let a = s.operation_for(&Method::PATCH, "/things/a").unwrap();
        assert_eq!(
            first_unknown_parameter(a, "limit=1&dry%20run=1"),
            Some("unknown query parameter \"limit\": this operation takes dryRun".to_owned())
        );
        assert_eq!(first_unknown_parameter(a, "dryRun=true&dryRun=false"), None);
        assert_eq!(first_unknown_parameter(a, ""), None);
        let me = s.operation_for(&Method::PATCH, "/things/me").unwrap();
        assert_eq!(
            first_unknown_parameter(me, "x=%12"),
            Some("unknown query parameter \"x\": this operation takes none".to_owned())
        );
    }
}
