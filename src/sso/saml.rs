//! SAML 2.0 service provider per connection: `GET /sso/{key}/saml/metadata` (entity ID = that
//! URL), SP-initiated `GET /sso/{key}/saml/login?returnTo=` (HTTP-Redirect AuthnRequest) and
//! the ACS `POST /sso/{key}/saml/acs` (HTTP-POST binding). AuthnRequests are signed when the
//! connection asks for it (`signRequests`).

pub mod decrypt;
pub mod logout;
pub mod metadata;
pub mod metadata_refresh;
pub mod request;
pub mod sp_key;
pub mod verifier;
pub mod xml;

use std::collections::BTreeMap;

use base64::Engine;
use poem::http::StatusCode;
use poem::web::{Data, Form, Path, Query};
use poem::{IntoResponse, Request, Response, handler};
use serde::Deserialize;

use self::verifier::{SamlTrust, VerifiedAssertion};
use super::{complete_login_response, connection_or_refusal, refusal_response, request_ctx};
use crate::domain::connection::SamlSettings;
use crate::domain::mapping::{IdpGroup, IdpProfile};
use crate::domain::sso::{Refusal, safe_return_to};
use crate::service::Service;
use crate::service::idp_logout::IdpSessions;
use crate::service::sessions::EndedSession;
use crate::service::sessions::SsoSettings;
use crate::service::sso_login::{Protocol, SamlRequestKind, SignInConnection, VerifiedIdentity};

/// Attribute names read for the email address when no `emailAttribute` is set.
const EMAIL_ATTRIBUTES: &[&str] = &[
    "email",
    "mail",
    "emailAddress",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
];
const FIRST_NAME_ATTRIBUTES: &[&str] = &[
    "firstName",
    "givenName",
    "given_name",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname",
];
const LAST_NAME_ATTRIBUTES: &[&str] = &[
    "lastName",
    "surname",
    "sn",
    "family_name",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname",
];

/// Our entity ID (= metadata URL) and ACS URL for a connection.
pub fn sp_urls(settings: &SsoSettings, key: &str) -> (String, String) {
    let base = format!("{}/sso/{key}/saml", settings.public_url);
    (format!("{base}/metadata"), format!("{base}/acs"))
}

/// A connection's SAML settings resolved: what the verifier trusts and where to send people.
pub struct SamlConnection {
    pub trust: SamlTrust,
    pub idp_sso_url: Option<String>,
    pub idp_slo_url: Option<String>,
    pub sp_certificate_der: Option<Vec<u8>>,
    pub settings: SamlSettings,
}

/// Resolves settings (metadata XML or entity ID + SSO URL + certificates) into trust.
pub fn resolve(
    settings: &SamlSettings,
    sso: &SsoSettings,
    key: &str,
) -> Result<SamlConnection, String> {
    let mut idp_entity_id = settings.idp_entity_id.clone();
    let mut idp_sso_url = settings.idp_sso_url.clone();
    let mut idp_slo_url = settings.idp_slo_url.clone();
    let mut certificates = Vec::new();
    // Metadata by URL: the last good document fetched (none yet: nothing is trusted).
    let document = settings
        .idp_metadata_xml
        .as_ref()
        .or(settings.fetched_metadata_xml.as_ref());
    if let Some(doc) = document {
        let meta = metadata::parse_idp_metadata(doc)?;
        idp_entity_id = idp_entity_id.or(Some(meta.entity_id));
        idp_sso_url = idp_sso_url.or(meta.sso_url);
        idp_slo_url = idp_slo_url.or(meta.slo_url);
        certificates.extend(meta.certificates);
    }
    for cert in &settings.idp_certificates {
        let der = metadata::certificate_der(cert)?;
        if !certificates.contains(&der) {
            certificates.push(der);
        }
    }
    if certificates.is_empty() {
        // Without a certificate nothing could be verified: refuse the configuration.
        return Err("no IdP signing certificate".to_owned());
    }
    let idp_entity_id = idp_entity_id
        .filter(|e| !e.is_empty())
        .ok_or("no IdP entity ID")?;
    let sp_key = settings
        .sp_private_key
        .as_deref()
        .map(sp_key::SpKey::from_pem)
        .transpose()?;
    let sp_certificate_der = settings
        .sp_certificate
        .as_deref()
        .map(metadata::certificate_der)
        .transpose()?;
    if settings.sign_requests && sp_key.as_ref().and_then(sp_key::SpKey::rsa).is_none() {
        return Err("signRequests needs an RSA spPrivateKey".to_owned());
    }
    let (sp_entity_id, acs_url) = sp_urls(sso, key);
    Ok(SamlConnection {
        trust: SamlTrust {
            sp_entity_id,
            acs_url,
            idp_entity_id,
            idp_certificates: certificates,
            allow_sha1: settings.allow_sha1,
            allow_idp_initiated: settings.allow_idp_initiated,
            sp_key,
        },
        idp_sso_url,
        idp_slo_url,
        sp_certificate_der,
        settings: settings.clone(),
    })
}

