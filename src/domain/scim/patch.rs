//! PATCH (RFC 7644 §3.5.2) applied to a resource's canonical JSON, in memory and atomically:
//! the operations run on a copy, and the first failing one fails the whole request with the
//! original untouched.
//!
//! Dialects: SCIM PatchOp bodies (`op` in any case, as Entra capitalises it; `path`
//! optional; values typed loosely, as `"active": "False"`; no-path values with dotted or
//! URN-qualified keys), and RFC 6902 JSON Patch bodies (a JSON array of `{op, path: "/..."}`,
//! as LaunchDarkly accepts). Group membership operations are split off
//! ([`split_member_ops`]) so a batch of thousands of members never becomes a JSON array.

use serde_json::{Map, Value};

use super::error::{ScimError, ScimResult};
use super::filter::{CompareOp, Filter, Literal, matches};
use super::path::{PatchPath, Target, parse_path, resolve};
use super::resource::{attr_value, canonicalize, element_value};
use super::schema::{
    AttrDef, AttrType, Container, GATEHOUSE_SCHEMA, GATEHOUSE_URN, Mutability, PATCH_OP_URN,
    ResourceSchema, SchemaDef,
};

/// Most operations one request may carry.
pub const MAX_OPERATIONS: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Add,
    Remove,
    Replace,
}

impl OpKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Add => "add",
            Self::Remove => "remove",
            Self::Replace => "replace",
        }
    }
}

/// RFC 6902 operations we apply (`move` and `copy` are refused).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonOpKind {
    Add,
    Remove,
    Replace,
    Test,
}

/// One operation of a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Operation {
    Scim {
        op: OpKind,
        /// The path as written, and parsed.
        path: Option<(String, PatchPath)>,
        value: Option<Value>,
    },
    Json {
        op: JsonOpKind,
        pointer: String,
        value: Option<Value>,
    },
}

/// Reads a PATCH body: a SCIM PatchOp object or an RFC 6902 array.
pub fn parse_patch(body: &Value) -> ScimResult<Vec<Operation>> {
    let ops = match body {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| parse_json_op(i, v))
            .collect::<ScimResult<Vec<_>>>()?,
        Value::Object(obj) => {
            if let Some(schemas) = get_ci(obj, "schemas") {
                let listed = schemas.as_array().is_some_and(|a| {
                    a.iter().any(|s| {
                        s.as_str()
                            .is_some_and(|s| s.eq_ignore_ascii_case(PATCH_OP_URN))
                    })
                });
                if !listed {
                    return Err(ScimError::invalid_syntax(format!(
                        "schemas: a PATCH body lists {PATCH_OP_URN:?}"
                    )));
                }
            }
            let ops = get_ci(obj, "Operations")
                .and_then(Value::as_array)
                .ok_or_else(|| {
                    ScimError::invalid_syntax("Operations: an array of operations is needed")
                })?;
            ops.iter()
                .enumerate()
                .map(|(i, v)| parse_scim_op(i, v))
                .collect::<ScimResult<Vec<_>>>()?
        }
        _ => {
            return Err(ScimError::invalid_syntax(
                "a PATCH body is a PatchOp object or a JSON Patch array",
            ));
        }
    };
    if ops.is_empty() {
        return Err(ScimError::invalid_syntax(
            "Operations: at least one operation is needed",
        ));
    }
    if ops.len() > MAX_OPERATIONS {
        return Err(ScimError::new(
            super::error::ScimFailure::PayloadTooLarge,
            Some(super::error::ScimType::TooMany),
            format!("at most {MAX_OPERATIONS} operations per request"),
        ));
    }
    Ok(ops)
}

fn get_ci<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

