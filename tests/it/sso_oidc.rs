//! OIDC sign-in against a provider that is not ours: an in-test server serving discovery,
//! JWKS, token and userinfo, signing real RS256 ID tokens. Happy paths and an attack corpus
//! (state, nonce, audience, expiry, `alg: none`, HS256 keyed with the public key, unknown kid).

use base64::Engine;
use serde_json::{Value, json};

use super::sso_idp::*;
use super::support::TestApp;

const KEY: &str = "entra";
const CLIENT: &str = "gatehouse-client";

async fn setup(extra: Value) -> (TestApp, OidcProvider) {
    let app = TestApp::spawn().await;
    let op = OidcProvider::start().await;
    let mut oidc = json!({
        "issuer": op.issuer,
        "clientId": CLIENT,
        "clientSecret": "s3cret:&",
        "groupsClaim": "groups",
        "roleClaim": "gh_role",
        "customRoleClaim": "gh_custom_roles",
    });
    let mut body = json!({"key": KEY, "kind": "entra", "jit": true});
    if let Value::Object(extra) = extra {
        for (k, v) in extra {
            if k == "oidc" {
                for (ok, ov) in v.as_object().unwrap() {
                    oidc[ok] = ov.clone();
                }
            } else {
                body[k] = v;
            }
        }
    }
    body["oidc"] = oidc;
    let (s, c) = app.post("/api/v2/connections", body).await;
    assert_eq!(s, 201, "{c}");
    (app, op)
}

/// Starts a login, lets the provider answer `code` with `token`, calls back.
async fn login_with(
    app: &TestApp,
    op: &OidcProvider,
    make_token: impl FnOnce(&OidcStart) -> String,
    userinfo: Option<Value>,
) -> AcsResult {
    let start = start_oidc_login(app, KEY).await;
    let token = make_token(&start);
    let code = format!("code-{}", uuid::Uuid::new_v4().simple());
    op.grant(&code, token, &start.challenge, userinfo);
    oidc_callback(
        app,
        KEY,
        &format!("code={code}&state={}", start.state),
        Some(&start.binding),
    )
    .await
}

/// Makes the ID token a provider returns for a started login.
type TokenMaker<'a> = Box<dyn Fn(&OidcStart) -> String + 'a>;

fn unsigned(claims: &Value, header: &Value) -> String {
    let enc = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!("{}.{}.", enc(header), enc(claims))
}

