//! Approvals over HTTP: settings, the gate, requests, reviews, apply, conflicts, bypasses,
//! races and the audit trail, told through members with different custom roles.
//!
//! The cast (project `p`, environments `test` and `production`, flag `f`):
//! * alice, base role `writer`: changes flags, asks for approvals; may not bypass them;
//! * bob and dave, custom role `reviewer`: may only review;
//! * carol, custom role `releaser`: may apply approved requests and make the changes they hold;
//! * erin, base role `admin`: may bypass required approvals (audited as a bypass);
//! * the bootstrap owner token sets things up.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::TestApp;

struct Cast {
    app: TestApp,
    alice: String,
    alice_id: String,
    bob: String,
    bob_id: String,
    carol: String,
    carol_id: String,
    dave: String,
    dave_id: String,
    erin: String,
}

async fn member(app: &TestApp, email: &str, role: &str, custom: &[&str]) -> (String, String) {
    let (s, m) = app
        .post(
            "/api/v2/members",
            json!({"email": email, "role": role, "customRoles": custom}),
        )
        .await;
    assert_eq!(s, 201, "{m}");
    let token = app
        .service
        .create_personal_token_for("t", email, None)
        .await
        .unwrap()
        .token
        .unwrap();
    (m["id"].as_str().unwrap().to_owned(), token)
}

async fn role(app: &TestApp, key: &str, policy: Value) {
    let (s, body) = app
        .post(
            "/api/v2/roles",
            json!({"key": key, "name": key, "policy": policy}),
        )
        .await;
    assert_eq!(s, 201, "{body}");
}

impl Cast {
    async fn new() -> Cast {
        let app = TestApp::spawn().await;
        app.seed_flag_domain().await;
        role(
            &app,
            "reviewer",
            json!([{"effect": "allow", "actions": ["reviewApprovalRequest"], "resources": ["proj/*:env/*:request/*"]}]),
        )
        .await;
        role(
            &app,
            "releaser",
            json!([
                {"effect": "allow", "actions": ["applyApprovalRequest"], "resources": ["proj/*:env/*:request/*"]},
                {"effect": "allow", "actions": ["updateOn", "updateFallthrough", "updateTargets", "updateRules", "updateOffVariation"], "resources": ["proj/*:env/*:flag/*"]},
                {"effect": "allow", "actions": ["createVariable", "updateVariable", "deleteVariable"], "resources": ["proj/*:env/*:var/*"]}
            ]),
        )
        .await;
        let (alice_id, alice) = member(&app, "alice@example.com", "writer", &[]).await;
        let (bob_id, bob) = member(&app, "bob@example.com", "reader", &["reviewer"]).await;
        let (carol_id, carol) = member(&app, "carol@example.com", "reader", &["releaser"]).await;
        let (dave_id, dave) = member(&app, "dave@example.com", "reader", &["reviewer"]).await;
        let (_, erin) = member(&app, "erin@example.com", "admin", &[]).await;
        Cast {
            app,
            alice,
            alice_id,
            bob,
            bob_id,
            carol,
            carol_id,
            dave,
            dave_id,
            erin,
        }
    }

    async fn call(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.app.call(method, path, Some(token), body).await
    }

    /// Changes production's approval settings for flags (as the owner).
    async fn settings(&self, flag: Value) -> Value {
        let (s, env) = self
            .app
            .patch(
                "/api/v2/projects/p/environments/production",
                json!({"approvalSettings": flag}),
            )
            .await;
        assert_eq!(s, 200, "{env}");
        env
    }

    async fn toggle(&self, token: &str, env: &str, kind: &str) -> (StatusCode, Value) {
        self.call(
            token,
            Method::PATCH,
            "/api/v2/flags/p/f",
            Some(json!({"environmentKey": env, "instructions": [{"kind": kind}]})),
        )
        .await
    }

    async fn request(&self, token: &str, instructions: Value) -> Value {
        let (s, r) = self
            .call(
                token,
                Method::POST,
                "/api/v2/approval-requests",
                Some(json!({
                    "resourceId": "proj/p:env/production:flag/f",
                    "description": "launch f in production",
                    "instructions": instructions,
                    "notifyMemberIds": [self.bob_id],
                })),
            )
            .await;
        assert_eq!(s, 201, "{r}");
        r
    }

    async fn review(&self, token: &str, id: &str, kind: &str) -> (StatusCode, Value) {
        self.call(
            token,
            Method::POST,
            &format!("/api/v2/approval-requests/{id}/reviews"),
            Some(json!({"kind": kind, "comment": format!("{kind} from test")})),
        )
        .await
    }

    async fn apply(&self, token: &str, id: &str) -> (StatusCode, Value) {
        self.call(
            token,
            Method::POST,
            &format!("/api/v2/approval-requests/{id}/apply"),
            Some(json!({})),
        )
        .await
    }

    async fn get(&self, id: &str) -> Value {
        let (s, r) = self
            .app
            .get(&format!("/api/v2/approval-requests/{id}"))
            .await;
        assert_eq!(s, 200, "{r}");
        r
    }

    async fn production(&self) -> Value {
        let (s, f) = self.app.get("/api/v2/flags/p/f").await;
        assert_eq!(s, 200);
        f["environments"]["production"].clone()
    }
}

fn id(r: &Value) -> String {
    r["_id"].as_str().unwrap().to_owned()
}

