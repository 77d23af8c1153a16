//! The directory in a browser: an admin finds members by role, text, team and last sight,
//! sorted and paged; sees which teams an IdP owns; opens a member to see each grant's source
//! and ends their sessions or deactivates them with a form (CSRF-checked, audited as REST);
//! looks at a connection's SCIM health and SSO status and previews its mapping rules. Viewers
//! who may not view every member never get in, and readers see no actions.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{Browser, KEY, Page, app_with_idp, assert_secured, page, post_form, sign_in};
use crate::sso_idp::alive;
use crate::support::TestApp;

const SCIM_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

/// The table row of `html` that holds `marker`.
fn row<'a>(html: &'a str, marker: &str) -> &'a str {
    let at = html
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} in {html}"));
    let start = html[..at].rfind("<tr").expect("row start");
    let end = at + html[at..].find("</tr>").expect("row end");
    &html[start..end]
}

/// A 200 page with the console's headers.
async fn shown(app: &TestApp, who: &Browser, path: &str) -> Page {
    let p = page(app, Some(who), path).await;
    assert_eq!(p.status, StatusCode::OK, "{path}: {}", p.html);
    assert_secured(&p);
    p
}

/// How many members REST lists for `filter` (the owner's view: every member).
async fn rest_count(app: &TestApp, filter: &str) -> u64 {
    let (s, body) = app
        .get(&format!("/api/v2/members?limit=1&filter={filter}"))
        .await;
    assert_eq!(s, 200, "{body}");
    body["totalCount"].as_u64().unwrap()
}

/// Sixty members `m00@dir.io`..`m59@dir.io` named `N00`..`N59`, every third a writer.
async fn sixty_members(app: &TestApp) {
    for batch in [0..50, 50..60] {
        let members: Vec<Value> = batch
            .map(|i| {
                json!({"email": format!("m{i:02}@dir.io"), "firstName": format!("N{i:02}"),
                       "lastName": "Dir", "role": if i % 3 == 0 { "writer" } else { "reader" }})
            })
            .collect();
        let (s, body) = app.post("/api/v2/members", Value::Array(members)).await;
        assert_eq!(s, 201, "{body}");
    }
}

/// A SCIM bearer token of the `corp` connection.
async fn scim_token(app: &TestApp) -> String {
    let (s, t) = app
        .post(&format!("/api/v2/connections/{KEY}/scim-tokens"), json!({}))
        .await;
    assert_eq!(s, 201, "{t}");
    t["token"].as_str().unwrap().to_owned()
}

