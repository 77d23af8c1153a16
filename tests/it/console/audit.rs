//! `/console/audit`: filtered and paged newest first, an entry's before/after as a diff, and
//! the chain's status for readers of the whole log; others see what they may view.

use reqwest::Method;
use serde_json::json;

use super::*;

async fn toggled_in_test(app: &TestApp) {
    let (s, body) = app
        .patch(
            "/api/v2/flags/p/f",
            json!({"environmentKey": "test", "instructions": [{"kind": "turnFlagOn"}]}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
}

#[tokio::test]
async fn an_admin_filters_pages_and_reads_an_entry_as_a_diff() {
    let (app, idp) = app_with_idp().await;
    app.seed_flag_domain().await;
    toggled_in_test(&app).await;
    for i in 0..55 {
        let (s, _) = app
            .post(
                "/api/v2/teams",
                json!({"key": format!("t{i}"), "name": format!("T{i}")}),
            )
            .await;
        assert_eq!(s, 201);
    }
    let ada = sign_in(&app, &idp, "ada@example.com", "admin").await;

    let all = page(&app, Some(&ada), "/console/audit").await;
    assert_eq!(all.status, 200, "{}", all.html);
    assert_secured(&all);
    let total = app.audit_count().await;
    assert!(
        all.html.contains(&format!("{total} matching entries")),
        "{}",
        all.html
    );
    assert_eq!(
        all.html.matches("<a href=\"/console/audit/").count(),
        50 + 1,
        "50 entries and the chain link"
    );
    let older = all.html.split("rel=\"next\"").next().unwrap();
    let href_at = older.rfind("href=\"").unwrap() + 6;
    let next = older[href_at..]
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&");
    assert!(next.starts_with("/console/audit?cursor="), "{next}");
    let second = page(&app, Some(&ada), &next).await;
    assert_eq!(second.status, 200);
    assert!(second.html.contains("created team"), "{}", second.html);

    let filtered = page(
        &app,
        Some(&ada),
        "/console/audit?spec=proj%2Fp%3Aenv%2Ftest%3Aflag%2Ff",
    )
    .await;
    assert!(
        filtered.html.contains("<code>updateOn</code>"),
        "{}",
        filtered.html
    );
    assert!(!filtered.html.contains("created team"), "{}", filtered.html);
    assert!(
        filtered.html.contains(r#"value="proj/p:env/test:flag/f""#),
        "the form keeps the filter"
    );

    let entry_id = app.audit("action=updateOn").await[0]["_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let entry = page(&app, Some(&ada), &format!("/console/audit/{entry_id}")).await;
    assert_eq!(entry.status, 200, "{}", entry.html);
    assert!(entry.html.contains("Before and after"));
    assert!(
        entry.html.contains(r#"<span class="diff-add">"#),
        "{}",
        entry.html
    );
    assert!(entry.html.contains("Request id"));

    let bad = page(&app, Some(&ada), "/console/audit?from=yesterday").await;
    assert_eq!(bad.status, 400);
    assert!(
        bad.html.contains("from: a date as YYYY-MM-DD"),
        "{}",
        bad.html
    );
}

#[tokio::test]
async fn the_chain_status_matches_rest_and_only_whole_log_readers_see_it() {
    let (app, idp) = app_with_idp().await;
    app.seed_flag_domain().await;
    toggled_in_test(&app).await;
    let ada = sign_in(&app, &idp, "ada@example.com", "admin").await;
    let chain = page(&app, Some(&ada), "/console/audit/chain").await;
    assert_eq!(chain.status, 200, "{}", chain.html);
    let (_, verify) = app.get("/api/v2/auditlog/verify").await;
    assert!(
        chain.html.contains(&format!(
            "The chain is intact: every one of {} entries recomputes.",
            verify["entries"]
        )),
        "{}",
        chain.html
    );
    let (_, checkpoint) = app.get("/api/v2/auditlog/checkpoint").await;
    assert!(
        chain
            .html
            .contains(checkpoint["publicKey"].as_str().unwrap())
    );

    // Readers may read the whole log (as in LaunchDarkly); a member with no access may not.
    let rex = sign_in(&app, &idp, "rex@example.com", "no_access").await;
    let log = page(&app, Some(&rex), "/console/audit").await;
    assert_eq!(log.status, 200);
    assert!(
        log.html
            .contains("You see the entries about what you may view.")
    );
    assert!(!log.html.contains("/console/audit/chain"));
    let refused = page(&app, Some(&rex), "/console/audit/chain").await;
    assert_eq!(refused.status, 403, "{}", refused.html);
    let (s, _) = app
        .call(Method::GET, "/api/v2/auditlog/verify", None, None)
        .await;
    assert_eq!(s, 401);
}
