//! Filters run as SQL on the real database (SQLite, and PostgreSQL with TEST_DATABASE_URL):
//! case rules, LIKE escaping, value paths correlated on one element, precedence, presence,
//! dates, sorting and paging.

use serde_json::{Value, json};

use super::{ScimApp, enc, ops};

const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

async fn people(s: &ScimApp) {
    let users = [
        json!({"userName": "alice@example.com", "externalId": "Ext-1", "title": "Engineer",
               "name": {"givenName": "Alice", "familyName": "O'Malley"},
               "emails": [{"value": "alice@example.com", "type": "work", "primary": true}, {"value": "alice@home.org", "type": "home"}],
               ENT: {"department": "R&D_50%"}}),
        json!({"userName": "bob@example.com", "externalId": "ext-2", "title": "Manager",
               "name": {"givenName": "Bob", "familyName": "Builder"},
               "emails": [{"value": "bob@example.org", "type": "work", "primary": true}, {"value": "bob@example.com", "type": "home"}],
               ENT: {"department": "R&D"}}),
        json!({"userName": "carol@sample.net", "userType": "Contractor",
               "name": {"givenName": "Carol", "familyName": "Zed"},
               "emails": [{"value": "carol@sample.net", "type": "work"}], ENT: {"department": "Sales_team"}}),
        json!({"userName": "dave@example.com", "title": "engineer",
               "name": {"givenName": "Dave", "familyName": "Adams"},
               "emails": [{"value": "dave@example.com", "type": "other"}], ENT: {"department": "R&DX50 and more"}}),
    ];
    for u in users {
        let r = s.post("/Users", u).await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let bob = s
        .get(&format!(
            "/Users?filter={}",
            enc(r#"userName eq "bob@example.com""#)
        ))
        .await
        .body["Resources"][0]["id"]
        .clone();
    let r = s
        .patch(
            &format!("/Users/{}", bob.as_str().unwrap()),
            ops(json!([{"op": "replace", "path": "active", "value": false}])),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

async fn names(s: &ScimApp, filter: &str) -> Vec<String> {
    let r = s.get(&format!("/Users?filter={}", enc(filter))).await;
    assert_eq!(r.status, 200, "{filter}: {}", r.body);
    let mut out: Vec<String> = r.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            u["userName"]
                .as_str()
                .unwrap()
                .split('@')
                .next()
                .unwrap()
                .to_owned()
        })
        .collect();
    out.sort();
    assert_eq!(r.body["totalResults"], json!(out.len()), "{filter}");
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn filters_select_exactly_the_matching_users() {
    let s = ScimApp::new("generic").await;
    people(&s).await;
    let cases: &[(&str, &[&str])] = &[
        (r#"userName eq "ALICE@example.com""#, &["alice"]),
        (r#"userName sw "b""#, &["bob"]),
        (r#"userName ew "EXAMPLE.com""#, &["alice", "bob", "dave"]),
        (r#"userName co "@sample""#, &["carol"]),
        (
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "carol@sample.net""#,
            &["carol"],
        ),
        (r#"externalId eq "ext-1""#, &[]),
        (r#"externalId eq "Ext-1""#, &["alice"]),
        (r#"externalId sw "e""#, &["bob"]),
        (r#"externalId pr"#, &["alice", "bob"]),
        (r#"not (externalId pr)"#, &["carol", "dave"]),
        (r#"active eq false"#, &["bob"]),
        (r#"active eq true"#, &["alice", "carol", "dave"]),
        (r#"title eq "ENGINEER""#, &["alice", "dave"]),
        (r#"title ne "engineer""#, &["bob", "carol"]),
        (r#"title gt "f""#, &["bob"]),
        (r#"title le "engineer""#, &["alice", "dave"]),
        (
            r#"emails[type eq "work" and value co "example.com"]"#,
            &["alice"],
        ),
        (r#"emails co "example.com""#, &["alice", "bob", "dave"]),
        (r#"emails.type eq "other""#, &["dave"]),
        (r#"emails[type eq "home"].value ew ".org""#, &["alice"]),
        (r#"emails[not (type eq "work")]"#, &["alice", "bob", "dave"]),
        (
            r#"emails[type eq "work" and primary eq true]"#,
            &["alice", "bob"],
        ),
        (r#"name.familyName co "'mal""#, &["alice"]),
        (
            r#"name pr and not (nickName pr)"#,
            &["alice", "bob", "carol", "dave"],
        ),
        (&format!(r#"{ENT}:department eq "r&d_50%""#), &["alice"]),
        (&format!(r#"{ENT}:department co "_50%""#), &["alice"]),
        (&format!(r#"{ENT}:department co "D_""#), &["alice"]),
        (
            &format!(r#"{ENT}:department sw "r&d""#),
            &["alice", "bob", "dave"],
        ),
        (&format!(r#"{ENT}:department ew "_TEAM""#), &["carol"]),
        (
            r#"userType eq "Contractor" or title eq "Manager" and active eq true"#,
            &["carol"],
        ),
        (
            r#"(userType eq "Contractor" or title eq "Manager") and active eq false"#,
            &["bob"],
        ),
        (
            r#"meta.created gt "2000-01-01T00:00:00Z""#,
            &["alice", "bob", "carol", "dave"],
        ),
        (r#"meta.lastModified lt "2000-01-01T00:00:00Z""#, &[]),
        (
            r#"userName eq "alice@example.com" OR userName eq "nobody""#,
            &["alice"],
        ),
        (r#"displayName eq null"#, &["alice", "bob", "carol", "dave"]),
    ];
    for (filter, expected) in cases {
        assert_eq!(names(&s, filter).await, *expected, "{filter}");
    }
    // The same through POST /Users/.search.
    let r = s.post("/Users/.search", json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "filter": "title eq \"engineer\"", "attributes": ["userName"], "startIndex": 1, "count": 10})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["totalResults"], 2);
    let first = r.body["Resources"][0].as_object().unwrap();
    let mut keys: Vec<&String> = first.keys().collect();
    keys.sort();
    assert_eq!(keys, ["id", "schemas", "userName"]);
}

async fn page(s: &ScimApp, query: &str) -> (u64, Vec<String>) {
    let r = s.get(&format!("/Users?{query}")).await;
    assert_eq!(r.status, 200, "{query}: {}", r.body);
    let list = r.body["Resources"].as_array().cloned().unwrap_or_default();
    let names = list
        .iter()
        .map(|u: &Value| {
            u["userName"]
                .as_str()
                .unwrap()
                .split('@')
                .next()
                .unwrap()
                .to_owned()
        })
        .collect();
    (r.body["totalResults"].as_u64().unwrap(), names)
}

#[tokio::test(flavor = "multi_thread")]
async fn sorting_and_paging_are_stable() {
    let s = ScimApp::new("generic").await;
    people(&s).await;
    assert_eq!(
        page(&s, "sortBy=userName&startIndex=2&count=2").await,
        (4, vec!["bob".into(), "carol".into()])
    );
    assert_eq!(
        page(
            &s,
            "sortBy=userName&sortOrder=descending&startIndex=2&count=2"
        )
        .await,
        (4, vec!["carol".into(), "bob".into()])
    );
    assert_eq!(
        page(&s, "sortBy=name.familyName").await.1,
        ["dave", "bob", "alice", "carol"]
    );
    // Missing values sort last ascending.
    assert_eq!(page(&s, "sortBy=externalId").await.1[2..].len(), 2);
    assert_eq!(
        page(&s, "sortBy=title").await.1,
        ["alice", "dave", "bob", "carol"]
    );
    assert_eq!(page(&s, "count=0").await, (4, vec![]));
    assert_eq!(
        page(&s, "startIndex=0&count=1").await,
        (4, vec!["alice".into()])
    );
    assert_eq!(page(&s, "startIndex=9").await, (4, vec![]));
    // Creation order by default: Okta pages through with startIndex + count.
    let mut seen = Vec::new();
    for start in [1, 3] {
        seen.extend(page(&s, &format!("startIndex={start}&count=2")).await.1);
    }
    assert_eq!(seen, ["alice", "bob", "carol", "dave"]);
    let r = s.get("/Users?excludedAttributes=emails,name&count=1").await;
    assert!(r.body["Resources"][0].get("emails").is_none());
    assert!(r.body["Resources"][0]["id"].is_string());
}
