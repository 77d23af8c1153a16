//! A SCIM User document as a statement about a member: its userName and email, and what it
//! says for the provisioning planner (`domain::provisioning`).

use serde_json::{Map, Value, json};

use super::error::{ScimError, ScimResult};
use super::resource::idp_profile;
use super::schema::{GATEHOUSE_URN, USER};
use crate::domain::mapping::{self, MappingRule};
use crate::domain::policy::BaseRole;
use crate::domain::provisioning::{Activity, Channel, NameUpdate, Statement};

/// A canonical User document with what identifies the member.
#[derive(Debug, Clone, PartialEq)]
pub struct UserRecord {
    pub doc: Map<String, Value>,
    pub user_name: String,
    pub email: Option<String>,
}

/// Checks a whole document: its userName (defaulting to the email, as LaunchDarkly does),
/// lengths, and finds its email.
pub fn user_record(mut doc: Map<String, Value>) -> ScimResult<UserRecord> {
    let user_name = match doc.get("userName").and_then(Value::as_str).map(str::trim) {
        Some(u) if !u.is_empty() => u.to_owned(),
        _ => member_email(&doc, "")
            .ok_or_else(|| ScimError::invalid_value("userName is required"))?,
    };
    if user_name.chars().count() > 256 {
        return Err(ScimError::invalid_value("userName: at most 256 characters"));
    }
    doc.insert("userName".into(), json!(user_name));
    for part in ["givenName", "familyName"] {
        if name_part(&doc, part).is_some_and(|s| s.chars().count() > 256) {
            return Err(ScimError::invalid_value(format!(
                "name.{part}: at most 256 characters"
            )));
        }
    }
    let email = member_email(&doc, &user_name);
    Ok(UserRecord {
        doc,
        user_name,
        email,
    })
}

/// An email for the member: the primary email, else the first, else an email-shaped userName.
fn member_email(doc: &Map<String, Value>, user_name: &str) -> Option<String> {
    let emails: Vec<&Value> = doc
        .get("emails")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let primary = emails
        .iter()
        .find(|e| e.get("primary").and_then(Value::as_bool) == Some(true))
        .or(emails.first())
        .and_then(|e| e.get("value"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    primary.or_else(|| user_name.contains('@').then(|| user_name.to_owned()))
}

/// `name.givenName` or `name.familyName`.
pub fn name_part(doc: &Map<String, Value>, part: &str) -> Option<String> {
    doc.get("name")
        .and_then(|n| n.get(part))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// What the IdP knew about the member before this document.
#[derive(Debug, Clone, Copy, Default)]
pub struct Previously<'a> {
    /// The member exists (possibly created over REST, with no document yet).
    pub exists: bool,
    /// The IdP's previous document of the member.
    pub doc: Option<&'a Map<String, Value>>,
    /// SCIM deleted the member (kept deactivated): a create brings it back.
    pub deleted: bool,
}

/// The document as a statement for the provisioning planner.
pub fn statement(
    record: &UserRecord,
    before: Previously<'_>,
    rules: &[MappingRule],
    default_role: BaseRole,
) -> Statement {
    let (mapped, mapping_error) =
        match mapping::map_profile(rules, &idp_profile(&USER, &record.doc)) {
            Ok(o) => (o, None),
            Err(e) => (Default::default(), Some(e)),
        };
    let previous = before
        .doc
        .and_then(|d| mapping::map_profile(rules, &idp_profile(&USER, d)).ok());
    let explicit_custom = record
        .doc
        .get(GATEHOUSE_URN)
        .and_then(|g| g.get("customRole"))
        .is_some();
    // A local member the IdP adopts keeps its custom roles while the IdP says nothing
    // about them.
    let adopting_local = before.exists && before.doc.is_none();
    let speaks_custom_roles = !adopting_local || explicit_custom || !mapped.custom_roles.is_empty();
    let without_active = |d: &Map<String, Value>| {
        let mut d = d.clone();
        d.remove("active");
        d
    };
    Statement {
        channel: Channel::Scim,
        default_role,
        owns_roles: true,
        creates: true,
        mapped,
        mapping_error,
        previous,
        speaks_custom_roles,
        speaks_teams: false,
        activity: activity(&record.doc, before),
        email: record.email.clone(),
        first_name: NameUpdate::Replace(name_part(&record.doc, "givenName")),
        last_name: NameUpdate::Replace(name_part(&record.doc, "familyName")),
        record_changed: before.doc.map(without_active) != Some(without_active(&record.doc)),
    }
}

/// The status the document states. `active` left unassigned (removed, or left out of a PUT)
/// is not a deactivation: a member the IdP deleted comes back active, one whose earlier
/// document stated `active` is active, and one the IdP never said anything about keeps its
/// status.
fn activity(doc: &Map<String, Value>, before: Previously<'_>) -> Activity {
    match doc.get("active").and_then(Value::as_bool) {
        Some(true) => Activity::Active,
        Some(false) => Activity::Deactivated,
        None if before.deleted => Activity::Active,
        None if before.doc.is_some_and(|d| d.contains_key("active")) => Activity::Active,
        None => Activity::Unchanged,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn doc(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn user_name_defaults_to_the_email_and_the_email_to_the_user_name() {
        let r = user_record(doc(
            json!({"emails": [{"value": "b@x.io"}, {"value": "a@x.io", "primary": true}]}),
        ))
        .unwrap();
        assert_eq!(r.user_name, "a@x.io");
        assert_eq!(r.email.as_deref(), Some("a@x.io"));
        let r = user_record(doc(json!({"userName": "c@x.io"}))).unwrap();
        assert_eq!(r.email.as_deref(), Some("c@x.io"));
        assert!(user_record(doc(json!({"userName": " "}))).is_err());
        assert!(user_record(doc(json!({"userName": "x".repeat(257)}))).is_err());
    }

    #[test]
    fn unassigned_active_is_not_a_deactivation() {
        let none = doc(json!({"userName": "a"}));
        assert_eq!(activity(&none, Previously::default()), Activity::Unchanged);
        let stated = doc(json!({"userName": "a", "active": false}));
        let before = Previously {
            exists: true,
            doc: Some(&stated),
            deleted: false,
        };
        assert_eq!(activity(&none, before), Activity::Active);
        assert_eq!(
            activity(&stated, Previously::default()),
            Activity::Deactivated
        );
        let deleted = Previously {
            exists: true,
            doc: None,
            deleted: true,
        };
        assert_eq!(activity(&none, deleted), Activity::Active);
    }

    #[test]
    fn an_adopted_local_member_keeps_custom_roles_the_idp_is_silent_about() {
        let r = user_record(doc(json!({"userName": "a@x.io"}))).unwrap();
        let adopting = Previously {
            exists: true,
            doc: None,
            deleted: false,
        };
        let st = statement(&r, adopting, &[], BaseRole::Reader);
        assert!(!st.speaks_custom_roles);
        assert!(st.record_changed);
        let st = statement(&r, Previously::default(), &[], BaseRole::Reader);
        assert!(st.speaks_custom_roles, "a new member's roles are the IdP's");
        let again = Previously {
            exists: true,
            doc: Some(&r.doc),
            deleted: false,
        };
        assert!(!statement(&r, again, &[], BaseRole::Reader).record_changed);
    }
}