#[tokio::test]
async fn authorization_code_flow_with_pkce_creates_and_updates_the_member() {
    let (app, op) = setup(json!({"mappings": [{"match": {"group": "Platform*"}, "team": "platform", "role": "writer"}]})).await;
    let (s, b) = app
        .post(
            "/api/v2/roles",
            json!({"key": "deployer", "name": "Deployer", "policy": [{"effect": "allow", "actions": ["updateOn"], "resources": ["proj/*:env/*:flag/*"]}]}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let start = start_oidc_login(&app, KEY).await;
    assert_eq!(start.params["response_type"], "code");
    assert_eq!(start.params["client_id"], CLIENT);
    assert_eq!(start.params["code_challenge_method"], "S256");
    assert_eq!(start.params["scope"], "openid email profile");
    assert_eq!(
        start.redirect_uri,
        format!("{}/sso/{KEY}/oidc/callback", app.base)
    );
    assert_ne!(start.state, start.nonce);

    let mut claims = op.claims(CLIENT, &start.nonce, "grace@example.com");
    claims["groups"] = json!(["Platform Engineers"]);
    claims["gh_custom_roles"] = json!("deployer,unknown-role");
    let code = "code-happy";
    op.grant(code, op.sign(&claims, "k1", false), &start.challenge, None);
    let r = oidc_callback(
        &app,
        KEY,
        &format!("code={code}&state={}", start.state),
        Some(&start.binding),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["created"], true);
    assert_eq!(r.body["role"], "writer");
    assert_eq!(r.body["customRoles"], json!(["deployer"]));
    assert_eq!(r.body["teams"], json!(["platform"]));
    assert_eq!(r.body["returnTo"], "/flags");
    assert!(r.session.is_some());
    // The back channel: client_secret_basic with form-encoded parts, the PKCE verifier.
    {
        let state = op.state.lock().unwrap();
        let req = state.token_requests.last().unwrap();
        assert_eq!(req["grant_type"], "authorization_code");
        assert_eq!(req["redirect_uri"], start.redirect_uri);
        assert!(req["authorization"].starts_with("Basic "));
        assert!(!req.contains_key("client_secret"));
    }
    let entry = last_sign_in(&app, "signedIn").await.unwrap();
    assert_eq!(entry["delta"]["protocol"], "oidc");
    assert!(entry["delta"]["notes"].to_string().contains("unknown-role"));
    // The session lists where it came from.
    let member_id = r.body["memberId"].as_str().unwrap();
    let (s, page) = app
        .get(&format!("/api/v2/members/{member_id}/sessions"))
        .await;
    assert_eq!(s, 200, "{page}");
    assert_eq!(page["items"][0]["protocol"], "oidc");
    assert_eq!(page["items"][0]["connection"], KEY);
    assert_eq!(page["items"][0]["ip"], "127.0.0.1");

    // Second login: claims come from userinfo (missing in the ID token); role claim changes.
    let r = login_with(
        &app,
        &op,
        |s| {
            let mut c = op.claims(CLIENT, &s.nonce, "grace@example.com");
            c.as_object_mut().unwrap().remove("email");
            op.sign(&c, "k1", false)
        },
        Some(json!({"sub": "sub-grace@example.com", "email": "grace@example.com", "gh_role": "admin", "given_name": "Amazing"})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["created"], false);
    assert_eq!(r.body["role"], "admin");
    // Userinfo for another subject is refused.
    let r = login_with(
        &app,
        &op,
        |s| {
            let mut c = op.claims(CLIENT, &s.nonce, "grace@example.com");
            c.as_object_mut().unwrap().remove("email");
            op.sign(&c, "k1", false)
        },
        Some(json!({"sub": "someone-else", "email": "mallory@example.com"})),
    )
    .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.body["reason"], "missing_subject");
}

#[tokio::test]
async fn attack_corpus_is_refused_and_audited() {
    let (app, op) = setup(json!({})).await;
    let before = app.get("/api/v2/members").await.1["items"]
        .as_array()
        .unwrap()
        .len();
    let mut expected = Vec::new();

    // Wrong state (none of ours), and the right state from another browser (no binding cookie).
    let start = start_oidc_login(&app, KEY).await;
    let r = oidc_callback(&app, KEY, "code=x&state=forged", Some(&start.binding)).await;
    assert_eq!(r.body["reason"], "state_mismatch", "{}", r.body);
    let r = oidc_callback(&app, KEY, &format!("code=x&state={}", start.state), None).await;
    assert_eq!(r.body["reason"], "state_mismatch");
    let r = oidc_callback(
        &app,
        KEY,
        &format!("code=x&state={}", start.state),
        Some("other-browser"),
    )
    .await;
    assert_eq!(r.body["reason"], "state_mismatch");
    expected.extend(["state_mismatch"; 3]);

    let cases: Vec<(&str, TokenMaker<'_>)> = vec![
        (
            "nonce_mismatch",
            Box::new(|s: &OidcStart| {
                let _ = s;
                op.sign(
                    &op.claims(CLIENT, "not-our-nonce", "v@example.com"),
                    "k1",
                    false,
                )
            }),
        ),
        (
            "wrong_audience",
            Box::new(|s: &OidcStart| {
                op.sign(
                    &op.claims("someone-else", &s.nonce, "v@example.com"),
                    "k1",
                    false,
                )
            }),
        ),
        (
            "azp_mismatch",
            Box::new(|s: &OidcStart| {
                let mut c = op.claims(CLIENT, &s.nonce, "v@example.com");
                c["aud"] = json!([CLIENT, "other-app"]);
                c["azp"] = json!("other-app");
                op.sign(&c, "k1", false)
            }),
        ),
        (
            "wrong_issuer",
            Box::new(|s: &OidcStart| {
                let mut c = op.claims(CLIENT, &s.nonce, "v@example.com");
                c["iss"] = json!("https://evil.example.com");
                op.sign(&c, "k1", false)
            }),
        ),
        (
            "expired",
            Box::new(|s: &OidcStart| {
                let mut c = op.claims(CLIENT, &s.nonce, "v@example.com");
                let now = now_ms() / 1000;
                c["iat"] = json!(now - 3600);
                c["exp"] = json!(now - 600);
                op.sign(&c, "k1", false)
            }),
        ),
        (
            "not_yet_valid",
            Box::new(|s: &OidcStart| {
                let mut c = op.claims(CLIENT, &s.nonce, "v@example.com");
                c["iat"] = json!(now_ms() / 1000 + 3600);
                op.sign(&c, "k1", false)
            }),
        ),
        (
            "alg_none",
            Box::new(|s: &OidcStart| {
                unsigned(
                    &op.claims(CLIENT, &s.nonce, "v@example.com"),
                    &json!({"alg": "none", "typ": "JWT"}),
                )
            }),
        ),
        (
            "alg_not_allowed",
            Box::new(|s: &OidcStart| {
                // The classic key confusion: HS256 with the provider's public key as the secret.
                let public_pem = std::process::Command::new("openssl")
                    .args(["rsa", "-in", op.keys.key_path.to_str().unwrap(), "-pubout"])
                    .output()
                    .unwrap()
                    .stdout;
                let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
                header.kid = Some("k1".into());
                jsonwebtoken::encode(
                    &header,
                    &op.claims(CLIENT, &s.nonce, "v@example.com"),
                    &jsonwebtoken::EncodingKey::from_secret(&public_pem).unwrap(),
                )
                .unwrap()
            }),
        ),
        (
            "bad_signature",
            Box::new(|s: &OidcStart| {
                // Signed by another key that claims the provider's kid.
                op.sign(&op.claims(CLIENT, &s.nonce, "v@example.com"), "k1", true)
            }),
        ),
    ];
    for (reason, make) in &cases {
        let r = login_with(&app, &op, |s| make(s), None).await;
        assert_eq!(r.status, 403, "{reason}: {}", r.body);
        assert_eq!(r.body["reason"], *reason, "{}", r.body);
        assert!(r.session.is_none());
        expected.push(reason);
    }

    // Unknown kid: one refetch of the JWKS, then refused; a second unknown kid within the
    // minute does not refetch again (rate limit).
    let hits = op.jwks_hits();
    let r = login_with(
        &app,
        &op,
        |s| {
            op.sign(
                &op.claims(CLIENT, &s.nonce, "v@example.com"),
                "rotated-away",
                true,
            )
        },
        None,
    )
    .await;
    assert_eq!(r.body["reason"], "unknown_key", "{}", r.body);
    assert_eq!(op.jwks_hits(), hits + 1, "refetched once");
    let r = login_with(
        &app,
        &op,
        |s| {
            op.sign(
                &op.claims(CLIENT, &s.nonce, "v@example.com"),
                "another",
                true,
            )
        },
        None,
    )
    .await;
    assert_eq!(r.body["reason"], "unknown_key");
    assert_eq!(op.jwks_hits(), hits + 1, "rate-limited");
    expected.extend(["unknown_key"; 2]);

    // A used state cannot be used again.
    let start = start_oidc_login(&app, KEY).await;
    op.grant(
        "c-once",
        op.sign(
            &op.claims(CLIENT, &start.nonce, "v2@example.com"),
            "k1",
            false,
        ),
        &start.challenge,
        None,
    );
    let ok = oidc_callback(
        &app,
        KEY,
        &format!("code=c-once&state={}", start.state),
        Some(&start.binding),
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let again = oidc_callback(
        &app,
        KEY,
        &format!("code=c-once&state={}", start.state),
        Some(&start.binding),
    )
    .await;
    assert_eq!(again.body["reason"], "state_mismatch");
    expected.push("state_mismatch");

    let refused: Vec<Value> = app
        .audit("action=signIn")
        .await
        .into_iter()
        .filter(|e| e["delta"]["outcome"] == "refused")
        .collect();
    assert_eq!(refused.len(), expected.len());
    for reason in &expected {
        assert!(
            refused.iter().any(|e| e["delta"]["reason"] == *reason),
            "{reason}"
        );
    }
    let after = app.get("/api/v2/members").await.1["items"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(after, before + 1, "only the one valid login provisioned");
}

#[tokio::test]
async fn key_rotation_is_picked_up_by_refetching_the_jwks() {
    let (app, op) = setup(json!({})).await;
    let r = login_with(
        &app,
        &op,
        |s| op.sign(&op.claims(CLIENT, &s.nonce, "r@example.com"), "k1", false),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // The provider rotates to its other key under a new kid.
    op.state.lock().unwrap().jwks = json!({"keys": [jwk(&op.other_keys, "k2")]});
    let r = login_with(
        &app,
        &op,
        |s| op.sign(&op.claims(CLIENT, &s.nonce, "r@example.com"), "k2", true),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn provider_errors_and_jit_off_are_refused() {
    let (app, op) = setup(json!({"jit": false})).await;
    let start = start_oidc_login(&app, KEY).await;
    let r = oidc_callback(
        &app,
        KEY,
        &format!("error=access_denied&state={}", start.state),
        Some(&start.binding),
    )
    .await;
    assert_eq!(r.body["reason"], "provider_error");
    let r = login_with(
        &app,
        &op,
        |s| op.sign(&op.claims(CLIENT, &s.nonce, "new@example.com"), "k1", false),
        None,
    )
    .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.body["reason"], "unknown_user_jit_off");
    let refused = last_sign_in(&app, "refused").await.unwrap();
    assert_eq!(refused["name"], "new@example.com");
    assert_eq!(refused["actor"]["isSso"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn claims_with_nul_or_control_characters_are_refused() {
    let (app, op) = setup(json!({})).await;
    for (email, name) in [
        ("nul\u{0}@example.com", "Ann"),
        ("ann@example.com", "A\u{0}nn"),
        ("ann@example.com", "A\u{1b}[2Jnn"),
    ] {
        let r = login_with(
            &app,
            &op,
            |s| {
                let mut c = op.claims(CLIENT, &s.nonce, email);
                c["given_name"] = json!(name);
                op.sign(&c, "k1", false)
            },
            None,
        )
        .await;
        assert_eq!(r.status, 400, "{email:?} {name:?}: {}", r.body);
        assert_eq!(r.body["reason"], "invalid_identity", "{}", r.body);
    }
    let (_, members) = app.get("/api/v2/members").await;
    assert_eq!(members["items"], json!([]), "nothing was stored");
    assert!(last_sign_in(&app, "refused").await.is_some());
}

#[tokio::test]
async fn entra_group_overage_in_the_token_leaves_what_groups_gave() {
    let (app, op) = setup(json!({"mappings": [
        {"match": {"group": "Platform*"}, "team": "platform", "role": "writer"},
        {"match": {"attribute": "dept", "value": "ops"}, "team": "ops"}
    ]}))
    .await;
    let with = |extra: Value| {
        let op = &op;
        move |s: &OidcStart| {
            let mut c = op.claims(CLIENT, &s.nonce, "noor@example.com");
            for (k, v) in extra.as_object().unwrap() {
                c[k] = v.clone();
            }
            op.sign(&c, "k1", false)
        }
    };
    let r = login_with(&app, &op, with(json!({"groups": ["Platform Web"]})), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["teams"], json!(["platform"]));
    assert_eq!(r.body["role"], "writer");

    // More than 200 groups: Entra names a distributed claim instead of sending them.
    let distributed = json!({
        "dept": "ops",
        "_claim_names": {"groups": "src1"},
        "_claim_sources": {"src1": {"endpoint": "https://graph.windows.net/t/users/noor/getMemberObjects"}},
    });
    let r = login_with(&app, &op, with(distributed), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["teams"], json!(["platform"]));
    assert_eq!(r.body["role"], "writer");
    let entry = last_sign_in(&app, "signedIn").await.unwrap();
    assert_eq!(entry["delta"]["groupsOverage"], true);

    // The implicit flow's marker says the same.
    let r = login_with(
        &app,
        &op,
        with(json!({"hasgroups": true, "dept": "ops"})),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["teams"], json!(["platform"]));
    let entry = last_sign_in(&app, "signedIn").await.unwrap();
    assert_eq!(entry["delta"]["groupsOverage"], true);

    // An empty list is an answer: no groups, so the group's team goes.
    let r = login_with(&app, &op, with(json!({"groups": [], "dept": "ops"})), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["teams"], json!(["ops"]));
    let entry = last_sign_in(&app, "signedIn").await.unwrap();
    assert!(entry["delta"].get("groupsOverage").is_none());
}

#[tokio::test]
async fn es256_id_tokens_signed_by_openssl_are_accepted_and_checked() {
    let (app, op) = setup(json!({})).await;
    let ec = KeyPair::generate_ec(op.keys.key_path.parent().unwrap(), "op-ec");
    op.state.lock().unwrap().jwks = json!({"keys": [jwk(&op.keys, "k1"), ec_jwk(&ec, "ec1")]});
    let r = login_with(
        &app,
        &op,
        |s| es256_token(&ec, "ec1", &op.claims(CLIENT, &s.nonce, "ec@example.com")),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["created"], true);

    // The same token with its signature changed, and one whose claims were edited after
    // signing, are refused.
    for tamper in [
        |t: String| {
            let (head, sig) = t.rsplit_once('.').unwrap();
            let mut sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(sig)
                .unwrap();
            sig[10] ^= 1;
            let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sig);
            format!("{head}.{sig}")
        },
        |t: String| {
            let parts: Vec<&str> = t.split('.').collect();
            let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(parts[1])
                .unwrap();
            let edited = String::from_utf8(claims)
                .unwrap()
                .replace("ec@example.com", "ceo@example.com");
            let edited = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(edited);
            format!("{}.{edited}.{}", parts[0], parts[2])
        },
    ] {
        let r = login_with(
            &app,
            &op,
            |s| {
                tamper(es256_token(
                    &ec,
                    "ec1",
                    &op.claims(CLIENT, &s.nonce, "ec@example.com"),
                ))
            },
            None,
        )
        .await;
        assert_eq!(r.status, 403, "{}", r.body);
    }
    assert_eq!(refusals(&app, "bad_signature").await, 2);
}

/// A back-channel logout token signed by the provider (or its other key), with `claims`
/// added to the standard ones and those named in `drop` taken out.
fn logout_token(
    op: &OidcProvider,
    client: &str,
    extra: Value,
    drop: &[&str],
    other: bool,
) -> String {
    let now = now_ms() / 1000;
    let mut claims = json!({
        "iss": op.issuer,
        "aud": client,
        "iat": now,
        "exp": now + 120,
        "jti": uuid::Uuid::new_v4().to_string(),
        "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
    });
    for (k, v) in extra.as_object().unwrap() {
        claims[k] = v.clone();
    }
    for name in drop {
        claims.as_object_mut().unwrap().remove(*name);
    }
    op.sign(&claims, "k1", other)
}

async fn post_logout_token(app: &TestApp, key: &str, token: &str) -> (u16, Value) {
    let resp = browser()
        .post(format!("{}/sso/{key}/oidc/backchannel-logout", app.base))
        .form(&[("logout_token", token)])
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_provider_ends_sessions_over_the_back_channel_and_hears_of_sign_outs_here() {
    let (app, op) = setup(json!({})).await;
    op.state.lock().unwrap().end_session = true;
    let sign_in = |email: &'static str, sid: &'static str| {
        let (app, op) = (&app, &op);
        async move {
            let r = login_with(
                app,
                op,
                |s| {
                    let mut c = op.claims(CLIENT, &s.nonce, email);
                    c["sid"] = json!(sid);
                    op.sign(&c, "k1", false)
                },
                None,
            )
            .await;
            assert_eq!(r.status, 200, "{}", r.body);
            r.session.unwrap()
        }
    };
    let bo_1 = sign_in("bo@example.com", "sid-1").await;
    let bo_2 = sign_in("bo@example.com", "sid-2").await;
    let cy = sign_in("cy@example.com", "sid-3").await;

    // The provider ends one of Bo's sessions by its sid, then all of Bo's by subject.
    let (s, b) = post_logout_token(
        &app,
        KEY,
        &logout_token(&op, CLIENT, json!({"sid": "sid-1"}), &[], false),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert!(!alive(&app, &bo_1).await);
    assert!(alive(&app, &bo_2).await);
    let by_subject = json!({"sub": "sub-bo@example.com"});
    let (s, _) = post_logout_token(
        &app,
        KEY,
        &logout_token(&op, CLIENT, by_subject, &[], false),
    )
    .await;
    assert_eq!(s, 200);
    assert!(!alive(&app, &bo_2).await);
    assert!(alive(&app, &cy).await);
    let ended: Vec<Value> = app
        .audit("action=signOut")
        .await
        .into_iter()
        .filter(|e| e["delta"]["channel"] == "idp" && e["delta"]["outcome"] == "signedOut")
        .collect();
    assert_eq!(ended.len(), 2, "each logout is an entry");
    assert_eq!(ended[0]["actor"]["isSso"], true);

    // Refused, audited, nothing ended: unsigned, signed by another key, an ID token (it has
    // a nonce), no logout event, neither sid nor sub, and for another client.
    let mut unsigned = logout_token(&op, CLIENT, json!({"sid": "sid-3"}), &[], false);
    unsigned.truncate(unsigned.rfind('.').unwrap() + 1);
    for (token, reason) in [
        (String::new(), "malformed_input"),
        (unsigned, "bad_signature"),
        (
            logout_token(&op, CLIENT, json!({"sid": "sid-3"}), &[], true),
            "bad_signature",
        ),
        (
            logout_token(
                &op,
                CLIENT,
                json!({"sid": "sid-3", "nonce": "n"}),
                &[],
                false,
            ),
            "not_a_logout_token",
        ),
        (
            logout_token(&op, CLIENT, json!({"sid": "sid-3"}), &["events"], false),
            "not_a_logout_token",
        ),
        (
            logout_token(&op, CLIENT, json!({}), &[], false),
            "not_a_logout_token",
        ),
        (
            logout_token(&op, "someone-else", json!({"sid": "sid-3"}), &[], false),
            "wrong_audience",
        ),
    ] {
        let (s, b) = post_logout_token(&app, KEY, &token).await;
        assert_eq!(
            (s, b["error_description"].as_str().unwrap_or("")),
            (400, reason),
            "{b}"
        );
    }
    assert!(alive(&app, &cy).await);
    let refused = app
        .audit("action=signOut")
        .await
        .into_iter()
        .filter(|e| e["delta"]["outcome"] == "refused")
        .count();
    assert_eq!(refused, 7);

    // Another connection of the same provider cannot end this connection's sessions.
    let (s, c) = app
        .post(
            "/api/v2/connections",
            json!({"key": "entra-b", "kind": "entra", "oidc": {"issuer": op.issuer, "clientId": "client-b", "clientSecret": "x"}}),
        )
        .await;
    assert_eq!(s, 201, "{c}");
    let (s, _) = post_logout_token(
        &app,
        "entra-b",
        &logout_token(&op, "client-b", json!({"sid": "sid-3"}), &[], false),
    )
    .await;
    assert_eq!(s, 200);
    assert!(
        alive(&app, &cy).await,
        "a logout reaches only its own connection's sessions"
    );

    // Signing out here sends the browser to the provider with the sign-in's ID token.
    let resp = browser()
        .post(format!("{}/sso/logout", app.base))
        .header("Cookie", format!("gatehouse_session={cy}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    let location = reqwest::Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!(
        location.as_str().split('?').next().unwrap(),
        format!("{}/logout", op.issuer)
    );
    let params: std::collections::HashMap<String, String> =
        location.query_pairs().into_owned().collect();
    assert_eq!(params["client_id"], CLIENT);
    assert_eq!(params["post_logout_redirect_uri"], format!("{}/", app.base));
    let hint = params["id_token_hint"]
        .split('.')
        .nth(1)
        .unwrap()
        .to_owned();
    let hint: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(hint)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(hint["sid"], "sid-3");
    assert!(!alive(&app, &cy).await);
}
