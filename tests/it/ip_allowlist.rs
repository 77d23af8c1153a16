//! IP allowlists over real sockets: an admin limits API tokens and browser sessions to the
//! office, requests from elsewhere get 403 naming their address, a change that would lock the
//! admin out is refused, a trusted proxy's `X-Forwarded-For` is believed and anyone else's is
//! not, and a connection keeps SCIM to its own addresses.
//!
//! The test server's peer is always 127.0.0.1; "elsewhere" is an address forwarded by a
//! trusted proxy (the test app trusts 127.0.0.1 as one), or the loopback peer itself when the
//! list leaves it out.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::sso_idp::{SamlIdp, post_acs, saml_connection};
use super::support::{BOOTSTRAP, TestApp};
use gatehouse::domain::ip_allowlist::AddressList;
use gatehouse::edge::client_address::TrustedProxies;

const OFFICE: &str = "203.0.113.10";
const ELSEWHERE: &str = "198.51.100.7";
const PATH: &str = "/api/v2/account/ip-allowlist";

/// Limits that trust a proxy on loopback: its `X-Forwarded-For` names the client.
fn proxied() -> gatehouse::AppLimits {
    gatehouse::AppLimits {
        trusted_proxies: TrustedProxies::new(
            AddressList::parse_comma_separated("127.0.0.1").unwrap(),
        ),
        ..Default::default()
    }
}

/// An app behind a proxy on loopback.
async fn behind_proxy() -> TestApp {
    TestApp::spawn_limited(proxied()).await
}

/// How a request proves who it is.
enum Cred<'a> {
    Token(&'a str),
    /// Session cookie and CSRF token.
    Session(&'a str, &'a str),
}

