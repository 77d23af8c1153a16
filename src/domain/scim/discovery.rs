//! What the discovery endpoints publish: `ServiceProviderConfig` (what is really supported),
//! `ResourceTypes` and `Schemas`, rendered from the schema table.

use serde_json::{Value, json};

use super::schema::{
    AttrDef, AttrType, GATEHOUSE_URN, GROUP, LIST_RESPONSE_URN, ResourceSchema, SchemaDef, USER,
    published_schemas,
};

/// Largest page a list returns; a larger `count` is cut to this.
pub const MAX_RESULTS: u64 = 1000;

const SPC_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
const RESOURCE_TYPE_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
const SCHEMA_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

/// The resource types served.
pub const RESOURCE_TYPES: [&ResourceSchema; 2] = [&USER, &GROUP];

/// `GET /ServiceProviderConfig`. Bulk and password changes are not implemented, and say so.
pub fn service_provider_config(base: &str) -> Value {
    json!({
        "schemas": [SPC_URN],
        "documentationUri": format!("{base}/docs"),
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": MAX_RESULTS},
        "changePassword": {"supported": false},
        "sort": {"supported": true},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "Bearer token",
            "description": "A SCIM token of an identity connection (POST /api/v2/connections/{key}/scim-tokens), sent as Authorization: Bearer <token>.",
            "primary": true
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{base}/ServiceProviderConfig")
        }
    })
}

/// One `ResourceType`.
pub fn resource_type(base: &str, rs: &ResourceSchema) -> Value {
    json!({
        "schemas": [RESOURCE_TYPE_URN],
        "id": rs.name,
        "name": rs.name,
        "endpoint": rs.endpoint,
        "description": rs.description,
        "schema": rs.core.id,
        "schemaExtensions": rs.extensions.iter().map(|e| json!({"schema": e.id, "required": false})).collect::<Vec<_>>(),
        "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/{}", rs.name)}
    })
}

/// The resource type with this name (case-insensitive).
pub fn find_resource_type(name: &str) -> Option<&'static ResourceSchema> {
    RESOURCE_TYPES
        .into_iter()
        .find(|rs| rs.name.eq_ignore_ascii_case(name))
}

/// One `Schema` document. `custom_roles` are the keys an IdP may send as `customRole` (the
/// custom roles that exist and need no role attributes), published as its canonical values.
pub fn schema(base: &str, s: &SchemaDef, custom_roles: &[String]) -> Value {
    json!({
        "schemas": [SCHEMA_URN],
        "id": s.id,
        "name": s.name,
        "description": s.description,
        "attributes": s.attributes.iter().map(|a| attribute(a, s.id == GATEHOUSE_URN, custom_roles)).collect::<Vec<_>>(),
        "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{}", s.id)}
    })
}

/// The published schema with this URN (case-insensitive).
pub fn find_schema(urn: &str) -> Option<&'static SchemaDef> {
    published_schemas()
        .into_iter()
        .find(|s| s.id.eq_ignore_ascii_case(urn))
}

fn attribute(a: &AttrDef, roles_extension: bool, custom_roles: &[String]) -> Value {
    let mut v = json!({
        "name": a.name,
        "type": a.ty.as_str(),
        "multiValued": a.multi_valued,
        "description": a.description,
        "required": a.required,
        "caseExact": a.case_exact,
        "mutability": a.mutability.as_str(),
        "returned": a.returned.as_str(),
        "uniqueness": a.uniqueness.as_str(),
    });
    let Some(obj) = v.as_object_mut() else {
        return v;
    };
    if a.ty == AttrType::Complex {
        obj.insert(
            "subAttributes".to_owned(),
            Value::Array(
                a.sub_attributes
                    .iter()
                    .map(|s| attribute(s, false, &[]))
                    .collect(),
            ),
        );
    }
    let canonical: Vec<Value> = if roles_extension && a.name == "customRole" {
        custom_roles
            .iter()
            .map(|k| Value::String(k.clone()))
            .collect()
    } else {
        a.canonical_values.iter().map(|c| json!(c)).collect()
    };
    if !canonical.is_empty() {
        obj.insert("canonicalValues".to_owned(), Value::Array(canonical));
    }
    if a.ty == AttrType::Reference {
        obj.insert("referenceTypes".to_owned(), json!(a.reference_types));
    }
    v
}

/// A ListResponse of everything (discovery lists are short and unpaged).
pub fn list(resources: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_RESPONSE_URN],
        "totalResults": resources.len(),
        "startIndex": 1,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_is_honest_and_complete() {
        let spc = service_provider_config("https://g.example/scim/v2");
        assert_eq!(spc["bulk"]["supported"], false);
        assert_eq!(spc["changePassword"]["supported"], false);
        assert_eq!(spc["filter"]["maxResults"], MAX_RESULTS);
        let rt = resource_type("b", &USER);
        assert_eq!(rt["schemaExtensions"].as_array().unwrap().len(), 2);
        let s = schema(
            "b",
            find_schema(GATEHOUSE_URN).unwrap(),
            &["dev".to_owned()],
        );
        assert_eq!(
            s["attributes"][0]["canonicalValues"],
            json!(["reader", "writer", "admin", "no_access"])
        );
        assert_eq!(s["attributes"][1]["canonicalValues"], json!(["dev"]));
        let user = schema(
            "b",
            find_schema("URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:USER").unwrap(),
            &[],
        );
        let emails = user["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == "emails")
            .unwrap();
        assert_eq!(emails["subAttributes"].as_array().unwrap().len(), 4);
        assert!(find_resource_type("groups").is_none());
        assert!(find_resource_type("group").is_some());
    }
}
