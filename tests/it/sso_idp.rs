//! Identity providers that are not ours, for the SSO tests:
//! - a SAML IdP whose responses are built from templates and signed (and encrypted) by the
//!   `xmlsec1` command-line tool, with keys and certificates made by `openssl` at test time;
//! - an OpenID Provider: a poem server on a random port serving discovery, JWKS, token and
//!   userinfo, signing real RS256 ID tokens with a test RSA key (jsonwebtoken).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use base64::Engine;
use gatehouse::clock::{Clock, SystemClock};
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::web::{Data, Form, Json};
use poem::{EndpointExt, Route, handler};
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::support::TestApp;

pub fn now_ms() -> i64 {
    SystemClock.now_ms()
}

pub fn xml_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run tool");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A key pair and self-signed certificate made by `openssl`.
pub struct KeyPair {
    pub key_path: PathBuf,
    pub cert_path: PathBuf,
    pub cert_pem: String,
    pub key_pem: String,
}

impl KeyPair {
    /// An RSA 2048 key.
    pub fn generate(dir: &Path, name: &str) -> KeyPair {
        Self::generate_with(dir, name, &["-newkey", "rsa:2048"])
    }

    /// An ECDSA key on P-256.
    pub fn generate_ec(dir: &Path, name: &str) -> KeyPair {
        let params = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
        Self::generate_with(dir, name, &params)
    }

    fn generate_with(dir: &Path, name: &str, key_args: &[&str]) -> KeyPair {
        let key_path = dir.join(format!("{name}.key"));
        let cert_path = dir.join(format!("{name}.crt"));
        run(Command::new("openssl")
            .args(["req", "-x509"])
            .args(key_args)
            .args([
                "-nodes",
                "-days",
                "2",
                "-subj",
                &format!("/CN={name}"),
                "-keyout",
                key_path.to_str().unwrap(),
                "-out",
                cert_path.to_str().unwrap(),
            ]));
        KeyPair {
            cert_pem: std::fs::read_to_string(&cert_path).unwrap(),
            key_pem: std::fs::read_to_string(&key_path).unwrap(),
            key_path,
            cert_path,
        }
    }
}

/// Which element a template signature goes into.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Sign {
    None,
    Assertion,
    Response,
    Both,
}

pub const RSA_SHA256: (&str, &str) = (
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "http://www.w3.org/2001/04/xmlenc#sha256",
);
pub const ECDSA_SHA256: (&str, &str) = (
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    "http://www.w3.org/2001/04/xmlenc#sha256",
);
pub const RSA_SHA1: (&str, &str) = (
    "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
    "http://www.w3.org/2000/09/xmldsig#sha1",
);

/// What a test response says. Defaults are a valid SP-initiated response.
#[derive(Clone, Debug)]
pub struct ResponseSpec {
    pub response_id: String,
    pub assertion_id: String,
    pub issuer: String,
    pub destination: Option<String>,
    pub recipient: String,
    pub audience: Option<String>,
    pub in_response_to: Option<String>,
    pub name_id: String,
    pub not_before: i64,
    pub not_on_or_after: i64,
    pub status: String,
    pub attributes: Vec<(String, Vec<String>)>,
    pub sign: Sign,
    pub algorithms: (&'static str, &'static str),
    /// The AuthnStatement's SessionIndex: the IdP's id for the session.
    pub session_index: Option<String>,
}

fn signature_template(id: &str, algorithms: (&str, &str)) -> String {
    format!(
        r##"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="{}"/><ds:Reference URI="#{id}"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="{}"/><ds:DigestValue/></ds:Reference></ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo><ds:X509Data/></ds:KeyInfo></ds:Signature>"##,
        algorithms.0, algorithms.1
    )
}

/// A SAML IdP driven by `xmlsec1`.
pub struct SamlIdp {
    pub dir: tempfile::TempDir,
    pub keys: KeyPair,
    pub entity_id: String,
    counter: std::sync::atomic::AtomicUsize,
}

impl SamlIdp {
    pub fn new(name: &str) -> SamlIdp {
        Self::with_keys(name, KeyPair::generate)
    }

    /// An IdP whose signing key is ECDSA P-256.
    pub fn new_ec(name: &str) -> SamlIdp {
        Self::with_keys(name, KeyPair::generate_ec)
    }