/// A request as forwarded by the proxy for `from` (None: straight from loopback).
async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    cred: Cred<'_>,
    from: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = app.client.request(method, format!("{}{}", app.base, path));
    req = match cred {
        Cred::Token(t) => req.header("Authorization", t),
        Cred::Session(cookie, csrf) => req
            .header("Cookie", format!("gatehouse_session={cookie}"))
            .header("X-Gatehouse-CSRF", csrf),
    };
    if let Some(from) = from {
        req = req.header("X-Forwarded-For", from);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn office_list(tokens: bool, sessions: bool) -> Value {
    json!({
        "entries": [{"cidr": "203.0.113.0/24", "description": "office"}],
        "tokensEnabled": tokens,
        "sessionsEnabled": sessions,
        "comment": "office only",
    })
}

#[tokio::test]
async fn tokens_work_only_from_listed_addresses_once_switched_on() {
    let app = behind_proxy().await;
    let admin = Cred::Token(BOOTSTRAP);
    let (s, list) = call(&app, Method::GET, PATH, admin, None, None).await;
    assert_eq!(s, 200, "{list}");
    assert_eq!(list["entries"], json!([]));
    assert_eq!(list["tokensEnabled"], false);
    assert_eq!(list["callerAddress"], "127.0.0.1");

    let (s, list) = call(
        &app,
        Method::PUT,
        PATH,
        Cred::Token(BOOTSTRAP),
        Some(OFFICE),
        Some(office_list(true, false)),
    )
    .await;
    assert_eq!(s, 200, "{list}");
    assert_eq!(list["version"], 1);
    assert_eq!(list["callerAddress"], OFFICE);

    // From the office: in. From the proxy itself or elsewhere: 403 naming the address.
    let me = |from: Option<&'static str>| {
        let app = &app;
        async move {
            call(
                app,
                Method::GET,
                "/api/v2/me",
                Cred::Token(BOOTSTRAP),
                from,
                None,
            )
            .await
        }
    };
    assert_eq!(me(Some("203.0.113.200")).await.0, 200);
    let (s, e) = me(None).await;
    assert_eq!(s, 403, "{e}");
    assert_eq!(e["code"], "forbidden");
    let message = e["message"].as_str().unwrap();
    assert!(
        message.contains("127.0.0.1") && message.contains("IP allowlist"),
        "{message}"
    );
    let (s, e) = me(Some("203.0.113.5, 198.51.100.7")).await;
    assert_eq!(s, 403);
    assert!(e["message"].as_str().unwrap().contains(ELSEWHERE), "{e}");
    // Only the right-most entry counts: the client wrote everything left of it.
    assert_eq!(me(Some("198.51.100.7, 203.0.113.5")).await.0, 200);

    // The change is audited with the actions it exercised, before and after, and the
    // forwarded address as its source.
    let (s, page) = call(
        &app,
        Method::GET,
        "/api/v2/auditlog?action=createIpAllowlistEntry",
        Cred::Token(BOOTSTRAP),
        Some(OFFICE),
        None,
    )
    .await;
    assert_eq!(s, 200, "{page}");
    let entry = &page["items"][0];
    let actions: Vec<&str> = entry["accesses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["createIpAllowlistEntry", "updateIpAllowlistEnabled"]
    );
    assert_eq!(entry["accesses"][0]["resource"], "acct");
    assert_eq!(entry["previousVersion"]["entries"], json!([]));
    assert_eq!(entry["currentVersion"]["tokensEnabled"], true);
    assert_eq!(
        entry["currentVersion"]["entries"][0]["cidr"],
        "203.0.113.0/24"
    );
    assert_eq!(entry["sourceIp"], OFFICE);
    assert_eq!(entry["comment"], "office only");

    // Switching tokens off lets everyone with a token back in.
    let (s, _) = call(
        &app,
        Method::PUT,
        PATH,
        Cred::Token(BOOTSTRAP),
        Some(OFFICE),
        Some(office_list(false, false)),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(me(None).await.0, 200);
}

#[tokio::test]
async fn a_change_that_would_lock_the_caller_out_is_refused_and_nothing_is_written() {
    let app = behind_proxy().await;
    let before = app.audit_count().await;
    let (s, e) = call(
        &app,
        Method::PUT,
        PATH,
        Cred::Token(BOOTSTRAP),
        Some(ELSEWHERE),
        Some(office_list(true, true)),
    )
    .await;
    assert_eq!(s, 409, "{e}");
    assert_eq!(e["code"], "conflict");
    let message = e["message"].as_str().unwrap();
    assert!(
        message.contains("lock you out") && message.contains(ELSEWHERE),
        "{message}"
    );
    let (s, list) = app.get(PATH).await;
    assert_eq!(s, 200);
    assert_eq!(list["version"], 0);
    assert_eq!(list["entries"], json!([]));
    assert_eq!(app.audit_count().await, before);
    // Still open to everyone.
    assert_eq!(app.get("/api/v2/me").await.0, 200);

    // Sessions on and the caller outside the list is fine for a token caller: the switch
    // for its own kind of credential is off.
    let (s, body) = call(
        &app,
        Method::PUT,
        PATH,
        Cred::Token(BOOTSTRAP),
        Some(ELSEWHERE),
        Some(office_list(false, true)),
    )
    .await;
    assert_eq!(s, 200, "{body}");
}

#[tokio::test]
async fn forwarded_for_from_an_untrusted_peer_is_ignored() {
    // No trusted proxies: the loopback peer is the client whatever it forwards.
    let app = TestApp::spawn().await;
    let (s, e) = call(
        &app,
        Method::PUT,
        PATH,
        Cred::Token(BOOTSTRAP),
        Some(OFFICE),
        Some(office_list(true, false)),
    )
    .await;
    assert_eq!(s, 409, "{e}");
    assert!(e["message"].as_str().unwrap().contains("127.0.0.1"), "{e}");

    let loopback = json!({
        "entries": [{"cidr": "127.0.0.1", "description": "this host"}],
        "tokensEnabled": true,
        "sessionsEnabled": false,
    });
    let (s, list) = app.put(PATH, loopback).await;
    assert_eq!(s, 200, "{list}");
    assert_eq!(list["entries"][0]["cidr"], "127.0.0.1");
    // A forged header from the loopback client changes nothing: still 127.0.0.1, still in.
    let (s, me) = call(
        &app,
        Method::GET,
        "/api/v2/me",
        Cred::Token(BOOTSTRAP),
        Some(ELSEWHERE),
        None,
    )
    .await;
    assert_eq!(s, 200, "{me}");
    let (_, list) = call(
        &app,
        Method::GET,
        PATH,
        Cred::Token(BOOTSTRAP),
        Some(ELSEWHERE),
        None,
    )
    .await;
    assert_eq!(list["callerAddress"], "127.0.0.1");
}

#[tokio::test]
async fn bad_ranges_empty_lists_and_readers_are_refused() {
    let app = TestApp::spawn().await;
    let (s, e) = app
        .put(
            PATH,
            json!({
                "entries": [{"cidr": "127.0.0.1"}, {"cidr": "10.0.0.300/8"}],
                "tokensEnabled": true,
                "sessionsEnabled": false,
            }),
        )
        .await;
    assert_eq!(s, 400, "{e}");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .starts_with("entries[1].cidr: "),
        "{e}"
    );
    let (s, e) = app
        .put(
            PATH,
            json!({"entries": [{"cidr": "10.0.0.1/8"}], "tokensEnabled": false, "sessionsEnabled": false}),
        )
        .await;
    assert_eq!(s, 400);
    assert!(e["message"].as_str().unwrap().contains("10.0.0.0/8"), "{e}");
    let (s, e) = app
        .put(
            PATH,
            json!({"entries": [], "tokensEnabled": false, "sessionsEnabled": true}),
        )
        .await;
    assert_eq!(s, 400);
    assert!(e["message"].as_str().unwrap().contains("empty"), "{e}");
    let (s, _) = app
        .put(
            PATH,
            json!({"entries": [], "tokensEnabled": false, "sessionsEnabled": false, "enabled": true}),
        )
        .await;
    assert_eq!(s, 400, "unknown fields are refused");

    // A reader sees the list but cannot change it.
    let (_, reader) = app.member_with_token("rita@example.com", "reader").await;
    let (s, _) = app.call(Method::GET, PATH, Some(&reader), None).await;
    assert_eq!(s, 200);
    let (s, e) = app
        .call(
            Method::PUT,
            PATH,
            Some(&reader),
            Some(json!({"entries": [{"cidr": "127.0.0.1"}], "tokensEnabled": true, "sessionsEnabled": false})),
        )
        .await;
    assert_eq!(s, 403, "{e}");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("createIpAllowlistEntry"),
        "{e}"
    );
    // A stale version is refused.
    let (s, _) = app
        .put(
            PATH,
            json!({"entries": [], "tokensEnabled": false, "sessionsEnabled": false, "version": 7}),
        )
        .await;
    assert_eq!(s, 409);
}