async fn scim(app: &TestApp, token: &str, method: Method, path: &str, body: Value) -> Value {
    let resp = app
        .client
        .request(method, format!("{}/scim/v2{path}", app.base))
        .header("Authorization", format!("Bearer {token}"))
        .header("Content-Type", "application/scim+json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let mut body: Value = resp.json().await.unwrap_or(Value::Null);
    body["_status"] = json!(status);
    body
}

#[tokio::test]
async fn an_admin_finds_members_by_role_and_text_sorted_and_paged() {
    let (app, idp) = app_with_idp().await;
    let admin = sign_in(&app, &idp, "ada@corp.io", "admin").await;
    sixty_members(&app).await;
    let total = rest_count(&app, "").await;
    assert!(total >= 61, "{total}");

    // The first page: fifty members by email, the count of all, a link to the next page.
    let first = shown(&app, &admin, "/console/directory").await;
    assert!(
        first.html.contains(r#"aria-current="page">Directory"#),
        "{}",
        first.html
    );
    assert!(
        first.html.contains(&format!("Members 1 to 50 of {total}")),
        "{}",
        first.html
    );
    assert!(
        first
            .html
            .contains(r#"<form class="stack" method="get" action="/console/directory""#)
    );
    for control in ["m-q", "m-role", "m-team", "m-noteam", "m-seen", "m-sort"] {
        assert!(
            first.html.contains(&format!(r#"for="{control}""#)),
            "{control}"
        );
        assert!(
            first.html.contains(&format!(r#"id="{control}""#)),
            "{control}"
        );
    }
    assert!(first.html.contains(r#"<th scope="col">Email</th>"#));
    assert!(first.html.contains(r#"href="/console/directory/teams""#));
    assert!(
        first
            .html
            .contains(r#"href="/console/directory/connections""#)
    );
    assert!(
        first
            .html
            .contains(r#"href="/console/directory?offset=50" rel="next""#),
        "{}",
        first.html
    );
    assert!(!first.html.contains(r#"rel="prev""#));

    let second = shown(&app, &admin, "/console/directory?offset=50").await;
    assert!(
        second
            .html
            .contains(&format!("Members 51 to {total} of {total}")),
        "{}",
        second.html
    );
    assert!(
        second
            .html
            .contains(r#"href="/console/directory" rel="prev""#),
        "{}",
        second.html
    );
    assert!(!second.html.contains(r#"rel="next""#));

    // By role: the writers only, counted as REST counts them.
    let writers = rest_count(&app, "role:writer").await;
    assert_eq!(writers, 20);
    let p = shown(&app, &admin, "/console/directory?role=writer").await;
    assert!(
        p.html.contains(&format!("Members 1 to 20 of {writers}")),
        "{}",
        p.html
    );
    assert!(p.html.contains("m03@dir.io") && !p.html.contains("m04@dir.io"));
    assert!(
        p.html.contains(r#"<option value="writer" selected>"#),
        "{}",
        p.html
    );

    // By text, sorted by name descending: N09 before N00; m10 and up do not start with m0.
    let p = shown(&app, &admin, "/console/directory?q=m0&sort=-displayName").await;
    assert!(p.html.contains("Members 1 to 10 of 10"), "{}", p.html);
    let (n09, n00) = (
        p.html.find("m09@dir.io").unwrap(),
        p.html.find("m00@dir.io").unwrap(),
    );
    assert!(n09 < n00, "sorted by name, Z to A");
    assert!(!p.html.contains("m10@dir.io"));

    // Paging keeps the filters.
    let p = shown(&app, &admin, "/console/directory?q=m&sort=displayName").await;
    assert!(p.html.contains("Members 1 to 50 of 60"), "{}", p.html);
    assert!(
        p.html
            .contains("/console/directory?q=m&amp;sort=displayName&amp;offset=50"),
        "{}",
        p.html
    );

    // Members never seen count as not seen for a day; the admin, signed in now, does not.
    let p = shown(&app, &admin, "/console/directory?notSeenDays=1&q=ada").await;
    assert!(p.html.contains("No members match."), "{}", p.html);
    let p = shown(&app, &admin, "/console/directory?notSeenDays=1&q=m59").await;
    assert!(p.html.contains("m59@dir.io"), "{}", p.html);

    // A team's members, and those on no team.
    let (id5, id7) = (
        member_id(&app, "m05@dir.io").await,
        member_id(&app, "m07@dir.io").await,
    );
    let (s, body) = app
        .post(
            "/api/v2/teams",
            json!({"key": "eng", "name": "Engineering", "memberIds": [id5, id7]}),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    let p = shown(&app, &admin, "/console/directory?team=eng").await;
    assert!(p.html.contains("Members 1 to 2 of 2"), "{}", p.html);
    let p = shown(&app, &admin, "/console/directory?q=m0&noTeam=true").await;
    assert!(p.html.contains("Members 1 to 8 of 8"), "{}", p.html);
    assert!(!p.html.contains("m05@dir.io"));

    // A filter the syntax cannot carry is refused by name, not cut.
    let p = page(&app, Some(&admin), "/console/directory?q=a,b").await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    assert!(
        p.html.contains("q: search text without commas"),
        "{}",
        p.html
    );
    assert_secured(&p);
}

async fn member_id(app: &TestApp, email: &str) -> String {
    let (s, body) = app
        .get(&format!("/api/v2/members?filter=email:{email}"))
        .await;
    assert_eq!(s, 200, "{body}");
    body["items"][0]["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn teams_show_which_an_identity_provider_owns() {
    let (app, idp) = app_with_idp().await;
    let admin = sign_in(&app, &idp, "ada@corp.io", "admin").await;
    let (s, body) = app
        .post(
            "/api/v2/teams",
            json!({"key": "local-ops", "name": "Local Ops", "memberIds": [admin.member_id]}),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    let token = scim_token(&app).await;
    let group = scim(&app, &token, Method::POST, "/Groups",
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Platform Engineering", "members": []}))
        .await;
    assert_eq!(group["_status"], 201, "{group}");

    let p = shown(&app, &admin, "/console/directory/teams").await;
    assert!(p.html.contains("Teams 1 to 2 of 2"), "{}", p.html);
    let synced = row(&p.html, "<code>platform-engineering</code>");
    assert!(synced.contains("IdP-synced"), "{synced}");
    let local = row(&p.html, "<code>local-ops</code>");
    assert!(
        !local.contains("IdP-synced") && local.contains("Gatehouse"),
        "{local}"
    );
    // The member count links to the team's members.
    assert!(
        local.contains(r#"href="/console/directory?team=local-ops""#),
        "{local}"
    );
    for control in ["t-q", "t-members", "t-sort"] {
        assert!(p.html.contains(&format!(r#"for="{control}""#)), "{control}");
    }

    let p = shown(&app, &admin, "/console/directory/teams?q=plat").await;
    assert!(
        p.html.contains("Teams 1 to 1 of 1") && p.html.contains("IdP-synced"),
        "{}",
        p.html
    );
    let p = shown(&app, &admin, "/console/directory/teams?noMembers=true").await;
    assert!(
        p.html.contains("platform-engineering") && !p.html.contains("local-ops"),
        "{}",
        p.html
    );
    let p = shown(&app, &admin, "/console/directory/teams?sort=-memberCount").await;
    assert!(p.html.find("local-ops").unwrap() < p.html.find("platform-engineering").unwrap());
}

#[tokio::test]
async fn a_member_page_shows_grant_sources_and_ends_sessions_only_with_the_csrf_token() {
    let (app, idp) = app_with_idp().await;
    let admin = sign_in(&app, &idp, "ada@corp.io", "admin").await;
    let bob = sign_in(&app, &idp, "bob@corp.io", "writer").await;
    let (s, body) = app
        .post("/api/v2/roles", json!({"key": "flag-editor", "name": "Flag editor",
            "policy": [{"effect": "allow", "actions": ["*"], "resources": ["proj/*:env/*:flag/*"]}]}))
        .await;
    assert_eq!(s, 201, "{body}");
    let (s, body) = app
        .patch(
            &format!("/api/v2/members/{}", bob.member_id),
            json!({"customRoles": ["flag-editor"]}),
        )
        .await;
    assert_eq!(s, 200, "{body}");

    let path = format!("/console/directory/members/{}", bob.member_id);
    let p = shown(&app, &admin, &path).await;
    let role = row(&p.html, "Base role");
    assert!(
        role.contains("<code>writer</code>") && role.contains("sign-in through corp"),
        "{role}"
    );
    let custom = row(&p.html, "Custom roles");
    assert!(
        custom.contains("<code>flag-editor</code>") && custom.contains("set over REST by"),
        "{custom}"
    );
    assert!(
        p.html.contains("Live sessions") && p.html.contains(" saml"),
        "{}",
        p.html
    );
    let end = format!("{path}/sessions/end");
    assert!(p.html.contains(&format!(r#"action="{end}""#)), "{}", p.html);
    assert!(p.html.contains("End all sessions of bob@corp.io"));

    // Without the form's token, or with another, nothing happens.
    for fields in [vec![], vec![("csrf", "forged")]] {
        let refused = post_form(&app, &admin, &end, &fields).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.html);
        assert_secured(&refused);
    }
    assert!(alive(&app, &bob.cookie).await);
    assert!(app.audit("action=revokeSessions").await.is_empty());

    let done = post_form(&app, &admin, &end, &[("csrf", &p.csrf())]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);
    assert_eq!(done.location(), Some(format!("{path}#sessions").as_str()));
    assert_secured(&done);
    assert!(!alive(&app, &bob.cookie).await, "bob's session ended");
    assert!(
        alive(&app, &admin.cookie).await,
        "the admin's own session stays"
    );
    let entries = app.audit("action=revokeSessions").await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(
        entries[0]["description"],
        "ended 1 session(s) of bob@corp.io"
    );
    assert_eq!(entries[0]["actor"]["id"], admin.member_id.as_str());

    let p = shown(&app, &admin, &path).await;
    assert!(p.html.contains("No live sessions."), "{}", p.html);
}

#[tokio::test]
async fn an_admin_deactivates_a_member_from_their_page() {
    let (app, idp) = app_with_idp().await;
    let admin = sign_in(&app, &idp, "ada@corp.io", "admin").await;
    let bob = sign_in(&app, &idp, "bob@corp.io", "writer").await;
    let path = format!("/console/directory/members/{}", bob.member_id);
    let p = shown(&app, &admin, &path).await;
    let status = format!("{path}/status");
    assert!(
        p.html.contains(&format!(r#"action="{status}""#)),
        "{}",
        p.html
    );
    assert!(p.html.contains(r#"<label for="status-confirm">"#));
    // The admin's own page offers no deactivation.
    let own = shown(
        &app,
        &admin,
        &format!("/console/directory/members/{}", admin.member_id),
    )
    .await;
    assert!(!own.html.contains("/status\""), "{}", own.html);

    let (_, member) = app.get(&format!("/api/v2/members/{}", bob.member_id)).await;
    let version = member["version"].to_string();
    let csrf = p.csrf();
    let base = [
        ("csrf", csrf.as_str()),
        ("status", "deactivated"),
        ("version", version.as_str()),
        ("comment", "left the company"),
    ];
    let missing_csrf = post_form(&app, &admin, &status, &base[1..]).await;
    assert_eq!(missing_csrf.status, StatusCode::FORBIDDEN);
    let (_, member) = app.get(&format!("/api/v2/members/{}", bob.member_id)).await;
    assert_eq!(member["status"], "active");
    let unconfirmed = post_form(&app, &admin, &status, &base).await;
    assert_eq!(
        unconfirmed.status,
        StatusCode::BAD_REQUEST,
        "{}",
        unconfirmed.html
    );

    let mut confirmed = base.to_vec();
    confirmed.push(("confirm", "yes"));
    let done = post_form(&app, &admin, &status, &confirmed).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);
    let (_, member) = app.get(&format!("/api/v2/members/{}", bob.member_id)).await;
    assert_eq!(member["status"], "deactivated");
    assert!(
        !alive(&app, &bob.cookie).await,
        "deactivation ends the sessions"
    );
    let entries = app.audit("action=updateMemberStatus").await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["comment"], "left the company");
    assert_eq!(entries[0]["actor"]["id"], admin.member_id.as_str());

    // The page now offers reactivation; the same stale form is a conflict, not a change.
    let p = shown(&app, &admin, &path).await;
    assert!(p.html.contains("Reactivate"), "{}", p.html);
    let stale = post_form(&app, &admin, &status, &confirmed).await;
    assert_eq!(stale.status, StatusCode::CONFLICT, "{}", stale.html);
}

#[tokio::test]
async fn readers_see_no_actions_and_viewers_without_view_member_are_kept_out() {
    let (app, idp) = app_with_idp().await;
    let bob = sign_in(&app, &idp, "bob@corp.io", "writer").await;
    let reader = sign_in(&app, &idp, "rita@corp.io", "reader").await;

    // A reader may view every member, so the directory is open, read-only.
    let home = shown(&app, &reader, "/").await;
    assert!(
        home.html.contains(r#"href="/console/directory""#),
        "{}",
        home.html
    );
    let path = format!("/console/directory/members/{}", bob.member_id);
    let p = shown(&app, &reader, &path).await;
    assert!(p.html.contains("bob@corp.io"));
    assert!(
        !p.html.contains("/sessions/end") && !p.html.contains("/status\""),
        "{}",
        p.html
    );
    // The service refuses what the page did not offer.
    let refused = post_form(
        &app,
        &reader,
        &format!("{path}/sessions/end"),
        &[("csrf", &home.csrf())],
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.html);
    assert!(alive(&app, &bob.cookie).await);

    // Without viewMember on every member: no link, and every directory page is the 403 page.
    let nobody = sign_in(&app, &idp, "nora@corp.io", "no_access").await;
    let home = shown(&app, &nobody, "/").await;
    assert!(
        !home.html.contains(r#"href="/console/directory""#),
        "{}",
        home.html
    );
    for path in [
        "/console/directory",
        "/console/directory/teams",
        "/console/directory/connections",
        &format!("/console/directory/members/{}", bob.member_id),
        &format!("/console/directory/connections/{KEY}"),
    ] {
        let p = page(&app, Some(&nobody), path).await;
        assert_eq!(p.status, StatusCode::FORBIDDEN, "{path}");
        assert!(p.html.contains("Not allowed"), "{}", p.html);
        assert!(!p.html.contains("bob@corp.io"));
        assert_secured(&p);
    }
    // Signed out: to the sign-in page.
    let p = page(&app, None, "/console/directory").await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert_eq!(p.location(), Some("/"));
}

#[tokio::test]
async fn a_connection_page_shows_scim_health_sso_status_and_previews_the_rules() {
    let (app, idp) = app_with_idp().await;
    let admin = sign_in(&app, &idp, "ada@corp.io", "admin").await;
    let (s, body) = app
        .post(
            "/api/v2/roles",
            json!({"key": "sales", "name": "Sales",
            "policy": [{"effect": "allow", "actions": ["viewProject"], "resources": ["proj/*"]}]}),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    let (s, body) = app
        .put(
            &format!("/api/v2/connections/{KEY}/mappings"),
            json!([
                {"match": {"group": "eng*"}, "team": "eng", "role": "writer"},
                {"match": {"attribute": "department", "value": "Sales"}, "customRoles": ["sales"]}
            ]),
        )
        .await;
    assert_eq!(s, 200, "{body}");

    // The IdP provisions a user and a group, and is refused a role that does not exist.
    let token = scim_token(&app).await;
    let user = scim(
        &app,
        &token,
        Method::POST,
        "/Users",
        json!({"schemas": [SCIM_USER], "userName": "sue@corp.io",
               "emails": [{"value": "sue@corp.io", "primary": true}], "active": true}),
    )
    .await;
    assert_eq!(user["_status"], 201, "{user}");
    let group = scim(&app, &token, Method::POST, "/Groups",
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Eng Platform",
               "members": [{"value": user["id"]}]}))
        .await;
    assert_eq!(group["_status"], 201, "{group}");
    let refused = scim(&app, &token, Method::POST, "/Users",
        json!({"schemas": [SCIM_USER], "userName": "dev@corp.io", "customRolesArray": ["no-such-role"]}))
        .await;
    assert_eq!(refused["_status"], 400, "{refused}");

    let list = shown(&app, &admin, "/console/directory/connections").await;
    let corp = row(
        &list.html,
        &format!(r#"href="/console/directory/connections/{KEY}""#),
    );
    assert!(
        corp.contains("SAML") && corp.contains("<td>1</td>"),
        "{corp}"
    );

    let path = format!("/console/directory/connections/{KEY}");
    let p = shown(&app, &admin, &path).await;
    assert!(
        !row(&p.html, "Last SCIM request").contains("never"),
        "{}",
        p.html
    );
    assert!(
        row(&p.html, "Users provisioned").contains("1 (0 deactivated)"),
        "{}",
        p.html
    );
    // Sue over SCIM, and the admin who signed in through the connection.
    assert!(
        row(&p.html, "Members tied to the connection").contains("<td>2 "),
        "{}",
        p.html
    );
    assert!(
        row(&p.html, "Groups provisioned").contains("1 IdP-synced team(s), 1 membership(s)"),
        "{}",
        p.html
    );
    assert!(
        row(&p.html, "Refusals").contains("<td>1 among"),
        "{}",
        p.html
    );
    assert!(
        p.html.contains("refused SCIM POST of dev@corp.io"),
        "{}",
        p.html
    );
    assert!(
        p.html
            .contains("SCIM POST by connection corp: created member sue@corp.io"),
        "{}",
        p.html
    );
    // SSO status and a test sign-in.
    assert!(p.html.contains("SAML 2.0"));
    assert!(
        p.html
            .contains(r#"href="/sso/corp/saml/login?returnTo=/">Test sign-in with SAML"#),
        "{}",
        p.html
    );
    assert!(row(&p.html, "IdP-initiated sign-in").contains("yes"));
    // The rules, in order.
    let first = row(&p.html, "group matches <code>eng*</code>");
    assert!(
        first.contains(r#"<th scope="row">1</th>"#)
            && first.contains("<code>eng</code>")
            && first.contains("writer"),
        "{first}"
    );
    assert!(
        row(&p.html, "attribute <code>department</code>").contains(r#"<th scope="row">2</th>"#)
    );
    assert!(
        p.html.contains(r#"<label for="preview-groups">"#)
            && p.html.contains(r#"id="preview-groups""#)
    );

    // The preview: what a person in eng-web from Sales would get.
    let preview = format!("{path}/preview");
    let fields = [
        ("csrf", p.csrf()),
        ("groups", "eng-web\nother".to_owned()),
        ("attributes", "department=Sales\n".to_owned()),
    ];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let shown_preview = post_form(&app, &admin, &preview, &fields).await;
    assert_eq!(
        shown_preview.status,
        StatusCode::OK,
        "{}",
        shown_preview.html
    );
    assert_secured(&shown_preview);
    let html = &shown_preview.html;
    assert!(
        row(html, r#"<th scope="row">Base role</th>"#).contains("<code>writer</code>"),
        "{html}"
    );
    assert!(
        row(html, r#"<th scope="row">Custom roles</th>"#).contains("<code>sales</code>"),
        "{html}"
    );
    assert!(
        row(html, r#"<th scope="row">Teams</th>"#).contains("<code>eng</code>"),
        "{html}"
    );
    assert!(row(html, "Rules matched").contains("1, 2"), "{html}");
    // The form keeps what was asked.
    assert!(html.contains("eng-web\nother</textarea>"), "{html}");
    let refused = post_form(&app, &admin, &preview, &fields[1..]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    // Previewing changes nothing.
    assert!(app.audit("action=updateMappings").await.len() == 1);
}

#[tokio::test]
async fn a_viewer_without_view_connection_gets_the_403_page_for_a_connection() {
    let (app, idp) = app_with_idp().await;
    let carl = sign_in(&app, &idp, "carl@corp.io", "no_access").await;
    let (s, body) = app
        .post(
            "/api/v2/roles",
            json!({"key": "people-viewer", "name": "People viewer",
            "policy": [{"effect": "allow", "actions": ["viewMember"], "resources": ["member/*"]},
                       {"effect": "allow", "actions": ["viewTeam"], "resources": ["team/*"]}]}),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    let (s, body) = app
        .patch(
            &format!("/api/v2/members/{}", carl.member_id),
            json!({"customRoles": ["people-viewer"]}),
        )
        .await;
    assert_eq!(s, 200, "{body}");

    let p = shown(&app, &carl, "/console/directory").await;
    assert!(p.html.contains("carl@corp.io"), "{}", p.html);
    let p = shown(&app, &carl, "/console/directory/connections").await;
    assert!(
        p.html
            .contains("There is no identity connection you may view."),
        "{}",
        p.html
    );
    let p = page(
        &app,
        Some(&carl),
        &format!("/console/directory/connections/{KEY}"),
    )
    .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN, "{}", p.html);
    assert!(
        p.html
            .contains("not allowed to viewConnection on connection/corp"),
        "{}",
        p.html
    );
    assert_secured(&p);
}