fn parse_scim_op(i: usize, v: &Value) -> ScimResult<Operation> {
    let field = format!("Operations[{i}]");
    let obj = v
        .as_object()
        .ok_or_else(|| ScimError::invalid_syntax(format!("{field}: must be an object")))?;
    let op = get_ci(obj, "op").and_then(Value::as_str).ok_or_else(|| {
        ScimError::invalid_syntax(format!("{field}.op: add, remove or replace is needed"))
    })?;
    let op = match op.to_ascii_lowercase().as_str() {
        "add" => OpKind::Add,
        "remove" => OpKind::Remove,
        "replace" => OpKind::Replace,
        other => {
            return Err(ScimError::invalid_syntax(format!(
                "{field}.op: {other:?} is not add, remove or replace"
            )));
        }
    };
    let path = match get_ci(obj, "path") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) if p.trim().is_empty() => None,
        Some(Value::String(p)) => Some((p.clone(), parse_path(p.trim())?)),
        Some(_) => {
            return Err(ScimError::invalid_path(format!(
                "{field}.path: must be a string"
            )));
        }
    };
    let value = get_ci(obj, "value").cloned();
    if op != OpKind::Remove && value.is_none() {
        return Err(ScimError::invalid_value(format!(
            "{field}: {} needs a value",
            op.as_str()
        )));
    }
    if op == OpKind::Remove && path.is_none() {
        return Err(ScimError::no_target(format!(
            "{field}: remove needs a path"
        )));
    }
    Ok(Operation::Scim { op, path, value })
}

fn parse_json_op(i: usize, v: &Value) -> ScimResult<Operation> {
    let field = format!("[{i}]");
    let obj = v
        .as_object()
        .ok_or_else(|| ScimError::invalid_syntax(format!("{field}: must be an object")))?;
    let op = obj.get("op").and_then(Value::as_str).unwrap_or("");
    let op = match op.to_ascii_lowercase().as_str() {
        "add" => JsonOpKind::Add,
        "remove" => JsonOpKind::Remove,
        "replace" => JsonOpKind::Replace,
        "test" => JsonOpKind::Test,
        "move" | "copy" => {
            return Err(ScimError::invalid_syntax(format!(
                "{field}.op: {op:?} is not supported; use add, remove, replace or test"
            )));
        }
        _ => {
            return Err(ScimError::invalid_syntax(format!(
                "{field}.op: must be add, remove, replace or test"
            )));
        }
    };
    let pointer = obj
        .get("path")
        .and_then(Value::as_str)
        .filter(|p| p.starts_with('/'))
        .ok_or_else(|| {
            ScimError::invalid_path(format!(
                "{field}.path: a JSON Pointer like \"/name/givenName\" is needed"
            ))
        })?
        .to_owned();
    let value = obj.get("value").cloned();
    if op != JsonOpKind::Remove && value.is_none() {
        return Err(ScimError::invalid_value(format!(
            "{field}: a value is needed"
        )));
    }
    Ok(Operation::Json { op, pointer, value })
}

/// A change to a group's membership.
#[derive(Debug, Clone, PartialEq)]
pub enum MemberChange {
    Add(Vec<String>),
    Remove(Vec<String>),
    Replace(Vec<String>),
    RemoveAll,
    /// Remove the members an element filter selects (evaluated against `{value, display, type}`).
    RemoveWhere(Filter),
}

fn is_members(rs: &ResourceSchema, name: &str, uri: Option<&str>) -> bool {
    rs.name == "Group"
        && name.eq_ignore_ascii_case("members")
        && uri.is_none_or(|u| u.eq_ignore_ascii_case(rs.core.id))
}

/// The member ids of a `members` value: `[{"value": id}, ...]` (or one object).
pub fn member_ids(value: &Value, field: &str) -> ScimResult<Vec<String>> {
    let items: Vec<&Value> = match value {
        Value::Array(a) => a.iter().collect(),
        Value::Null => Vec::new(),
        one => vec![one],
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let id = match item {
                Value::Object(o) => get_ci(o, "value").and_then(Value::as_str),
                Value::String(s) => Some(s.as_str()),
                _ => None,
            };
            id.map(str::to_owned).ok_or_else(|| {
                ScimError::invalid_value(format!(
                    "{field}[{i}]: a member is {{\"value\": \"<user id>\"}}"
                ))
            })
        })
        .collect()
}

/// The ids of `value eq "a" or value eq "b"`, the shape Okta and Entra remove members with.
fn value_eq_ids(filter: &Filter, out: &mut Vec<String>) -> bool {
    match filter {
        Filter::Or(a, b) => value_eq_ids(a, out) && value_eq_ids(b, out),
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value: Literal::String(id),
        } if path.uri.is_none()
            && path.sub.is_none()
            && path.name.eq_ignore_ascii_case("value") =>
        {
            out.push(id.clone());
            true
        }
        _ => false,
    }
}