/// The connection's resolved SAML configuration, or why there is none.
async fn saml_connection(
    service: &Service,
    connection: &SignInConnection,
) -> Result<SamlConnection, Refusal> {
    let settings = connection.saml.as_ref().ok_or(Refusal::NotConfigured)?;
    resolve(settings, &service.sso_settings(), &connection.key).map_err(|e| {
        tracing::warn!(connection = %connection.key, error = %e, "SAML settings are unusable");
        Refusal::NotConfigured
    })
}

/// The attribute Entra sends in place of the groups when a person is in more than 150 groups
/// (its value a Graph link to them): the groups are unknown, not none.
const GROUPS_LINK_ATTRIBUTE: &str = "http://schemas.microsoft.com/claims/groups.link";

fn first_value(attributes: &BTreeMap<String, Vec<String>>, names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| {
        attributes
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .and_then(|(_, v)| v.iter().find(|s| !s.trim().is_empty()))
            .map(|s| s.trim().to_owned())
    })
}

/// What a verified assertion says about the person, as the login service reads it.
pub fn identity_of(
    assertion: &VerifiedAssertion,
    settings: &SamlSettings,
) -> Result<VerifiedIdentity, Refusal> {
    let email = match &settings.email_attribute {
        Some(attr) => first_value(&assertion.attributes, &[attr.as_str()]),
        None if assertion.name_id.contains('@') => Some(assertion.name_id.clone()),
        None => first_value(&assertion.attributes, EMAIL_ATTRIBUTES),
    }
    .filter(|e| e.contains('@') && !e.contains(char::is_whitespace))
    .ok_or(Refusal::MissingEmail)?;
    let mut profile = IdpProfile::default();
    for (name, values) in &assertion.attributes {
        profile.push(name, values.iter().cloned());
    }
    profile.groups = profile
        .values(&settings.groups_attribute)
        .filter(|g| !g.trim().is_empty())
        .map(|g| IdpGroup {
            id: None,
            name: g.trim().to_owned(),
        })
        .collect();
    let overage = profile.values(GROUPS_LINK_ATTRIBUTE).next().is_some();
    profile.groups_overage = overage;
    Ok(VerifiedIdentity {
        protocol: Protocol::Saml,
        subject: assertion.name_id.clone(),
        email,
        first_name: first_value(&assertion.attributes, FIRST_NAME_ATTRIBUTES),
        last_name: first_value(&assertion.attributes, LAST_NAME_ATTRIBUTES),
        profile,
        saml_request_id: assertion.in_response_to.clone(),
        replay: Some((
            assertion.issuer.clone(),
            assertion.assertion_id.clone(),
            assertion.replay_until_ms,
        )),
        return_to: None,
        idp_session: assertion.session_index.clone(),
        id_token: None,
    })
}

/// `GET /sso/{key}/saml/metadata`: our SP metadata for the IdP to import.
#[handler]
pub async fn sp_metadata(req: &Request, service: Data<&Service>, key: Path<String>) -> Response {
    let connection = match connection_or_refusal(&service, &key).await {
        Ok(c) => c,
        Err(r) => return refusal_response(req, r),
    };
    match saml_connection(&service, &connection).await {
        Ok(saml) => metadata::sp_metadata(
            &saml.trust.sp_entity_id,
            &saml.trust.acs_url,
            saml.sp_certificate_der.as_deref(),
            saml.settings.sign_requests,
        )
        .with_content_type("application/samlmetadata+xml")
        .into_response(),
        Err(r) => refusal_response(req, r),
    }
}

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    #[serde(rename = "returnTo")]
    return_to: Option<String>,
}

/// `GET /sso/{key}/saml/login?returnTo=`: sends the browser to the IdP with an AuthnRequest
/// whose id is remembered (in the database) and answered at most once.
#[handler]
pub async fn login(
    req: &Request,
    service: Data<&Service>,
    key: Path<String>,
    query: Query<LoginQuery>,
) -> Response {
    let connection = match connection_or_refusal(&service, &key).await {
        Ok(c) => c,
        Err(r) => return refusal_response(req, r),
    };
    let saml = match saml_connection(&service, &connection).await {
        Ok(s) => s,
        Err(r) => return refusal_response(req, r),
    };
    let Some(sso_url) = saml.idp_sso_url.as_deref() else {
        return refusal_response(req, Refusal::NotConfigured);
    };
    let return_to = safe_return_to(query.return_to.as_deref());
    let id = request::new_request_id();
    if let Err(e) = service.start_saml_login(&connection, &id, &return_to).await {
        return super::internal_response(req, &e);
    }
    let xml = request::authn_request_xml(
        &id,
        service.now_ms(),
        &saml.trust.sp_entity_id,
        &saml.trust.acs_url,
        sso_url,
    );
    let signer = saml
        .trust
        .sp_key
        .as_ref()
        .filter(|_| saml.settings.sign_requests);
    match request::redirect_url(sso_url, &xml, "", signer) {
        Ok(url) => Response::builder()
            .status(StatusCode::FOUND)
            .header(poem::http::header::LOCATION, url)
            .header("Cache-Control", "no-store")
            .finish(),
        Err(_) => refusal_response(req, Refusal::NotConfigured),
    }
}

