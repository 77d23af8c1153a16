//! The browser console over HTTP: pages rendered for members with different permissions,
//! forms posted as a browser posts them (with and without the CSRF field).

mod approvals;
mod audit;
mod directory;
mod you;

use reqwest::StatusCode;
use serde_json::json;

use super::sso_idp::*;
use super::support::TestApp;

pub const KEY: &str = "corp";

/// A signed-in browser: its session cookie and member id.
pub struct Browser {
    pub cookie: String,
    pub member_id: String,
}

/// A rendered page: status, headers and HTML.
pub struct Page {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub html: String,
}

impl Page {
    /// The CSRF token the page's forms carry.
    pub fn csrf(&self) -> String {
        let marker = r#"name="csrf" value=""#;
        let start = self.html.find(marker).expect("a form with a csrf field") + marker.len();
        let rest = &self.html[start..];
        rest[..rest.find('"').unwrap()].to_owned()
    }

    pub fn location(&self) -> Option<&str> {
        self.headers.get("location").and_then(|v| v.to_str().ok())
    }
}

/// An app with SAML connection `corp` (IdP-initiated sign-in allowed) and its IdP.
pub async fn app_with_idp() -> (TestApp, SamlIdp) {
    let app = TestApp::spawn().await;
    let idp = SamlIdp::new("corp");
    saml_connection(
        &app,
        KEY,
        &idp,
        json!({"saml": {"allowIdpInitiated": true}}),
    )
    .await;
    (app, idp)
}

/// Signs `email` in through the IdP with base role `role`, as a browser does.
pub async fn sign_in(app: &TestApp, idp: &SamlIdp, email: &str, role: &str) -> Browser {
    let mut spec = idp.spec(app, KEY, None, email);
    spec.attributes.push(("role".into(), vec![role.into()]));
    let resp = browser()
        .post(format!("{}/sso/{KEY}/saml/acs", app.base))
        .header("Accept", "application/json")
        .form(&[
            ("SAMLResponse", b64(&idp.response(&spec))),
            ("RelayState", String::new()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let cookie = session_cookie(&resp).expect("session cookie");
    let body: serde_json::Value = resp.json().await.unwrap();
    Browser {
        cookie,
        member_id: body["memberId"].as_str().unwrap().to_owned(),
    }
}

/// `GET path` as the browser (no cookie when `who` is None).
pub async fn page(app: &TestApp, who: Option<&Browser>, path: &str) -> Page {
    let mut req = browser().get(format!("{}{}", app.base, path));
    if let Some(b) = who {
        req = req.header("Cookie", format!("gatehouse_session={}", b.cookie));
    }
    read(req.send().await.unwrap()).await
}

/// Posts a form as the browser, without following the redirect.
pub async fn post_form(app: &TestApp, who: &Browser, path: &str, fields: &[(&str, &str)]) -> Page {
    let resp = browser()
        .post(format!("{}{}", app.base, path))
        .header("Cookie", format!("gatehouse_session={}", who.cookie))
        .form(fields)
        .send()
        .await
        .unwrap();
    read(resp).await
}

async fn read(resp: reqwest::Response) -> Page {
    let status = resp.status();
    let headers = resp.headers().clone();
    let html = resp.text().await.unwrap();
    Page {
        status,
        headers,
        html,
    }
}

/// Every console page goes out with the strict CSP and without caching.
pub fn assert_secured(page: &Page) {
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(csp.contains("form-action 'self'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(page.headers["cache-control"], "no-store");
    assert_eq!(page.headers["x-content-type-options"], "nosniff");
}
