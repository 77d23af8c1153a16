//! Admin control of browser sessions: an admin sees who is signed in where and ends sessions
//! (one, a member's, everyone's but their own); members end their own; the account's
//! timeouts change without a restart. Every change leaves an audit entry.

use gatehouse::clock::ManualClock;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::sso_idp::*;
use super::support::TestApp;

const KEY: &str = "corp";
const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
const SAFARI: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) Version/17.5 Safari/605.1.15";

struct Session {
    cookie: String,
    csrf: String,
    member_id: String,
}

impl Session {
    async fn call(
        &self,
        app: &TestApp,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        with_session(app, method, path, &self.cookie, Some(&self.csrf), body).await
    }

    /// Whether the cookie still lets its browser in.
    async fn works(&self, app: &TestApp) -> bool {
        let (s, _) = with_session(app, Method::GET, "/api/v2/me", &self.cookie, None, None).await;
        assert!(s == 200 || s == 401, "{s}");
        s == 200
    }
}

async fn app_with_idp(app: TestApp) -> (TestApp, SamlIdp) {
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

/// Signs `email` in through the IdP with base role `role`, from a browser saying `agent`.
async fn sign_in(app: &TestApp, idp: &SamlIdp, email: &str, role: &str, agent: &str) -> Session {
    let mut spec = idp.spec(app, KEY, None, email);
    spec.attributes.push(("role".into(), vec![role.into()]));
    let resp = browser()
        .post(format!("{}/sso/{KEY}/saml/acs", app.base))
        .header("Accept", "application/json")
        .header("User-Agent", agent)
        .form(&[
            ("SAMLResponse", b64(&idp.response(&spec))),
            ("RelayState", String::new()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let cookie = session_cookie(&resp).expect("session cookie");
    let body: Value = resp.json().await.unwrap();
    Session {
        cookie,
        csrf: body["csrfToken"].as_str().unwrap().to_owned(),
        member_id: body["memberId"].as_str().unwrap().to_owned(),
    }
}

async fn sessions_of(app: &TestApp, member_id: &str) -> Vec<Value> {
    let (s, page) = app
        .get(&format!("/api/v2/members/{member_id}/sessions"))
        .await;
    assert_eq!(s, 200, "{page}");
    assert_eq!(page["totalCount"], page["items"].as_array().unwrap().len());
    page["items"].as_array().unwrap().clone()
}

/// The public id of the session `agent` opened.
fn id_of(sessions: &[Value], agent: &str) -> String {
    let found = sessions.iter().find(|s| s["userAgent"] == agent).unwrap();
    found["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn an_admin_sees_where_each_session_was_opened() {
    let (app, idp) = app_with_idp(TestApp::spawn().await).await;
    let firefox = sign_in(&app, &idp, "ann@example.com", "writer", FIREFOX).await;
    let safari = sign_in(&app, &idp, "ann@example.com", "writer", SAFARI).await;
    let before = now_ms();

    let listed = sessions_of(&app, &firefox.member_id).await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    for s in &listed {
        assert_eq!(s["memberId"], firefox.member_id.as_str());
        assert_eq!(s["ip"], "127.0.0.1");
        assert_eq!(s["connection"], KEY);
        assert_eq!(s["protocol"], "saml");
        assert_eq!(s["current"], false, "a token is no session");
        let created = s["creationDate"].as_i64().unwrap();
        assert!(created <= before && created > before - 60_000, "{s}");
        assert!(s["lastUsed"].as_i64().unwrap() >= created);
        assert!(s["expiresAt"].as_i64().unwrap() > before);
        // The id is neither the cookie nor the hash it is stored under.
        let id = s["id"].as_str().unwrap();
        for cookie in [&firefox.cookie, &safari.cookie] {
            assert!(!id.contains(cookie.as_str()));
            assert_ne!(id, gatehouse::service::secrets::hash_secret(cookie));
        }
    }
    assert_ne!(listed[0]["id"], listed[1]["id"]);
    assert!(listed.iter().any(|s| s["userAgent"] == FIREFOX));
    assert!(listed.iter().any(|s| s["userAgent"] == SAFARI));

    // The member sees their own, and which one they are using.
    let (s, own) = safari
        .call(
            &app,
            Method::GET,
            &format!("/api/v2/members/{}/sessions", safari.member_id),
            None,
        )
        .await;
    assert_eq!(s, 200, "{own}");
    let current: Vec<_> = own["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["current"] == true)
        .collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["userAgent"], SAFARI);

    let (s, e) = app.get("/api/v2/members/nobody/sessions").await;
    assert_eq!(s, 404, "{e}");
    assert_eq!(e["code"], "not_found");
}

#[tokio::test]
async fn ending_one_session_stops_its_cookie_and_no_other() {
    let (app, idp) = app_with_idp(TestApp::spawn().await).await;
    let firefox = sign_in(&app, &idp, "ann@example.com", "writer", FIREFOX).await;
    let safari = sign_in(&app, &idp, "ann@example.com", "writer", SAFARI).await;
    let bob = sign_in(&app, &idp, "bob@example.com", "writer", FIREFOX).await;
    let ann = firefox.member_id.clone();
    let target = id_of(&sessions_of(&app, &ann).await, FIREFOX);

    // Another member's session id under this member is not found.
    let bobs = id_of(&sessions_of(&app, &bob.member_id).await, FIREFOX);
    let (s, _) = app
        .delete(&format!("/api/v2/members/{ann}/sessions/{bobs}"))
        .await;
    assert_eq!(s, 404);
    let (s, _) = app
        .delete(&format!("/api/v2/members/{ann}/sessions/no-such-session"))
        .await;
    assert_eq!(s, 404);

    let (s, body) = app
        .delete(&format!("/api/v2/members/{ann}/sessions/{target}"))
        .await;
    assert_eq!(s, 204, "{body}");
    assert!(!firefox.works(&app).await);
    assert!(safari.works(&app).await);
    assert!(bob.works(&app).await);
    assert_eq!(sessions_of(&app, &ann).await.len(), 1);
    // An ended session is gone: ending it again is a 404.
    let (s, _) = app
        .delete(&format!("/api/v2/members/{ann}/sessions/{target}"))
        .await;
    assert_eq!(s, 404);

    let entries = app.audit("action=revokeSessions").await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    let entry = &entries[0];
    assert_eq!(entry["delta"]["sessions"], json!([target]));
    assert_eq!(entry["accesses"][0]["resource"], format!("member/{ann}"));
    assert!(
        !entry.to_string().contains(&firefox.cookie),
        "the entry never holds the secret"
    );
}

#[tokio::test]
async fn ending_all_of_a_members_sessions() {
    let (app, idp) = app_with_idp(TestApp::spawn().await).await;
    let firefox = sign_in(&app, &idp, "ann@example.com", "writer", FIREFOX).await;
    let safari = sign_in(&app, &idp, "ann@example.com", "writer", SAFARI).await;
    let bob = sign_in(&app, &idp, "bob@example.com", "writer", FIREFOX).await;
    let ann = firefox.member_id.clone();
    let mut ids: Vec<_> = sessions_of(&app, &ann)
        .await
        .iter()
        .map(|s| s["id"].clone())
        .collect();

    let (s, body) = app.delete(&format!("/api/v2/members/{ann}/sessions")).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["revokedCount"], 2);
    assert!(!firefox.works(&app).await);
    assert!(!safari.works(&app).await);
    assert!(bob.works(&app).await);
    assert!(sessions_of(&app, &ann).await.is_empty());

    let entry = &app.audit("action=revokeSessions").await[0];
    let mut named = entry["delta"]["sessions"].as_array().unwrap().clone();
    named.sort_by_key(|v| v.to_string());
    ids.sort_by_key(|v| v.to_string());
    assert_eq!(named, ids);
    assert_eq!(entry["delta"]["count"], 2);
}

#[tokio::test]
async fn signing_everyone_out_keeps_the_caller_signed_in() {
    let (app, idp) = app_with_idp(TestApp::spawn().await).await;
    let admin = sign_in(&app, &idp, "root@example.com", "admin", FIREFOX).await;
    let admin_elsewhere = sign_in(&app, &idp, "root@example.com", "admin", SAFARI).await;
    let ann = sign_in(&app, &idp, "ann@example.com", "writer", FIREFOX).await;
    let bob = sign_in(&app, &idp, "bob@example.com", "reader", SAFARI).await;

    // A writer may not sign everyone out.
    let (s, _) = ann
        .call(
            &app,
            Method::POST,
            "/api/v2/account/sessions/revoke",
            Some(json!({})),
        )
        .await;
    assert_eq!(s, 403);
    assert!(ann.works(&app).await);

    let (s, body) = admin
        .call(
            &app,
            Method::POST,
            "/api/v2/account/sessions/revoke",
            Some(json!({"comment": "laptop stolen"})),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["revokedCount"], 2);
    assert!(!ann.works(&app).await);
    assert!(!bob.works(&app).await);
    assert!(admin.works(&app).await);
    assert!(admin_elsewhere.works(&app).await);

    let entry = &app.audit("action=revokeSessions").await[0];
    assert_eq!(entry["accesses"][0]["resource"], "acct");
    assert_eq!(entry["comment"], "laptop stolen");
    assert_eq!(entry["delta"]["keptMemberId"], admin.member_id.as_str());
    let ended: Vec<_> = entry["delta"]["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["memberId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ended.len(), 2);
    assert!(ended.contains(&ann.member_id) && ended.contains(&bob.member_id));

    // A service token keeps no sessions: everyone's end.
    let (s, body) = app.post("/api/v2/account/sessions/revoke", json!({})).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["revokedCount"], 2);
    assert!(!admin.works(&app).await);
}

#[tokio::test]
async fn readers_look_but_members_end_only_their_own() {
    let (app, idp) = app_with_idp(TestApp::spawn().await).await;
    let ann_a = sign_in(&app, &idp, "ann@example.com", "reader", FIREFOX).await;
    let ann_b = sign_in(&app, &idp, "ann@example.com", "reader", SAFARI).await;
    let bob = sign_in(&app, &idp, "bob@example.com", "writer", FIREFOX).await;
    let (_, reader_token) = app.member_with_token("rita@example.com", "reader").await;
    let ann = ann_a.member_id.clone();
    let bobs = id_of(&sessions_of(&app, &bob.member_id).await, FIREFOX);

    // A reader sees others' sessions (as it sees the members) but may not end them.
    let path = format!("/api/v2/members/{}/sessions", bob.member_id);
    let (s, page) = app
        .call(Method::GET, &path, Some(&reader_token), None)
        .await;
    assert_eq!(s, 200, "{page}");
    assert_eq!(page["totalCount"], 1);
    let (s, e) = app
        .call(
            Method::DELETE,
            &format!("{path}/{bobs}"),
            Some(&reader_token),
            None,
        )
        .await;
    assert_eq!(s, 403, "{e}");
    assert_eq!(e["code"], "forbidden");
    let (s, _) = app
        .call(Method::DELETE, &path, Some(&reader_token), None)
        .await;
    assert_eq!(s, 403);
    let (s, _) = ann_a.call(&app, Method::DELETE, &path, None).await;
    assert_eq!(s, 403);
    assert!(bob.works(&app).await);

    // A member, even a reader, ends their own: another browser, then all of them.
    let other = id_of(&sessions_of(&app, &ann).await, SAFARI);
    let (s, e) = ann_a
        .call(
            &app,
            Method::DELETE,
            &format!("/api/v2/members/{ann}/sessions/{other}"),
            None,
        )
        .await;
    assert_eq!(s, 204, "{e}");
    assert!(!ann_b.works(&app).await);
    assert!(ann_a.works(&app).await);
    let entry = &app.audit("action=revokeSessions").await[0];
    assert_eq!(entry["actor"]["kind"], "member");
    let (s, body) = ann_a
        .call(
            &app,
            Method::DELETE,
            &format!("/api/v2/members/{ann}/sessions"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["revokedCount"], 1);
    assert!(!ann_a.works(&app).await);
    assert_eq!(app.audit("action=revokeSessions").await.len(), 2);
}

#[tokio::test]
async fn new_timeouts_apply_at_once_without_a_restart() {
    let clock = ManualClock::new(now_ms());
    let (app, idp) = app_with_idp(TestApp::spawn_with_clock(clock.clone()).await).await;
    let idle = sign_in(&app, &idp, "ann@example.com", "writer", FIREFOX).await;
    let busy = sign_in(&app, &idp, "ann@example.com", "writer", SAFARI).await;
    let (s, settings) = app.get("/api/v2/account/session-settings").await;
    assert_eq!(s, 200);
    assert_eq!(
        settings,
        json!({"idleTimeoutMinutes": 480, "absoluteTimeoutHours": 24, "source": "environment"})
    );

    clock.advance(30 * 60_000);
    assert!(busy.works(&app).await);
    // A writer may not change them.
    let (s, _) = busy
        .call(
            &app,
            Method::PUT,
            "/api/v2/account/session-settings",
            Some(json!({"idleTimeoutMinutes": 1, "absoluteTimeoutHours": 1})),
        )
        .await;
    assert_eq!(s, 403);

    // Idle shortened to 20 minutes: the session unused for 30 is refused, the busy one is not.
    let (s, put) = app
        .put(
            "/api/v2/account/session-settings",
            json!({"idleTimeoutMinutes": 20, "absoluteTimeoutHours": 24, "comment": "tighter"}),
        )
        .await;
    assert_eq!(s, 200, "{put}");
    assert_eq!(put["source"], "account");
    assert!(!idle.works(&app).await);
    assert!(busy.works(&app).await);
    let (_, got) = app.get("/api/v2/account/session-settings").await;
    assert_eq!(got, put);
    let entry = &app.audit("action=updateSessionDuration").await[0];
    assert_eq!(entry["previousVersion"]["idleTimeoutMinutes"], 480);
    assert_eq!(entry["previousVersion"]["source"], "environment");
    assert_eq!(entry["currentVersion"]["idleTimeoutMinutes"], 20);
    assert_eq!(entry["comment"], "tighter");

    // Absolute shortened to one hour: the busy session, used 16 minutes ago but opened 61
    // minutes ago, ends.
    clock.advance(15 * 60_000);
    assert!(busy.works(&app).await);
    let (s, _) = app
        .put(
            "/api/v2/account/session-settings",
            json!({"idleTimeoutMinutes": 20, "absoluteTimeoutHours": 1}),
        )
        .await;
    assert_eq!(s, 200);
    clock.advance(16 * 60_000);
    assert!(!busy.works(&app).await);
    let entries = app.audit("action=updateSessionDuration").await;
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["previousVersion"]["absoluteTimeoutHours"], 24);
    assert_eq!(entries[0]["currentVersion"]["absoluteTimeoutHours"], 1);
}

#[tokio::test]
async fn timeouts_out_of_bounds_are_refused_naming_the_field() {
    let app = TestApp::spawn().await;
    let cases = [
        (
            json!({"idleTimeoutMinutes": 0, "absoluteTimeoutHours": 24}),
            "idleTimeoutMinutes",
        ),
        (
            json!({"idleTimeoutMinutes": 10081, "absoluteTimeoutHours": 720}),
            "idleTimeoutMinutes",
        ),
        (
            json!({"idleTimeoutMinutes": 30, "absoluteTimeoutHours": 721}),
            "absoluteTimeoutHours",
        ),
        (
            json!({"idleTimeoutMinutes": 30, "absoluteTimeoutHours": 0}),
            "absoluteTimeoutHours",
        ),
        (
            json!({"idleTimeoutMinutes": 61, "absoluteTimeoutHours": 1}),
            "idleTimeoutMinutes",
        ),
        (
            json!({"idleTimeoutMinutes": 30, "absoluteTimeoutHours": 1, "refresh": true}),
            "refresh",
        ),
    ];
    for (body, field) in cases {
        let (s, e) = app
            .put("/api/v2/account/session-settings", body.clone())
            .await;
        assert_eq!(s, 400, "{body} -> {e}");
        assert_eq!(e["code"], "invalid_request");
        assert!(
            e["message"].as_str().unwrap().contains(field),
            "{body} -> {e}"
        );
    }
    // A missing field is the framework's refusal (its message names the body, not the field).
    let (s, _) = app
        .put(
            "/api/v2/account/session-settings",
            json!({"absoluteTimeoutHours": 1}),
        )
        .await;
    assert_eq!(s, 400);
    assert!(app.audit("action=updateSessionDuration").await.is_empty());
    let (_, got) = app.get("/api/v2/account/session-settings").await;
    assert_eq!(got["source"], "environment");
    // The bounds themselves are accepted.
    let (s, _) = app
        .put(
            "/api/v2/account/session-settings",
            json!({"idleTimeoutMinutes": 10080, "absoluteTimeoutHours": 720}),
        )
        .await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn sessions_opened_before_the_upgrade_get_distinct_public_ids() {
    use migration::{Migrator, MigratorTrait};
    use sea_orm::{ConnectionTrait, EntityTrait};

    let (url, _tmp) = super::support::fresh_database().await;
    let db = gatehouse::db::connect(&url).await.unwrap();
    let before_step = Migrator::migrations()
        .iter()
        .position(|m| m.name() == "m20261207_000012_session_details")
        .unwrap();
    Migrator::up(&db, Some(before_step as u32)).await.unwrap();
    for id in ["h1", "h2"] {
        db.execute_unprepared(&format!(
            "INSERT INTO session (id, member_id, protocol, csrf_token, created_at, \
             last_seen_at, expires_at) VALUES ('{id}', 'm1', 'saml', 'c', 1, 1, 2)"
        ))
        .await
        .unwrap();
    }
    gatehouse::db::migrate(&db).await.unwrap();
    let rows = entity::session::Entity::find().all(&db).await.unwrap();
    assert_eq!(rows.len(), 2);
    assert!(
        rows.iter()
            .all(|r| r.public_id.len() == 32 && r.user_agent.is_none())
    );
    assert_ne!(rows[0].public_id, rows[1].public_id);
    assert!(rows.iter().all(|r| !r.public_id.contains(&r.id)));
}
