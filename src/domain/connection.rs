//! Identity connections: which IdP, what SCIM DELETE means, and the SAML and OIDC settings a
//! connection signs people in with. Shapes and their validation only; the protocols live in
//! `sso/`.

use serde::{Deserialize, Serialize};

/// The identity provider behind a connection. Kinds differ in their SCIM dialects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConnectionKind {
    Okta,
    Entra,
    Generic,
}

impl ConnectionKind {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "okta" => Some(Self::Okta),
            "entra" => Some(Self::Entra),
            "generic" => Some(Self::Generic),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Okta => "okta",
            Self::Entra => "entra",
            Self::Generic => "generic",
        }
    }
}

/// What a SCIM DELETE of a user does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Deprovision {
    /// Keep the member, deactivated, with its history (the default).
    #[default]
    Deactivate,
    /// Remove the member record (its audit history stays).
    Delete,
}

impl Deprovision {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "deactivate" => Some(Self::Deactivate),
            "delete" => Some(Self::Delete),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deactivate => "deactivate",
            Self::Delete => "delete",
        }
    }
}

/// SAML 2.0 settings: the IdP by metadata, or by entity ID, SSO URL and certificate(s).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SamlSettings {
    /// The IdP's metadata document; when given, it supplies entity ID, SSO URL and certificates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp_metadata_xml: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp_entity_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp_sso_url: Option<String>,
    /// The IdP's single logout URL (HTTP-Redirect); else the metadata's, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp_slo_url: Option<String>,
    /// Signing certificates (PEM or bare base64 DER); several are active during a rotation.
    #[serde(default)]
    pub idp_certificates: Vec<String>,
    /// Accept unsolicited (IdP-initiated) responses.
    #[serde(default)]
    pub allow_idp_initiated: bool,
    /// The attribute that carries group names.
    #[serde(default = "default_groups_attribute")]
    pub groups_attribute: String,
    /// Accept RSA-SHA1 signatures (refused unless the connection opts in).
    #[serde(default)]
    pub allow_sha1: bool,
    /// The SP private key (PEM) that decrypts encrypted assertions. Write-only: stored,
    /// never shown; a PATCH without it keeps the previous one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sp_private_key: Option<String>,
    /// The certificate (PEM) of `spPrivateKey`, published in our metadata so the IdP can
    /// encrypt to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sp_certificate: Option<String>,
    /// The attribute carrying the email address; without it the NameID (when it is an
    /// email) or a usual email attribute (`email`, `mail`, the Entra/ADFS claim URI) is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_attribute: Option<String>,
    /// Sign-in updates names only; base role, custom roles and teams are left to SCIM.
    #[serde(default)]
    pub leave_roles_to_scim: bool,
    /// Sign AuthnRequests (HTTP-Redirect binding, RSA-SHA256) with `spPrivateKey`, for IdPs
    /// that require signed requests; the metadata then says `AuthnRequestsSigned="true"`.
    #[serde(default)]
    pub sign_requests: bool,
    /// Where the IdP publishes its metadata: fetched when the connection is saved and every
    /// `metadataRefreshMinutes`, so a certificate the IdP rotates in is trusted from the next
    /// sign-in. Instead of `idpMetadataXml`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp_metadata_url: Option<String>,
    /// Minutes between fetches of `idpMetadataUrl` (1 to 1440; default 60).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_refresh_minutes: Option<u32>,
    /// The last good document fetched from `idpMetadataUrl` (kept by the service, never
    /// taken from a request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetched_metadata_xml: Option<String>,
    /// How fetching `idpMetadataUrl` went (kept by the service, never taken from a request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_status: Option<MetadataStatus>,
}

/// How fetching a connection's IdP metadata went.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetadataStatus {
    /// When a fetch was last tried (epoch ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempt: Option<i64>,
    /// When a fetch last gave good metadata (epoch ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_success: Option<i64>,
    /// Why the last failed fetch failed, and when; cleared by the next good one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error_at: Option<i64>,
    /// The entity ID of the good metadata: later documents must name the same one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_id: Option<String>,
    /// SHA-256 fingerprints (hex) of the signing certificates of the good metadata.
    #[serde(default)]
    pub certificates: Vec<String>,
}

/// The default of `metadataRefreshMinutes`.
pub const DEFAULT_METADATA_REFRESH_MINUTES: u32 = 60;

impl SamlSettings {
    /// Minutes between metadata fetches.
    pub fn metadata_refresh_minutes(&self) -> u32 {
        self.metadata_refresh_minutes
            .unwrap_or(DEFAULT_METADATA_REFRESH_MINUTES)
    }

