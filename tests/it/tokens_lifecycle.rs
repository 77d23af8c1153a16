//! A token's life after creation: read it back without its secret, change its access (never
//! above the caller's), hold statements of its own, and reset its secret with a grace period
//! for the old one.

use reqwest::Method;
use serde_json::{Value, json};

use gatehouse::clock::{Clock, ManualClock, SystemClock};

use crate::support::{BOOTSTRAP, TestApp};

const MINUTE: i64 = 60_000;

/// The status of `GET /api/v2/me` with `secret`: whether the secret opens a token.
async fn me_status(app: &TestApp, secret: &str) -> u16 {
    app.call(Method::GET, "/api/v2/me", Some(secret), None)
        .await
        .0
        .as_u16()
}

/// A new service token made by the owner; returns its id and secret.
async fn service_token(app: &TestApp, body: Value) -> (String, String) {
    let (s, t) = app.post("/api/v2/tokens", body).await;
    assert_eq!(s, 201, "{t}");
    (
        t["id"].as_str().unwrap().to_owned(),
        t["token"].as_str().unwrap().to_owned(),
    )
}

async fn reset(app: &TestApp, id: &str, query: &str) -> (u16, Value) {
    let (s, body) = app
        .call(
            Method::POST,
            &format!("/api/v2/tokens/{id}/reset{query}"),
            Some(BOOTSTRAP),
            None,
        )
        .await;
    (s.as_u16(), body)
}

fn toggle(env: &str) -> Value {
    json!({"environmentKey": env, "instructions": [{"kind": "turnFlagOn"}]})
}