    fn with_keys(name: &str, generate: fn(&Path, &str) -> KeyPair) -> SamlIdp {
        let dir = tempfile::tempdir().unwrap();
        let keys = generate(dir.path(), name);
        SamlIdp {
            dir,
            keys,
            entity_id: format!("https://{name}.idp.example.com/entity"),
            counter: Default::default(),
        }
    }

    fn file(&self, stem: &str) -> PathBuf {
        let n = self
            .counter
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.dir.path().join(format!("{stem}-{n}.xml"))
    }

    /// Signs the first signature template of `xml` with `keys` (xmlsec1 --sign).
    pub fn sign_with(&self, keys: &KeyPair, xml: &str) -> String {
        let input = self.file("in");
        let output = self.file("out");
        std::fs::write(&input, xml).unwrap();
        run(Command::new("xmlsec1").args([
            "--sign",
            "--privkey-pem",
            &format!("{},{}", keys.key_path.display(), keys.cert_path.display()),
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:protocol:Response",
            "--output",
            output.to_str().unwrap(),
            input.to_str().unwrap(),
        ]));
        std::fs::read_to_string(&output).unwrap()
    }

    /// Encrypts `assertion_xml` for the SP certificate (xmlsec1 --encrypt, AES-256-CBC with an
    /// RSA-OAEP key transport) and returns the `EncryptedAssertion` element.
    pub fn encrypt_for(&self, sp: &KeyPair, assertion_xml: &str) -> String {
        // xmlsec1 replaces the data node with the template's EncryptedData; we wrap it.
        let template = r#"<xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" Type="http://www.w3.org/2001/04/xmlenc#Element"><xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#aes256-cbc"/><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><xenc:EncryptedKey><xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"/><ds:KeyInfo><ds:X509Data/></ds:KeyInfo><xenc:CipherData><xenc:CipherValue/></xenc:CipherData></xenc:EncryptedKey></ds:KeyInfo><xenc:CipherData><xenc:CipherValue/></xenc:CipherData></xenc:EncryptedData>"#;
        let tmpl = self.file("enc-tmpl");
        let data = self.file("enc-data");
        let output = self.file("enc-out");
        std::fs::write(&tmpl, template).unwrap();
        std::fs::write(&data, assertion_xml).unwrap();
        run(Command::new("xmlsec1").args([
            "--encrypt",
            "--pubkey-cert-pem",
            sp.cert_path.to_str().unwrap(),
            "--session-key",
            "aes-256",
            "--xml-data",
            data.to_str().unwrap(),
            "--node-xpath",
            "/*",
            "--output",
            output.to_str().unwrap(),
            tmpl.to_str().unwrap(),
        ]));
        let data = strip_decl(&std::fs::read_to_string(&output).unwrap());
        format!(
            r#"<saml:EncryptedAssertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">{data}</saml:EncryptedAssertion>"#
        )
    }

    /// A valid spec for `app`'s connection `key`, answering `request_id`.
    pub fn spec(
        &self,
        app: &TestApp,
        key: &str,
        request_id: Option<&str>,
        email: &str,
    ) -> ResponseSpec {
        let now = now_ms();
        let acs = format!("{}/sso/{key}/saml/acs", app.base);
        ResponseSpec {
            response_id: format!("_r{}", uuid::Uuid::new_v4().simple()),
            assertion_id: format!("_a{}", uuid::Uuid::new_v4().simple()),
            issuer: self.entity_id.clone(),
            destination: Some(acs.clone()),
            recipient: acs,
            audience: Some(format!("{}/sso/{key}/saml/metadata", app.base)),
            in_response_to: request_id.map(str::to_owned),
            name_id: email.to_owned(),
            not_before: now - 60_000,
            not_on_or_after: now + 5 * 60_000,
            status: "urn:oasis:names:tc:SAML:2.0:status:Success".to_owned(),
            attributes: vec![
                ("firstName".into(), vec!["Ada".into()]),
                ("lastName".into(), vec!["Lovelace".into()]),
            ],
            sign: Sign::Assertion,
            algorithms: RSA_SHA256,
            session_index: Some(format!("_s{}", uuid::Uuid::new_v4().simple())),
        }
    }