#[tokio::test]
async fn browser_sessions_follow_their_own_switch() {
    let app = behind_proxy().await;
    let idp = SamlIdp::new("corp");
    saml_connection(
        &app,
        "corp",
        &idp,
        json!({"saml": {"allowIdpInitiated": true}}),
    )
    .await;
    let mut spec = idp.spec(&app, "corp", None, "ada@example.com");
    spec.attributes.push(("role".into(), vec!["admin".into()]));
    let signed_in = post_acs(&app, "corp", &idp.response(&spec)).await;
    assert_eq!(signed_in.status, 200, "{}", signed_in.body);
    let cookie = signed_in.session.unwrap();
    let csrf = signed_in.body["csrfToken"].as_str().unwrap().to_owned();
    let session = || Cred::Session(&cookie, &csrf);

    let (s, body) = call(
        &app,
        Method::PUT,
        PATH,
        Cred::Token(BOOTSTRAP),
        Some(OFFICE),
        Some(office_list(false, true)),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let (s, e) = call(
        &app,
        Method::GET,
        "/api/v2/me",
        session(),
        Some(ELSEWHERE),
        None,
    )
    .await;
    assert_eq!(s, 403, "{e}");
    assert!(
        e["message"].as_str().unwrap().contains("browser sessions"),
        "{e}"
    );
    let (s, _) = call(
        &app,
        Method::GET,
        "/api/v2/me",
        session(),
        Some(OFFICE),
        None,
    )
    .await;
    assert_eq!(s, 200);
    // Tokens are not covered by the sessions switch.
    let (s, _) = call(
        &app,
        Method::GET,
        "/api/v2/me",
        Cred::Token(BOOTSTRAP),
        Some(ELSEWHERE),
        None,
    )
    .await;
    assert_eq!(s, 200);

    // The signed-in admin cannot shut their own session out.
    let vpn_only = json!({
        "entries": [{"cidr": "2001:db8::/32", "description": "VPN"}],
        "tokensEnabled": false,
        "sessionsEnabled": true,
    });
    let (s, e) = call(
        &app,
        Method::PUT,
        PATH,
        session(),
        Some(OFFICE),
        Some(vpn_only),
    )
    .await;
    assert_eq!(s, 409, "{e}");
    let (s, e) = call(
        &app,
        Method::PUT,
        PATH,
        session(),
        Some("2001:db8::5"),
        Some(json!({
            "entries": [{"cidr": "2001:db8::/32", "description": "VPN"}],
            "tokensEnabled": false,
            "sessionsEnabled": true,
        })),
    )
    .await;
    assert_eq!(s, 403, "the VPN address is not listed yet: {e}");
}

#[tokio::test]
async fn a_connection_keeps_scim_to_its_own_addresses() {
    let app = behind_proxy().await;
    let (s, e) = app
        .post(
            "/api/v2/connections",
            json!({"key": "okta", "kind": "okta", "scimAllowlist": [{"cidr": "10.0.0.300/8"}]}),
        )
        .await;
    assert_eq!(s, 400);
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .starts_with("scimAllowlist[0].cidr"),
        "{e}"
    );
    let (s, c) = app
        .post(
            "/api/v2/connections",
            json!({"key": "okta", "kind": "okta",
                   "scimAllowlist": [{"cidr": "203.0.113.0/24", "description": "Okta"}]}),
        )
        .await;
    assert_eq!(s, 201, "{c}");
    assert_eq!(c["scimAllowlist"][0]["cidr"], "203.0.113.0/24");
    let (s, t) = app
        .post("/api/v2/connections/okta/scim-tokens", json!({}))
        .await;
    assert_eq!(s, 201, "{t}");
    let bearer = format!("Bearer {}", t["token"].as_str().unwrap());
    let scim = |from: Option<&'static str>| {
        let (app, bearer) = (&app, bearer.clone());
        async move {
            call(
                app,
                Method::GET,
                "/scim/v2/Users",
                Cred::Token(&bearer),
                from,
                None,
            )
            .await
        }
    };
    let (s, e) = scim(None).await;
    assert_eq!(s, 403, "{e}");
    assert_eq!(
        e["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:Error"])
    );
    assert_eq!(e["status"], "403");
    assert!(e["detail"].as_str().unwrap().contains("127.0.0.1"), "{e}");
    assert_eq!(scim(Some("203.0.113.9")).await.0, 200);

    // The account list does not govern SCIM, nor the SCIM list REST.
    let (s, _) = call(
        &app,
        Method::PUT,
        PATH,
        Cred::Token(BOOTSTRAP),
        Some(OFFICE),
        Some(office_list(true, true)),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(scim(Some("203.0.113.9")).await.0, 200);

    let (s, e) = call(
        &app,
        Method::PATCH,
        "/api/v2/connections/okta",
        Cred::Token(BOOTSTRAP),
        Some(OFFICE),
        Some(json!({"scimAllowlist": []})),
    )
    .await;
    assert_eq!(s, 400, "{e}");
    let (s, c) = call(
        &app,
        Method::PATCH,
        "/api/v2/connections/okta",
        Cred::Token(BOOTSTRAP),
        Some(OFFICE),
        Some(json!({"scimAllowlist": null})),
    )
    .await;
    assert_eq!(s, 200, "{c}");
    assert!(c.get("scimAllowlist").is_none(), "{c}");
    // Lifted at once: SCIM from anywhere again.
    assert_eq!(scim(None).await.0, 200);
}

#[tokio::test]
async fn another_replica_picks_a_change_up_within_seconds() {
    let first = behind_proxy().await;
    let second = TestApp::spawn_on_limited(first.database_url.clone(), proxied()).await;
    // The second replica reads the (empty) list on its first request and keeps it.
    assert_eq!(second.get("/api/v2/me").await.0, 200);
    let (s, body) = call(
        &first,
        Method::PUT,
        PATH,
        Cred::Token(BOOTSTRAP),
        Some(OFFICE),
        Some(office_list(true, false)),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    // At once here; there within the refresh interval.
    assert_eq!(first.get("/api/v2/me").await.0, 403);
    let started = std::time::Instant::now();
    loop {
        let (s, _) = second.get("/api/v2/me").await;
        if s == 403 {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(8),
            "the second replica still admits 127.0.0.1"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
