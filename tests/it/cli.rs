//! The `gatehouse` command line: config errors, migrate, token create, openapi.

use std::process::Command;

use crate::support::{TestApp, fresh_database};

fn gatehouse() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    for (k, _) in std::env::vars() {
        if k.starts_with("GATEHOUSE_") {
            c.env_remove(k);
        }
    }
    c
}

#[test]
fn invalid_config_fails_with_one_line() {
    for (var, value) in [
        ("GATEHOUSE_DATABASE_URL", "mysql://nope"),
        ("GATEHOUSE_PUBLIC_URL", "not a url"),
        ("GATEHOUSE_BOOTSTRAP_TOKEN", "short"),
        ("GATEHOUSE_LOG", "=[bad"),
    ] {
        let out = gatehouse().arg("migrate").env(var, value).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{var}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{var}: {err}");
        assert!(err.contains(var), "{var}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let out = gatehouse()
        .args(["--listen", "nowhere", "migrate"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let help = gatehouse().arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for var in [
        "GATEHOUSE_DATABASE_URL",
        "GATEHOUSE_LISTEN",
        "GATEHOUSE_PUBLIC_URL",
        "GATEHOUSE_BOOTSTRAP_TOKEN",
        "GATEHOUSE_LOG",
    ] {
        assert!(help.contains(var), "--help explains {var}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn token_create_prints_a_working_token_last() {
    let (url, tmp) = fresh_database().await;
    let out = gatehouse()
        .args(["token", "create", "--name", "ops", "--role", "admin"])
        .env("GATEHOUSE_DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let token = stdout.split_whitespace().last().unwrap().to_owned();
    let app = TestApp::spawn_on(url.clone(), tmp).await;
    let (s, me) = app
        .call(reqwest::Method::GET, "/api/v2/me", Some(&token), None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(me["role"], "admin");
    // A personal token for a member.
    app.post(
        "/api/v2/members",
        serde_json::json!({"email": "cli@example.com", "role": "reader"}),
    )
    .await;
    let out = gatehouse()
        .args([
            "token",
            "create",
            "--name",
            "mine",
            "--member",
            "cli@example.com",
        ])
        .env("GATEHOUSE_DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .last()
        .unwrap()
        .to_owned();
    let (_, me) = app
        .call(reqwest::Method::GET, "/api/v2/me", Some(&token), None)
        .await;
    assert_eq!(me["email"], "cli@example.com");
    let out = gatehouse()
        .args(["token", "create", "--name", "x", "--role", "emperor"])
        .env("GATEHOUSE_DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let out = gatehouse()
        .args(["audit", "verify"])
        .env("GATEHOUSE_DATABASE_URL", &url)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn openapi_prints_the_document() {
    let out = gatehouse().arg("openapi").output().unwrap();
    assert!(out.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["info"]["title"], "Gatehouse");
}