    /// The unsigned assertion XML (with a signature template when asked).
    pub fn assertion_xml(&self, s: &ResponseSpec, with_template: bool) -> String {
        let irt = s
            .in_response_to
            .as_ref()
            .map(|i| format!(r#" InResponseTo="{i}""#))
            .unwrap_or_default();
        let audience = s
            .audience
            .as_ref()
            .map(|a| {
                format!(
                    "<saml:AudienceRestriction><saml:Audience>{a}</saml:Audience></saml:AudienceRestriction>"
                )
            })
            .unwrap_or_default();
        let attrs: String = s
            .attributes
            .iter()
            .map(|(name, values)| {
                let vals: String = values
                    .iter()
                    .map(|v| format!("<saml:AttributeValue>{v}</saml:AttributeValue>"))
                    .collect();
                format!(r#"<saml:Attribute Name="{name}">{vals}</saml:Attribute>"#)
            })
            .collect();
        let sig = if with_template {
            signature_template(&s.assertion_id, s.algorithms)
        } else {
            String::new()
        };
        let now = xml_time(now_ms());
        format!(
            r#"<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{aid}" Version="2.0" IssueInstant="{now}"><saml:Issuer>{issuer}</saml:Issuer>{sig}<saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">{name_id}</saml:NameID><saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData{irt} NotOnOrAfter="{noa}" Recipient="{recipient}"/></saml:SubjectConfirmation></saml:Subject><saml:Conditions NotBefore="{nb}" NotOnOrAfter="{noa}">{audience}</saml:Conditions><saml:AuthnStatement AuthnInstant="{now}"{session_index}><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement><saml:AttributeStatement>{attrs}</saml:AttributeStatement></saml:Assertion>"#,
            aid = s.assertion_id,
            issuer = s.issuer,
            name_id = s.name_id,
            session_index = s
                .session_index
                .as_ref()
                .map(|i| format!(r#" SessionIndex="{i}""#))
                .unwrap_or_default(),
            noa = xml_time(s.not_on_or_after),
            nb = xml_time(s.not_before),
            recipient = s.recipient,
        )
    }

    /// Wraps an assertion (already signed or not) in a Response, with a template when asked.
    pub fn response_xml(&self, s: &ResponseSpec, assertion: &str, with_template: bool) -> String {
        let irt = s
            .in_response_to
            .as_ref()
            .map(|i| format!(r#" InResponseTo="{i}""#))
            .unwrap_or_default();
        let dest = s
            .destination
            .as_ref()
            .map(|d| format!(r#" Destination="{d}""#))
            .unwrap_or_default();
        let sig = if with_template {
            signature_template(&s.response_id, s.algorithms)
        } else {
            String::new()
        };
        let assertion = assertion
            .strip_prefix("<?xml version=\"1.0\"?>")
            .unwrap_or(assertion)
            .trim();
        format!(
            r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{rid}" Version="2.0" IssueInstant="{now}"{dest}{irt}><saml:Issuer>{issuer}</saml:Issuer>{sig}<samlp:Status><samlp:StatusCode Value="{status}"/></samlp:Status>{assertion}</samlp:Response>"#,
            rid = s.response_id,
            now = xml_time(now_ms()),
            issuer = s.issuer,
            status = s.status,
        )
    }

    /// The signed assertion alone (signed with `keys`).
    pub fn signed_assertion(&self, s: &ResponseSpec, keys: &KeyPair) -> String {
        let signed = self.sign_with(keys, &self.assertion_xml(s, true));
        strip_decl(&signed)
    }

    /// The complete response per `s.sign`, signed with this IdP's key.
    pub fn response(&self, s: &ResponseSpec) -> String {
        self.response_signed_by(s, &self.keys)
    }

    pub fn response_signed_by(&self, s: &ResponseSpec, keys: &KeyPair) -> String {
        match s.sign {
            Sign::None => self.response_xml(s, &self.assertion_xml(s, false), false),
            Sign::Assertion => self.response_xml(s, &self.signed_assertion(s, keys), false),
            Sign::Response => {
                let xml = self.response_xml(s, &self.assertion_xml(s, false), true);
                strip_decl(&self.sign_with(keys, &xml))
            }
            Sign::Both => {
                let assertion = self.signed_assertion(s, keys);
                let xml = self.response_xml(s, &assertion, true);
                strip_decl(&self.sign_with(keys, &xml))
            }
        }
    }
}

pub fn strip_decl(xml: &str) -> String {
    let xml = xml.trim();
    match xml.find("?>") {
        Some(i) if xml.starts_with("<?xml") => xml[i + 2..].trim().to_owned(),
        _ => xml.to_owned(),
    }
}

pub fn b64(xml: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(xml)
}

/// A reqwest client that does not follow redirects (we read them).
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Creates a SAML connection for `idp` with extra settings merged in.
pub async fn saml_connection(app: &TestApp, key: &str, idp: &SamlIdp, extra: Value) -> Value {
    let mut saml = json!({
        "idpEntityId": idp.entity_id,
        "idpSsoUrl": "https://idp.example.com/sso",
        "idpCertificates": [idp.keys.cert_pem],
    });
    let mut body = json!({"key": key, "kind": "generic", "jit": true});
    if let Value::Object(extra) = extra {
        for (k, v) in extra {
            if k == "saml" {
                for (sk, sv) in v.as_object().unwrap() {
                    saml[sk] = sv.clone();
                }
            } else {
                body[k] = v;
            }
        }
    }
    body["saml"] = saml;
    let (s, c) = app.post("/api/v2/connections", body).await;
    assert_eq!(s, 201, "{c}");
    c
}

/// Starts an SP-initiated login and returns the AuthnRequest id we must answer.
pub async fn start_saml_login(app: &TestApp, key: &str) -> String {
    let resp = browser()
        .get(format!(
            "{}/sso/{key}/saml/login?returnTo=/projects",
            app.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let url = reqwest::Url::parse(&location).unwrap();
    let request = url
        .query_pairs()
        .find(|(k, _)| k == "SAMLRequest")
        .unwrap()
        .1
        .into_owned();
    let raw = base64::engine::general_purpose::STANDARD
        .decode(request)
        .unwrap();
    let mut xml = String::new();
    std::io::Read::read_to_string(&mut flate2::read::DeflateDecoder::new(&raw[..]), &mut xml)
        .unwrap();
    let start = xml.find(" ID=\"").unwrap() + 5;
    let end = start + xml[start..].find('"').unwrap();
    xml[start..end].to_owned()
}

/// What the ACS answered.
pub struct AcsResult {
    pub status: StatusCode,
    pub body: Value,
    pub session: Option<String>,
}

/// Posts a response to the ACS asking for JSON.
pub async fn post_acs(app: &TestApp, key: &str, xml: &str) -> AcsResult {
    let resp = browser()
        .post(format!("{}/sso/{key}/saml/acs", app.base))
        .header("Accept", "application/json")
        .form(&[("SAMLResponse", b64(xml)), ("RelayState", String::new())])
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let session = session_cookie(&resp);
    let text = resp.text().await.unwrap();
    AcsResult {
        status,
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
        session,
    }
}

/// The `gatehouse_session` value a response sets, if any.
pub fn session_cookie(resp: &reqwest::Response) -> Option<String> {
    cookie(resp, "gatehouse_session")
}

pub fn cookie(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            let first = v.split(';').next()?;
            let (k, val) = first.split_once('=')?;
            (k == name && !val.is_empty()).then(|| val.to_owned())
        })
}

/// The newest audit entry of a kind whose delta says `outcome` (signedIn | refused).
pub async fn last_sign_in(app: &TestApp, outcome: &str) -> Option<Value> {
    app.audit("action=signIn")
        .await
        .into_iter()
        .find(|e| e["delta"]["outcome"] == outcome)
}

/// How many refused sign-ins with `reason` are in the audit log.
pub async fn refusals(app: &TestApp, reason: &str) -> usize {
    app.audit("action=signIn")
        .await
        .into_iter()
        .filter(|e| e["delta"]["outcome"] == "refused" && e["delta"]["reason"] == reason)
        .count()
}

// ---------------------------------------------------------------- OIDC provider

/// What the provider answers for one authorization code.
#[derive(Clone, Debug)]
pub struct Grant {
    pub id_token: String,
    pub code_challenge: String,
    pub userinfo: Option<Value>,
}

#[derive(Default)]
pub struct ProviderState {
    pub grants: HashMap<String, Grant>,
    pub jwks: Value,
    pub jwks_hits: usize,
    pub token_requests: Vec<HashMap<String, String>>,
    pub userinfo: HashMap<String, Value>,
    /// Whether discovery names an `end_session_endpoint` (RP-initiated logout).
    pub end_session: bool,
}

/// An OpenID Provider on a random loopback port.
pub struct OidcProvider {
    pub issuer: String,
    pub state: Arc<Mutex<ProviderState>>,
    pub keys: KeyPair,
    pub other_keys: KeyPair,
    _dir: tempfile::TempDir,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        self.server.abort();
    }
}

#[handler]
fn op_discovery(base: Data<&Arc<String>>, state: Data<&Arc<Mutex<ProviderState>>>) -> Json<Value> {
    let base = base.as_str();
    let mut doc = json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "jwks_uri": format!("{base}/jwks"),
        "userinfo_endpoint": format!("{base}/userinfo"),
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
    });
    if state.lock().unwrap().end_session {
        doc["end_session_endpoint"] = json!(format!("{base}/logout"));
    }
    Json(doc)
}

#[handler]
fn op_jwks(state: Data<&Arc<Mutex<ProviderState>>>) -> Json<Value> {
    let mut s = state.lock().unwrap();
    s.jwks_hits += 1;
    Json(s.jwks.clone())
}

#[handler]
fn op_token(
    state: Data<&Arc<Mutex<ProviderState>>>,
    req: &poem::Request,
    Form(form): Form<HashMap<String, String>>,
) -> poem::Response {
    use poem::IntoResponse;
    let mut s = state.lock().unwrap();
    let mut recorded = form.clone();
    if let Some(auth) = req.headers().get("authorization") {
        recorded.insert("authorization".into(), auth.to_str().unwrap().into());
    }
    s.token_requests.push(recorded);
    let code = form.get("code").cloned().unwrap_or_default();
    let Some(grant) = s.grants.remove(&code) else {
        return Json(json!({"error": "invalid_grant"}))
            .with_status(poem::http::StatusCode::BAD_REQUEST)
            .into_response();
    };
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    let challenge = {
        use sha2::Digest;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(&verifier))
    };
    if challenge != grant.code_challenge {
        return Json(json!({"error": "invalid_grant", "error_description": "PKCE"}))
            .with_status(poem::http::StatusCode::BAD_REQUEST)
            .into_response();
    }
    let access = format!("at-{code}");
    if let Some(info) = grant.userinfo {
        s.userinfo.insert(access.clone(), info);
    }
    Json(json!({"id_token": grant.id_token, "access_token": access, "token_type": "Bearer"}))
        .into_response()
}

#[handler]
fn op_userinfo(state: Data<&Arc<Mutex<ProviderState>>>, req: &poem::Request) -> poem::Response {
    use poem::IntoResponse;
    let token = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    match state.lock().unwrap().userinfo.get(token) {
        Some(info) => Json(info.clone()).into_response(),
        None => poem::http::StatusCode::UNAUTHORIZED.into_response(),
    }
}

impl OidcProvider {
    pub async fn start() -> OidcProvider {
        let dir = tempfile::tempdir().unwrap();
        let keys = KeyPair::generate(dir.path(), "op");
        let other_keys = KeyPair::generate(dir.path(), "op-other");
        let acceptor = TcpListener::bind("127.0.0.1:0")
            .into_acceptor()
            .await
            .unwrap();
        let addr = acceptor
            .local_addr()
            .into_iter()
            .next()
            .and_then(|a| a.as_socket_addr().cloned())
            .unwrap();
        let issuer = format!("http://{addr}");
        let state = Arc::new(Mutex::new(ProviderState::default()));
        let provider_jwk = jwk(&keys, "k1");
        state.lock().unwrap().jwks = json!({"keys": [provider_jwk]});
        let app = Route::new()
            .at("/.well-known/openid-configuration", op_discovery)
            .at("/jwks", op_jwks)
            .at("/token", poem::post(op_token))
            .at("/userinfo", op_userinfo)
            .data(Arc::new(issuer.clone()))
            .data(state.clone());
        let server = tokio::spawn(async move {
            let _ = poem::Server::new_with_acceptor(acceptor).run(app).await;
        });
        OidcProvider {
            issuer,
            state,
            keys,
            other_keys,
            _dir: dir,
            server,
        }
    }

    /// Signs claims with RS256 and the given key id (the provider's key unless `other`).
    pub fn sign(&self, claims: &Value, kid: &str, other: bool) -> String {
        let keys = if other { &self.other_keys } else { &self.keys };
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(
            &header,
            claims,
            &jsonwebtoken::EncodingKey::from_rsa_pem(keys.key_pem.as_bytes()).unwrap(),
        )
        .unwrap()
    }

    /// Standard valid claims for a login.
    pub fn claims(&self, client_id: &str, nonce: &str, email: &str) -> Value {
        let now = now_ms() / 1000;
        json!({
            "iss": self.issuer,
            "aud": client_id,
            "sub": format!("sub-{email}"),
            "email": email,
            "email_verified": true,
            "given_name": "Grace",
            "family_name": "Hopper",
            "nonce": nonce,
            "iat": now,
            "exp": now + 300,
        })
    }

    pub fn grant(&self, code: &str, id_token: String, challenge: &str, userinfo: Option<Value>) {
        // Without explicit userinfo, the endpoint answers the token's subject (as providers do).
        let userinfo = userinfo.or_else(|| {
            let payload = id_token.split('.').nth(1)?;
            let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .ok()?;
            let claims: Value = serde_json::from_slice(&bytes).ok()?;
            Some(json!({"sub": claims.get("sub")?}))
        });
        self.state.lock().unwrap().grants.insert(
            code.to_owned(),
            Grant {
                id_token,
                code_challenge: challenge.to_owned(),
                userinfo,
            },
        );
    }

    pub fn jwks_hits(&self) -> usize {
        self.state.lock().unwrap().jwks_hits
    }
}

/// An ES256 JWS of `claims` signed by the `openssl` tool with an ECDSA P-256 key: the
/// signing input goes to `openssl dgst -sha256 -sign`, whose DER signature becomes JWS's
/// fixed-width `r || s`.
pub fn es256_token(keys: &KeyPair, kid: &str, claims: &Value) -> String {
    let enc = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let header = json!({"alg": "ES256", "typ": "JWT", "kid": kid});
    let input = format!("{}.{}", enc(&header), enc(claims));
    let dir = keys.key_path.parent().unwrap();
    let file = dir.join(format!("jws-{}.txt", uuid::Uuid::new_v4().simple()));
    std::fs::write(&file, &input).unwrap();
    let out = Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(&keys.key_path)
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let signature = der_ecdsa_to_jws(&out.stdout);
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(signature);
    format!("{input}.{b64}")
}

/// `SEQUENCE { INTEGER r, INTEGER s }` to the 64 bytes `r || s`.
fn der_ecdsa_to_jws(der: &[u8]) -> Vec<u8> {
    assert_eq!(der[0], 0x30, "a DER sequence");
    let mut at = 2;
    let mut out = Vec::new();
    for _ in 0..2 {
        assert_eq!(der[at], 0x02, "a DER integer");
        let len = usize::from(der[at + 1]);
        let int = &der[at + 2..at + 2 + len];
        let int = &int[int.len().saturating_sub(32)..];
        out.extend(std::iter::repeat_n(0u8, 32 - int.len()));
        out.extend_from_slice(int);
        at += 2 + len;
    }
    out
}

/// The public JWK of an ECDSA P-256 key pair, its point read by `openssl`: the last 64 bytes
/// of the DER public key are `x || y`.
pub fn ec_jwk(keys: &KeyPair, kid: &str) -> Value {
    let out = Command::new("openssl")
        .args(["pkey", "-pubout", "-outform", "DER", "-in"])
        .arg(&keys.key_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let point = &out.stdout[out.stdout.len() - 64..];
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    json!({
        "kty": "EC",
        "crv": "P-256",
        "x": b64(&point[..32]),
        "y": b64(&point[32..]),
        "kid": kid,
        "use": "sig",
        "alg": "ES256",
    })
}

/// The public JWK of a key pair.
pub fn jwk(keys: &KeyPair, kid: &str) -> Value {
    let enc = jsonwebtoken::EncodingKey::from_rsa_pem(keys.key_pem.as_bytes()).unwrap();
    let mut jwk = serde_json::to_value(
        jsonwebtoken::jwk::Jwk::from_encoding_key(&enc, jsonwebtoken::Algorithm::RS256).unwrap(),
    )
    .unwrap();
    jwk["kid"] = json!(kid);
    jwk["use"] = json!("sig");
    jwk
}

/// An OIDC login started at the app: the authorize URL's parameters and the binding cookie.
pub struct OidcStart {
    pub state: String,
    pub nonce: String,
    pub challenge: String,
    pub redirect_uri: String,
    pub binding: String,
    pub params: HashMap<String, String>,
}

pub async fn start_oidc_login(app: &TestApp, key: &str) -> OidcStart {
    let resp = browser()
        .get(format!("{}/sso/{key}/oidc/login?returnTo=/flags", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND, "{:?}", resp.text().await);
    let binding = cookie(&resp, "gatehouse_oidc").expect("binding cookie");
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let url = reqwest::Url::parse(&location).unwrap();
    let params: HashMap<String, String> = url.query_pairs().into_owned().collect();
    OidcStart {
        state: params["state"].clone(),
        nonce: params["nonce"].clone(),
        challenge: params["code_challenge"].clone(),
        redirect_uri: params["redirect_uri"].clone(),
        binding,
        params,
    }
}

/// Calls the app's callback as the browser would (asking for JSON).
pub async fn oidc_callback(
    app: &TestApp,
    key: &str,
    query: &str,
    binding: Option<&str>,
) -> AcsResult {
    let mut req = browser()
        .get(format!("{}/sso/{key}/oidc/callback?{query}", app.base))
        .header("Accept", "application/json");
    if let Some(b) = binding {
        req = req.header("Cookie", format!("gatehouse_oidc={b}"));
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let session = session_cookie(&resp);
    let text = resp.text().await.unwrap();
    AcsResult {
        status,
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
        session,
    }
}

/// REST call with the session cookie (and the CSRF header when given).
pub async fn with_session(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    session: &str,
    csrf: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = app
        .client
        .request(method, format!("{}{}", app.base, path))
        .header("Cookie", format!("gatehouse_session={session}"));
    if let Some(c) = csrf {
        req = req.header("X-Gatehouse-CSRF", c);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    (
        status,
        if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        },
    )
}

/// Checks with `openssl dgst -verify` that `signature` over `octets` is by `keys`' certificate.
pub fn openssl_verifies(keys: &KeyPair, octets: &str, signature: &[u8]) -> bool {
    let dir = keys.key_path.parent().unwrap();
    let n = uuid::Uuid::new_v4().simple().to_string();
    let (data, sig, public) = (
        dir.join(format!("d{n}")),
        dir.join(format!("s{n}")),
        dir.join(format!("p{n}")),
    );
    std::fs::write(&data, octets).unwrap();
    std::fs::write(&sig, signature).unwrap();
    let pem = Command::new("openssl")
        .args(["x509", "-pubkey", "-noout", "-in"])
        .arg(&keys.cert_path)
        .output()
        .unwrap();
    std::fs::write(&public, pem.stdout).unwrap();
    Command::new("openssl")
        .args(["dgst", "-sha256", "-verify"])
        .arg(&public)
        .arg("-signature")
        .arg(&sig)
        .arg(&data)
        .output()
        .unwrap()
        .status
        .success()
}

/// Whether a session cookie still opens the API.
pub async fn alive(app: &TestApp, session: &str) -> bool {
    let (s, _) = with_session(app, reqwest::Method::GET, "/api/v2/me", session, None, None).await;
    s == 200
}

/// The IdP metadata document of `entity_id` signing with `keys`.
pub fn metadata_for(entity_id: &str, keys: &KeyPair) -> String {
    let der: String = keys
        .cert_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    format!(
        r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{entity_id}"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>{der}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example.com/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>"#
    )
}
