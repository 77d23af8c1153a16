//! SCIM 2.0 over HTTP: Okta's and Entra's documented request sequences, every error shape,
//! filters on the real database, atomic PATCH. Each story checks members, teams, roles and
//! audit entries over the REST API after its steps.

mod creates;
mod entra;
mod errors;
mod filters;
mod membership;
mod okta;

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::TestApp;

pub const SCIM: &str = "/scim/v2";

/// The app with one identity connection and a SCIM token for it.
pub struct ScimApp {
    pub app: TestApp,
    pub token: String,
}

pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
    pub headers: HeaderMap,
}

impl ScimApp {
    pub async fn new(kind: &str) -> ScimApp {
        Self::with(json!({"key": kind, "kind": kind})).await
    }

    pub async fn with(connection: Value) -> ScimApp {
        let app = TestApp::spawn().await;
        let key = connection["key"].as_str().unwrap().to_owned();
        let (s, c) = app.post("/api/v2/connections", connection).await;
        assert_eq!(s, 201, "{c}");
        let (s, t) = app
            .post(&format!("/api/v2/connections/{key}/scim-tokens"), json!({}))
            .await;
        assert_eq!(s, 201, "{t}");
        ScimApp {
            token: t["token"].as_str().unwrap().to_owned(),
            app,
        }
    }

    /// A SCIM request with this connection's bearer token.
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.raw(
            method,
            path,
            body.map(|b| b.to_string()),
            Some(&format!("Bearer {}", self.token)),
            &[],
        )
        .await
    }

    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        body: Option<String>,
        auth: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let url = format!("{}{SCIM}{path}", self.app.base);
        let mut req = self.app.client.request(method, url);
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.header("Content-Type", "application/scim+json").body(b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        if !status.is_success() && status != StatusCode::NOT_MODIFIED {
            assert_scim_error(status, &body, &headers);
        }
        Reply {
            status,
            body,
            headers,
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(body)).await
    }
    pub async fn put(&self, path: &str, body: Value) -> Reply {
        self.call(Method::PUT, path, Some(body)).await
    }
    pub async fn patch(&self, path: &str, body: Value) -> Reply {
        self.call(Method::PATCH, path, Some(body)).await
    }
    pub async fn delete(&self, path: &str) -> Reply {
        self.call(Method::DELETE, path, None).await
    }

    /// Creates a user and returns its id.
    pub async fn user(&self, user_name: &str) -> String {
        let r = self
            .post("/Users", json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": user_name,
                                   "emails": [{"value": user_name, "primary": true, "type": "work"}], "active": true}))
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.body["id"].as_str().unwrap().to_owned()
    }

    /// A custom role that needs no role attributes.
    pub async fn custom_role(&self, key: &str) {
        let (s, body) = self
            .app
            .post(
                "/api/v2/roles",
                json!({"key": key, "name": key, "policy": [
                {"effect": "allow", "actions": ["*"], "resources": ["proj/*:env/*:flag/*"]}]}),
            )
            .await;
        assert_eq!(s, 201, "{body}");
    }

    /// The REST view of a member.
    pub async fn member(&self, id: &str) -> (StatusCode, Value) {
        self.app.get(&format!("/api/v2/members/{id}")).await
    }

    /// Audit entries written by this connection (newest first).
    pub async fn scim_audit(&self) -> Vec<Value> {
        self.app
            .audit("")
            .await
            .into_iter()
            .filter(|e| e["actor"]["kind"] == "app" || e["actor"]["isScim"] == true)
            .collect()
    }
}

/// Every SCIM error is RFC 7644 JSON with the SCIM media type.
pub fn assert_scim_error(status: StatusCode, body: &Value, headers: &HeaderMap) {
    assert_eq!(
        headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/scim+json"),
        "{status} {body}"
    );
    assert_eq!(
        body["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:Error"]),
        "{body}"
    );
    assert_eq!(body["status"], json!(status.as_u16().to_string()), "{body}");
    assert!(body["detail"].is_string(), "{body}");
    if status == StatusCode::UNAUTHORIZED {
        let www = headers
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        assert!(www.starts_with("Bearer"), "{www}");
    }
}

pub fn ops(list: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": list})
}

pub fn enc(filter: &str) -> String {
    let mut out = String::new();
    for b in filter.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
