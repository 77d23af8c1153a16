//! Directory queries over HTTP: LaunchDarkly's member and team filters and sorts, the text
//! query on custom roles and tokens, paging, refusals naming the bad part, and visibility
//! when a role names particular members or teams.

use poem::http::Method;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
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
        // Every match is on this one page, so the count is the page's length (a member on
        // two of the teams asked for counts once).
        assert_eq!(page["totalCount"], emails(&page).len(), "{filter}");
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

/// The whole directory filtered by `beside` in the order of `sort`, cut down to the
/// members of `team` (found through a filter of two teams, which does not walk one team).
async fn directory_order_within(
    app: &TestApp,
    team: &str,
    beside: &str,
    sort: &str,
) -> Vec<String> {
    let on_team = people(
        &app.get(&format!("/api/v2/members?filter=team:{team}%7Cnobody"))
            .await
            .1,
    );
    let filter = if beside.is_empty() {
        String::new()
    } else {
        format!("filter={}&", urlencode(beside))
    };
    let all = people(&app.get(&format!("/api/v2/members?{filter}{sort}")).await.1);
    all.into_iter().filter(|e| on_team.contains(e)).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_team_page_is_in_the_order_of_the_whole_directory_as_members_change() {
    let app = TestApp::spawn().await;
    directory(&app).await;
    let sorts = [
        "",
        "sort=displayName",
        "sort=-displayName",
        "sort=lastSeen",
        "sort=-lastSeen",
        "sort=createdAt",
        "sort=-createdAt",
    ];
    // Filters tested on the membership rows' copies beside the team.
    let besides = [
        "",
        "role:reader",
        "role:admin|writer",
        r#"lastSeen:{"before":4000}"#,
        r#"lastSeen:{"never":true}|{"before":2000},role:admin|reader"#,
    ];
    let agree = |round: &'static str| {
        let app = &app;
        async move {
            for (team, beside, sort) in ["eng", "ops"].into_iter().flat_map(|team| {
                besides
                    .into_iter()
                    .flat_map(move |beside| sorts.map(move |sort| (team, beside, sort)))
            }) {
                let want = directory_order_within(app, team, beside, sort).await;
                let filter = urlencode(&[format!("team:{team}"), beside.to_owned()].join(","));
                let filter = filter.trim_end_matches(',');
                let (s, page) = app
                    .get(&format!("/api/v2/members?filter={filter}&{sort}"))
                    .await;
                assert_eq!(s, 200, "{page}");
                let case = format!("{round}: team {team}, {beside}, {sort}");
                assert_eq!(people(&page), want, "{case}");
                assert_eq!(page["totalCount"], want.len(), "{case}");
                // One at a time, the pages follow each other in the same order.
                let mut paged = Vec::new();
                for offset in 0..want.len() {
                    let path =
                        format!("/api/v2/members?filter={filter}&{sort}&limit=1&offset={offset}");
                    paged.extend(people(&app.get(&path).await.1));
                }
                assert_eq!(paged, want, "paged, {case}");
            }
            assert_eq!(stale_copies(app).await, Vec::<String>::new(), "{round}");
        }
    };
    agree("as created").await;
    // Names, emails and last-seen times change under the teams: the copies follow.
    let renames = [
        ("bob@x.io", Some("Aaron"), "zed@x.io", Some(900)),
        ("ann@x.io", None, "ann@x.io", None),
        ("dan@x.io", Some("Bea"), "dan@x.io", Some(9000)),
    ];
    for (email, first, new_email, seen) in renames {
        use entity::member::Column as M;
        entity::member::Entity::update_many()
            .col_expr(M::FirstName, Expr::value(first.map(str::to_owned)))
            .col_expr(M::Email, Expr::value(new_email))
            .col_expr(M::EmailLower, Expr::value(new_email))
            .col_expr(M::LastSeen, Expr::value(seen.map(i64::from)))
            .filter(M::Email.eq(email))
            .exec(app.service.db())
            .await
            .unwrap();
    }
    // And a role, changed in bulk over REST.
    let dan = app.get("/api/v2/members?filter=email:dan@x.io").await.1["items"][0]["id"].clone();
    let (s, body) = app
        .patch(
            "/api/v2/members",
            json!({"instructions": [{"kind": "replaceMembersRoles", "memberIDs": [dan], "value": "writer"}]}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    agree("after changes").await;
    assert_eq!(
        people(&app.get("/api/v2/members?filter=team:eng").await.1),
        ["ann@x.io", "zed@x.io"]
    );
    assert_eq!(
        people(
            &app.get("/api/v2/members?filter=team:eng&sort=displayName")
                .await
                .1
        ),
        ["zed@x.io", "ann@x.io"],
        "Aaron Zed before Lee (no first name)"
    );
    // A team nobody has, and a team with another filter.
    assert_eq!(
        app.get("/api/v2/members?filter=team:none").await.1["totalCount"],
        0
    );
    let (s, page) = app
        .get("/api/v2/members?filter=team:ops,role:writer&sort=-lastSeen")
        .await;
    assert_eq!(s, 200, "{page}");
    assert_eq!(people(&page), ["dan@x.io", "zed@x.io"], "Dan a writer now");
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

/// The keys of a page of teams or roles, in order.
fn keys(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["key"].as_str().unwrap().to_owned())
        .collect()
}

/// The directory's people and teams, and three more teams: platform ("Platform Core": ann,
/// bob, cat), quiet ("Quiet Corner") and tools ("Engineering Tools"), the last two empty.
async fn teams(app: &TestApp) {
    directory(app).await;
    let everyone = app.get("/api/v2/members?sort=displayName").await.1;
    let id_of = |email: &str| {
        everyone["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["email"] == email)
            .unwrap()["id"]
            .clone()
    };
    let platform = json!([id_of("ann@x.io"), id_of("bob@x.io"), id_of("cat@x.io")]);
    for (key, name, members) in [
        ("platform", "Platform Core", platform),
        ("quiet", "Quiet Corner", json!([])),
        ("tools", "Engineering Tools", json!([])),
    ] {
        let (s, t) = app
            .post(
                "/api/v2/teams",
                json!({"key": key, "name": name, "memberIds": members}),
            )
            .await;
        assert_eq!(s, 201, "{t}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_team_filter_narrows_the_teams_in_sql() {
    let app = TestApp::spawn().await;
    teams(&app).await;
    let cases: &[(&str, &[&str])] = &[
        ("", &["eng", "ops", "platform", "quiet", "tools"]),
        // The key or the name starts with the text, ignoring case.
        ("query:eng", &["eng", "tools"]),
        ("query:PLAT", &["platform"]),
        ("query:quiet c", &["quiet"]),
        ("query:core", &[]),
        ("nomembers:true", &["quiet", "tools"]),
        ("nomembers:false", &["eng", "ops", "platform"]),
        ("query:eng,nomembers:true", &["tools"]),
        ("query:q,nomembers:false", &[]),
    ];
    for (filter, want) in cases {
        let (s, page) = app
            .get(&format!("/api/v2/teams?filter={}", urlencode(filter)))
            .await;
        assert_eq!(s, 200, "{filter}: {page}");
        assert_eq!(keys(&page), *want, "{filter}");
        assert_eq!(page["totalCount"], want.len(), "{filter}");
    }
    // A listed team shows its member count, not its members (its own page lists them);
    // each member shows its teams, read a page at a time.
    let platform = app.get("/api/v2/teams?filter=query:platform").await.1;
    assert_eq!(platform["items"][0]["memberCount"], 3);
    assert!(
        platform["items"][0].get("memberIds").is_none(),
        "{platform}"
    );
    let whole = app.get("/api/v2/teams/platform").await.1;
    assert_eq!(whole["memberIds"].as_array().unwrap().len(), 3);
    let bob = app
        .get(&format!(
            "/api/v2/members?filter={}",
            urlencode("email:bob@x.io")
        ))
        .await
        .1;
    assert_eq!(bob["items"][0]["teams"], json!(["eng", "ops", "platform"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn teams_sort_by_name_and_member_count_and_page() {
    let app = TestApp::spawn().await;
    teams(&app).await;
    let by_name = ["eng", "tools", "ops", "platform", "quiet"];
    let sorted = |sort: &'static str| {
        let app = &app;
        async move { app.get(&format!("/api/v2/teams?sort={sort}")).await.1 }
    };
    assert_eq!(keys(&sorted("name").await), by_name);
    let mut reversed = by_name;
    reversed.reverse();
    assert_eq!(keys(&sorted("-name").await), reversed);
    let counts = |page: &Value| -> Vec<usize> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["memberCount"].as_u64().unwrap() as usize)
            .collect()
    };
    assert_eq!(counts(&sorted("memberCount").await), [0, 0, 2, 2, 3]);
    let most = sorted("-memberCount").await;
    assert_eq!(counts(&most), [3, 2, 2, 0, 0]);
    assert_eq!(keys(&most)[0], "platform");

    // Two at a time by name: each page counted, `next` leading on, no team twice.
    let mut seen = Vec::new();
    let mut offset = Some("0".to_owned());
    while let Some(at) = offset {
        let (s, page) = app
            .get(&format!("/api/v2/teams?sort=name&limit=2&offset={at}"))
            .await;
        assert_eq!(s, 200, "{page}");
        assert_eq!(page["totalCount"], 5);
        seen.extend(keys(&page));
        offset = page["next"].as_str().map(str::to_owned);
    }
    assert_eq!(seen, by_name);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_team_filter_or_sort_is_refused_naming_the_part() {
    let app = TestApp::spawn().await;
    let cases = [
        ("filter=nomembers:maybe", "nomembers:maybe"),
        ("filter=role:admin", "role:admin"),
        ("filter=query:", "query:"),
        ("filter=query:a,,x", "\"x\""),
        ("sort=key", "parameter `sort`"),
        ("sort=memberCount,name", "parameter `sort`"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
    ];
    for (query, part) in cases {
        let (s, body) = app
            .get(&format!("/api/v2/teams?{}", urlencode_query(query)))
            .await;
        assert_eq!(s, 400, "{query}: {body}");
        let message = body["message"].as_str().unwrap();
        assert!(message.contains(part), "{query}: {message}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn teams_a_role_may_not_view_are_neither_listed_nor_counted() {
    let app = TestApp::spawn().await;
    teams(&app).await;
    let (s, r) = app
        .post(
            "/api/v2/roles",
            json!({"key": "team-viewer", "name": "Team viewer", "policy": [
                {"effect": "allow", "actions": ["viewTeam"], "resources": ["team/*"]},
                {"effect": "deny", "actions": ["viewTeam"], "resources": ["team/ops"]}
            ]}),
        )
        .await;
    assert_eq!(s, 201, "{r}");
    let (s, t) = app
        .post(
            "/api/v2/tokens",
            json!({"name": "teams", "serviceToken": true, "customRoles": ["team-viewer"]}),
        )
        .await;
    assert_eq!(s, 201, "{t}");
    let token = t["token"].as_str().unwrap();
    let (s, page) = app
        .call(
            Method::GET,
            "/api/v2/teams?filter=nomembers:false&limit=1&offset=1",
            Some(token),
            None,
        )
        .await;
    assert_eq!(s, 200, "{page}");
    // eng and platform: ops is neither shown nor counted, and the second page is platform.
    assert_eq!(page["totalCount"], 2);
    assert_eq!(keys(&page), ["platform"]);
    assert!(page.get("next").is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn roles_are_found_by_key_or_name_a_page_at_a_time() {
    let app = TestApp::spawn().await;
    for (key, name) in [
        ("flag-toggler", "Flag Toggler"),
        ("auditor", "Compliance Auditor"),
        ("release-manager", "Release Manager"),
    ] {
        let (s, r) = app
            .post(
                "/api/v2/roles",
                json!({"key": key, "name": name, "policy": [
                    {"effect": "allow", "actions": ["viewProject"], "resources": ["proj/*"]}
                ]}),
            )
            .await;
        assert_eq!(s, 201, "{r}");
    }
    let cases: &[(&str, &[&str])] = &[
        ("query:FLAG", &["flag-toggler"]),
        ("query:compliance", &["auditor"]),
        ("query:aud", &["auditor"]),
        ("query:release m", &["release-manager"]),
        ("query:toggler", &[]),
    ];
    for (filter, want) in cases {
        let (s, page) = app
            .get(&format!("/api/v2/roles?filter={}", urlencode(filter)))
            .await;
        assert_eq!(s, 200, "{filter}: {page}");
        assert_eq!(keys(&page), *want, "{filter}");
    }
    // Every role (the presets and these three) once, by key, three at a time.
    let all = app.get("/api/v2/roles?limit=1000").await.1;
    let total = all["totalCount"].as_u64().unwrap();
    assert_eq!(total, all["items"].as_array().unwrap().len() as u64);
    assert!(total > 3, "{all}");
    let mut seen = Vec::new();
    let mut offset = Some("0".to_owned());
    while let Some(at) = offset {
        let (s, page) = app.get(&format!("/api/v2/roles?limit=3&offset={at}")).await;
        assert_eq!(s, 200, "{page}");
        assert_eq!(page["totalCount"], total);
        seen.extend(keys(&page));
        offset = page["next"].as_str().map(str::to_owned);
    }
    let mut by_key = keys(&all);
    by_key.sort();
    assert_eq!(seen, by_key);
    for (query, part) in [("filter=name:x", "name:x"), ("limit=1001", "limit")] {
        let (s, body) = app
            .get(&format!("/api/v2/roles?{}", urlencode_query(query)))
            .await;
        assert_eq!(s, 400, "{query}: {body}");
        assert!(body["message"].as_str().unwrap().contains(part), "{body}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_are_found_by_name_and_a_member_without_access_sees_only_its_own() {
    let app = TestApp::spawn().await;
    for name in ["Deploy bot", "deploy-canary", "Reporting"] {
        let (s, t) = app
            .post(
                "/api/v2/tokens",
                json!({"name": name, "serviceToken": true, "role": "reader"}),
            )
            .await;
        assert_eq!(s, 201, "{t}");
    }
    let names = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let (s, deploys) = app.get("/api/v2/tokens?filter=query:DEPLOY").await;
    assert_eq!(s, 200, "{deploys}");
    assert_eq!(names(&deploys), ["Deploy bot", "deploy-canary"]);
    assert_eq!(
        names(&app.get("/api/v2/tokens?filter=query:rep").await.1),
        ["Reporting"]
    );
    assert_eq!(
        names(&app.get("/api/v2/tokens?filter=query:bot").await.1),
        Vec::<String>::new()
    );

    // A page of one: counted, `next` leading to the second deploy token.
    let first = app
        .get("/api/v2/tokens?filter=query:deploy&limit=1")
        .await
        .1;
    assert_eq!(
        (first["totalCount"].clone(), first["next"].clone()),
        (json!(2), json!("1"))
    );
    let second = app
        .get("/api/v2/tokens?filter=query:deploy&limit=1&offset=1")
        .await
        .1;
    assert_eq!(names(&second), ["deploy-canary"]);
    assert!(second.get("next").is_none());

    // A member without access sees its own personal token and no one else's.
    let everything = app.get("/api/v2/tokens?limit=1000").await.1;
    assert!(
        everything["totalCount"].as_u64().unwrap() >= 4,
        "{everything}"
    );
    let (member, token) = app.member_with_token("nia@x.io", "no_access").await;
    let (s, mine) = app
        .call(Method::GET, "/api/v2/tokens", Some(&token), None)
        .await;
    assert_eq!(s, 200, "{mine}");
    assert_eq!(mine["totalCount"], 1, "{mine}");
    assert_eq!(mine["items"][0]["ownerId"], member);

    let (s, body) = app.get("/api/v2/tokens?filter=owner:me").await;
    assert_eq!(s, 400, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("owner:me"),
        "{body}"
    );
}

/// Members whose stored team count differs from their `team_member` rows: none, after any
/// write.
async fn miscounted(app: &TestApp) -> Vec<String> {
    use sea_orm::{ConnectionTrait, Statement};
    let db = app.service.db();
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT id FROM member WHERE team_count <> \
             (SELECT COUNT(*) FROM team_member WHERE team_member.member_id = member.id)",
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|r| r.try_get::<String>("", "id").unwrap())
        .collect()
}

/// The unfiltered list's `totalCount` (the kept member total) and the member rows counted.
async fn member_totals(app: &TestApp) -> (u64, u64) {
    let listed = app.get("/api/v2/members?limit=1").await.1["totalCount"]
        .as_u64()
        .unwrap();
    let rows = entity::member::Entity::find()
        .count(app.service.db())
        .await
        .unwrap();
    (listed, rows)
}

/// Membership rows whose copies of their member's columns differ from the member's own:
/// none, after any write.
async fn stale_copies(app: &TestApp) -> Vec<String> {
    use migration::m20261211_000020_membership_copies::{COPIED, COPIED_FROM};
    use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
    let db = app.service.db();
    let distinct = match db.get_database_backend() {
        DatabaseBackend::Postgres => "IS DISTINCT FROM",
        _ => "IS NOT",
    };
    let differs = COPIED
        .iter()
        .zip(COPIED_FROM)
        .map(|(copy, source)| {
            format!("{copy} {distinct} (SELECT {source} FROM member WHERE member.id = team_member.member_id)")
        })
        .collect::<Vec<_>>()
        .join(" OR ");
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            format!("SELECT member_id FROM team_member WHERE {differs}"),
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|r| r.try_get::<String>("", "member_id").unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_way_on_and_off_a_team_keeps_noteam_exact() {
    use crate::scim::{ScimApp, ops};
    let s = ScimApp::new("okta").await;
    let app = &s.app;
    let u: Vec<String> = scim_users(&s, &["u1@x.io", "u2@x.io", "u3@x.io", "u4@x.io"]).await;
    let mut r = Vec::new();
    for email in ["r1@x.io", "r2@x.io", "r3@x.io"] {
        let (st, m) = app.post("/api/v2/members", json!({"email": email})).await;
        assert_eq!(st, 201, "{m}");
        r.push(m["id"].as_str().unwrap().to_owned());
    }
    let steps: Vec<(&str, Method, String, Value)> = vec![
        (
            "REST team with members",
            Method::POST,
            "/api/v2/teams".into(),
            json!({"key": "eng", "name": "Eng", "memberIds": [r[0], u[0]]}),
        ),
        (
            "REST add to one team",
            Method::POST,
            "/api/v2/teams/eng/members".into(),
            json!({"memberIds": [r[1]]}),
        ),
        (
            "REST remove",
            Method::PATCH,
            "/api/v2/teams/eng".into(),
            json!({"instructions": [{"kind": "removeMembers", "values": [r[0]]}]}),
        ),
        (
            "REST second team",
            Method::POST,
            "/api/v2/teams".into(),
            json!({"key": "ops", "name": "Ops"}),
        ),
        (
            "REST bulk add",
            Method::PATCH,
            "/api/v2/teams".into(),
            json!({"instructions": [{"kind": "addMembersToTeams",
                "memberIDs": [r[1], r[2]], "teamKeys": ["eng", "ops"]}]}),
        ),
        (
            "REST team deleted",
            Method::DELETE,
            "/api/v2/teams/ops".into(),
            Value::Null,
        ),
        (
            "REST member deleted",
            Method::DELETE,
            format!("/api/v2/members/{}", r[2]),
            Value::Null,
        ),
    ];
    for (step, method, path, body) in steps {
        let body = (!body.is_null()).then_some(body);
        let (st, answer) = app
            .call(method, &path, Some(crate::support::BOOTSTRAP), body)
            .await;
        assert!(st.is_success(), "{step}: {st} {answer}");
        assert_eq!(miscounted(app).await, Vec::<String>::new(), "after {step}");
        assert_eq!(
            stale_copies(app).await,
            Vec::<String>::new(),
            "after {step}"
        );
        let (listed, rows) = member_totals(app).await;
        assert_eq!(listed, rows, "member total after {step}");
    }
    let g = s
        .post(
            "/Groups",
            json!({"displayName": "Sales", "members": [{"value": u[0]}, {"value": u[1]}]}),
        )
        .await;
    assert_eq!(g.status, 201, "{}", g.body);
    let group = format!("/Groups/{}", g.body["id"].as_str().unwrap());
    let scim_steps = [
        (
            "SCIM add one",
            ops(json!([{"op": "add", "path": "members", "value": [{"value": u[2]}]}])),
        ),
        (
            "SCIM remove one",
            ops(json!([{"op": "remove", "path": format!("members[value eq \"{}\"]", u[1])}])),
        ),
        (
            "SCIM replace all",
            ops(
                json!([{"op": "replace", "path": "members", "value": [{"value": u[2]}, {"value": u[3]}]}]),
            ),
        ),
    ];
    assert_eq!(
        miscounted(app).await,
        Vec::<String>::new(),
        "after SCIM group create"
    );
    for (step, patch) in scim_steps {
        let reply = s.patch(&group, patch).await;
        assert!(
            reply.status.is_success(),
            "{step}: {} {}",
            reply.status,
            reply.body
        );
        assert_eq!(miscounted(app).await, Vec::<String>::new(), "after {step}");
        assert_eq!(
            stale_copies(app).await,
            Vec::<String>::new(),
            "after {step}"
        );
        let (listed, rows) = member_totals(app).await;
        assert_eq!(listed, rows, "member total after {step}");
    }
    let mut want = vec!["r1@x.io".to_owned(), "u2@x.io".to_owned()];
    assert_eq!(
        no_team(app).await,
        want,
        "on no team while the group stands"
    );
    let reply = s.delete(&group).await;
    assert_eq!(reply.status, 204, "{}", reply.body);
    assert_eq!(
        miscounted(app).await,
        Vec::<String>::new(),
        "after SCIM group deleted"
    );
    want.extend(["u3@x.io".to_owned(), "u4@x.io".to_owned()]);
    want.sort();
    assert_eq!(
        no_team(app).await,
        want,
        "on no team once the group is gone"
    );
    let on_some = app
        .get("/api/v2/members?filter=noteam:false&limit=100")
        .await
        .1;
    assert_eq!(people(&on_some), ["r2@x.io", "u1@x.io"]);
}

/// The people on no team, by email.
async fn no_team(app: &TestApp) -> Vec<String> {
    let page = app
        .get("/api/v2/members?filter=noteam:true&limit=100")
        .await
        .1;
    let mut on_none = people(&page);
    on_none.sort();
    on_none
}

/// SCIM users for `names`, their ids in order.
async fn scim_users(s: &crate::scim::ScimApp, names: &[&str]) -> Vec<String> {
    let mut ids = Vec::new();
    for name in names {
        ids.push(s.user(name).await);
    }
    ids
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

#[tokio::test(flavor = "multi_thread")]
async fn pages_past_a_thousand_continue_exactly_where_the_first_thousand_end() {
    let app = TestApp::spawn().await;
    let people: Vec<Value> = (0..1_050)
        .map(|i| json!({"email": format!("p{i:04}@deep.io"), "firstName": format!("N{:04}", (i * 7) % 1_050)}))
        .collect();
    for batch in people.chunks(50) {
        let (s, body) = app
            .post("/api/v2/members", Value::Array(batch.to_vec()))
            .await;
        assert_eq!(s, 201, "{body}");
    }
    for sort in ["", "&sort=displayName", "&sort=-createdAt"] {
        let filter = format!("filter={}", urlencode("query:p"));
        let first = app
            .get(&format!("/api/v2/members?{filter}&limit=1000{sort}"))
            .await
            .1;
        let rest = app
            .get(&format!(
                "/api/v2/members?{filter}&limit=100&offset=1000{sort}"
            ))
            .await
            .1;
        assert_eq!(first["totalCount"], 1_050, "{sort}");
        assert_eq!(rest["totalCount"], 1_050, "{sort}");
        let (first, rest) = (emails(&first), emails(&rest));
        assert_eq!((first.len(), rest.len()), (1_000, 50), "{sort}");
        let every = app
            .get(&format!(
                "/api/v2/members?{filter}&limit=1000&offset=50{sort}"
            ))
            .await
            .1;
        // The last 50 of a page starting at 50 are the deep page's 50, in the same order.
        assert_eq!(emails(&every)[950..], rest[..], "{sort}");
        assert!(
            first.iter().all(|e| !rest.contains(e)),
            "{sort}: pages overlap"
        );
    }
}
