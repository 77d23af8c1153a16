//! What an IdP sends, made canonical: attribute names spelt as the schema spells them, values
//! of the declared types (Entra's `"False"` becomes `false`), read-only and unknown attributes
//! dropped, extension objects keyed by their URN, and the role aliases (LaunchDarkly's
//! extension, root-level `role`, `customRolesArray`, comma-separated `customRole`) folded into
//! the Gatehouse extension. Also the `attributes`/`excludedAttributes` projection of responses.

use serde_json::{Map, Value};

use super::error::{ScimError, ScimResult};
use super::filter::{AttrPath, split_path_word};
use super::schema::{
    AttrDef, AttrType, GATEHOUSE_SCHEMA, GATEHOUSE_URN, Mutability, ResourceSchema, Returned,
    SchemaDef,
};
use crate::domain::mapping::split_custom_roles;
use crate::domain::text::{check_no_nul, check_plain};

/// Root-level role attributes LaunchDarkly's SCIM API accepts.
const ROOT_ROLE_ALIASES: [&str; 3] = ["role", "customRolesArray", "customRole"];

/// Canonicalises a resource body (no required-attribute check: PATCH passes through
/// incomplete states). The result has a `schemas` array of the URNs in use.
pub fn canonicalize(rs: &ResourceSchema, input: &Value) -> ScimResult<Map<String, Value>> {
    let obj = input
        .as_object()
        .ok_or_else(|| ScimError::invalid_syntax("the body must be a JSON object"))?;
    let mut out = Map::new();
    let mut schemas: Vec<&'static str> = vec![rs.core.id];
    let mut aliases: Vec<(&'static SchemaDef, Map<String, Value>)> = Vec::new();
    let mut root_roles = Map::new();
    for (key, value) in obj {
        if key.eq_ignore_ascii_case("schemas") {
            for urn in schema_list(value)? {
                let schema = rs.schema(urn).ok_or_else(|| {
                    ScimError::invalid_syntax(format!(
                        "schemas: {urn:?} is not a schema of {} (known: {})",
                        rs.name,
                        known_urns(rs)
                    ))
                })?;
                push_unique(&mut schemas, schema.id);
            }
            continue;
        }
        if let Some(ext) = rs.extension(key) {
            let attrs = complex_attrs(ext.attributes, value, ext.id, true)?;
            if rs.aliases.iter().any(|a| a.id == ext.id) {
                push_unique(&mut schemas, ext.id);
                aliases.push((ext, attrs));
            } else if !attrs.is_empty() {
                push_unique(&mut schemas, ext.id);
                merge_into(&mut out, ext.id, attrs);
            }
            continue;
        }
        if rs.extensions.iter().any(|e| e.id == GATEHOUSE_URN)
            && let Some(alias) = ROOT_ROLE_ALIASES
                .iter()
                .find(|a| a.eq_ignore_ascii_case(key))
        {
            root_roles.insert((*alias).to_owned(), value.clone());
            continue;
        }
        let Some(path) = split_path_word(key) else {
            continue;
        };
        let Some(resolved) = rs.resolve(path.uri.as_deref(), &path.name, path.sub.as_deref())
        else {
            // Unknown attributes of known schemas are ignored, consistently.
            continue;
        };
        if resolved.def.mutability == Mutability::ReadOnly
            || resolved.def.mutability == Mutability::WriteOnly
        {
            continue;
        }
        let container = match resolved.container {
            super::schema::Container::Core => &mut out,
            super::schema::Container::Extension(ext) => {
                push_unique(&mut schemas, ext.id);
                let entry = out
                    .entry(ext.id.to_owned())
                    .or_insert_with(|| Value::Object(Map::new()));
                match entry.as_object_mut() {
                    Some(m) => m,
                    None => continue,
                }
            }
        };
        let field = key.as_str();
        match resolved.sub {
            None => {
                if let Some(v) = attr_value(resolved.def, value, field)? {
                    container.insert(resolved.def.name.to_owned(), v);
                } else {
                    container.remove(resolved.def.name);
                }
            }
            Some(sub) if !resolved.def.multi_valued => {
                if sub.mutability == Mutability::ReadOnly {
                    continue;
                }
                let parent = container
                    .entry(resolved.def.name.to_owned())
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Some(parent) = parent.as_object_mut() {
                    match attr_value(sub, value, field)? {
                        Some(v) => {
                            parent.insert(sub.name.to_owned(), v);
                        }
                        None => {
                            parent.remove(sub.name);
                        }
                    }
                }
            }
            Some(_) => {
                return Err(ScimError::invalid_value(format!(
                    "{field}: a sub-attribute of the multi-valued {} needs a value filter",
                    resolved.def.name
                )));
            }
        }
    }
    fold_roles(&mut out, aliases, root_roles)?;
    // Drop empty extension objects and empty complex values left by removals.
    out.retain(|_, v| !is_empty(v));
    // A canonical order: the core schema, the alias if the IdP used it (so responses echo
    // it), then the extensions that have content.
    let mut list = vec![Value::String(rs.core.id.to_owned())];
    for alias in rs.aliases {
        if schemas.contains(&alias.id) {
            list.push(Value::String(alias.id.to_owned()));
        }
    }
    for ext in rs.extensions {
        if out.contains_key(ext.id) {
            list.push(Value::String(ext.id.to_owned()));
        }
    }
    let schemas = list;
    out.insert("schemas".to_owned(), Value::Array(schemas));
    Ok(out)
}

fn known_urns(rs: &ResourceSchema) -> String {
    std::iter::once(rs.core.id)
        .chain(rs.extensions.iter().map(|e| e.id))
        .collect::<Vec<_>>()
        .join(", ")
}

fn schema_list(value: &Value) -> ScimResult<Vec<&str>> {
    let bad = || ScimError::invalid_syntax("schemas: must be an array of schema URNs");
    value
        .as_array()
        .ok_or_else(bad)?
        .iter()
        .map(|v| v.as_str().ok_or_else(bad))
        .collect()
}

fn push_unique(list: &mut Vec<&'static str>, urn: &'static str) {
    if !list.contains(&urn) {
        list.push(urn);
    }
}

fn merge_into(out: &mut Map<String, Value>, key: &str, attrs: Map<String, Value>) {
    match out.get_mut(key).and_then(Value::as_object_mut) {
        Some(existing) => existing.extend(attrs),
        None => {
            out.insert(key.to_owned(), Value::Object(attrs));
        }
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(o) => o.values().all(is_empty),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// The attributes of a complex value or extension object, canonicalised.
fn complex_attrs(
    defs: &'static [AttrDef],
    value: &Value,
    field: &str,
    top_level: bool,
) -> ScimResult<Map<String, Value>> {
    let obj = value
        .as_object()
        .ok_or_else(|| ScimError::invalid_value(format!("{field}: must be an object")))?;
    let mut out = Map::new();
    for (k, v) in obj {
        let Some(def) = defs.iter().find(|d| d.name.eq_ignore_ascii_case(k)) else {
            continue;
        };
        let skip = match def.mutability {
            Mutability::ReadOnly => true,
            Mutability::WriteOnly => top_level,
            _ => false,
        };
        if skip {
            continue;
        }
        if let Some(v) = attr_value(def, v, &format!("{field}.{}", def.name))? {
            out.insert(def.name.to_owned(), v);
        }
    }
    Ok(out)
}

/// One attribute's value, canonicalised; `None` for null or empty.
pub fn attr_value(def: &'static AttrDef, value: &Value, field: &str) -> ScimResult<Option<Value>> {
    if value.is_null() {
        return Ok(None);
    }
    if def.multi_valued {
        let items: Vec<&Value> = match value {
            Value::Array(items) => items.iter().collect(),
            single => vec![single],
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            if let Some(v) = single_value(def, item, &format!("{field}[{i}]"))? {
                out.push(v);
            }
        }
        return Ok((!out.is_empty()).then_some(Value::Array(out)));
    }
    if value.is_array() {
        return Err(ScimError::invalid_value(format!(
            "{field}: {} is single-valued, not an array",
            def.name
        )));
    }
    single_value(def, value, field)
}

/// One element of a multi-valued attribute (or a singular value), canonicalised.
pub fn element_value(
    def: &'static AttrDef,
    value: &Value,
    field: &str,
) -> ScimResult<Option<Value>> {
    single_value(def, value, field)
}

fn single_value(def: &'static AttrDef, value: &Value, field: &str) -> ScimResult<Option<Value>> {
    let wrong = |what: &str| {
        ScimError::invalid_value(format!("{field}: must be {what}, not {}", json_kind(value)))
    };
    Ok(Some(match def.ty {
        _ if value.is_null() => return Ok(None),
        AttrType::String | AttrType::Reference | AttrType::Binary => match value {
            Value::String(s) => {
                let checked = if def.free_text {
                    check_no_nul(field, s)
                } else {
                    check_plain(field, s)
                };
                checked.map_err(|e| ScimError::invalid_value(e.to_string()))?;
                Value::String(s.clone())
            }
            _ => return Err(wrong("a string")),
        },
        AttrType::Boolean => match super::filter::as_bool(value) {
            Some(b) => Value::Bool(b),
            None => return Err(wrong("a boolean")),
        },
        AttrType::Integer => match value.as_i64() {
            Some(n) => Value::from(n),
            None => return Err(wrong("an integer")),
        },
        AttrType::Decimal => match value {
            Value::Number(_) => value.clone(),
            _ => return Err(wrong("a number")),
        },
        AttrType::DateTime => match value.as_str() {
            Some(s) if chrono::DateTime::parse_from_rfc3339(s).is_ok() => value.clone(),
            _ => return Err(wrong("an RFC 3339 dateTime")),
        },
        AttrType::Complex => {
            // Entra sends a manager as a bare id: a string stands for `{"value": ...}`.
            let value = match value {
                Value::String(s) if def.sub("value").is_some() => {
                    serde_json::json!({ "value": s })
                }
                other => other.clone(),
            };
            let attrs = complex_attrs(def.sub_attributes, &value, field, false)?;
            if attrs.is_empty() {
                return Ok(None);
            }
            Value::Object(attrs)
        }
    }))
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Gatehouse's extension wins over LaunchDarkly's, which wins over root-level attributes;
/// `customRole` values are split on commas.
fn fold_roles(
    out: &mut Map<String, Value>,
    aliases: Vec<(&'static SchemaDef, Map<String, Value>)>,
    root: Map<String, Value>,
) -> ScimResult<()> {
    if aliases.is_empty() && root.is_empty() && !out.contains_key(GATEHOUSE_URN) {
        return Ok(());
    }
    let mut roles = out
        .get(GATEHOUSE_URN)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for (_, attrs) in aliases {
        for (k, v) in attrs {
            roles.entry(k).or_insert(v);
        }
    }
    let role_def = GATEHOUSE_SCHEMA.attr("role");
    let custom_def = GATEHOUSE_SCHEMA.attr("customRole");
    if let (Some(role_def), Some(custom_def)) = (role_def, custom_def) {
        for (alias, value) in root {
            let (def, name) = if alias == "role" {
                (role_def, "role")
            } else {
                (custom_def, "customRole")
            };
            if roles.contains_key(name) {
                continue;
            }
            if let Some(v) = attr_value(def, &value, &alias)? {
                roles.insert(name.to_owned(), v);
            }
        }
    }
    if let Some(custom) = roles.get("customRole") {
        let values: Vec<&str> = custom
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let keys = split_custom_roles(values);
        roles.insert(
            "customRole".to_owned(),
            Value::Array(keys.into_iter().map(Value::String).collect()),
        );
    }
    if roles.is_empty() {
        out.remove(GATEHOUSE_URN);
    } else {
        out.insert(GATEHOUSE_URN.to_owned(), Value::Object(roles));
    }
    Ok(())
}

/// The attributes a request asked for (`attributes`) or asked to leave out
/// (`excludedAttributes`): a comma-separated list of attribute paths.
pub fn parse_attribute_list(list: &str) -> ScimResult<Vec<AttrPath>> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            split_path_word(s)
                .ok_or_else(|| ScimError::invalid_value(format!("{s:?} is not an attribute path")))
        })
        .collect()
}

/// What a request asked its response to hold: `attributes` (only these, besides those
/// returned always) and `excludedAttributes` (all but these). The one place projection
/// happens: a command asks it what to load, then applies it to what it rendered.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Projection {
    pub attributes: Vec<AttrPath>,
    pub excluded: Vec<AttrPath>,
}

impl Projection {
    /// From the two comma-separated lists a request may carry.
    pub fn parse(attributes: Option<&str>, excluded: Option<&str>) -> ScimResult<Self> {
        Ok(Projection {
            attributes: parse_attribute_list(attributes.unwrap_or(""))
                .map_err(|e| ScimError::invalid_value(format!("attributes: {}", e.detail)))?,
            excluded: parse_attribute_list(excluded.unwrap_or("")).map_err(|e| {
                ScimError::invalid_value(format!("excludedAttributes: {}", e.detail))
            })?,
        })
    }

    /// True when the request named no attributes either way.
    pub fn is_default(&self) -> bool {
        self.attributes.is_empty() && self.excluded.is_empty()
    }

    /// Whether the response holds (some of) the top-level attribute `name`, so a command can
    /// leave out what nobody will read (a group's members above all).
    pub fn includes(&self, name: &str) -> bool {
        let excluded_whole = self
            .excluded
            .iter()
            .any(|p| p.sub.is_none() && p.name.eq_ignore_ascii_case(name));
        let selected = self.attributes.is_empty()
            || self
                .attributes
                .iter()
                .any(|p| p.name.eq_ignore_ascii_case(name));
        !excluded_whole && selected
    }

    /// The rendered resource as the request asked for it.
    pub fn apply(&self, rs: &ResourceSchema, doc: Value) -> Value {
        project(rs, doc, &self.attributes, &self.excluded)
    }
}

/// Applies `attributes` / `excludedAttributes` to a rendered resource. `id` and `schemas`
/// (returned "always") stay; unknown names select nothing.
pub fn project(
    rs: &ResourceSchema,
    doc: Value,
    attributes: &[AttrPath],
    excluded: &[AttrPath],
) -> Value {
    let Value::Object(mut obj) = doc else {
        return doc;
    };
    if !attributes.is_empty() {
        let mut kept = Map::new();
        for key in ["schemas", "id"] {
            if let Some(v) = obj.get(key) {
                kept.insert(key.to_owned(), v.clone());
            }
        }
        for p in attributes {
            select(rs, &obj, &mut kept, p);
        }
        obj = kept;
    }
    for p in excluded {
        exclude(rs, &mut obj, p);
    }
    Value::Object(obj)
}

fn locate(
    rs: &ResourceSchema,
    p: &AttrPath,
) -> Option<(
    Option<&'static str>,
    &'static AttrDef,
    Option<&'static AttrDef>,
)> {
    let r = rs.resolve(p.uri.as_deref(), &p.name, p.sub.as_deref())?;
    let ext = match r.container {
        super::schema::Container::Core => None,
        super::schema::Container::Extension(e) => Some(e.id),
    };
    Some((ext, r.def, r.sub))
}

fn select(
    rs: &ResourceSchema,
    from: &Map<String, Value>,
    into: &mut Map<String, Value>,
    p: &AttrPath,
) {
    // A bare extension URN selects the whole extension.
    if let Some(uri) = &p.uri {
        let whole = format!("{uri}:{}", p.name);
        if let Some(ext) = rs.extension(&whole) {
            if let Some(v) = from.get(ext.id) {
                into.insert(ext.id.to_owned(), v.clone());
            }
            return;
        }
    }
    let Some((ext, def, sub)) = locate(rs, p) else {
        return;
    };
    let (src, dst) = match ext {
        None => (Some(from), into),
        Some(ext) => {
            let src = from.get(ext).and_then(Value::as_object);
            let dst = into
                .entry(ext.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            match dst.as_object_mut() {
                Some(d) => (src, d),
                None => return,
            }
        }
    };
    let Some(value) = src.and_then(|s| s.get(def.name)) else {
        return;
    };
    match sub {
        None => {
            dst.insert(def.name.to_owned(), value.clone());
        }
        Some(sub) => {
            let picked = pick_sub(value, sub.name);
            if let Some(picked) = picked {
                match (dst.get_mut(def.name), picked) {
                    (Some(Value::Object(existing)), Value::Object(new)) => existing.extend(new),
                    (_, picked) => {
                        dst.insert(def.name.to_owned(), picked);
                    }
                }
            }
        }
    }
}

fn pick_sub(value: &Value, sub: &str) -> Option<Value> {
    match value {
        Value::Object(o) => o.get(sub).map(|v| {
            let mut m = Map::new();
            m.insert(sub.to_owned(), v.clone());
            Value::Object(m)
        }),
        Value::Array(items) => Some(Value::Array(
            items.iter().filter_map(|i| pick_sub(i, sub)).collect(),
        )),
        _ => None,
    }
}

fn exclude(rs: &ResourceSchema, obj: &mut Map<String, Value>, p: &AttrPath) {
    let Some((ext, def, sub)) = locate(rs, p) else {
        return;
    };
    if def.returned == Returned::Always {
        return;
    }
    let target = match ext {
        None => Some(obj),
        Some(ext) => obj.get_mut(ext).and_then(Value::as_object_mut),
    };
    let Some(target) = target else { return };
    match sub {
        None => {
            target.remove(def.name);
        }
        Some(sub) => match target.get_mut(def.name) {
            Some(Value::Object(o)) => {
                o.remove(sub.name);
            }
            Some(Value::Array(items)) => {
                for item in items.iter_mut().filter_map(Value::as_object_mut) {
                    item.remove(sub.name);
                }
            }
            _ => {}
        },
    }
}

/// Longest value the filter index keeps searchable; longer ones (certificates, photos as
/// data URLs) still match `pr`. Keeps index entries within PostgreSQL's b-tree limit.
pub const MAX_INDEXED_VALUE: usize = 512;

/// Attributes the service keeps in columns of its own, so the index leaves them out.
fn column_attribute(rs: &ResourceSchema, container: Option<&str>, name: &str) -> bool {
    container.is_none()
        && match rs.name {
            "User" => ["userName", "externalId", "active"].contains(&name),
            _ => ["externalId", "members"].contains(&name),
        }
}

/// One filter-index row: lower-case path, element number, value (None for the row that
/// stands for an element or a complex value itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexValue {
    pub path: String,
    pub elem: i32,
    pub value: Option<String>,
}

/// The filter-index rows of a canonical document.
pub fn index_values(rs: &ResourceSchema, doc: &Map<String, Value>) -> Vec<IndexValue> {
    let mut out = Vec::new();
    for (key, value) in doc {
        if key == "schemas" {
            continue;
        }
        if let Some(ext) = rs.extension(key) {
            if let Some(attrs) = value.as_object() {
                for (name, v) in attrs {
                    if let Some(def) = ext.attr(name) {
                        let prefix = format!("{}:{}", ext.id, def.name).to_lowercase();
                        index_attr(def, &prefix, v, &mut out);
                    }
                }
            }
            continue;
        }
        let Some(def) = rs.core.attr(key) else {
            continue;
        };
        if column_attribute(rs, None, def.name) {
            continue;
        }
        index_attr(def, &def.name.to_lowercase(), value, &mut out);
    }
    out
}

fn leaf_text(def: &AttrDef, v: &Value) -> Option<String> {
    if def.ty == AttrType::Binary {
        return None;
    }
    match v {
        Value::String(s) if s.chars().count() <= MAX_INDEXED_VALUE => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn index_attr(def: &AttrDef, path: &str, value: &Value, out: &mut Vec<IndexValue>) {
    let items: Vec<&Value> = match (def.multi_valued, value) {
        (true, Value::Array(a)) => a.iter().collect(),
        (_, v) => vec![v],
    };
    for (i, item) in items.into_iter().enumerate() {
        let elem = i32::try_from(i).unwrap_or(i32::MAX);
        if def.ty == AttrType::Complex {
            out.push(IndexValue {
                path: path.to_owned(),
                elem,
                value: None,
            });
            if let Some(obj) = item.as_object() {
                for (k, v) in obj {
                    if let Some(sub) = def.sub(k) {
                        let value = leaf_text(sub, v);
                        out.push(IndexValue {
                            path: format!("{path}.{}", sub.name.to_lowercase()),
                            elem,
                            value,
                        });
                    }
                }
            }
        } else {
            out.push(IndexValue {
                path: path.to_owned(),
                elem,
                value: leaf_text(def, item),
            });
        }
    }
}

/// What a user document tells the mapping rules: every attribute value by its name
/// (`department`), its dotted path (`name.givenName`, `emails` for the addresses) and its
/// URN-qualified name; `role` and `customRole` from the Gatehouse extension.
pub fn idp_profile(
    rs: &ResourceSchema,
    doc: &Map<String, Value>,
) -> crate::domain::mapping::IdpProfile {
    let mut profile = crate::domain::mapping::IdpProfile::default();
    let mut push = |names: &[String], v: &Value| {
        let values: Vec<String> = match v {
            Value::Array(items) => items.iter().filter_map(scalar).collect(),
            other => scalar(other).into_iter().collect(),
        };
        if !values.is_empty() {
            for n in names {
                profile.push(n, values.clone());
            }
        }
    };
    for (key, value) in doc {
        if let Some(ext) = rs.extension(key) {
            for (name, v) in value.as_object().into_iter().flatten() {
                let qualified = format!("{}:{name}", ext.id);
                match v {
                    Value::Object(sub) => {
                        for (k, sv) in sub {
                            push(&[format!("{name}.{k}"), format!("{qualified}.{k}")], sv);
                        }
                        if let Some(val) = sub.get("value") {
                            push(&[name.clone(), qualified.clone()], val);
                        }
                    }
                    other => push(&[name.clone(), qualified], other),
                }
            }
            continue;
        }
        if key == "schemas" {
            continue;
        }
        match value {
            Value::Object(sub) => {
                for (k, sv) in sub {
                    push(&[format!("{key}.{k}")], sv);
                }
            }
            Value::Array(items) if items.iter().all(Value::is_object) => {
                let values: Vec<Value> = items
                    .iter()
                    .filter_map(|i| i.get("value").cloned())
                    .collect();
                push(std::slice::from_ref(key), &Value::Array(values));
            }
            other => push(std::slice::from_ref(key), other),
        }
    }
    profile
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::scim::schema::{ENTERPRISE_URN, GROUP, LAUNCHDARKLY_URN, USER, USER_URN};

    #[test]
    fn entra_and_okta_bodies_become_canonical() {
        let doc = canonicalize(
            &USER,
            &json!({
                "schemas": [USER_URN, ENTERPRISE_URN.to_uppercase()],
                "UserName": "Ann@Example.com", "ACTIVE": "False", "id": "ignored",
                "meta": {"resourceType": "User"}, "password": "secret", "groups": [],
                "emails": [{"Primary": "true", "type": "work", "value": "ann@example.com"}],
                "name": {"givenName": "Ann", "unknown": 1}, "roles": [],
                ENTERPRISE_URN: {"department": "Sales", "manager": "boss-id"},
                "customAttribute": "dropped"
            }),
        )
        .unwrap();
        assert_eq!(
            Value::Object(doc),
            json!({
                "schemas": [USER_URN, ENTERPRISE_URN],
                "userName": "Ann@Example.com", "active": false,
                "emails": [{"primary": true, "type": "work", "value": "ann@example.com"}],
                "name": {"givenName": "Ann"},
                ENTERPRISE_URN: {"department": "Sales", "manager": {"value": "boss-id"}}
            })
        );
    }

    #[test]
    fn role_aliases_fold_into_the_gatehouse_extension() {
        let doc = canonicalize(
            &USER,
            &json!({"userName": "a", "role": "writer", "customRolesArray": ["x", "y"]}),
        )
        .unwrap();
        assert_eq!(
            doc[GATEHOUSE_URN],
            json!({"role": "writer", "customRole": ["x", "y"]})
        );
        let doc = canonicalize(
            &USER,
            &json!({"userName": "a", "customRole": "a, b,,a",
                    LAUNCHDARKLY_URN: {"role": "admin"}, GATEHOUSE_URN: {"customRole": ["z"]}}),
        )
        .unwrap();
        assert_eq!(
            doc[GATEHOUSE_URN],
            json!({"role": "admin", "customRole": ["z"]})
        );
        assert_eq!(
            doc["schemas"],
            json!([USER_URN, LAUNCHDARKLY_URN, GATEHOUSE_URN])
        );
        let doc = canonicalize(&USER, &json!({"customRole": "a,b"})).unwrap();
        assert_eq!(doc[GATEHOUSE_URN]["customRole"], json!(["a", "b"]));
    }

    #[test]
    fn wrong_types_and_unknown_schemas_are_refused() {
        for (body, kind) in [
            (json!({"userName": 5}), "invalidValue"),
            (json!({"active": "maybe"}), "invalidValue"),
            (json!({"emails": [{"value": 1}]}), "invalidValue"),
            (json!({"name": "x"}), "invalidValue"),
            (json!({"userName": ["a"]}), "invalidValue"),
            (json!({"schemas": ["urn:nope"]}), "invalidSyntax"),
            (json!({"schemas": "x"}), "invalidSyntax"),
            (json!([1]), "invalidSyntax"),
        ] {
            let e = canonicalize(&USER, &body).unwrap_err();
            assert_eq!(e.scim_type.map(|t| t.as_str()), Some(kind), "{body}");
        }
        assert!(canonicalize(&GROUP, &json!({"schemas": [ENTERPRISE_URN]})).is_err());
    }

    #[test]
    fn index_rows_and_profile() {
        let doc = canonicalize(
            &USER,
            &json!({"userName": "a", "emails": [{"value": "A@x.io", "type": "work"}],
                    "name": {"givenName": "Ann"}, ENTERPRISE_URN: {"department": "Sales", "manager": "m1"},
                    GATEHOUSE_URN: {"role": "writer", "customRole": ["dev"]}}),
        )
        .unwrap();
        let rows = index_values(&USER, &doc);
        let has = |p: &str, e: i32, v: Option<&str>| {
            rows.contains(&IndexValue {
                path: p.into(),
                elem: e,
                value: v.map(str::to_owned),
            })
        };
        assert!(has("emails", 0, None));
        assert!(has("emails.value", 0, Some("A@x.io")));
        assert!(has("name", 0, None));
        assert!(has("name.givenname", 0, Some("Ann")));
        assert!(has(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user:department",
            0,
            Some("Sales")
        ));
        assert!(has(
            "urn:ietf:params:scim:schemas:extension:gatehouse:2.0:user:customrole",
            0,
            Some("dev")
        ));
        assert!(
            !rows.iter().any(|r| r.path == "username"),
            "userName lives in a column"
        );
        let profile = idp_profile(&USER, &doc);
        assert_eq!(profile.values("department").collect::<Vec<_>>(), ["Sales"]);
        assert_eq!(profile.values("manager").collect::<Vec<_>>(), ["m1"]);
        assert_eq!(profile.values("role").collect::<Vec<_>>(), ["writer"]);
        assert_eq!(profile.values("customRole").collect::<Vec<_>>(), ["dev"]);
        assert_eq!(profile.values("emails").collect::<Vec<_>>(), ["A@x.io"]);
        assert_eq!(
            profile.values("name.givenName").collect::<Vec<_>>(),
            ["Ann"]
        );
    }

    #[test]
    fn projection_keeps_what_was_asked() {
        let doc = json!({"schemas": [USER_URN], "id": "1", "userName": "a", "name": {"givenName": "A", "familyName": "B"},
                         "emails": [{"value": "a@b.c", "type": "work"}], ENTERPRISE_URN: {"department": "x", "division": "y"}});
        let attrs = parse_attribute_list("userName, name.givenName, emails.value").unwrap();
        assert_eq!(
            project(&USER, doc.clone(), &attrs, &[]),
            json!({"schemas": [USER_URN], "id": "1", "userName": "a", "name": {"givenName": "A"}, "emails": [{"value": "a@b.c"}]})
        );
        let attrs = parse_attribute_list(&format!("{ENTERPRISE_URN}:department")).unwrap();
        assert_eq!(
            project(&USER, doc.clone(), &attrs, &[])[ENTERPRISE_URN],
            json!({"department": "x"})
        );
        let excl = parse_attribute_list("emails,id,name.familyName").unwrap();
        let out = project(&USER, doc, &[], &excl);
        assert!(out.get("emails").is_none());
        assert_eq!(out["id"], "1");
        assert_eq!(out["name"], json!({"givenName": "A"}));
    }
}