/// Splits a group's operations into membership changes and the rest, keeping order within
/// each (they touch disjoint attributes, so relative order does not matter).
pub fn split_member_ops(
    rs: &ResourceSchema,
    ops: Vec<Operation>,
) -> ScimResult<(Vec<Operation>, Vec<MemberChange>)> {
    let mut rest = Vec::new();
    let mut members = Vec::new();
    for (i, op) in ops.into_iter().enumerate() {
        let field = format!("Operations[{i}]");
        match op {
            Operation::Scim {
                op,
                path: Some((raw, path)),
                value,
            } if is_members(rs, &path.attr.name, path.attr.uri.as_deref()) => {
                if path.sub.is_some() || path.attr.sub.is_some() {
                    return Err(ScimError::invalid_path(format!(
                        "{field}.path {raw:?}: members are added, removed or replaced whole"
                    )));
                }
                let change = match (op, path.filter, value) {
                    (OpKind::Add, None, Some(v)) => MemberChange::Add(member_ids(&v, &field)?),
                    (OpKind::Replace, None, Some(v)) => {
                        MemberChange::Replace(member_ids(&v, &field)?)
                    }
                    (OpKind::Remove, None, None) => MemberChange::RemoveAll,
                    (OpKind::Remove, None, Some(v)) => {
                        let ids = member_ids(&v, &field)?;
                        if ids.is_empty() {
                            MemberChange::RemoveAll
                        } else {
                            MemberChange::Remove(ids)
                        }
                    }
                    (OpKind::Remove, Some(f), _) => {
                        let mut ids = Vec::new();
                        if value_eq_ids(&f, &mut ids) {
                            MemberChange::Remove(ids)
                        } else {
                            MemberChange::RemoveWhere(f)
                        }
                    }
                    (_, Some(_), _) | (_, None, None) => {
                        return Err(ScimError::invalid_path(format!(
                            "{field}.path {raw:?}: add or replace members with path \"members\" and a value"
                        )));
                    }
                };
                members.push(change);
            }
            Operation::Scim {
                op,
                path: None,
                value: Some(Value::Object(mut obj)),
            } if rs.name == "Group" => {
                let key = obj
                    .keys()
                    .find(|k| k.eq_ignore_ascii_case("members"))
                    .cloned();
                if let Some(key) = key {
                    let v = obj.remove(&key).unwrap_or(Value::Null);
                    members.push(match op {
                        OpKind::Add => MemberChange::Add(member_ids(&v, &field)?),
                        _ => MemberChange::Replace(member_ids(&v, &field)?),
                    });
                }
                if !obj.is_empty() {
                    rest.push(Operation::Scim {
                        op,
                        path: None,
                        value: Some(Value::Object(obj)),
                    });
                }
            }
            Operation::Json { op, pointer, value }
                if rs.name == "Group"
                    && pointer_head(&pointer)
                        .is_some_and(|h| h.eq_ignore_ascii_case("members")) =>
            {
                let tail: Vec<String> = pointer_tokens(&pointer).into_iter().skip(1).collect();
                let change = match (op, tail.as_slice(), value) {
                    (JsonOpKind::Add, [end], Some(v)) if end == "-" => {
                        MemberChange::Add(member_ids(&v, &field)?)
                    }
                    (JsonOpKind::Add | JsonOpKind::Replace, [], Some(v)) => {
                        MemberChange::Replace(member_ids(&v, &field)?)
                    }
                    (JsonOpKind::Remove, [], _) => MemberChange::RemoveAll,
                    _ => {
                        return Err(ScimError::invalid_path(format!(
                            "[{i}].path {pointer:?}: members are added with /members/-, or replaced or removed whole"
                        )));
                    }
                };
                members.push(change);
            }
            other => rest.push(other),
        }
    }
    Ok((rest, members))
}

