//! Directory queries over HTTP: LaunchDarkly's member filters and sorts, paging, refusals
//! naming the bad part, and visibility when a role names particular members.

use poem::http::Method;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::support::TestApp;

/// The emails of a member page, in order.
fn emails(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["email"].as_str().unwrap().to_owned())
        .collect()
}

/// Members: ann (admin, eng, seen at 1000), bob (writer, eng+ops, seen at 5000), cat
/// (reader, no team, never seen), dan (reader, ops, seen at 3000), and the bootstrap owner
/// when there is one.
async fn directory(app: &TestApp) {
    let people = [
        ("ann@x.io", "Ann", "Lee", "admin", 1000),
        ("bob@x.io", "Bob", "Zed", "writer", 5000),
        ("cat@x.io", "Cat", "Ames", "reader", 0),
        ("dan@x.io", "Dan", "Kay", "reader", 3000),
    ];
    for (email, first, last, role, seen) in people {
        let (s, m) = app
            .post(
                "/api/v2/members",
                json!({"email": email, "firstName": first, "lastName": last, "role": role}),
            )
            .await;
        assert_eq!(s, 201, "{m}");
        if seen > 0 {
            entity::member::Entity::update_many()
                .col_expr(entity::member::Column::LastSeen, Expr::value(seen as i64))
                .filter(entity::member::Column::Email.eq(email))
                .exec(app.service.db())
                .await
                .unwrap();
        }
    }
    for (key, members) in [
        ("eng", vec!["ann@x.io", "bob@x.io"]),
        ("ops", vec!["bob@x.io", "dan@x.io"]),
    ] {
        let ids: Vec<String> = {
            let mut ids = Vec::new();
            for email in members {
                let path = format!(
                    "/api/v2/members?filter={}",
                    urlencode(&format!("email:{email}"))
                );
                let page = app.get(&path).await.1;
                ids.push(page["items"][0]["id"].as_str().unwrap().to_owned());
            }
            ids
        };
        let (s, t) = app
            .post(
                "/api/v2/teams",
                json!({"key": key, "name": key, "memberIds": ids}),
            )
            .await;
        assert_eq!(s, 201, "{t}");
    }
}

