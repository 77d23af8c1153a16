//! Evaluates a value filter against one element of a multi-valued complex attribute, as
//! PATCH paths like `emails[type eq "work"]` need. Strings compare case-insensitively unless
//! the sub-attribute is `caseExact`; dateTimes compare as instants.

use serde_json::Value;

use super::ast::{CompareOp, Filter, Literal};
use crate::domain::scim::schema::{AttrDef, AttrType};

/// Whether `element` (an object) satisfies `filter`, whose paths name sub-attributes of
/// `parent`. The error says which part of the filter cannot be evaluated.
pub fn matches(filter: &Filter, element: &Value, parent: &AttrDef) -> Result<bool, String> {
    match filter {
        Filter::And(a, b) => Ok(matches(a, element, parent)? && matches(b, element, parent)?),
        Filter::Or(a, b) => Ok(matches(a, element, parent)? || matches(b, element, parent)?),
        Filter::Not(a) => Ok(!matches(a, element, parent)?),
        Filter::ValuePath { path, .. } => Err(format!("value paths cannot nest ({path})")),
        Filter::Present(path) => {
            let (_, value) = sub_value(path, element, parent)?;
            Ok(is_present(value))
        }
        Filter::Compare { path, op, value } => {
            let (def, actual) = sub_value(path, element, parent)?;
            compare(def, actual, *op, value)
        }
    }
}

fn sub_value<'v>(
    path: &super::AttrPath,
    element: &'v Value,
    parent: &AttrDef,
) -> Result<(&'static AttrDef, Option<&'v Value>), String> {
    if path.uri.is_some() || path.sub.is_some() {
        return Err(format!(
            "{path}: inside [...] name a sub-attribute of {}",
            parent.name
        ));
    }
    let def = parent
        .sub(&path.name)
        .ok_or_else(|| format!("{} has no sub-attribute {:?}", parent.name, path.name))?;
    let value = element.as_object().and_then(|o| {
        o.get(def.name).or_else(|| {
            o.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(def.name))
                .map(|(_, v)| v)
        })
    });
    Ok((def, value))
}

fn is_present(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
        Some(_) => true,
    }
}

fn compare(
    def: &AttrDef,
    actual: Option<&Value>,
    op: CompareOp,
    expected: &Literal,
) -> Result<bool, String> {
    if let Literal::Null = expected {
        return match op {
            CompareOp::Eq => Ok(!is_present(actual)),
            CompareOp::Ne => Ok(is_present(actual)),
            _ => Err(format!(
                "{} null: only eq and ne compare with null",
                op.as_str()
            )),
        };
    }
    let Some(actual) = actual.filter(|v| !v.is_null()) else {
        // An absent value equals nothing, so only `ne` holds.
        return Ok(op == CompareOp::Ne);
    };
    match def.ty {
        AttrType::Boolean => {
            let (Literal::Bool(e), Some(a)) = (expected, as_bool(actual)) else {
                return Ok(op == CompareOp::Ne);
            };
            match op {
                CompareOp::Eq => Ok(a == *e),
                CompareOp::Ne => Ok(a != *e),
                _ => Err(format!("{} is boolean: only eq and ne apply", def.name)),
            }
        }
        AttrType::Integer | AttrType::Decimal => {
            let (Literal::Number(e), Some(a)) = (expected, actual.as_f64()) else {
                return Ok(op == CompareOp::Ne);
            };
            let e = e.as_f64().unwrap_or(f64::NAN);
            ordered(op, a.partial_cmp(&e), def)
        }
        AttrType::DateTime => {
            let (Literal::String(e), Some(a)) = (expected, actual.as_str()) else {
                return Ok(op == CompareOp::Ne);
            };
            let e = chrono::DateTime::parse_from_rfc3339(e)
                .map_err(|_| format!("{e:?} is not an RFC 3339 dateTime"))?;
            let Ok(a) = chrono::DateTime::parse_from_rfc3339(a) else {
                return Ok(op == CompareOp::Ne);
            };
            ordered(op, Some(a.cmp(&e)), def)
        }
        AttrType::Complex => Err(format!(
            "{} is complex: compare its sub-attributes",
            def.name
        )),
        AttrType::String | AttrType::Reference | AttrType::Binary => {
            let (Literal::String(e), Some(a)) = (expected, actual.as_str()) else {
                return Ok(op == CompareOp::Ne);
            };
            let (a, e) = if def.case_exact {
                (a.to_owned(), e.clone())
            } else {
                (a.to_lowercase(), e.to_lowercase())
            };
            Ok(match op {
                CompareOp::Eq => a == e,
                CompareOp::Ne => a != e,
                CompareOp::Co => a.contains(&e),
                CompareOp::Sw => a.starts_with(&e),
                CompareOp::Ew => a.ends_with(&e),
                CompareOp::Gt => a > e,
                CompareOp::Ge => a >= e,
                CompareOp::Lt => a < e,
                CompareOp::Le => a <= e,
            })
        }
    }
}

fn ordered(op: CompareOp, ord: Option<std::cmp::Ordering>, def: &AttrDef) -> Result<bool, String> {
    use std::cmp::Ordering::{Equal, Greater, Less};
    let Some(ord) = ord else {
        return Ok(op == CompareOp::Ne);
    };
    match op {
        CompareOp::Eq => Ok(ord == Equal),
        CompareOp::Ne => Ok(ord != Equal),
        CompareOp::Gt => Ok(ord == Greater),
        CompareOp::Ge => Ok(ord != Less),
        CompareOp::Lt => Ok(ord == Less),
        CompareOp::Le => Ok(ord != Greater),
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => Err(format!(
            "{} is a {}: co, sw and ew apply to strings",
            def.name,
            def.ty.as_str()
        )),
    }
}

/// Booleans as JSON or as the strings Entra sends ("True", "false").
pub(crate) fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}
