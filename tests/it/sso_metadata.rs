//! IdP metadata by URL: a loopback server publishes the metadata of an `xmlsec1`-signing IdP;
//! Gatehouse fetches it when the connection is saved, trusts a rotated certificate from the
//! next sign-in, and refuses (audited, counted, the last good metadata kept) a document that
//! is not XML, one for another entity, and a redirect to a link-local address.

use std::sync::{Arc, Mutex};

use poem::listener::{Acceptor, Listener, TcpListener};
use poem::web::Data;
use poem::{EndpointExt, IntoResponse, Response, Route, handler};
use serde_json::{Value, json};

use super::sso_idp::*;
use super::support::TestApp;

const KEY: &str = "rotating";

/// What the metadata server answers next.
#[derive(Clone)]
enum Answer {
    Document(String),
    Redirect(String),
}

#[handler]
fn serve_metadata(answer: Data<&Arc<Mutex<Answer>>>) -> Response {
    match answer.lock().unwrap().clone() {
        Answer::Document(body) => body
            .with_content_type("application/samlmetadata+xml")
            .into_response(),
        Answer::Redirect(to) => Response::builder()
            .status(poem::http::StatusCode::FOUND)
            .header("Location", to)
            .finish(),
    }
}

/// Starts the metadata server; returns its URL and the answer it gives.
async fn metadata_server() -> (String, Arc<Mutex<Answer>>, tokio::task::JoinHandle<()>) {
    let answer = Arc::new(Mutex::new(Answer::Document(String::new())));
    let acceptor = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .unwrap();
    let addr = acceptor.local_addr()[0].as_socket_addr().cloned().unwrap();
    let app = Route::new()
        .at("/metadata", serve_metadata)
        .data(answer.clone());
    let server = tokio::spawn(async move {
        let _ = poem::Server::new_with_acceptor(acceptor).run(app).await;
    });
    (format!("http://{addr}/metadata"), answer, server)
}