/// Applies operations to a canonical resource document (`id` is the resource's id, which a
/// no-path value may repeat but never change). Returns the canonical result, or the first
/// error with nothing applied.
pub fn apply(
    rs: &ResourceSchema,
    doc: &Map<String, Value>,
    id: &str,
    ops: &[Operation],
) -> ScimResult<Map<String, Value>> {
    let mut work = doc.clone();
    for (i, op) in ops.iter().enumerate() {
        match op {
            Operation::Scim { op, path, value } => {
                apply_scim(rs, &mut work, id, *op, path.as_ref(), value.as_ref())
                    .map_err(|e| at(i, e))?
            }
            Operation::Json { op, pointer, value } => {
                apply_json(rs, &mut work, *op, pointer, value.as_ref()).map_err(|e| at(i, e))?
            }
        }
        work = canonicalize(rs, &Value::Object(work)).map_err(|e| at(i, e))?;
    }
    Ok(work)
}

fn at(i: usize, mut e: ScimError) -> ScimError {
    e.detail = format!("Operations[{i}]: {}", e.detail);
    e
}

/// The root-level and LaunchDarkly role aliases address the Gatehouse extension.
fn unalias(target: Target) -> Target {
    match target {
        Target::Extension(ext)
            if ext.id != GATEHOUSE_URN && ext.attributes == GATEHOUSE_SCHEMA.attributes =>
        {
            Target::Extension(&GATEHOUSE_SCHEMA)
        }
        Target::Attr {
            container: Container::Extension(ext),
            def,
            filter,
            sub,
        } if ext.id != GATEHOUSE_URN && ext.attributes == GATEHOUSE_SCHEMA.attributes => {
            Target::Attr {
                container: Container::Extension(&GATEHOUSE_SCHEMA),
                def,
                filter,
                sub,
            }
        }
        other => other,
    }
}

fn resolve_key(rs: &ResourceSchema, raw: &str, path: &PatchPath) -> ScimResult<Target> {
    let is_root_alias = rs.extensions.iter().any(|e| e.id == GATEHOUSE_URN)
        && path.attr.uri.is_none()
        && path.filter.is_none()
        && ["role", "customRole", "customRolesArray"]
            .iter()
            .any(|a| a.eq_ignore_ascii_case(&path.attr.name));
    if is_root_alias {
        let name = if path.attr.name.eq_ignore_ascii_case("role") {
            "role"
        } else {
            "customRole"
        };
        if let Some(def) = GATEHOUSE_SCHEMA.attr(name) {
            return Ok(Target::Attr {
                container: Container::Extension(&GATEHOUSE_SCHEMA),
                def,
                filter: None,
                sub: None,
            });
        }
    }
    resolve(rs, path, raw).map(unalias)
}

fn apply_scim(
    rs: &ResourceSchema,
    doc: &mut Map<String, Value>,
    id: &str,
    op: OpKind,
    path: Option<&(String, PatchPath)>,
    value: Option<&Value>,
) -> ScimResult<()> {
    if let Some((raw, path)) = path {
        let target = resolve_key(rs, raw, path)?;
        return apply_target(doc, &target, op, value, raw);
    }
    // No path: the value is a set of attributes, keyed by name, dotted path or URN.
    let Some(Value::Object(attrs)) = value else {
        return Err(ScimError::invalid_value(format!(
            "{} without a path needs an object of attributes as its value",
            op.as_str()
        )));
    };
    for (key, v) in attrs {
        if key.eq_ignore_ascii_case("schemas") || key.eq_ignore_ascii_case("meta") {
            continue;
        }
        if key.eq_ignore_ascii_case("id") {
            if v.as_str() == Some(id) {
                continue;
            }
            return Err(ScimError::mutability("id is readOnly"));
        }
        if let Some(ext) = rs.extension(key) {
            let target = unalias(Target::Extension(ext));
            apply_target(doc, &target, op, Some(v), key)?;
            continue;
        }
        let path = parse_path(key)?;
        let target = resolve_key(rs, key, &path)?;
        apply_target(doc, &target, op, Some(v), key)?;
    }
    Ok(())
}

fn container_mut(
    doc: &mut Map<String, Value>,
    container: Container,
    create: bool,
) -> Option<&mut Map<String, Value>> {
    match container {
        Container::Core => Some(doc),
        Container::Extension(ext) => {
            if create && !doc.get(ext.id).is_some_and(Value::is_object) {
                doc.insert(ext.id.to_owned(), Value::Object(Map::new()));
            }
            doc.get_mut(ext.id).and_then(Value::as_object_mut)
        }
    }
}

