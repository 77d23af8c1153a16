//! A connection's SAML and OIDC settings, its mapping rules and a previewed IdP group as the
//! OpenAPI document shows them. The domain's serde types stay the parsers (their errors name
//! the field, `mappings[2].role`); these only document them, and the tests below hold the
//! two together.

use poem_openapi::{Object, Union};

use super::documented::Documented;
use super::spelled::{GrantedRoleName, Key, Matches, NotBlank, Spelled};

/// SAML settings in a request or answer.
pub type SamlBody = Documented<SamlSettingsShape>;
/// OIDC settings in a request or answer.
pub type OidcBody = Documented<OidcSettingsShape>;
/// One mapping rule in a request or answer.
pub type MappingRuleBody = Documented<MappingRuleShape>;
/// One IdP group of a mapping preview.
pub type GroupBody = Documented<GroupShape>;
/// One attribute value of a mapping preview.
pub type AttributeValueBody = Documented<AttributeValueShape>;

/// SAML 2.0 settings: the IdP by `idpMetadataXml`, or by `idpEntityId`, `idpSsoUrl` and
/// `idpCertificates`. `spPrivateKey` is write-only: stored, never shown.
#[derive(Object)]
#[oai(rename = "SamlSettings", rename_all = "camelCase", deny_unknown_fields)]
pub struct SamlSettingsShape {
    /// The IdP's metadata document; when given, it supplies entity ID, SSO URL and certificates.
    pub idp_metadata_xml: Option<String>,
    pub idp_entity_id: Option<String>,
    pub idp_sso_url: Option<String>,
    /// The IdP's single logout URL (HTTP-Redirect binding); without it, the metadata's.
    pub idp_slo_url: Option<String>,
    /// Signing certificates (PEM or bare base64 DER); several are active during a rotation.
    #[oai(default)]
    pub idp_certificates: Vec<String>,
    /// Accept unsolicited (IdP-initiated) responses.
    #[oai(default)]
    pub allow_idp_initiated: bool,
    /// The attribute that carries group names (default `groups`).
    #[oai(validator(custom = "Matches::new()"))]
    pub groups_attribute: Option<Spelled<NotBlank>>,
    /// Accept RSA-SHA1 signatures.
    #[oai(default)]
    pub allow_sha1: bool,
    /// The SP private key (PEM) that decrypts encrypted assertions; a PATCH without it keeps
    /// the previous one.
    pub sp_private_key: Option<String>,
    /// The certificate (PEM) of `spPrivateKey`, published in the SP metadata.
    pub sp_certificate: Option<String>,
    /// The attribute carrying the email address (default: the NameID or a usual attribute).
    pub email_attribute: Option<String>,
    /// Sign-in updates names only; base role, custom roles and teams are left to SCIM.
    #[oai(default)]
    pub leave_roles_to_scim: bool,
    /// Sign AuthnRequests (HTTP-Redirect binding, RSA-SHA256) with `spPrivateKey`; the SP
    /// metadata then says `AuthnRequestsSigned="true"` and publishes the signing certificate.
    #[oai(default)]
    pub sign_requests: bool,
    /// Where the IdP publishes its metadata (https, or http to a loopback host), instead of
    /// `idpMetadataXml`: fetched when saved and every `metadataRefreshMinutes`; a new
    /// certificate is trusted from the next sign-in. How it went shows as `metadataStatus`.
    pub idp_metadata_url: Option<String>,
    /// Minutes between fetches of `idpMetadataUrl` (1 to 1440; default 60).
    #[oai(validator(minimum(value = "1"), maximum(value = "1440")))]
    pub metadata_refresh_minutes: Option<u32>,
}

/// OpenID Connect settings. `clientSecret` is write-only: stored, never shown (see
/// `oidcClientSecretSet`); a PATCH without it keeps the stored one.
#[derive(Object)]
#[oai(rename = "OidcSettings", rename_all = "camelCase", deny_unknown_fields)]
pub struct OidcSettingsShape {
    pub issuer: String,
    /// Not blank.
    #[oai(validator(custom = "Matches::new()"))]
    pub client_id: Spelled<NotBlank>,
    pub client_secret: Option<String>,
    /// Default `["openid", "email", "profile"]`.
    pub scopes: Option<Vec<String>>,
    /// Default `email`.
    #[oai(validator(custom = "Matches::new()"))]
    pub email_claim: Option<Spelled<NotBlank>>,
    /// Default `groups`.
    #[oai(validator(custom = "Matches::new()"))]
    pub groups_claim: Option<Spelled<NotBlank>>,
    /// Default `role`.
    #[oai(validator(custom = "Matches::new()"))]
    pub role_claim: Option<Spelled<NotBlank>>,
    /// Default `customRole`.
    #[oai(validator(custom = "Matches::new()"))]
    pub custom_role_claim: Option<Spelled<NotBlank>>,
    /// Sign-in updates names only; base role, custom roles and teams are left to SCIM.
    #[oai(default)]
    pub leave_roles_to_scim: bool,
}

