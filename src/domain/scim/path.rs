//! PATCH paths (RFC 7644 §3.5.2): `attrPath [ "[" valFilter "]" [ "." subAttr ] ]`, resolved
//! against a resource type's schema.

use super::error::{ScimError, ScimResult};
use super::filter::{AttrPath, Filter, FilterError, parse_path_filter};
use super::schema::{AttrDef, AttrType, Container, ResourceSchema, SchemaDef};

/// A parsed, unresolved path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchPath {
    pub attr: AttrPath,
    pub filter: Option<Filter>,
    /// The sub-attribute after `]`.
    pub sub: Option<String>,
}

fn path_error(input: &str, e: FilterError) -> ScimError {
    ScimError::invalid_path(format!("path {input:?}: {e}"))
}

/// Parses a PATCH path.
pub fn parse_path(input: &str) -> ScimResult<PatchPath> {
    let bad = |why: &str| ScimError::invalid_path(format!("path {input:?}: {why}"));
    let head_len = input.find('[').unwrap_or(input.len());
    let head = input.get(..head_len).unwrap_or("").trim();
    let attr = super::filter::split_path_word(head)
        .ok_or_else(|| bad("not an attribute path ([urn:]name[.sub])"))?;
    if head_len == input.len() {
        return Ok(PatchPath {
            attr,
            filter: None,
            sub: None,
        });
    }
    if attr.sub.is_some() {
        return Err(bad(
            "a value filter follows a multi-valued attribute, not a sub-attribute",
        ));
    }
    let (filter, end) = parse_path_filter(input, head_len + 1).map_err(|e| path_error(input, e))?;
    let tail = input.get(end..).unwrap_or("").trim_end();
    let sub = match tail.strip_prefix('.') {
        None if tail.is_empty() => None,
        Some(s)
            if super::filter::split_path_word(s)
                .is_some_and(|p| p.uri.is_none() && p.sub.is_none()) =>
        {
            Some(s.to_owned())
        }
        _ => return Err(bad("only \".subAttribute\" may follow the value filter")),
    };
    Ok(PatchPath {
        attr,
        filter: Some(filter),
        sub,
    })
}

/// What a path designates in a resource.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// A whole extension object (`urn:...:enterprise:2.0:User`).
    Extension(&'static SchemaDef),
    Attr {
        container: Container,
        def: &'static AttrDef,
        /// Elements of a multi-valued complex attribute that match.
        filter: Option<Filter>,
        /// The sub-attribute, of the attribute or of the matching elements.
        sub: Option<&'static AttrDef>,
    },
}

/// Resolves a path against the schema; unknown names are `invalidPath`.
pub fn resolve(rs: &ResourceSchema, path: &PatchPath, raw: &str) -> ScimResult<Target> {
    let bad = |why: String| ScimError::invalid_path(format!("path {raw:?}: {why}"));
    let attr = &path.attr;
    if let (Some(uri), None, None) = (&attr.uri, &attr.sub, &path.filter) {
        let whole = format!("{uri}:{}", attr.name);
        if let Some(ext) = rs.extension(&whole) {
            return Ok(Target::Extension(ext));
        }
    }
    let resolved = rs
        .resolve(attr.uri.as_deref(), &attr.name, None)
        .ok_or_else(|| bad(format!("{} has no attribute {attr}", rs.name)))?;
    let def = resolved.def;
    let sub_name = attr.sub.as_deref().or(path.sub.as_deref());
    let sub = match sub_name {
        None => None,
        Some(s) => Some(
            def.sub(s)
                .ok_or_else(|| bad(format!("{} has no sub-attribute {s:?}", def.name)))?,
        ),
    };
    if path.filter.is_some() && !(def.multi_valued && def.ty == AttrType::Complex) {
        return Err(bad(format!(
            "{} is not a multi-valued complex attribute, so it takes no [filter]",
            def.name
        )));
    }
    Ok(Target::Attr {
        container: resolved.container,
        def,
        filter: path.filter.clone(),
        sub,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::scim::schema::{ENTERPRISE_SCHEMA, GROUP, USER};

    #[test]
    fn paths_parse_and_resolve() {
        let p = parse_path(r#"emails[type eq "work"].value"#).unwrap();
        assert_eq!(p.sub.as_deref(), Some("value"));
        let t = resolve(&USER, &p, "").unwrap();
        assert!(
            matches!(t, Target::Attr { def, sub: Some(s), filter: Some(_), .. } if def.name == "emails" && s.name == "value")
        );

        let p = parse_path(r#"members[value eq "2819c223-7f76-453a-919d-413861904646"]"#).unwrap();
        assert!(resolve(&GROUP, &p, "").is_ok());

        let p = parse_path("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User").unwrap();
        assert_eq!(
            resolve(&USER, &p, "").unwrap(),
            Target::Extension(&ENTERPRISE_SCHEMA)
        );
        let p = parse_path("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager")
            .unwrap();
        assert!(
            matches!(resolve(&USER, &p, "").unwrap(), Target::Attr { def, .. } if def.name == "manager")
        );
        let p = parse_path("NAME.FamilyName").unwrap();
        assert!(
            matches!(resolve(&USER, &p, "").unwrap(), Target::Attr { sub: Some(s), .. } if s.name == "familyName")
        );

        for bad in [
            "",
            "emails[type eq \"work\"",
            "emails[type eq \"work\"]x",
            "name.givenName[type pr]",
            "a b",
            "emails[type eq]",
        ] {
            let e = parse_path(bad).unwrap_err();
            assert_eq!(
                e.scim_type,
                Some(crate::domain::scim::error::ScimType::InvalidPath),
                "{bad}"
            );
        }
        for unknown in ["nope", "name.nope", "userName[value pr]", "urn:x:y:z"] {
            let p = parse_path(unknown).unwrap();
            assert!(resolve(&USER, &p, unknown).is_err(), "{unknown}");
        }
    }
}