fn apply_target(
    doc: &mut Map<String, Value>,
    target: &Target,
    op: OpKind,
    value: Option<&Value>,
    raw: &str,
) -> ScimResult<()> {
    let (container, def, filter, sub) = match target {
        Target::Extension(ext) => return apply_extension(doc, ext, op, value, raw),
        Target::Attr {
            container,
            def,
            filter,
            sub,
        } => (*container, *def, filter.as_ref(), *sub),
    };
    for d in std::iter::once(def).chain(sub) {
        if d.mutability == Mutability::ReadOnly {
            return Err(ScimError::mutability(format!(
                "{raw}: {} is readOnly",
                d.name
            )));
        }
    }
    let create = op != OpKind::Remove;
    let Some(obj) = container_mut(doc, container, create) else {
        return Ok(());
    };
    match filter {
        Some(f) => apply_filtered(obj, def, f, sub, op, value, raw),
        None => apply_plain(obj, def, sub, op, value, raw),
    }
}

fn apply_extension(
    doc: &mut Map<String, Value>,
    ext: &'static SchemaDef,
    op: OpKind,
    value: Option<&Value>,
    raw: &str,
) -> ScimResult<()> {
    if op == OpKind::Remove {
        doc.remove(ext.id);
        return Ok(());
    }
    let Some(Value::Object(attrs)) = value else {
        return Err(ScimError::invalid_value(format!(
            "{raw}: the value of an extension is an object"
        )));
    };
    for (k, v) in attrs {
        let Some(def) = ext.attr(k) else {
            continue;
        };
        let target = Target::Attr {
            container: Container::Extension(ext),
            def,
            filter: None,
            sub: None,
        };
        apply_target(doc, &target, op, Some(v), &format!("{raw}:{}", def.name))?;
    }
    Ok(())
}

fn same_element(def: &AttrDef, a: &Value, b: &Value) -> bool {
    if def.ty == AttrType::Complex
        && let (Some(x), Some(y)) = (a.get("value"), b.get("value"))
    {
        return match (x.as_str(), y.as_str()) {
            (Some(x), Some(y)) if !def.sub("value").is_some_and(|d| d.case_exact) => {
                x.eq_ignore_ascii_case(y) && a.get("type") == b.get("type")
            }
            _ => x == y && a.get("type") == b.get("type"),
        };
    }
    a == b
}