    /// The settings a request gave, without what only the service keeps.
    pub fn as_requested(mut self) -> SamlSettings {
        self.fetched_metadata_xml = None;
        self.metadata_status = None;
        self
    }
}

/// OpenID Connect settings. `clientSecret` is write-only: stored, never shown.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OidcSettings {
    pub issuer: String,
    pub client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    #[serde(default = "default_email_claim")]
    pub email_claim: String,
    #[serde(default = "default_groups_attribute")]
    pub groups_claim: String,
    #[serde(default = "default_role_claim")]
    pub role_claim: String,
    #[serde(default = "default_custom_role_claim")]
    pub custom_role_claim: String,
    /// Sign-in updates names only; base role, custom roles and teams are left to SCIM.
    #[serde(default)]
    pub leave_roles_to_scim: bool,
}

fn default_groups_attribute() -> String {
    "groups".to_owned()
}
fn default_scopes() -> Vec<String> {
    ["openid", "email", "profile"].map(String::from).to_vec()
}
fn default_email_claim() -> String {
    "email".to_owned()
}
fn default_role_claim() -> String {
    "role".to_owned()
}
fn default_custom_role_claim() -> String {
    "customRole".to_owned()
}

impl SamlSettings {
    /// Checks the shape, naming the field (`saml.idpSsoUrl: ...`).
    pub fn validate(&self) -> Result<(), String> {
        if let Some(url) = &self.idp_slo_url {
            check_url("saml.idpSloUrl", url)?;
        }
        if let Some(url) = &self.idp_metadata_url {
            check_url("saml.idpMetadataUrl", url)?;
            if self.idp_metadata_xml.is_some() {
                return Err("saml.idpMetadataUrl: give it or idpMetadataXml, not both".into());
            }
        }
        if let Some(minutes) = self.metadata_refresh_minutes
            && !(1..=1440).contains(&minutes)
        {
            return Err("saml.metadataRefreshMinutes: must be 1 to 1440".into());
        }
        match &self.idp_metadata_xml {
            _ if self.idp_metadata_url.is_some() => {}
            Some(xml) => {
                if !xml.trim_start().starts_with('<') {
                    return Err("saml.idpMetadataXml: is not an XML document".into());
                }
            }
            None => {
                if self.idp_entity_id.as_deref().is_none_or(str::is_empty) {
                    return Err("saml.idpEntityId: required without idpMetadataXml".into());
                }
                match &self.idp_sso_url {
                    Some(url) => check_url("saml.idpSsoUrl", url)?,
                    None => return Err("saml.idpSsoUrl: required without idpMetadataXml".into()),
                }
                if self.idp_certificates.is_empty() {
                    return Err(
                        "saml.idpCertificates: at least one signing certificate is required without idpMetadataXml"
                            .into(),
                    );
                }
            }
        }
        for (i, cert) in self.idp_certificates.iter().enumerate() {
            if certificate_der(cert).is_none() {
                return Err(format!(
                    "saml.idpCertificates[{i}]: is not a PEM or base64 DER certificate"
                ));
            }
        }
        if self.groups_attribute.trim().is_empty() {
            return Err("saml.groupsAttribute: must not be empty".into());
        }
        if let Some(key) = &self.sp_private_key
            && !(key.contains("-----BEGIN") && key.contains("PRIVATE KEY-----"))
        {
            return Err("saml.spPrivateKey: must be a PEM private key".into());
        }
        if let Some(cert) = &self.sp_certificate
            && certificate_der(cert).is_none()
        {
            return Err("saml.spCertificate: is not a PEM or base64 DER certificate".into());
        }
        if self.sp_private_key.is_some() && self.sp_certificate.is_none() {
            return Err("saml.spCertificate: required with spPrivateKey".into());
        }
        if self.sign_requests && self.sp_certificate.is_none() {
            return Err("saml.signRequests: needs spPrivateKey and spCertificate".into());
        }
        Ok(())
    }

    /// The settings as shown: without the SP private key (nor the fetched document, whose
    /// status and certificate fingerprints are shown).
    pub fn redacted(&self) -> SamlSettings {
        SamlSettings {
            sp_private_key: None,
            fetched_metadata_xml: None,
            ..self.clone()
        }
    }
}