/// A mapping rule: when `match` holds for a person, they join `team` and get `customRoles`,
/// `roleAttributes` and at least `role`.
#[derive(Object)]
#[oai(rename = "MappingRule", rename_all = "camelCase", deny_unknown_fields)]
pub struct MappingRuleShape {
    #[oai(rename = "match")]
    pub r#match: RuleMatchShape,
    /// Key of the team to join.
    #[oai(validator(custom = "Matches::new()", max_length = 128))]
    pub team: Option<Spelled<Key>>,
    /// Keys of custom roles to grant.
    #[oai(validator(custom = "Matches::new()", max_length = 128))]
    pub custom_roles: Option<Vec<Spelled<Key>>>,
    pub role_attributes: Option<super::members::RoleAttributesBody>,
    /// reader | writer | admin | no_access.
    #[oai(validator(custom = "Matches::new()"))]
    pub role: Option<Spelled<GrantedRoleName>>,
}

/// What a rule matches: an IdP group (name or id, `*` globs), or an attribute's value.
#[derive(Union)]
#[oai(rename = "RuleMatch")]
pub enum RuleMatchShape {
    Group(GroupMatchShape),
    Attribute(AttributeMatchShape),
}

/// Matches a group by name or id; `*` is a glob.
#[derive(Object)]
#[oai(rename = "GroupMatch", deny_unknown_fields)]
pub struct GroupMatchShape {
    #[oai(validator(min_length = 1))]
    pub group: String,
}

/// Matches an attribute holding `value` (among its values).
#[derive(Object)]
#[oai(rename = "AttributeMatch", deny_unknown_fields)]
pub struct AttributeMatchShape {
    #[oai(validator(min_length = 1))]
    pub attribute: String,
    pub value: String,
}

/// An IdP group: its name, or `{"id", "name"}`.
#[derive(Union)]
#[oai(rename = "IdpGroup")]
pub enum GroupShape {
    Name(String),
    Group(IdpGroupShape),
}

/// A profile attribute's value in a mapping preview: a string, number or boolean, or a list
/// of them.
#[derive(Union)]
#[oai(rename = "ProfileAttributeValue")]
pub enum AttributeValueShape {
    Text(String),
    Number(f64),
    Flag(bool),
    List(Vec<ScalarShape>),
}

/// A string, number or boolean.
#[derive(Union)]
#[oai(rename = "ProfileAttributeScalar")]
pub enum ScalarShape {
    Text(String),
    Number(f64),
    Flag(bool),
}

/// A group with its IdP id.
#[derive(Object)]
#[oai(rename = "IdpGroupWithId", deny_unknown_fields)]
pub struct IdpGroupShape {
    pub id: Option<String>,
    pub name: String,
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use poem_openapi::registry::Registry;
    use poem_openapi::types::Type;
    use serde_json::json;

    use super::*;
    use crate::domain::connection::{OidcSettings, SamlSettings};
    use crate::domain::mapping::MappingRuleDoc;
    use crate::service::documented::testing::known_to_serde;

    fn documented<T: Type>(name: &str) -> BTreeSet<String> {
        let mut registry = Registry::new();
        T::register(&mut registry);
        registry.schemas[name]
            .properties
            .iter()
            .map(|(n, _)| (*n).to_owned())
            .collect()
    }

    #[test]
    fn the_documented_fields_are_the_parsers() {
        let unknown = json!({"\u{0}": 0});
        // What the service keeps beside the settings (the fetched metadata and its status)
        // is stored with them but never taken from a request.
        let mut saml = known_to_serde::<SamlSettings>(unknown.clone());
        for kept in ["fetchedMetadataXml", "metadataStatus"] {
            assert!(saml.remove(kept), "{kept}");
        }
        assert_eq!(documented::<SamlSettingsShape>("SamlSettings"), saml);
        assert_eq!(
            documented::<OidcSettingsShape>("OidcSettings"),
            known_to_serde::<OidcSettings>(unknown.clone())
        );
        assert_eq!(
            documented::<MappingRuleShape>("MappingRule"),
            known_to_serde::<MappingRuleDoc>(json!({"match": {"group": "g"}, "\u{0}": 0}))
        );
        // The preview reads a group with a closed struct of these two fields.
        assert_eq!(
            documented::<IdpGroupShape>("IdpGroupWithId"),
            BTreeSet::from(["id".to_owned(), "name".to_owned()])
        );
    }
}