/// At most one element may be primary: a new primary one demotes the others.
fn demote_primaries(items: &mut [Value], keep: usize) {
    let keeps_primary = items
        .get(keep)
        .and_then(|v| v.get("primary"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if !keeps_primary {
        return;
    }
    for (i, item) in items.iter_mut().enumerate() {
        if i != keep
            && let Some(o) = item.as_object_mut()
            && o.get("primary").and_then(Value::as_bool) == Some(true)
        {
            o.insert("primary".to_owned(), Value::Bool(false));
        }
    }
}

fn merge(into: &mut Value, from: Value) {
    match (into.as_object_mut(), from) {
        (Some(existing), Value::Object(new)) => existing.extend(new),
        (_, from) => *into = from,
    }
}

fn apply_plain(
    obj: &mut Map<String, Value>,
    def: &'static AttrDef,
    sub: Option<&'static AttrDef>,
    op: OpKind,
    value: Option<&Value>,
    raw: &str,
) -> ScimResult<()> {
    match (sub, op) {
        (None, OpKind::Remove) => {
            match (def.multi_valued, value) {
                (true, Some(v)) if !v.is_null() => {
                    let Some(remove) = attr_value(def, v, raw)? else {
                        return Ok(());
                    };
                    let remove = remove.as_array().cloned().unwrap_or_default();
                    if let Some(Value::Array(items)) = obj.get_mut(def.name) {
                        items.retain(|item| !remove.iter().any(|r| same_element(def, item, r)));
                    }
                }
                _ => {
                    obj.remove(def.name);
                }
            }
            Ok(())
        }
        (None, OpKind::Add) if def.multi_valued => {
            let Some(Value::Array(new)) = attr_value(def, value.unwrap_or(&Value::Null), raw)?
            else {
                return Ok(());
            };
            let entry = obj
                .entry(def.name.to_owned())
                .or_insert_with(|| Value::Array(Vec::new()));
            if !entry.is_array() {
                *entry = Value::Array(Vec::new());
            }
            if let Some(items) = entry.as_array_mut() {
                for item in new {
                    if let Some(pos) = items.iter().position(|e| same_element(def, e, &item)) {
                        if let Some(existing) = items.get_mut(pos) {
                            merge(existing, item);
                        }
                        demote_primaries(items, pos);
                    } else {
                        items.push(item);
                        let last = items.len().saturating_sub(1);
                        demote_primaries(items, last);
                    }
                }
            }
            Ok(())
        }
        (None, _) => {
            let new = attr_value(def, value.unwrap_or(&Value::Null), raw)?;
            match new {
                None => {
                    obj.remove(def.name);
                }
                Some(new) if def.ty == AttrType::Complex && !def.multi_valued => {
                    let entry = obj.entry(def.name.to_owned()).or_insert(Value::Null);
                    merge(entry, new);
                }
                Some(new) => {
                    obj.insert(def.name.to_owned(), new);
                }
            }
            Ok(())
        }
        (Some(sub), _) if def.multi_valued => {
            if op != OpKind::Remove {
                return Err(ScimError::invalid_path(format!(
                    "{raw}: select the elements of {} with a filter, e.g. {}[type eq \"work\"].{}",
                    def.name, def.name, sub.name
                )));
            }
            if let Some(Value::Array(items)) = obj.get_mut(def.name) {
                for item in items.iter_mut().filter_map(Value::as_object_mut) {
                    item.remove(sub.name);
                }
            }
            Ok(())
        }
        (Some(sub), OpKind::Remove) => {
            if let Some(Value::Object(parent)) = obj.get_mut(def.name) {
                parent.remove(sub.name);
            }
            Ok(())
        }
        (Some(sub), _) => {
            let new = attr_value(sub, value.unwrap_or(&Value::Null), raw)?;
            let entry = obj
                .entry(def.name.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            if let Some(parent) = entry.as_object_mut() {
                match new {
                    Some(v) => parent.insert(sub.name.to_owned(), v),
                    None => parent.remove(sub.name),
                };
            }
            Ok(())
        }
    }
}

/// `type eq "work" and primary eq true`: the element such a filter describes, so that adding
/// or replacing `emails[type eq "work"].value` on a user without a work email creates it, as
/// Entra expects.
fn element_from_filter(def: &AttrDef, filter: &Filter, into: &mut Map<String, Value>) -> bool {
    match filter {
        Filter::And(a, b) => element_from_filter(def, a, into) && element_from_filter(def, b, into),
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value,
        } if path.uri.is_none() && path.sub.is_none() => {
            let Some(sub) = def.sub(&path.name) else {
                return false;
            };
            let v = match value {
                Literal::String(s) => Value::String(s.clone()),
                Literal::Bool(b) => Value::Bool(*b),
                Literal::Number(n) => Value::Number(n.clone()),
                Literal::Null => return false,
            };
            into.insert(sub.name.to_owned(), v);
            true
        }
        _ => false,
    }
}

fn apply_filtered(
    obj: &mut Map<String, Value>,
    def: &'static AttrDef,
    filter: &Filter,
    sub: Option<&'static AttrDef>,
    op: OpKind,
    value: Option<&Value>,
    raw: &str,
) -> ScimResult<()> {
    let bad_filter = |e: String| ScimError::invalid_path(format!("{raw}: {e}"));
    let new_value = match (op, sub) {
        (OpKind::Remove, _) => None,
        (_, Some(sub)) => attr_value(sub, value.unwrap_or(&Value::Null), raw)?,
        (_, None) => element_value(def, value.unwrap_or(&Value::Null), raw)?,
    };
    let items = match obj.get_mut(def.name) {
        Some(Value::Array(items)) => items,
        _ => {
            obj.insert(def.name.to_owned(), Value::Array(Vec::new()));
            match obj.get_mut(def.name).and_then(Value::as_array_mut) {
                Some(items) => items,
                None => return Ok(()),
            }
        }
    };
    let mut matched = Vec::new();
    for (i, item) in items.iter().enumerate() {
        if matches(filter, item, def).map_err(bad_filter)? {
            matched.push(i);
        }
    }
    match op {
        OpKind::Remove => {
            match sub {
                None => {
                    let mut i = 0;
                    items.retain(|_| {
                        let keep = !matched.contains(&i);
                        i += 1;
                        keep
                    });
                }
                Some(sub) => {
                    for &i in &matched {
                        if let Some(Value::Object(o)) = items.get_mut(i) {
                            o.remove(sub.name);
                        }
                    }
                }
            }
            if items.is_empty() {
                obj.remove(def.name);
            }
            Ok(())
        }
        OpKind::Add | OpKind::Replace => {
            if matched.is_empty() {
                let mut element = Map::new();
                if !element_from_filter(def, filter, &mut element) {
                    return Err(ScimError::no_target(format!(
                        "{raw}: no element of {} matches the filter",
                        def.name
                    )));
                }
                let mut element = Value::Object(element);
                match (sub, new_value) {
                    (Some(sub), Some(v)) => {
                        if let Some(o) = element.as_object_mut() {
                            o.insert(sub.name.to_owned(), v);
                        }
                    }
                    (None, Some(v)) => merge(&mut element, v),
                    (_, None) => return Ok(()),
                }
                items.push(element);
                let last = items.len().saturating_sub(1);
                demote_primaries(items, last);
                return Ok(());
            }
            for &i in &matched {
                let Some(item) = items.get_mut(i) else {
                    continue;
                };
                match (sub, &new_value) {
                    (Some(sub), Some(v)) => {
                        if let Some(o) = item.as_object_mut() {
                            o.insert(sub.name.to_owned(), v.clone());
                        }
                    }
                    (Some(sub), None) => {
                        if let Some(o) = item.as_object_mut() {
                            o.remove(sub.name);
                        }
                    }
                    (None, Some(v)) => merge(item, v.clone()),
                    (None, None) => {}
                }
            }
            if let Some(&first) = matched.first() {
                demote_primaries(items, first);
            }
            Ok(())
        }
    }
}

fn pointer_tokens(pointer: &str) -> Vec<String> {
    pointer
        .split('/')
        .skip(1)
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect()
}

fn pointer_head(pointer: &str) -> Option<String> {
    pointer_tokens(pointer).into_iter().next()
}

/// Where an RFC 6902 pointer lands.
struct JsonTarget {
    container: Container,
    def: &'static AttrDef,
    index: Option<Index>,
    sub: Option<&'static AttrDef>,
}

enum Index {
    At(usize),
    End,
}

fn json_target(rs: &ResourceSchema, pointer: &str) -> ScimResult<JsonTarget> {
    let bad = |why: &str| ScimError::invalid_path(format!("path {pointer:?}: {why}"));
    let tokens = pointer_tokens(pointer);
    let mut it = tokens.iter();
    let head = it.next().ok_or_else(|| bad("empty pointer"))?;
    let (container, name) = match rs.extension(head) {
        Some(ext) => (
            Container::Extension(ext),
            it.next()
                .ok_or_else(|| bad("name an attribute of the extension"))?,
        ),
        None => (Container::Core, head),
    };
    let path = PatchPath {
        attr: super::filter::AttrPath {
            uri: match container {
                Container::Core => None,
                Container::Extension(e) => Some(e.id.to_owned()),
            },
            name: name.clone(),
            sub: None,
        },
        filter: None,
        sub: None,
    };
    let Target::Attr { container, def, .. } = resolve_key(rs, pointer, &path)? else {
        return Err(bad("name an attribute"));
    };
    let mut index = None;
    let mut sub = None;
    if def.multi_valued
        && let Some(t) = it.next()
    {
        index = Some(if t == "-" {
            Index::End
        } else {
            Index::At(
                t.parse()
                    .map_err(|_| bad("an array index is a number or \"-\""))?,
            )
        });
    }
    if let Some(t) = it.next() {
        sub = Some(def.sub(t).ok_or_else(|| bad("unknown sub-attribute"))?);
    }
    if it.next().is_some() {
        return Err(bad("too deep"));
    }
    Ok(JsonTarget {
        container,
        def,
        index,
        sub,
    })
}

fn apply_json(
    rs: &ResourceSchema,
    doc: &mut Map<String, Value>,
    op: JsonOpKind,
    pointer: &str,
    value: Option<&Value>,
) -> ScimResult<()> {
    let t = json_target(rs, pointer)?;
    for d in std::iter::once(t.def).chain(t.sub) {
        if d.mutability == Mutability::ReadOnly {
            return Err(ScimError::mutability(format!(
                "{pointer}: {} is readOnly",
                d.name
            )));
        }
    }
    let missing = || ScimError::no_target(format!("{pointer}: nothing there"));
    let create = op == JsonOpKind::Add;
    let obj = container_mut(doc, t.container, create).ok_or_else(missing)?;
    let v = value.unwrap_or(&Value::Null);
    if op == JsonOpKind::Test {
        let expected = match t.sub {
            Some(sub) => attr_value(sub, v, pointer)?,
            None if t.index.is_some() => element_value(t.def, v, pointer)?,
            None => attr_value(t.def, v, pointer)?,
        };
        let actual = match (&t.index, t.sub) {
            (None, None) => obj.get(t.def.name).cloned(),
            (None, Some(sub)) => obj.get(t.def.name).and_then(|p| p.get(sub.name)).cloned(),
            (Some(Index::At(i)), s) => obj
                .get(t.def.name)
                .and_then(|a| a.get(*i))
                .and_then(|e| match s {
                    Some(sub) => e.get(sub.name),
                    None => Some(e),
                })
                .cloned(),
            (Some(Index::End), _) => None,
        };
        if actual != expected {
            return Err(ScimError::invalid_value(format!("{pointer}: test failed")));
        }
        return Ok(());
    }
    match (t.index, t.sub) {
        (None, None) => match op {
            JsonOpKind::Remove => {
                obj.remove(t.def.name).ok_or_else(missing)?;
            }
            _ => {
                if op == JsonOpKind::Replace && !obj.contains_key(t.def.name) {
                    return Err(missing());
                }
                match attr_value(t.def, v, pointer)? {
                    Some(new) => obj.insert(t.def.name.to_owned(), new),
                    None => obj.remove(t.def.name),
                };
            }
        },
        (None, Some(sub)) => {
            if t.def.multi_valued {
                return Err(ScimError::invalid_path(format!(
                    "{pointer}: index the array first"
                )));
            }
            if op != JsonOpKind::Add && obj.get(t.def.name).and_then(|p| p.get(sub.name)).is_none()
            {
                return Err(missing());
            }
            let parent = obj
                .entry(t.def.name.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            let parent = parent.as_object_mut().ok_or_else(missing)?;
            match (op, attr_value(sub, v, pointer)?) {
                (JsonOpKind::Remove, _) | (_, None) => {
                    parent.remove(sub.name);
                }
                (_, Some(new)) => {
                    parent.insert(sub.name.to_owned(), new);
                }
            }
        }
        (Some(index), sub) => {
            let entry = obj
                .entry(t.def.name.to_owned())
                .or_insert_with(|| Value::Array(Vec::new()));
            let items = entry.as_array_mut().ok_or_else(missing)?;
            let element = match sub {
                None if op != JsonOpKind::Remove => element_value(t.def, v, pointer)?,
                _ => None,
            };
            match (op, index, sub) {
                (JsonOpKind::Add, Index::End, None) => {
                    items.extend(element);
                }
                (JsonOpKind::Add, Index::At(i), None) if i <= items.len() => {
                    if let Some(e) = element {
                        items.insert(i, e);
                    }
                }
                (JsonOpKind::Replace, Index::At(i), None) if i < items.len() => match element {
                    Some(e) => {
                        if let Some(slot) = items.get_mut(i) {
                            *slot = e;
                        }
                    }
                    None => {
                        items.remove(i);
                    }
                },
                (JsonOpKind::Remove, Index::At(i), None) if i < items.len() => {
                    items.remove(i);
                }
                (_, Index::At(i), Some(sub)) if i < items.len() => {
                    let item = items
                        .get_mut(i)
                        .and_then(Value::as_object_mut)
                        .ok_or_else(missing)?;
                    if op != JsonOpKind::Add && !item.contains_key(sub.name) {
                        return Err(missing());
                    }
                    match (op, attr_value(sub, v, pointer)?) {
                        (JsonOpKind::Remove, _) | (_, None) => {
                            item.remove(sub.name);
                        }
                        (_, Some(new)) => {
                            item.insert(sub.name.to_owned(), new);
                        }
                    }
                }
                _ => return Err(missing()),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