impl OidcSettings {
    /// Checks the shape, naming the field (`oidc.issuer: ...`).
    pub fn validate(&self) -> Result<(), String> {
        check_url("oidc.issuer", &self.issuer)?;
        if self.client_id.trim().is_empty() {
            return Err("oidc.clientId: must not be empty".into());
        }
        if !self.scopes.iter().any(|s| s == "openid") {
            return Err("oidc.scopes: must include openid".into());
        }
        for (field, claim) in [
            ("emailClaim", &self.email_claim),
            ("groupsClaim", &self.groups_claim),
            ("roleClaim", &self.role_claim),
            ("customRoleClaim", &self.custom_role_claim),
        ] {
            if claim.trim().is_empty() {
                return Err(format!("oidc.{field}: must not be empty"));
            }
        }
        Ok(())
    }

    /// The settings as shown: without the secret.
    pub fn redacted(&self) -> OidcSettings {
        OidcSettings {
            client_secret: None,
            ..self.clone()
        }
    }
}

/// The DER bytes of a certificate given as PEM or as bare base64.
pub fn certificate_der(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let body: String = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body.as_bytes())
        .ok()?;
    // A DER certificate is a SEQUENCE.
    (der.first() == Some(&0x30) && der.len() > 64).then_some(der)
}

/// https URLs, or http to a loopback host (development and tests).
fn check_url(field: &str, url: &str) -> Result<(), String> {
    let loopback = ["http://127.0.0.1", "http://localhost", "http://[::1]"]
        .iter()
        .any(|p| {
            url.strip_prefix(p)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with([':', '/']))
        });
    let https = url
        .strip_prefix("https://")
        .is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/'));
    if https || loopback {
        Ok(())
    } else {
        Err(format!(
            "{field}: {url:?} must be an https URL (http only to a loopback host)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CERT: &str = "MIIBszCCAVmgAwIBAgIUQ2Vyd...";

    fn der_b64() -> String {
        use base64::Engine;
        let mut der = vec![0x30u8, 0x82, 0x01, 0x00];
        der.extend(std::iter::repeat_n(7u8, 100));
        base64::engine::general_purpose::STANDARD.encode(der)
    }

    #[test]
    fn saml_by_parts_needs_entity_url_and_cert() {
        let s: SamlSettings = serde_json::from_value(json!({
            "idpEntityId": "http://www.okta.com/exk1", "idpSsoUrl": "https://x.okta.com/sso",
            "idpCertificates": [format!("-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----", der_b64())]
        }))
        .unwrap();
        assert_eq!(s.validate(), Ok(()));
        assert_eq!(s.groups_attribute, "groups");
        let mut no_cert = s.clone();
        no_cert.idp_certificates.clear();
        assert!(
            no_cert
                .validate()
                .unwrap_err()
                .starts_with("saml.idpCertificates")
        );
        let mut bad_cert = s.clone();
        bad_cert.idp_certificates = vec![CERT.into()];
        assert!(
            bad_cert
                .validate()
                .unwrap_err()
                .starts_with("saml.idpCertificates[0]")
        );
        let mut http = s.clone();
        http.idp_sso_url = Some("http://idp.example.com/sso".into());
        assert!(http.validate().unwrap_err().starts_with("saml.idpSsoUrl"));
        let meta = SamlSettings {
            idp_metadata_xml: Some("<md:EntityDescriptor/>".into()),
            groups_attribute: "groups".into(),
            ..Default::default()
        };
        assert_eq!(meta.validate(), Ok(()));
        assert!(serde_json::from_value::<SamlSettings>(json!({"bogus": 1})).is_err());
    }

    #[test]
    fn oidc_settings_and_redaction() {
        let s: OidcSettings = serde_json::from_value(json!({
            "issuer": "https://login.microsoftonline.com/t/v2.0", "clientId": "abc",
            "clientSecret": "s3cret"
        }))
        .unwrap();
        assert_eq!(s.validate(), Ok(()));
        assert_eq!(s.scopes, ["openid", "email", "profile"]);
        assert_eq!(s.redacted().client_secret, None);
        let local = OidcSettings {
            issuer: "http://127.0.0.1:9000".into(),
            ..s.clone()
        };
        assert_eq!(local.validate(), Ok(()));
        for bad in [
            "http://evil.example",
            "ftp://x",
            "https://",
            "http://localhost.evil.com",
        ] {
            let o = OidcSettings {
                issuer: bad.into(),
                ..s.clone()
            };
            assert!(o.validate().is_err(), "{bad}");
        }
        let no_openid = OidcSettings {
            scopes: vec!["email".into()],
            ..s
        };
        assert!(no_openid.validate().unwrap_err().starts_with("oidc.scopes"));
    }
}