/// The ACS form (HTTP-POST binding).
#[derive(Debug, Deserialize)]
pub struct AcsForm {
    #[serde(rename = "SAMLResponse")]
    saml_response: String,
    #[serde(rename = "RelayState")]
    #[allow(dead_code)] // the stored request, not the RelayState, says where to land
    relay_state: Option<String>,
}

/// Decodes the `SAMLResponse` form value (base64, line breaks allowed) to XML text.
pub fn decode_saml_response(value: &str) -> Result<String, Refusal> {
    let compact: String = value.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.len() > xml::MAX_XML_BYTES * 4 / 3 + 4 {
        return Err(Refusal::MalformedInput);
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|_| Refusal::MalformedInput)?;
    String::from_utf8(bytes).map_err(|_| Refusal::MalformedInput)
}

/// `POST /sso/{key}/saml/acs`: verifies the response and signs the person in.
#[handler]
pub async fn acs(
    req: &Request,
    service: Data<&Service>,
    key: Path<String>,
    form: poem::Result<Form<AcsForm>>,
) -> Response {
    let ctx = request_ctx(req);
    let user_agent = crate::edge::user_agent(req);
    let connection = match connection_or_refusal(&service, &key).await {
        Ok(c) => c,
        Err(r) => return refusal_response(req, r),
    };
    let refuse = |refusal: Refusal, subject: Option<String>| {
        let service = service.clone();
        let connection = connection.clone();
        let ctx = ctx.clone();
        async move {
            if let Err(e) = service
                .record_login_refusal(
                    &ctx,
                    &connection,
                    Protocol::Saml,
                    refusal,
                    subject.as_deref(),
                )
                .await
            {
                return super::internal_response(req, &e);
            }
            refusal_response(req, refusal)
        }
    };
    let saml = match saml_connection(&service, &connection).await {
        Ok(s) => s,
        Err(r) => return refuse(r, None).await,
    };
    let xml_text = match form
        .map_err(|_| Refusal::MalformedInput)
        .and_then(|f| decode_saml_response(&f.saml_response))
    {
        Ok(x) => x,
        Err(r) => return refuse(r, None).await,
    };
    let now = service.now_ms();
    let trust = saml.trust;
    // libxml/xmlsec work is CPU-bound C code: off the async workers. A panic inside stays
    // inside the blocking task and becomes a refusal.
    let verified = tokio::task::spawn_blocking(move || trust.verify(&xml_text, now)).await;
    let assertion = match verified {
        Ok(Ok(a)) => a,
        Ok(Err(r)) => return refuse(r, None).await,
        Err(e) => {
            tracing::error!(error = %e, "SAML verification task failed");
            return refuse(Refusal::MalformedInput, None).await;
        }
    };
    let identity = match identity_of(&assertion, &saml.settings) {
        Ok(i) => i,
        Err(r) => return refuse(r, None).await,
    };
    let email = identity.email.clone();
    match service
        .complete_sso_login(&ctx, &connection, identity, user_agent.as_deref())
        .await
    {
        Ok(signed_in) => complete_login_response(req, &service.sso_settings(), &signed_in),
        Err(crate::service::sso_login::LoginError::Refused(r)) => refuse(r, Some(email)).await,
        Err(crate::service::sso_login::LoginError::Failed(e)) => super::internal_response(req, &e),
    }
}

/// Where to send the browser so the IdP ends its session too (SP-initiated single logout):
/// the IdP's SLO URL with our `LogoutRequest` for the session's NameID and SessionIndex,
/// signed with the SP key when the connection has one. None without an SLO URL or a NameID.
pub async fn logout_request_url(
    service: &Service,
    connection: &SignInConnection,
    ended: &EndedSession,
) -> Option<String> {
    let saml = saml_connection(service, connection).await.ok()?;
    let slo_url = saml.idp_slo_url.as_deref()?;
    let id = request::new_request_id();
    // The IdP's LogoutResponse must answer this request, once.
    service
        .remember_saml_request(connection, &id, "/", SamlRequestKind::Logout)
        .await
        .ok()?;
    let xml = logout::logout_request_xml(
        &id,
        service.now_ms(),
        &saml.trust.sp_entity_id,
        slo_url,
        ended.idp_subject.as_deref()?,
        ended.idp_session.as_deref(),
    );
    request::redirect_message_url(slo_url, "SAMLRequest", &xml, "", saml.trust.sp_key.as_ref()).ok()
}