/// The connection's metadata status once a fetch after `after` (epoch ms) has been recorded.
async fn status_after(app: &TestApp, after: i64) -> Value {
    for _ in 0..100 {
        let (s, c) = app.get(&format!("/api/v2/connections/{KEY}")).await;
        assert_eq!(s, 200, "{c}");
        let status = c["saml"]["metadataStatus"].clone();
        if status["lastAttempt"].as_i64().is_some_and(|at| at >= after) {
            return status;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no metadata fetch recorded");
}

/// Saves the connection again, which fetches its metadata now; returns the status after.
async fn refetch(app: &TestApp, url: &str) -> Value {
    let before = now_ms();
    let (s, c) = app
        .patch(
            &format!("/api/v2/connections/{KEY}"),
            json!({"saml": {"idpMetadataUrl": url, "metadataRefreshMinutes": 5}}),
        )
        .await;
    assert_eq!(s, 200, "{c}");
    status_after(app, before).await
}

async fn signs_in(app: &TestApp, idp: &SamlIdp, keys: &KeyPair) -> bool {
    let id = start_saml_login(app, KEY).await;
    let spec = idp.spec(app, KEY, Some(&id), "rota@example.com");
    post_acs(app, KEY, &idp.response_signed_by(&spec, keys))
        .await
        .status
        == 200
}

#[tokio::test]
async fn metadata_by_url_rotates_certificates_and_refuses_what_it_cannot_trust() {
    let app = TestApp::spawn().await;
    let idp = SamlIdp::new("rotating-idp");
    let (url, answer, _server) = metadata_server().await;
    *answer.lock().unwrap() = Answer::Document(metadata_for(&idp.entity_id, &idp.keys));

    let before = now_ms();
    let (s, c) = app
        .post(
            "/api/v2/connections",
            json!({"key": KEY, "kind": "entra", "jit": true,
                   "saml": {"idpMetadataUrl": url, "metadataRefreshMinutes": 5}}),
        )
        .await;
    assert_eq!(s, 201, "{c}");
    let status = status_after(&app, before).await;
    assert!(status["lastSuccess"].is_i64(), "{status}");
    assert_eq!(status["entityId"], idp.entity_id.as_str());
    assert_eq!(status["certificates"].as_array().unwrap().len(), 1);
    assert!(signs_in(&app, &idp, &idp.keys).await);

    // The IdP rotates: its metadata now lists the new certificate only.
    let next = KeyPair::generate(idp.dir.path(), "rotated");
    *answer.lock().unwrap() = Answer::Document(metadata_for(&idp.entity_id, &next));
    let rotated = refetch(&app, &url).await;
    assert_ne!(rotated["certificates"], status["certificates"]);
    assert!(
        signs_in(&app, &idp, &next).await,
        "the new certificate is trusted"
    );
    assert!(
        !signs_in(&app, &idp, &idp.keys).await,
        "the old one no longer"
    );
    let changes: Vec<Value> = app
        .audit("action=updateConnection")
        .await
        .into_iter()
        .filter(|e| {
            e["description"]
                .as_str()
                .unwrap_or("")
                .contains("new signing certificates")
        })
        .collect();
    assert_eq!(changes.len(), 2, "the first fetch and the rotation");
    assert_eq!(
        changes[0]["currentVersion"]["certificates"],
        rotated["certificates"]
    );
    assert_eq!(
        changes[0]["previousVersion"]["certificates"],
        status["certificates"]
    );
    // A fetch that changes nothing is no audited change.
    let same = refetch(&app, &url).await;
    assert!(same["lastError"].is_null(), "{same}");
    let entries = app.audit("action=updateConnection").await.len();

    // Refused: not XML, another entity, a redirect to a link-local address. Each keeps the
    // rotated certificate trusted, shows as lastError, and is audited with its reason.
    let other = SamlIdp::new("other-idp");
    for (served, reason) in [
        (Answer::Document("{\"not\": \"xml\"}".into()), "not_xml"),
        (
            Answer::Document(metadata_for(&other.entity_id, &other.keys)),
            "other_entity",
        ),
        (
            Answer::Redirect("http://169.254.169.254/latest/meta-data".into()),
            "link_local_redirect",
        ),
    ] {
        *answer.lock().unwrap() = served;
        let failed = refetch(&app, &url).await;
        let error = failed["lastError"].as_str().unwrap_or_default();
        assert!(error.starts_with(reason), "{reason}: {failed}");
        assert_eq!(failed["certificates"], rotated["certificates"]);
        assert!(
            signs_in(&app, &idp, &next).await,
            "{reason}: the last good metadata stays"
        );
        assert!(!signs_in(&app, &other, &other.keys).await);
        let refused = app.audit("action=updateConnection").await;
        assert!(
            refused.iter().any(|e| e["delta"]["reason"] == reason),
            "{reason} audited"
        );
    }
    // Per refused fetch: the save, and the refusal.
    assert_eq!(
        app.audit("action=updateConnection").await.len(),
        entries + 6
    );
    let metrics = reqwest::get(format!("{}/metrics", app.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("gatehouse_saml_metadata_refusals_total 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("gatehouse_saml_metadata_fetches_total 3"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_metadata_url_must_be_https_or_loopback_and_not_beside_a_document() {
    let app = TestApp::spawn().await;
    for (saml, field) in [
        (
            json!({"idpMetadataUrl": "http://idp.example.com/metadata"}),
            "idpMetadataUrl",
        ),
        (
            json!({"idpMetadataUrl": "https://idp.example.com/m", "idpMetadataXml": "<x/>"}),
            "idpMetadataUrl",
        ),
        (
            json!({"idpMetadataUrl": "https://idp.example.com/m", "metadataRefreshMinutes": 0}),
            "metadataRefreshMinutes",
        ),
    ] {
        let (s, b) = app
            .post(
                "/api/v2/connections",
                json!({"key": "bad", "kind": "generic", "saml": saml}),
            )
            .await;
        assert_eq!(s, 400, "{b}");
        assert!(b.to_string().contains(field), "{b}");
    }
}
