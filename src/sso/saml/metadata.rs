//! SAML metadata: ours (the SP) as the IdP imports it, and the IdP's as an admin pastes it.

use base64::Engine;

use super::xml::{self, Element, NS_DSIG, NS_METADATA, escape};

const REDIRECT_BINDING: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
const POST_BINDING: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";

/// What an IdP's metadata tells us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdpMetadata {
    pub entity_id: String,
    /// The HTTP-Redirect SingleSignOnService location.
    pub sso_url: Option<String>,
    /// The HTTP-Redirect SingleLogoutService location.
    pub slo_url: Option<String>,
    /// Signing certificates (DER).
    pub certificates: Vec<Vec<u8>>,
}

/// Reads IdP metadata (an `EntityDescriptor`, or the first one of an `EntitiesDescriptor`).
pub fn parse_idp_metadata(text: &str) -> Result<IdpMetadata, String> {
    let root = xml::parse(text).map_err(|e| format!("idpMetadataXml: {e}"))?;
    let entity = if root.is(NS_METADATA, "EntityDescriptor") {
        &root
    } else if root.is(NS_METADATA, "EntitiesDescriptor") {
        root.child(NS_METADATA, "EntityDescriptor")
            .ok_or("idpMetadataXml: no EntityDescriptor")?
    } else {
        return Err("idpMetadataXml: not SAML metadata (EntityDescriptor)".to_owned());
    };
    let entity_id = entity
        .attr("entityID")
        .filter(|v| !v.is_empty())
        .ok_or("idpMetadataXml: EntityDescriptor has no entityID")?
        .to_owned();
    let idp = entity
        .child(NS_METADATA, "IDPSSODescriptor")
        .ok_or("idpMetadataXml: no IDPSSODescriptor")?;
    let sso_url = idp
        .children_named(NS_METADATA, "SingleSignOnService")
        .find(|s| s.attr("Binding") == Some(REDIRECT_BINDING))
        .and_then(|s| s.attr("Location"))
        .map(str::to_owned);
    let slo_url = idp
        .children_named(NS_METADATA, "SingleLogoutService")
        .find(|s| s.attr("Binding") == Some(REDIRECT_BINDING))
        .and_then(|s| s.attr("Location"))
        .map(str::to_owned);
    let mut certificates = Vec::new();
    for kd in idp.children_named(NS_METADATA, "KeyDescriptor") {
        if !matches!(kd.attr("use"), None | Some("signing") | Some("")) {
            continue;
        }
        let mut found: Vec<&Element> = Vec::new();
        kd.descendants_named(NS_DSIG, "X509Certificate", &mut found);
        for cert in found {
            certificates.push(certificate_der(&cert.text())?);
        }
    }
    Ok(IdpMetadata {
        entity_id,
        sso_url,
        slo_url,
        certificates,
    })
}

/// A certificate given as PEM or bare base64 DER, as DER bytes (checked to be X.509).
pub fn certificate_der(text: &str) -> Result<Vec<u8>, String> {
    let body: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("-----"))
        .collect::<String>()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|_| "certificate: not PEM or base64 DER".to_owned())?;
    openssl::x509::X509::from_der(&der).map_err(|_| "certificate: not an X.509 certificate")?;
    Ok(der)
}

/// Our SP metadata: entity ID = the metadata URL, one HTTP-POST ACS, and (when the
/// connection has an SP certificate) the key IdPs encrypt assertions to, which is also the
/// key our AuthnRequests are signed with when `signs_requests`.
pub fn sp_metadata(
    entity_id: &str,
    acs_url: &str,
    sp_cert_der: Option<&[u8]>,
    signs_requests: bool,
) -> String {
    let key_info = |der: &[u8]| {
        format!(
            r#"<ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>"#,
            base64::engine::general_purpose::STANDARD.encode(der)
        )
    };
    let signs_requests = signs_requests && sp_cert_der.is_some();
    let signing = sp_cert_der
        .filter(|_| signs_requests)
        .map(|der| {
            format!(
                r#"<md:KeyDescriptor use="signing">{}</md:KeyDescriptor>"#,
                key_info(der)
            )
        })
        .unwrap_or_default();
    let encryption = sp_cert_der
        .map(|der| {
            format!(
                r#"<md:KeyDescriptor use="encryption">{}<md:EncryptionMethod Algorithm="http://www.w3.org/2009/xmlenc11#aes256-gcm"/><md:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#aes256-cbc"/><md:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"/></md:KeyDescriptor>"#,
                key_info(der)
            )
        })
        .unwrap_or_default();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{entity}"><md:SPSSODescriptor AuthnRequestsSigned="{signs_requests}" WantAssertionsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">{signing}{encryption}<md:SingleLogoutService Binding="{redirect}" Location="{slo}"/><md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat><md:AssertionConsumerService Binding="{post}" Location="{acs}" index="0" isDefault="true"/></md:SPSSODescriptor></md:EntityDescriptor>
"#,
        entity = escape(entity_id),
        acs = escape(acs_url),
        post = POST_BINDING,
        redirect = REDIRECT_BINDING,
        slo = escape(&slo_url(acs_url)),
    )
}

/// Our single logout endpoint, beside the ACS: `/sso/{key}/saml/slo`.
pub fn slo_url(acs_url: &str) -> String {
    format!("{}/slo", acs_url.trim_end_matches("/acs"))
}