/// The directory's four people among a page's emails (the owner, if any, left out).
fn people(page: &Value) -> Vec<String> {
    emails(page)
        .into_iter()
        .filter(|e| e.ends_with("@x.io"))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_filter_narrows_the_directory_in_sql() {
    let app = TestApp::spawn().await;
    directory(&app).await;
    let cases: &[(&str, &[&str])] = &[
        ("query:an", &["ann@x.io"]),
        ("query:AMES", &["cat@x.io"]),
        ("query:bob@", &["bob@x.io"]),
        ("query:dan kay", &["dan@x.io"]),
        ("role:reader", &["cat@x.io", "dan@x.io"]),
        ("role:admin|writer", &["ann@x.io", "bob@x.io"]),
        ("email:BOB@x.io|cat@x.io", &["bob@x.io", "cat@x.io"]),
        ("team:eng", &["ann@x.io", "bob@x.io"]),
        ("team:eng|ops", &["ann@x.io", "bob@x.io", "dan@x.io"]),
        ("noteam:true", &["cat@x.io"]),
        ("noteam:false,role:reader", &["dan@x.io"]),
        (r#"lastSeen:{"never":true}"#, &["cat@x.io"]),
        (r#"lastSeen:{"before":3500}"#, &["ann@x.io", "dan@x.io"]),
        (
            r#"lastSeen:{"before":2000}|{"noData":true}"#,
            &["ann@x.io", "cat@x.io"],
        ),
        ("team:ops,role:writer", &["bob@x.io"]),
        ("query:zzz", &[]),
    ];
    for (filter, want) in cases {
        let path = format!("/api/v2/members?filter={}", urlencode(filter));
        let (s, page) = app.get(&path).await;
        assert_eq!(s, 200, "{filter}: {page}");
        assert_eq!(people(&page), *want, "{filter}");
    }
    // The bootstrap owner counts as an admin, if the account has one.
    let owners = app.get("/api/v2/members?filter=role:owner").await.1;
    let admins = app.get("/api/v2/members?filter=role:admin").await.1;
    assert_eq!(
        admins["totalCount"].as_u64().unwrap(),
        owners["totalCount"].as_u64().unwrap() + 1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sorts_and_pages_are_stable_and_counted() {
    let app = TestApp::spawn().await;
    directory(&app).await;
    let sorted = |sort: &'static str| {
        let app = &app;
        async move { people(&app.get(&format!("/api/v2/members?sort={sort}")).await.1) }
    };
    assert_eq!(
        sorted("displayName").await,
        ["ann@x.io", "bob@x.io", "cat@x.io", "dan@x.io"]
    );
    assert_eq!(
        sorted("-displayName").await,
        ["dan@x.io", "cat@x.io", "bob@x.io", "ann@x.io"]
    );
    assert_eq!(
        sorted("lastSeen").await,
        ["cat@x.io", "ann@x.io", "dan@x.io", "bob@x.io"]
    );
    assert_eq!(
        sorted("-lastSeen").await,
        ["bob@x.io", "dan@x.io", "ann@x.io", "cat@x.io"]
    );
    assert_eq!(
        sorted("createdAt").await,
        ["ann@x.io", "bob@x.io", "cat@x.io", "dan@x.io"]
    );

    // Two at a time, by display name, among the four: each page counted, `next` leading on.
    let mut seen = Vec::new();
    let mut offset = Some("0".to_owned());
    while let Some(at) = offset {
        let (s, page) = app
            .get(&format!(
                "/api/v2/members?filter={}&sort=displayName&limit=2&offset={at}",
                urlencode("email:ann@x.io|bob@x.io|cat@x.io|dan@x.io")
            ))
            .await;
        assert_eq!(s, 200, "{page}");
        assert_eq!(page["totalCount"], 4);
        assert!(page["items"].as_array().unwrap().len() <= 2);
        seen.extend(emails(&page));
        offset = page["next"].as_str().map(str::to_owned);
    }
    assert_eq!(seen, ["ann@x.io", "bob@x.io", "cat@x.io", "dan@x.io"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_filter_or_sort_is_refused_naming_the_part() {
    let app = TestApp::spawn().await;
    let cases = [
        ("filter=role:boss", "role:boss"),
        ("filter=colour:red", "colour:red"),
        ("filter=noteam:maybe", "noteam:maybe"),
        (r#"filter=lastSeen:{"after":1}"#, "lastSeen:"),
        ("sort=email", "parameter `sort`"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
    ];
    for (query, part) in cases {
        let (s, body) = app
            .get(&format!("/api/v2/members?{}", urlencode_query(query)))
            .await;
        assert_eq!(s, 400, "{query}: {body}");
        let message = body["message"].as_str().unwrap();
        assert!(message.contains(part), "{query}: {message}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn members_a_role_may_not_view_are_neither_listed_nor_counted() {
    let app = TestApp::spawn().await;
    directory(&app).await;
    let bob = app
        .get(&format!(
            "/api/v2/members?filter={}",
            urlencode("email:bob@x.io")
        ))
        .await
        .1["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, r) = app
        .post(
            "/api/v2/roles",
            json!({"key": "hr", "name": "HR", "policy": [
                {"effect": "allow", "actions": ["viewMember"], "resources": ["member/*"]},
                {"effect": "deny", "actions": ["viewMember"], "resources": [format!("member/{bob}")]}
            ]}),
        )
        .await;
    assert_eq!(s, 201, "{r}");
    let (s, t) = app
        .post(
            "/api/v2/tokens",
            json!({"name": "hr", "serviceToken": true, "customRoles": ["hr"]}),
        )
        .await;
    assert_eq!(s, 201, "{t}");
    let token = t["token"].as_str().unwrap();
    let (s, page) = app
        .call(
            Method::GET,
            &format!(
                "/api/v2/members?filter={}&sort=displayName&limit=1&offset=1",
                urlencode("team:eng|ops")
            ),
            Some(token),
            None,
        )
        .await;
    assert_eq!(s, 200, "{page}");
    // ann and dan: bob is neither shown nor counted, and the second page is dan.
    assert_eq!(page["totalCount"], 2);
    assert_eq!(emails(&page), ["dan@x.io"]);
    assert!(page.get("next").is_none());
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b':' | b',' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Encodes the value of each `name=value` pair.
fn urlencode_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, value)) => format!("{name}={}", urlencode(value)),
            None => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}