#[tokio::test(flavor = "multi_thread")]
async fn an_old_secret_works_until_its_grace_ends_after_a_reset() {
    let clock = ManualClock::new(SystemClock.now_ms());
    let app = TestApp::spawn_with_clock(clock.clone()).await;
    let (id, first) = service_token(
        &app,
        json!({"name": "deployer", "serviceToken": true, "role": "writer"}),
    )
    .await;

    // A reset with a grace: a new secret, shown once, and both work until the grace ends.
    let until = clock.now_ms() + 10 * MINUTE;
    let (s, t) = reset(&app, &id, &format!("?expiry={until}")).await;
    assert_eq!(s, 200, "{t}");
    let second = t["token"].as_str().unwrap().to_owned();
    assert_ne!(second, first);
    assert!(second.starts_with("gat_"));
    assert_eq!(t["ending"], &second[second.len() - 4..]);
    assert_eq!(t["id"], id.as_str());
    assert_eq!(
        me_status(&app, &first).await,
        200,
        "the old secret in its grace"
    );
    assert_eq!(me_status(&app, &second).await, 200);
    clock.advance(10 * MINUTE - 1);
    assert_eq!(
        me_status(&app, &first).await,
        200,
        "a millisecond before the end"
    );
    clock.advance(1);
    assert_eq!(me_status(&app, &first).await, 401, "the grace has ended");
    assert_eq!(me_status(&app, &second).await, 200);

    // A second reset with a grace ends the first one's: only one old secret is ever alive.
    let (s, t) = reset(&app, &id, &format!("?expiry={}", clock.now_ms() + MINUTE)).await;
    assert_eq!(s, 200, "{t}");
    let third = t["token"].as_str().unwrap().to_owned();
    let (s, t) = reset(&app, &id, &format!("?expiry={}", clock.now_ms() + MINUTE)).await;
    assert_eq!(s, 200, "{t}");
    let fourth = t["token"].as_str().unwrap().to_owned();
    assert_eq!(me_status(&app, &second).await, 401);
    assert_eq!(me_status(&app, &third).await, 200);
    assert_eq!(me_status(&app, &fourth).await, 200);

    // Without an expiry, or with one already past, the old secret stops at once.
    let (_, t) = reset(&app, &id, "").await;
    let fifth = t["token"].as_str().unwrap().to_owned();
    assert_eq!(me_status(&app, &fourth).await, 401);
    assert_eq!(
        me_status(&app, &third).await,
        401,
        "the earlier grace went too"
    );
    let (_, t) = reset(&app, &id, &format!("?expiry={}", clock.now_ms() - 1)).await;
    let sixth = t["token"].as_str().unwrap().to_owned();
    assert_eq!(me_status(&app, &fifth).await, 401);
    assert_eq!(me_status(&app, &sixth).await, 200);

    // A grace longer than 30 days is refused, naming the parameter, and changes nothing.
    let far = clock.now_ms() + 31 * 24 * 60 * MINUTE;
    let (s, body) = reset(&app, &id, &format!("?expiry={far}")).await;
    assert_eq!(s, 400, "{body}");
    assert!(
        body["message"].as_str().unwrap().starts_with("expiry:"),
        "{body}"
    );
    assert_eq!(me_status(&app, &sixth).await, 200);

    // Every reset is audited, without any secret.
    let entries = app.audit("action=resetAccessToken").await;
    assert_eq!(entries.len(), 5);
    assert!(
        entries[0]["description"]
            .as_str()
            .unwrap()
            .contains("stopped at once")
    );
    let export = app.get("/api/v2/auditlog/export").await.1.to_string();
    for secret in [&first, &second, &third, &fourth, &fifth, &sixth] {
        assert!(!export.contains(secret.as_str()));
    }

    // A revoked token changes no more.
    assert_eq!(app.delete(&format!("/api/v2/tokens/{id}")).await.0, 204);
    let (s, body) = reset(&app, &id, "").await;
    assert_eq!(s, 409, "{body}");
    let (s, body) = app
        .patch(&format!("/api/v2/tokens/{id}"), json!({"name": "again"}))
        .await;
    assert_eq!(s, 409, "{body}");
    assert_eq!(me_status(&app, &sixth).await, 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_personal_token_resets_by_its_owner_and_no_one_else_without_permission() {
    let app = TestApp::spawn().await;
    let (_, ada) = app.member_with_token("ada@example.com", "writer").await;
    let (_, bob) = app.member_with_token("bob@example.com", "writer").await;
    let (s, t) = app
        .call(
            Method::POST,
            "/api/v2/tokens",
            Some(&ada),
            Some(json!({"name": "laptop", "description": "Ada's laptop"})),
        )
        .await;
    assert_eq!(s, 201, "{t}");
    let id = t["id"].as_str().unwrap();
    let path = format!("/api/v2/tokens/{id}/reset");
    let (s, _) = app.call(Method::POST, &path, Some(&bob), None).await;
    assert_eq!(s, 403);
    let (s, body) = app.call(Method::POST, &path, Some(&ada), None).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(me_status(&app, t["token"].as_str().unwrap()).await, 401);
    assert_eq!(me_status(&app, body["token"].as_str().unwrap()).await, 200);
    let (s, _) = app
        .call(Method::POST, "/api/v2/tokens/nope/reset", Some(&ada), None)
        .await;
    assert_eq!(s, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn get_shows_a_token_without_its_secret_to_whom_the_list_shows_it() {
    let app = TestApp::spawn().await;
    let (ada_id, ada) = app.member_with_token("ada@example.com", "writer").await;
    // Readers and writers view every token (`viewToken` is a view action); `no_access` none.
    let (_, bob) = app.member_with_token("bob@example.com", "no_access").await;
    let (s, t) = app
        .call(
            Method::POST,
            "/api/v2/tokens",
            Some(&ada),
            Some(json!({"name": "ci", "description": "builds", "role": "reader"})),
        )
        .await;
    assert_eq!(s, 201, "{t}");
    let secret = t["token"].as_str().unwrap();
    let path = format!("/api/v2/tokens/{}", t["id"].as_str().unwrap());

    for who in [ada.as_str(), BOOTSTRAP] {
        let (s, got) = app.call(Method::GET, &path, Some(who), None).await;
        assert_eq!(s, 200, "{got}");
        assert!(got.get("token").is_none(), "{got}");
        assert!(!got.to_string().contains(secret));
        assert_eq!(got["name"], "ci");
        assert_eq!(got["description"], "builds");
        assert_eq!(got["ownerId"], ada_id.as_str());
        assert_eq!(got["role"], "reader");
        assert_eq!(got["ending"], &secret[secret.len() - 4..]);
        assert!(got.get("inlineRole").is_none(), "{got}");
    }
    let (s, body) = app.call(Method::GET, &path, Some(&bob), None).await;
    assert_eq!(s, 403, "a member without access may not view it: {body}");
    assert_eq!(app.get("/api/v2/tokens/nope").await.0, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_patch_changes_what_it_names_and_never_raises_a_token_above_its_caller() {
    let app = TestApp::spawn().await;
    app.seed_flag_domain().await;
    let (_, ada) = app.member_with_token("ada@example.com", "writer").await;
    let (s, t) = app
        .call(
            Method::POST,
            "/api/v2/tokens",
            Some(&ada),
            Some(json!({"name": "ci", "role": "reader"})),
        )
        .await;
    assert_eq!(s, 201, "{t}");
    let secret = t["token"].as_str().unwrap().to_owned();
    let path = format!("/api/v2/tokens/{}", t["id"].as_str().unwrap());
    let flag_toggle = |token: String| {
        let app = &app;
        async move {
            app.call(
                Method::PATCH,
                "/api/v2/flags/p/f",
                Some(&token),
                Some(toggle("test")),
            )
            .await
            .0
        }
    };
    assert_eq!(flag_toggle(secret.clone()).await, 403, "a reader token");

    // Name, description and role at once: one entry with one access per action.
    let (s, body) = app
        .call(
            Method::PATCH,
            &path,
            Some(&ada),
            Some(json!({"name": "ci-2", "description": "deploys", "role": "writer", "comment": "needs to toggle"})),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["name"], "ci-2");
    assert_eq!(body["description"], "deploys");
    assert_eq!(body["role"], "writer");
    assert!(body.get("token").is_none());
    assert_eq!(flag_toggle(secret.clone()).await, 200, "now a writer token");
    let entries = app.audit("action=updateAccessTokenPolicy").await;
    assert_eq!(entries.len(), 1);
    let actions: Vec<&str> = entries[0]["accesses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "updateAccessTokenName",
            "updateAccessTokenDescription",
            "updateAccessTokenPolicy"
        ]
    );
    assert_eq!(entries[0]["comment"], "needs to toggle");
    assert!(!entries[0].to_string().contains(&secret));

    // Above the caller's own role: refused, nothing changed.
    let (s, body) = app
        .call(
            Method::PATCH,
            &path,
            Some(&ada),
            Some(json!({"role": "admin"})),
        )
        .await;
    assert_eq!(s, 403, "{body}");
    assert!(
        body["message"].as_str().unwrap().starts_with("role:"),
        "{body}"
    );
    // An admin may not raise it above its member either (the request asks the impossible).
    let (_, admin) = app.member_with_token("root@example.com", "admin").await;
    let (s, body) = app
        .call(
            Method::PATCH,
            &path,
            Some(&admin),
            Some(json!({"role": "admin"})),
        )
        .await;
    assert_eq!(s, 400, "{body}");
    let (_, got) = app.get(&path).await;
    assert_eq!(got["role"], "writer");

    // A personal token holds no statements of its own.
    let statements = json!([{"effect": "allow", "actions": ["*"], "resources": ["proj/*"]}]);
    let (s, body) = app
        .call(
            Method::PATCH,
            &path,
            Some(&ada),
            Some(json!({"inlineRole": statements})),
        )
        .await;
    assert_eq!(s, 400, "{body}");
    assert!(body["message"].as_str().unwrap().starts_with("inlineRole:"));
    let (s, body) = app
        .call(
            Method::POST,
            "/api/v2/tokens",
            Some(&ada),
            Some(json!({"name": "mine", "inlineRole": statements})),
        )
        .await;
    assert_eq!(s, 400, "{body}");

    // An empty patch changes nothing and writes no entry.
    let before = app.audit_count().await;
    let (s, _) = app
        .call(Method::PATCH, &path, Some(&ada), Some(json!({})))
        .await;
    assert_eq!(s, 200);
    assert_eq!(app.audit_count().await, before);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_inline_role_allows_and_denies_as_its_statements_say() {
    let app = TestApp::spawn().await;
    app.seed_flag_domain().await;
    let statements = json!([
        {"effect": "allow", "actions": ["updateOn"], "resources": ["proj/p:env/*:flag/*"]},
        {"effect": "deny", "actions": ["updateOn"], "resources": ["proj/p:env/production:flag/*"]}
    ]);
    let (id, bot) = service_token(
        &app,
        json!({"name": "bot", "serviceToken": true, "inlineRole": statements}),
    )
    .await;
    let path = format!("/api/v2/tokens/{id}");
    let call = |body: Value, token: String| {
        let app = &app;
        async move {
            app.call(Method::PATCH, "/api/v2/flags/p/f", Some(&token), Some(body))
                .await
                .0
        }
    };
    assert_eq!(call(toggle("test"), bot.clone()).await, 200);
    assert_eq!(call(toggle("production"), bot.clone()).await, 403, "denied");
    let (s, _) = app
        .call(
            Method::POST,
            "/api/v2/projects",
            Some(&bot),
            Some(json!({"key": "q", "name": "Q"})),
        )
        .await;
    assert_eq!(s, 403, "nothing the statements do not name");
    let (_, got) = app.get(&path).await;
    assert_eq!(got["inlineRole"], statements);

    // Replaced statements take effect on the next request.
    let (s, body) = app
        .patch(
            &path,
            json!({"inlineRole": [{"effect": "allow", "actions": ["createProject"], "resources": ["proj/*"]}]}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(call(toggle("test"), bot.clone()).await, 403);
    let (s, body) = app
        .call(
            Method::POST,
            "/api/v2/projects",
            Some(&bot),
            Some(json!({"key": "q", "name": "Q"})),
        )
        .await;
    assert_eq!(s, 201, "{body}");

    // Removing the statements would leave the token with nothing: refused.
    let (s, body) = app.patch(&path, json!({"inlineRole": []})).await;
    assert_eq!(s, 400, "{body}");
    // With a role in their place, they can go.
    let (s, body) = app
        .patch(&path, json!({"role": "reader", "inlineRole": []}))
        .await;
    assert_eq!(s, 200, "{body}");
    assert!(body.get("inlineRole").is_none(), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn inline_statements_are_checked_as_a_role_s_and_bounded_by_the_caller() {
    let app = TestApp::spawn().await;
    let create = |token: String, inline: Value| {
        let app = &app;
        async move {
            app.call(
                Method::POST,
                "/api/v2/tokens",
                Some(&token),
                Some(json!({"name": "svc", "serviceToken": true, "inlineRole": inline})),
            )
            .await
        }
    };
    let owner = BOOTSTRAP.to_owned();
    // Validated exactly as a role's policy, the path naming the request's field.
    for (inline, path) in [
        (
            json!([{"effect": "allow", "actions": ["updateOn"], "resources": ["proj/*:nope/*"]}]),
            "inlineRole[0].resources[0]",
        ),
        (
            json!([{"effect": "allow", "actions": ["noSuchAction"], "resources": ["proj/*"]}]),
            "inlineRole[0].actions[0]",
        ),
        (
            json!([{"effect": "allow", "actions": ["*"], "resources": ["proj/${roleAttribute/projects}"]}]),
            "inlineRole[0].resources[0]",
        ),
    ] {
        let (s, body) = create(owner.clone(), inline.clone()).await;
        assert_eq!(s, 400, "{inline}: {body}");
        let message = body["message"].as_str().unwrap();
        assert!(message.starts_with(path), "{inline}: {message}");
    }
    let (s, body) = create(
        owner.clone(),
        json!([{"effect": "allow", "actions": ["*"], "resources": ["proj/*"], "notResources": ["proj/x"]}]),
    )
    .await;
    assert_eq!(s, 400, "{body}");

    // An admin may grant everything but what only the owner may do.
    let (_, admin) = app.member_with_token("root@example.com", "admin").await;
    let everything = json!([{"effect": "allow", "actions": ["*"], "resources": ["acct"]}]);
    let (s, body) = create(admin.clone(), everything.clone()).await;
    assert_eq!(s, 403, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("updateAccountOwner"),
        "{body}"
    );
    let flags =
        json!([{"effect": "allow", "actions": ["*"], "resources": ["proj/*:env/*:flag/*"]}]);
    let (s, body) = create(admin.clone(), flags.clone()).await;
    assert_eq!(s, 201, "{body}");
    // The owner may grant what it may do itself.
    let (s, body) = create(owner.clone(), everything).await;
    assert_eq!(s, 201, "{body}");

    // A member whose custom role lets it create service tokens is not admin in effect.
    let (s, body) = app
        .post(
            "/api/v2/roles",
            json!({"key": "token-maker", "name": "Token maker", "policy": [
                {"effect": "allow", "actions": ["*"], "resources": ["service-token/*"]}
            ]}),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    let (s, m) = app
        .post(
            "/api/v2/members",
            json!({"email": "maker@example.com", "role": "admin", "customRoles": ["token-maker"]}),
        )
        .await;
    assert_eq!(s, 201, "{m}");
    let maker = app
        .service
        .create_personal_token_for("t", "maker@example.com", None)
        .await
        .unwrap()
        .token
        .unwrap();
    let (s, body) = create(maker, flags).await;
    assert_eq!(s, 403, "{body}");
    assert!(body["message"].as_str().unwrap().starts_with("inlineRole:"));
}