fn actions(entry: &Value) -> Vec<String> {
    entry["accesses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap().to_owned())
        .collect()
}

fn actor_owner(entry: &Value) -> Option<String> {
    entry["actor"]["ownerId"].as_str().map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_writer_requests_a_reviewer_approves_a_releaser_applies_and_the_audit_log_tells_it() {
    let c = Cast::new().await;
    // Settings live on the environment, LaunchDarkly-shaped, audited with before/after.
    let env = c.settings(json!({"required": true})).await;
    assert_eq!(env["approvalSettings"]["required"], true);
    assert_eq!(env["approvalSettings"]["minNumApprovals"], 1);
    assert_eq!(env["approvalSettings"]["canReviewOwnRequest"], false);
    assert_eq!(env["approvalSettings"]["canApplyDeclinedChanges"], false);
    assert_eq!(env["approvalSettings"]["resourceKind"], "flag");
    assert_eq!(
        env["resourceApprovalSettings"]["variable"]["required"],
        false
    );
    // Sending the same settings again changes nothing and claims nothing.
    let entries = c.app.audit_count().await;
    c.settings(json!({"required": true})).await;
    assert_eq!(c.app.audit_count().await, entries);
    let settings_entry = &c.app.audit("action=updateApprovalSettings").await[0];
    assert_eq!(
        settings_entry["previousVersion"]["approvalSettings"]["required"],
        false
    );
    assert_eq!(
        settings_entry["currentVersion"]["approvalSettings"]["required"],
        true
    );

    // The gate: a writer's direct change in production is refused, nothing is written.
    let entries_before = c.app.audit_count().await;
    let (s, body) = c.toggle(&c.alice, "production", "turnFlagOn").await;
    assert_eq!(s, 422, "{body}");
    assert_eq!(body["code"], "approval_required");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("POST /api/v2/approval-requests"),
        "{message}"
    );
    assert!(
        message.contains("proj/p:env/production:flag/f"),
        "{message}"
    );
    assert_eq!(c.production().await["on"], false);
    assert_eq!(c.app.audit_count().await, entries_before);
    // Other environments are not gated.
    assert_eq!(c.toggle(&c.alice, "test", "turnFlagOn").await.0, 200);

    // Only members allowed to create requests may: a reviewer may not (refused and audited).
    let (s, body) = c
        .call(
            &c.bob,
            Method::POST,
            "/api/v2/approval-requests",
            Some(json!({"resourceId": "proj/p:env/production:flag/f", "description": "d", "instructions": [{"kind": "turnFlagOn"}]})),
        )
        .await;
    assert_eq!(s, 403, "{body}");

    // The request: validated, nothing changed yet.
    let r = c.request(&c.alice, json!([{"kind": "turnFlagOn"}])).await;
    let rid = id(&r);
    assert_eq!(r["status"], "pending");
    assert_eq!(r["reviewStatus"], "pending");
    assert_eq!(r["requestorId"], c.alice_id.as_str());
    assert_eq!(r["resourceId"], "proj/p:env/production:flag/f");
    assert_eq!(r["notifyMemberIds"], json!([c.bob_id]));
    assert_eq!(r["instructions"], json!([{"kind": "turnFlagOn"}]));
    assert_eq!(r["baseVersion"], 1);
    assert_eq!(r["conflicts"], json!([]));
    assert_eq!(r["allReviews"], json!([]));
    assert!(r["creationDate"].as_i64().unwrap() > 0);
    assert_eq!(c.production().await["on"], false);

    // Self-approval is refused (and audited); an apply before approval is refused too.
    let (s, body) = c.review(&c.alice, &rid, "approve").await;
    assert_eq!(s, 403, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("canReviewOwnRequest")
    );
    let (s, body) = c.apply(&c.carol, &rid).await;
    assert_eq!(s, 409, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("0 of 1"),
        "{body}"
    );
    // A reviewer cannot apply.
    assert_eq!(c.apply(&c.bob, &rid).await.0, 403);
    // The author may still comment.
    assert_eq!(c.review(&c.alice, &rid, "comment").await.0, 200);

    let (s, r) = c.review(&c.bob, &rid, "approve").await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["reviewStatus"], "approved");
    assert_eq!(r["approvedBy"], json!([c.bob_id]));
    let reviews = r["allReviews"].as_array().unwrap();
    assert_eq!(reviews.len(), 2);
    assert_eq!(reviews[1]["kind"], "approve");
    assert_eq!(reviews[1]["memberId"], c.bob_id.as_str());
    assert_eq!(reviews[1]["voided"], false);

    let (s, r) = c.apply(&c.carol, &rid).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["status"], "completed");
    assert_eq!(r["appliedByMemberId"], c.carol_id.as_str());
    assert!(r["appliedDate"].as_i64().is_some());
    assert_eq!(c.production().await["on"], true);

    // Closed: no second apply, no more reviews, no delete.
    assert_eq!(c.apply(&c.carol, &rid).await.0, 409);
    assert_eq!(c.review(&c.dave, &rid, "approve").await.0, 409);
    let (s, _) = c
        .call(
            &c.alice,
            Method::DELETE,
            &format!("/api/v2/approval-requests/{rid}"),
            None,
        )
        .await;
    assert_eq!(s, 409);

    // The trail, oldest first, from the flag's resource specifier.
    let mut trail = c.app.audit("spec=proj/p:env/production:flag/f").await;
    trail.reverse();
    let steps: Vec<(Vec<String>, Option<String>, String)> = trail
        .iter()
        .map(|e| {
            (
                actions(e),
                actor_owner(e),
                e["description"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let find = |action: &str, who: &str, text: &str| {
        steps
            .iter()
            .position(|(a, o, d)| {
                a.iter().any(|x| x == action) && o.as_deref() == Some(who) && d.contains(text)
            })
            .unwrap_or_else(|| panic!("no {action} by {who} ({text}) in {steps:#?}"))
    };
    let refused_create = find("createApprovalRequest", &c.bob_id, "REFUSED");
    let created = find("createApprovalRequest", &c.alice_id, "requested approval");
    assert!(refused_create < created);
    let refused = find("reviewApprovalRequest", &c.alice_id, "REFUSED");
    let refused_apply = find("applyApprovalRequest", &c.bob_id, "REFUSED");
    let approved = find("reviewApprovalRequest", &c.bob_id, "approved");
    let changed = find("updateOn", &c.carol_id, "turnFlagOn");
    let applied = find("applyApprovalRequest", &c.carol_id, "applied");
    assert!(created < refused && refused < approved && approved < changed && changed < applied);
    assert!(refused_apply < approved);
    for i in [created, refused, approved, changed, applied] {
        assert_eq!(
            trail[i]["approvalRequestId"],
            rid.as_str(),
            "{:#?}",
            trail[i]
        );
    }
    assert_eq!(trail[approved]["comment"], "approve from test");
    // The flag change is the same kind of entry a direct PATCH writes.
    assert_eq!(trail[changed]["kind"], "flag");
    assert_eq!(
        trail[changed]["previousVersion"]["environments"]["production"]["on"],
        false
    );
    assert_eq!(
        trail[changed]["currentVersion"]["environments"]["production"]["on"],
        true
    );
    // ... and the request has its own resource for policies and filters.
    let by_request = c
        .app
        .audit(&format!("spec=proj/p:env/production:request/{rid}"))
        .await;
    assert!(by_request.len() >= 5);
    let (_, verify) = c.app.get("/api/v2/auditlog/verify").await;
    assert_eq!(verify["valid"], true, "{verify}");
}

#[tokio::test(flavor = "multi_thread")]
async fn declines_block_apply_unless_the_environment_allows_applying_declined_changes() {
    let c = Cast::new().await;
    c.settings(json!({"required": true})).await;
    let rid = id(&c.request(&c.alice, json!([{"kind": "turnFlagOn"}])).await);
    let (_, r) = c.review(&c.bob, &rid, "decline").await;
    assert_eq!(r["reviewStatus"], "declined");
    let (s, body) = c.apply(&c.carol, &rid).await;
    assert_eq!(s, 409);
    assert!(
        body["message"].as_str().unwrap().contains("declined"),
        "{body}"
    );
    // A member's latest review is the one that counts.
    let (_, r) = c.review(&c.bob, &rid, "approve").await;
    assert_eq!(r["reviewStatus"], "approved");
    assert_eq!(r["declinedBy"], json!([]));
    // Any standing decline wins over enough approvals.
    let (_, r) = c.review(&c.dave, &rid, "decline").await;
    assert_eq!(r["reviewStatus"], "declined");
    assert_eq!(c.apply(&c.carol, &rid).await.0, 409);
    assert_eq!(c.production().await["on"], false);
    // With canApplyDeclinedChanges, enough approvals carry it despite the decline.
    c.settings(json!({"canApplyDeclinedChanges": true})).await;
    let (s, r) = c.apply(&c.carol, &rid).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["status"], "completed");
    assert_eq!(c.production().await["on"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_edit_voids_earlier_approvals_and_an_editor_cannot_approve_their_own_edit() {
    let c = Cast::new().await;
    c.settings(json!({"required": true})).await;
    let r = c.request(&c.alice, json!([{"kind": "turnFlagOn"}])).await;
    let rid = id(&r);
    assert_eq!(
        c.review(&c.bob, &rid, "approve").await.1["reviewStatus"],
        "approved"
    );
    let (s, r) = c
        .call(
            &c.alice,
            Method::PATCH,
            &format!("/api/v2/approval-requests/{rid}"),
            Some(json!({"instructions": [{"kind": "turnFlagOn"}, {"kind": "addTargets", "variation": 0, "values": ["qa"]}]})),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["revision"], 2);
    assert_eq!(r["reviewStatus"], "pending");
    assert_eq!(r["allReviews"][0]["voided"], true);
    let edit = &c.app.audit("action=updateApprovalRequest").await[0];
    assert!(
        edit["description"]
            .as_str()
            .unwrap()
            .contains("1 earlier approval"),
        "{edit}"
    );
    assert_eq!(edit["previousVersion"]["reviewStatus"], "approved");
    assert_eq!(edit["currentVersion"]["reviewStatus"], "pending");
    assert_eq!(c.apply(&c.carol, &rid).await.0, 409);

    // A stale version is refused; a description edit voids too.
    let (s, _) = c
        .call(
            &c.alice,
            Method::PATCH,
            &format!("/api/v2/approval-requests/{rid}"),
            Some(json!({"description": "x", "version": 1})),
        )
        .await;
    assert_eq!(s, 409);
    assert_eq!(
        c.review(&c.bob, &rid, "approve").await.1["reviewStatus"],
        "approved"
    );
    // A member who edits someone's request becomes an author: no approving it by the back door.
    role(
        &c.app,
        "editor-reviewer",
        json!([{"effect": "allow", "actions": ["updateApprovalRequest", "reviewApprovalRequest"], "resources": ["proj/*:env/*:request/*"]}]),
    )
    .await;
    let (frank_id, frank) =
        member(&c.app, "frank@example.com", "reader", &["editor-reviewer"]).await;
    let (s, r) = c
        .call(
            &frank,
            Method::PATCH,
            &format!("/api/v2/approval-requests/{rid}"),
            Some(json!({"description": "launch f, and target qa"})),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["revision"], 3);
    assert_eq!(r["reviewStatus"], "pending");
    assert!(r["authors"].as_array().unwrap().contains(&json!(frank_id)));
    assert_eq!(c.review(&frank, &rid, "approve").await.0, 403);
    // Notify-list changes void nothing.
    assert_eq!(
        c.review(&c.bob, &rid, "approve").await.1["reviewStatus"],
        "approved"
    );
    let (s, r) = c
        .call(
            &c.alice,
            Method::PATCH,
            &format!("/api/v2/approval-requests/{rid}"),
            Some(json!({"notifyMemberIds": [c.dave_id]})),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["reviewStatus"], "approved");
    let (s, r) = c.apply(&c.carol, &rid).await;
    assert_eq!(s, 200, "{r}");
    let prod = c.production().await;
    assert_eq!(prod["on"], true);
    assert_eq!(prod["targets"], json!([{"variation": 0, "values": ["qa"]}]));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_conflicting_change_since_the_request_fails_it_and_an_unrelated_one_does_not() {
    let c = Cast::new().await;
    c.settings(json!({"required": true})).await;
    let conflicting = id(&c
        .request(
            &c.alice,
            json!([{"kind": "updateFallthroughVariationOrRollout", "variation": 1}]),
        )
        .await);
    let unrelated = id(&c.request(&c.alice, json!([{"kind": "turnFlagOn"}])).await);
    for rid in [&conflicting, &unrelated] {
        assert_eq!(c.review(&c.bob, rid, "approve").await.0, 200);
    }
    // Meanwhile an admin changes production directly (a bypass).
    let (s, body) = c
        .call(
            &c.erin,
            Method::PATCH,
            "/api/v2/flags/p/f",
            Some(json!({"environmentKey": "production", "instructions": [
                {"kind": "updateFallthroughVariationOrRollout", "rolloutWeights": {"0": 50000, "1": 50000}},
                {"kind": "addTargets", "variation": 1, "values": ["ops"]}
            ]})),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let entries_before = c.app.audit_count().await;
    let (s, body) = c.apply(&c.carol, &conflicting).await;
    assert_eq!(s, 409, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("fallthrough"),
        "{body}"
    );
    let r = c.get(&conflicting).await;
    assert_eq!(r["status"], "failed");
    assert_eq!(r["conflicts"][0]["field"], "fallthrough");
    assert_eq!(
        r["conflicts"][0]["instruction"]["kind"],
        "updateFallthroughVariationOrRollout"
    );
    // The failure is audited; the flag keeps the admin's rollout.
    assert_eq!(c.app.audit_count().await, entries_before + 1);
    let failed = &c.app.audit("action=applyApprovalRequest").await[0];
    assert!(
        failed["description"].as_str().unwrap().contains("FAILED"),
        "{failed}"
    );
    assert!(c.production().await["fallthrough"]["rollout"].is_object());
    // A failed request is closed.
    assert_eq!(c.apply(&c.carol, &conflicting).await.0, 409);
    // Turning the flag on touches nothing the admin changed: it applies.
    let (s, r) = c.apply(&c.carol, &unrelated).await;
    assert_eq!(s, 200, "{r}");
    let prod = c.production().await;
    assert_eq!(prod["on"], true);
    assert_eq!(
        prod["targets"],
        json!([{"variation": 1, "values": ["ops"]}])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tag_scoped_requirements_gate_only_tagged_flags_and_their_tag_removal() {
    let c = Cast::new().await;
    // Bad settings are refused with the field named.
    for (bad, field) in [
        (
            json!({"required": true, "requiredApprovalTags": ["gated"]}),
            "requiredApprovalTags",
        ),
        (json!({"minNumApprovals": 0}), "minNumApprovals"),
        (json!({"minNumApprovals": 6}), "minNumApprovals"),
        (
            json!({"requiredApprovalTags": ["not a tag"]}),
            "requiredApprovalTags",
        ),
    ] {
        let (s, body) = c
            .app
            .patch(
                "/api/v2/projects/p/environments/production",
                json!({"approvalSettings": bad}),
            )
            .await;
        assert_eq!(s, 400, "{body}");
        assert!(body["message"].as_str().unwrap().contains(field), "{body}");
    }
    let (s, body) = c
        .app
        .patch(
            "/api/v2/projects/p/environments/production",
            json!({"resourceApprovalSettings": {"variable": {"requiredApprovalTags": ["x"]}}}),
        )
        .await;
    assert_eq!(s, 400, "{body}");
    // A writer may not change approval settings.
    let (s, _) = c
        .call(
            &c.alice,
            Method::PATCH,
            "/api/v2/projects/p/environments/production",
            Some(json!({"approvalSettings": {"required": false}})),
        )
        .await;
    assert_eq!(s, 403);

    c.settings(json!({"requiredApprovalTags": ["gated"]})).await;
    let (s, _) = c
        .app
        .post(
            "/api/v2/flags/p",
            json!({"key": "g", "name": "G", "tags": ["gated"]}),
        )
        .await;
    assert_eq!(s, 201);
    // The untagged flag is not gated; the tagged one is.
    assert_eq!(c.toggle(&c.alice, "production", "turnFlagOn").await.0, 200);
    let toggle_g =
        json!({"environmentKey": "production", "instructions": [{"kind": "turnFlagOn"}]});
    let (s, body) = c
        .call(
            &c.alice,
            Method::PATCH,
            "/api/v2/flags/p/g",
            Some(toggle_g.clone()),
        )
        .await;
    assert_eq!(s, 422, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("gated"),
        "{body}"
    );
    // Tagging a flag in the same change is gated too.
    let (s, _) = c
        .call(
            &c.alice,
            Method::PATCH,
            "/api/v2/flags/p/f",
            Some(json!({"environmentKey": "production", "instructions": [{"kind": "addTags", "values": ["gated"]}, {"kind": "turnFlagOff"}]})),
        )
        .await;
    assert_eq!(s, 422);
    // Project-wide edits have no environment and are not gated...
    let (s, _) = c
        .call(
            &c.alice,
            Method::PATCH,
            "/api/v2/flags/p/g",
            Some(json!({"instructions": [{"kind": "updateName", "value": "G renamed"}]})),
        )
        .await;
    assert_eq!(s, 200);
    // ... except removing the tag that puts the flag under approval.
    let (s, body) = c
        .call(
            &c.alice,
            Method::PATCH,
            "/api/v2/flags/p/g",
            Some(json!({"instructions": [{"kind": "removeTags", "values": ["gated"]}]})),
        )
        .await;
    assert_eq!(s, 422, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("proj/p:env/production:flag/g"),
        "{body}"
    );
    // A request for the tagged flag goes through the usual way.
    let (s, r) = c
        .call(
            &c.alice,
            Method::POST,
            "/api/v2/approval-requests",
            Some(json!({"resourceId": "proj/p:env/production:flag/g", "description": "on", "instructions": [{"kind": "turnFlagOn"}]})),
        )
        .await;
    assert_eq!(s, 201, "{r}");
    assert_eq!(c.review(&c.bob, &id(&r), "approve").await.0, 200);
    assert_eq!(c.apply(&c.carol, &id(&r)).await.0, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn service_tokens_bypass_only_when_the_setting_says_so_and_may_only_comment() {
    let c = Cast::new().await;
    c.settings(json!({"required": true})).await;
    let (s, t) = c
        .app
        .post(
            "/api/v2/tokens",
            json!({"name": "ci", "serviceToken": true, "role": "writer"}),
        )
        .await;
    assert_eq!(s, 201, "{t}");
    let ci = t["token"].as_str().unwrap().to_owned();
    let (s, body) = c.toggle(&ci, "production", "turnFlagOn").await;
    assert_eq!(s, 422, "{body}");
    c.settings(json!({"serviceTokensBypass": true})).await;
    let (s, body) = c.toggle(&ci, "production", "turnFlagOn").await;
    assert_eq!(s, 200, "{body}");
    let entry = &c
        .app
        .audit("spec=proj/p:env/production:flag/f&action=updateOn")
        .await[0];
    let d = entry["description"].as_str().unwrap();
    assert!(
        d.contains("BYPASSED") && d.contains("serviceTokensBypass"),
        "{d}"
    );
    assert_eq!(entry["actor"]["serviceToken"], true);
    // The setting is about service tokens: a writer's personal token is still gated.
    assert_eq!(c.toggle(&c.alice, "production", "turnFlagOff").await.0, 422);
    c.settings(json!({"serviceTokensBypass": false})).await;
    assert_eq!(c.toggle(&ci, "production", "turnFlagOff").await.0, 422);

    // A service token may request and comment, but not approve: a review needs a member.
    let r = c.request(&ci, json!([{"kind": "turnFlagOff"}])).await;
    let rid = id(&r);
    assert_eq!(r["requestorId"], Value::Null);
    assert!(r["requestorTokenId"].is_string());
    assert_eq!(c.review(&ci, &rid, "comment").await.0, 200);
    let (s, body) = c.review(&ci, &rid, "approve").await;
    assert_eq!(s, 403, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("member"),
        "{body}"
    );
    let r = c.get(&rid).await;
    assert_eq!(r["allReviews"][0]["serviceTokenId"], r["requestorTokenId"]);
    // Members review a service token's request as usual.
    assert_eq!(
        c.review(&c.bob, &rid, "approve").await.1["reviewStatus"],
        "approved"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_bypass_applies_and_is_audited_as_a_bypass() {
    let c = Cast::new().await;
    c.settings(json!({"required": true})).await;
    let (s, body) = c.toggle(&c.erin, "production", "turnFlagOn").await;
    assert_eq!(s, 200, "{body}");
    let bypasses = c.app.audit("action=bypassRequiredApproval").await;
    assert_eq!(bypasses.len(), 1);
    let d = bypasses[0]["description"].as_str().unwrap();
    assert!(
        d.contains("BYPASSED required approval in production"),
        "{d}"
    );
    assert!(actions(&bypasses[0]).contains(&"updateOn".to_owned()));
    // A change that needs no approval is not marked.
    assert_eq!(c.toggle(&c.erin, "test", "turnFlagOn").await.0, 200);
    assert_eq!(c.app.audit("action=bypassRequiredApproval").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn racing_applies_apply_exactly_once() {
    let c = Cast::new().await;
    c.settings(json!({"required": true})).await;
    let rid = id(&c.request(&c.alice, json!([{"kind": "turnFlagOn"}])).await);
    c.review(&c.bob, &rid, "approve").await;
    let flag_version = c.app.get("/api/v2/flags/p/f").await.1["version"]
        .as_i64()
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..8 {
        let client = c.app.client.clone();
        let url = format!("{}/api/v2/approval-requests/{rid}/apply", c.app.base);
        let token = if i % 2 == 0 {
            c.carol.clone()
        } else {
            c.erin.clone()
        };
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .header("Authorization", token)
                .json(&json!({}))
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap().as_u16());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 409),
        "{statuses:?}"
    );
    let flag = c.app.get("/api/v2/flags/p/f").await.1;
    assert_eq!(flag["version"].as_i64().unwrap(), flag_version + 1);
    let applied: Vec<Value> = c
        .app
        .audit("action=applyApprovalRequest")
        .await
        .into_iter()
        .filter(|e| e["description"].as_str().unwrap().starts_with("applied"))
        .collect();
    assert_eq!(applied.len(), 1);
    let changes: Vec<Value> = c
        .app
        .audit("action=updateOn")
        .await
        .into_iter()
        .filter(|e| e["approvalRequestId"] == rid.as_str())
        .collect();
    assert_eq!(changes.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_decline_racing_an_apply_is_decided_one_way_or_the_other() {
    let c = Cast::new().await;
    c.settings(json!({"required": true})).await;
    for round in 0..4 {
        let kind = if round % 2 == 0 {
            "turnFlagOn"
        } else {
            "turnFlagOff"
        };
        let rid = id(&c.request(&c.alice, json!([{"kind": kind}])).await);
        c.review(&c.bob, &rid, "approve").await;
        let apply = c.apply(&c.carol, &rid);
        let decline = c.review(&c.dave, &rid, "decline");
        let ((apply_status, _), (decline_status, _)) = tokio::join!(apply, decline);
        let r = c.get(&rid).await;
        match (apply_status.as_u16(), decline_status.as_u16()) {
            (200, 409) => assert_eq!(r["status"], "completed"),
            (409, 200) => {
                assert_eq!(r["status"], "pending");
                assert_eq!(r["reviewStatus"], "declined");
                // Leave production as this round asked, for the next round's request.
                c.review(&c.dave, &rid, "approve").await;
                assert_eq!(c.apply(&c.carol, &rid).await.0, 200);
            }
            other => panic!("round {round}: inconsistent outcome {other:?}: {r}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_approvals_when_the_environment_asks_for_two() {
    let c = Cast::new().await;
    c.settings(json!({"required": true, "minNumApprovals": 2}))
        .await;
    let rid = id(&c.request(&c.alice, json!([{"kind": "turnFlagOn"}])).await);
    assert_eq!(
        c.review(&c.bob, &rid, "approve").await.1["reviewStatus"],
        "pending"
    );
    // The same member twice is one approval.
    let (_, r) = c.review(&c.bob, &rid, "approve").await;
    assert_eq!(r["reviewStatus"], "pending");
    assert_eq!(r["approvedBy"], json!([c.bob_id]));
    let (s, body) = c.apply(&c.carol, &rid).await;
    assert_eq!(s, 409);
    assert!(
        body["message"].as_str().unwrap().contains("1 of 2"),
        "{body}"
    );
    assert_eq!(
        c.review(&c.dave, &rid, "approve").await.1["reviewStatus"],
        "approved"
    );
    assert_eq!(c.apply(&c.carol, &rid).await.0, 200);
    assert_eq!(c.production().await["on"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_gets_clear_errors_and_changes_nothing() {
    let c = Cast::new().await;
    c.settings(json!({"required": true})).await;
    let entries = c.app.audit_count().await;
    let post = |body: Value| {
        let c = &c;
        async move {
            c.call(
                &c.alice,
                Method::POST,
                "/api/v2/approval-requests",
                Some(body),
            )
            .await
        }
    };
    let base = |resource: &str, instructions: Value| json!({"resourceId": resource, "description": "d", "instructions": instructions});
    let on = json!([{"kind": "turnFlagOn"}]);
    for (body, status, text) in [
        (
            base("proj/nope:env/production:flag/f", on.clone()),
            404,
            "nope",
        ),
        (base("proj/p:env/nope:flag/f", on.clone()), 404, "nope"),
        (
            base("proj/p:env/production:flag/nope", on.clone()),
            404,
            "nope",
        ),
        (base("proj/p:env/production", on.clone()), 400, "resourceId"),
        (base("member/x", on.clone()), 400, "resourceId"),
        (base("not a specifier", on.clone()), 400, "resourceId"),
        (
            base("proj/p:env/production:flag/f", json!([])),
            400,
            "instructions",
        ),
        (
            base("proj/p:env/production:flag/f", json!([{"kind": "fly"}])),
            400,
            "instructions[0]",
        ),
        (
            base(
                "proj/p:env/production:flag/f",
                json!([{"kind": "turnFlagOn"}, {"kind": "removeRule", "ruleId": "missing"}]),
            ),
            400,
            "instructions[1]",
        ),
        (
            base(
                "proj/p:env/production:flag/f",
                json!([{"kind": "turnFlagOff"}]),
            ),
            400,
            "would not change",
        ),
        (
            json!({"resourceId": "proj/p:env/production:flag/f", "description": "  ", "instructions": on}),
            400,
            "description",
        ),
        (
            json!({"resourceId": "proj/p:env/production:flag/f", "description": "d", "instructions": on, "notifyMemberIds": ["ghost"]}),
            404,
            "notifyMemberIds",
        ),
        (
            json!({"resourceId": "proj/p:env/production:flag/f", "description": "d", "instructions": on, "notifyTeamKeys": ["ghosts"]}),
            404,
            "notifyTeamKeys",
        ),
        (
            base(
                "proj/p:env/production:var/X",
                json!([{"kind": "deleteVariable"}]),
            ),
            400,
            "does not exist",
        ),
        (
            base(
                "proj/p:env/production:var/X",
                json!([{"kind": "turnFlagOn"}]),
            ),
            400,
            "instructions[0]",
        ),
    ] {
        let (s, err) = post(body.clone()).await;
        assert_eq!(s.as_u16(), status, "{body} -> {err}");
        assert!(
            err["message"].as_str().unwrap().contains(text),
            "{body} -> {err}"
        );
        assert!(err["code"].is_string());
    }
    let rid = id(&c.request(&c.alice, json!([{"kind": "turnFlagOn"}])).await);
    let entries = entries + 1;
    let (s, err) = c.review(&c.bob, &rid, "maybe").await;
    assert_eq!(s, 400, "{err}");
    assert_eq!(c.review(&c.bob, "no-such-request", "approve").await.0, 404);
    assert_eq!(c.apply(&c.carol, "no-such-request").await.0, 404);
    let (s, _) = c
        .call(
            &c.alice,
            Method::PATCH,
            &format!("/api/v2/approval-requests/{rid}"),
            Some(json!({})),
        )
        .await;
    assert_eq!(s, 400);
    let (s, _) = c
        .call(
            &c.alice,
            Method::PATCH,
            &format!("/api/v2/approval-requests/{rid}"),
            Some(json!({"instructions": [{"kind": "removeRule", "ruleId": "x"}]})),
        )
        .await;
    assert_eq!(s, 400);
    let (s, _) = c.app.get("/api/v2/approval-requests?status=open").await;
    assert_eq!(s, 400);
    // Nothing above changed anything or claimed to.
    assert_eq!(c.app.audit_count().await, entries);
    assert_eq!(c.get(&rid).await["revision"], 1);
    assert_eq!(c.production().await["on"], false);
}

#[tokio::test(flavor = "multi_thread")]
async fn variable_changes_are_gated_and_secret_values_never_show() {
    let c = Cast::new().await;
    let (s, body) = c
        .app
        .patch(
            "/api/v2/projects/p/environments/production",
            json!({"resourceApprovalSettings": {"variable": {"required": true}}}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        body["resourceApprovalSettings"]["variable"]["required"],
        true
    );
    let (s, body) = c
        .call(
            &c.alice,
            Method::PUT,
            "/api/v2/projects/p/environments/production/variables/API_KEY",
            Some(json!({"value": "direct", "secret": true})),
        )
        .await;
    assert_eq!(s, 422, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("proj/p:env/production:var/API_KEY")
    );
    // Flags are not gated by the variable setting.
    assert_eq!(c.toggle(&c.alice, "production", "turnFlagOn").await.0, 200);
    let (s, r) = c
        .call(
            &c.alice,
            Method::POST,
            "/api/v2/approval-requests",
            Some(json!({"resourceId": "proj/p:env/production:var/API_KEY", "description": "rotate",
                        "instructions": [{"kind": "setVariable", "value": "s3cret-value", "secret": true}]})),
        )
        .await;
    assert_eq!(s, 201, "{r}");
    assert_eq!(r["resourceKind"], "variable");
    assert_eq!(
        r["instructions"],
        json!([{"kind": "setVariable", "secret": true}])
    );
    assert_eq!(r["baseVersion"], Value::Null);
    let rid = id(&r);
    c.review(&c.bob, &rid, "approve").await;
    let (s, r) = c.apply(&c.carol, &rid).await;
    assert_eq!(s, 200, "{r}");
    let (_, vars) = c
        .app
        .get("/api/v2/projects/p/environments/production/variables")
        .await;
    assert_eq!(vars["items"][0]["name"], "API_KEY");
    assert_eq!(vars["items"][0]["version"], 1);
    let set = &c.app.audit("action=createVariable").await[0];
    assert_eq!(set["approvalRequestId"], rid.as_str());
    // The secret is nowhere in the log.
    let export = c
        .app
        .client
        .get(format!("{}/api/v2/auditlog/export", c.app.base))
        .header("Authorization", crate::support::BOOTSTRAP)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!export.contains("s3cret-value"));
    // A variable written since the request conflicts.
    let (s, r) = c
        .call(
            &c.alice,
            Method::POST,
            "/api/v2/approval-requests",
            Some(
                json!({"resourceId": "proj/p:env/production:var/API_KEY", "description": "drop it",
                        "instructions": [{"kind": "deleteVariable"}]}),
            ),
        )
        .await;
    assert_eq!(s, 201, "{r}");
    let rid = id(&r);
    c.review(&c.bob, &rid, "approve").await;
    let (s, _) = c
        .call(
            &c.erin,
            Method::PUT,
            "/api/v2/projects/p/environments/production/variables/API_KEY",
            Some(json!({"value": "rotated", "secret": true})),
        )
        .await;
    assert_eq!(s, 200);
    let (s, body) = c.apply(&c.carol, &rid).await;
    assert_eq!(s, 409, "{body}");
    assert_eq!(c.get(&rid).await["status"], "failed");
}

#[tokio::test(flavor = "multi_thread")]
async fn lists_filter_and_page_and_pending_requests_can_be_withdrawn() {
    let c = Cast::new().await;
    c.settings(json!({"required": true})).await;
    let first = id(&c.request(&c.alice, json!([{"kind": "turnFlagOn"}])).await);
    let second = id(&c
        .request(
            &c.alice,
            json!([{"kind": "updateOffVariation", "variation": 0}]),
        )
        .await);
    let (s, other) = c
        .app
        .post(
            "/api/v2/approval-requests",
            json!({"resourceId": "proj/p:env/test:flag/f", "description": "owner's", "instructions": [{"kind": "turnFlagOn"}]}),
        )
        .await;
    assert_eq!(s, 201, "{other}");
    c.review(&c.bob, &first, "approve").await;
    let list = |q: &str| {
        let c = &c;
        let q = q.to_owned();
        async move {
            let (s, body) = c.app.get(&format!("/api/v2/approval-requests?{q}")).await;
            assert_eq!(s, 200, "{body}");
            body
        }
    };
    let ids = |body: &Value| -> Vec<String> {
        body["items"].as_array().unwrap().iter().map(id).collect()
    };
    assert_eq!(list("").await["totalCount"], 3);
    assert_eq!(
        ids(&list("reviewStatus=approved").await),
        vec![first.clone()]
    );
    assert_eq!(list("reviewStatus=pending,declined").await["totalCount"], 2);
    assert_eq!(
        list(&format!("requestorId={}", c.alice_id)).await["totalCount"],
        2
    );
    assert_eq!(
        list("resourceId=proj/p:env/test:flag/f").await["items"][0]["_id"],
        other["_id"]
    );
    assert_eq!(list("projectKey=p&status=pending").await["totalCount"], 3);
    assert_eq!(list("projectKey=q").await["totalCount"], 0);
    let page = list("limit=2").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let rest = list(&format!(
        "limit=2&cursor={}",
        page["next"].as_str().unwrap()
    ))
    .await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    assert!(rest.get("next").is_none());
    // Newest first.
    assert_eq!(ids(&page)[1], second);

    // Withdrawing a pending request: audited, with the request as it was.
    let (s, _) = c
        .call(
            &c.bob,
            Method::DELETE,
            &format!("/api/v2/approval-requests/{second}"),
            None,
        )
        .await;
    assert_eq!(s, 403, "a reviewer may not delete");
    let (s, _) = c
        .call(
            &c.alice,
            Method::DELETE,
            &format!("/api/v2/approval-requests/{second}"),
            None,
        )
        .await;
    assert_eq!(s, 204);
    assert_eq!(
        c.app
            .get(&format!("/api/v2/approval-requests/{second}"))
            .await
            .0,
        404
    );
    let deleted: Vec<Value> = c
        .app
        .audit("action=deleteApprovalRequest")
        .await
        .into_iter()
        .filter(|e| !e["description"].as_str().unwrap().starts_with("REFUSED"))
        .collect();
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0]["previousVersion"]["_id"], second.as_str());
    assert_eq!(deleted[0]["approvalRequestId"], second.as_str());
    assert_eq!(list("").await["totalCount"], 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_writer_base_role_cannot_bypass_but_admin_and_custom_roles_can() {
    use gatehouse::domain::policy::{BaseRole, NO_TAGS, Resource};
    let flag = Resource::project("p", NO_TAGS)
        .env("production", NO_TAGS, true)
        .flag("f", NO_TAGS);
    let var = Resource::project("p", NO_TAGS)
        .env("production", NO_TAGS, true)
        .var("X");
    let decide = |role: BaseRole, res: &Resource| {
        let compiled = role.compile("m").unwrap();
        let id = gatehouse::domain::policy::lookup("bypassRequiredApproval").unwrap();
        matches!(
            compiled.evaluate(id, res),
            gatehouse::domain::policy::RoleOutcome::Allowed(_)
        )
    };
    assert!(!decide(BaseRole::Writer, &flag));
    assert!(!decide(BaseRole::Writer, &var));
    assert!(decide(BaseRole::Admin, &flag));
    assert!(decide(BaseRole::Admin, &var));

    // A custom role that grants bypassRequiredApproval on critical environments.
    let c = Cast::new().await;
    c.settings(json!({"required": true})).await;
    role(
        &c.app,
        "hotfixer",
        json!([{"effect": "allow", "actions": ["updateOn", "bypassRequiredApproval"], "resources": ["proj/*:env/*;{critical:true}:flag/*"]}]),
    )
    .await;
    let (_, hotfixer) = member(&c.app, "gil@example.com", "reader", &["hotfixer"]).await;
    assert_eq!(c.toggle(&hotfixer, "production", "turnFlagOn").await.0, 200);
    assert_eq!(c.app.audit("action=bypassRequiredApproval").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn authors_may_review_their_own_request_where_the_environment_allows_it() {
    let c = Cast::new().await;
    c.settings(json!({"required": true, "canReviewOwnRequest": true}))
        .await;
    let rid = id(&c.request(&c.alice, json!([{"kind": "turnFlagOn"}])).await);
    let (s, r) = c.review(&c.alice, &rid, "approve").await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["reviewStatus"], "approved");
    assert_eq!(r["approvedBy"], json!([c.alice_id]));
    // Turning the setting off again takes the self-approval out of the count at once.
    c.settings(json!({"canReviewOwnRequest": false})).await;
    assert_eq!(c.get(&rid).await["reviewStatus"], "pending");
    assert_eq!(c.apply(&c.alice, &rid).await.0, 409);
    c.settings(json!({"canReviewOwnRequest": true})).await;
    let (s, r) = c.apply(&c.alice, &rid).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["appliedByMemberId"], c.alice_id.as_str());
    assert_eq!(c.production().await["on"], true);
}