/// `GET /sso/{key}/saml/slo` (HTTP-Redirect binding): the IdP's `LogoutRequest`, whose
/// query signature must verify with the connection's IdP certificates, ends the sessions of
/// its NameID (with its SessionIndex, when it names one) on this connection only, and is
/// answered with our `LogoutResponse` at the IdP's SLO URL (signed with the SP key when the
/// connection has one); the IdP's `LogoutResponse` to our request lands the browser on `/`.
/// A message that does not verify is refused with its reason and audited.
#[handler]
pub async fn slo(req: &Request, service: Data<&Service>, key: Path<String>) -> Response {
    let ctx = request_ctx(req);
    let connection = match connection_or_refusal(&service, &key).await {
        Ok(c) => c,
        Err(r) => return refusal_response(req, r),
    };
    let saml = match saml_connection(&service, &connection).await {
        Ok(s) => s,
        Err(r) => return refusal_response(req, r),
    };
    let query = req.uri().query().unwrap_or("");
    let answered =
        match logout::verified_redirect(query, &saml.trust.idp_certificates, saml.trust.allow_sha1)
        {
            Ok(message) if message.is_request => {
                answer_logout_request(&service, &ctx, &connection, &saml, &message.root, query)
                    .await
            }
            Ok(message) => {
                answer_logout_response(&service, &connection, &saml, &message.root).await
            }
            Err(refusal) => Err(SloError::Refused(refusal)),
        };
    match answered {
        Ok(response) => response,
        Err(SloError::Refused(refusal)) => {
            match service
                .record_logout_refusal(&ctx, &connection, Protocol::Saml, refusal)
                .await
            {
                Ok(()) => refusal_response(req, refusal),
                Err(e) => super::internal_response(req, &e),
            }
        }
        Err(SloError::Failed(e)) => super::internal_response(req, &e),
    }
}

/// Lands the browser where our LogoutRequest that the IdP's verified `LogoutResponse`
/// answers said; a response to no request of ours (or one already answered) is refused.
async fn answer_logout_response(
    service: &Service,
    connection: &SignInConnection,
    saml: &SamlConnection,
    root: &xml::Element,
) -> Result<Response, SloError> {
    let answers =
        logout::logout_response(root, &saml.trust.idp_entity_id).map_err(SloError::Refused)?;
    let land = service
        .take_saml_logout_request(connection, &answers)
        .await
        .map_err(SloError::Failed)?
        .ok_or(SloError::Refused(Refusal::InResponseToMismatch))?;
    Ok(Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(poem::http::header::LOCATION, land)
        .finish())
}

/// Why a single logout message was not answered.
enum SloError {
    Refused(Refusal),
    Failed(crate::error::Error),
}

/// Ends what the IdP's verified `LogoutRequest` names and answers it.
async fn answer_logout_request(
    service: &Service,
    ctx: &crate::service::Ctx,
    connection: &SignInConnection,
    saml: &SamlConnection,
    root: &xml::Element,
    query: &str,
) -> Result<Response, SloError> {
    let request =
        logout::logout_request(root, &saml.trust.idp_entity_id).map_err(SloError::Refused)?;
    let named = IdpSessions {
        session: request.session_index.as_deref(),
        subject: Some(request.name_id.as_str()),
    };
    service
        .end_idp_sessions(ctx, connection, Protocol::Saml, named)
        .await
        .map_err(SloError::Failed)?;
    let Some(slo_url) = saml.idp_slo_url.as_deref() else {
        return Ok(super::page(
            StatusCode::OK,
            "Signed out",
            "Your session here has ended.",
            None,
        ));
    };
    let xml = logout::logout_response_xml(
        &request::new_request_id(),
        service.now_ms(),
        &saml.trust.sp_entity_id,
        slo_url,
        &request.id,
    );
    // The RelayState the IdP sent comes back with the answer.
    let relay_state = url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "RelayState")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    let url = request::redirect_message_url(
        slo_url,
        "SAMLResponse",
        &xml,
        &relay_state,
        saml.trust.sp_key.as_ref(),
    )
    .map_err(|_| SloError::Refused(Refusal::NotConfigured))?;
    Ok(Response::builder()
        .status(StatusCode::FOUND)
        .header(poem::http::header::LOCATION, url)
        .header("Cache-Control", "no-store")
        .finish())
}
