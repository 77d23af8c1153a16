#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use proptest::prelude::*;

use super::*;

fn outcome(role: Option<BaseRole>, custom: &[&str]) -> MappingOutcome {
    MappingOutcome {
        role,
        custom_roles: custom.iter().map(|s| (*s).to_owned()).collect(),
        ..Default::default()
    }
}

fn scim(mapped: MappingOutcome) -> Statement {
    Statement {
        channel: Channel::Scim,
        default_role: BaseRole::Reader,
        owns_roles: true,
        creates: true,
        mapped,
        mapping_error: None,
        previous: None,
        speaks_custom_roles: true,
        speaks_teams: false,
        activity: Activity::Unchanged,
        email: Some("ann@example.com".into()),
        first_name: NameUpdate::Replace(Some("Ann".into())),
        last_name: NameUpdate::Replace(None),
        record_changed: true,
    }
}

fn sign_in(mapped: MappingOutcome) -> Statement {
    Statement {
        channel: Channel::SignIn,
        previous: None,
        speaks_custom_roles: !mapped.custom_roles.is_empty(),
        speaks_teams: !mapped.teams.is_empty(),
        email: None,
        first_name: NameUpdate::IfGiven(Some("Ann".into())),
        last_name: NameUpdate::IfGiven(None),
        record_changed: false,
        ..scim(mapped)
    }
}

fn member(role: BaseRole) -> CurrentMember {
    CurrentMember {
        role,
        custom_roles: vec![],
        role_attributes: RoleAttributes::new(),
        active: true,
        email: "ann@example.com".into(),
        first_name: None,
        last_name: Some("Lee".into()),
        of_other_connection: false,
    }
}

fn catalogue() -> RoleCatalogue {
    [
        ("dev".to_owned(), vec![]),
        ("proj-admin".to_owned(), vec!["projects".to_owned()]),
    ]
    .into_iter()
    .collect()
}

#[test]
fn a_new_member_takes_the_mapped_role_else_the_default() {
    let p = plan(
        None,
        &scim(outcome(Some(BaseRole::Writer), &["dev"])),
        &catalogue(),
    )
    .unwrap();
    assert!(p.created);
    assert_eq!(p.role, BaseRole::Writer);
    assert_eq!(p.custom_roles, vec!["dev"]);
    assert_eq!(p.actions, vec!["createMember"]);
    let p = plan(None, &scim(outcome(None, &[])), &catalogue()).unwrap();
    assert_eq!(p.role, BaseRole::Reader);
    let mut st = scim(outcome(None, &[]));
    st.email = None;
    assert_eq!(plan(None, &st, &catalogue()), Err(Refusal::NoEmail));
}

#[test]
fn the_owner_keeps_its_role_and_stays_active() {
    let owner = member(BaseRole::Owner);
    let p = plan(
        Some(&owner),
        &scim(outcome(Some(BaseRole::Reader), &["dev"])),
        &catalogue(),
    )
    .unwrap();
    assert!(p.owner);
    assert_eq!(p.role, BaseRole::Owner);
    assert!(p.custom_roles.is_empty());
    assert_eq!(p.first_name.as_deref(), Some("Ann"), "names still follow");
    let mut st = scim(outcome(None, &[]));
    st.activity = Activity::Deactivated;
    assert_eq!(
        plan(Some(&owner), &st, &catalogue()),
        Err(Refusal::OwnerDeactivated)
    );
    let p = plan(
        Some(&owner),
        &sign_in(outcome(Some(BaseRole::Reader), &[])),
        &catalogue(),
    )
    .unwrap();
    assert_eq!(p.role, BaseRole::Owner);
    assert_eq!(p.skipped[0].what, "roles and teams");
}

#[test]
fn scim_refuses_what_sign_in_skips() {
    let m = member(BaseRole::Reader);
    let ghost = outcome(None, &["ghost"]);
    assert_eq!(
        plan(Some(&m), &scim(ghost.clone()), &catalogue()),
        Err(Refusal::UnknownCustomRole("ghost".into()))
    );
    let p = plan(Some(&m), &sign_in(ghost), &catalogue()).unwrap();
    assert!(p.custom_roles.is_empty());
    assert_eq!(p.skipped[0].key.as_deref(), Some("ghost"));
    let needs = outcome(None, &["proj-admin"]);
    assert!(matches!(
        plan(Some(&m), &scim(needs.clone()), &catalogue()),
        Err(Refusal::MissingRoleAttribute { .. })
    ));
    let p = plan(Some(&m), &sign_in(needs), &catalogue()).unwrap();
    assert_eq!(p.skipped[0].reason, "needs role attribute projects");
    let mut st = scim(outcome(None, &[]));
    st.mapping_error = Some(MappingError::OwnerRole);
    assert!(matches!(
        plan(Some(&m), &st, &catalogue()),
        Err(Refusal::Mapping(_))
    ));
    st.channel = Channel::SignIn;
    assert_eq!(
        plan(Some(&m), &st, &catalogue()).unwrap().skipped[0].what,
        "role"
    );
}

#[test]
fn scim_roles_move_only_when_the_idp_statement_does() {
    // An admin made the member an admin over REST; the IdP keeps saying "reader".
    let m = member(BaseRole::Admin);
    let mut st = scim(outcome(Some(BaseRole::Reader), &[]));
    st.previous = Some(st.mapped.clone());
    assert_eq!(
        plan(Some(&m), &st, &catalogue()).unwrap().role,
        BaseRole::Admin
    );
    st.mapped = outcome(Some(BaseRole::Writer), &[]);
    let p = plan(Some(&m), &st, &catalogue()).unwrap();
    assert_eq!(p.role, BaseRole::Writer);
    assert_eq!(p.actions, vec!["updateMemberName", "updateRole"]);
}

#[test]
fn deactivation_freezes_the_record_until_reactivation() {
    let mut m = member(BaseRole::Reader);
    let mut st = scim(outcome(Some(BaseRole::Admin), &[]));
    st.activity = Activity::Deactivated;
    let p = plan(Some(&m), &st, &catalogue()).unwrap();
    assert_eq!(p.transition, Transition::Deactivated);
    assert!(!p.active);
    m.active = false;
    let p = plan(Some(&m), &st, &catalogue()).unwrap();
    assert_eq!(p.transition, Transition::Frozen);
    assert_eq!(p.role, BaseRole::Reader);
    assert_eq!(p.first_name, None, "names frozen too");
    assert_eq!(p.email, None);
    st.activity = Activity::Active;
    let p = plan(Some(&m), &st, &catalogue()).unwrap();
    assert_eq!(p.transition, Transition::Reactivated);
    assert_eq!(p.role, BaseRole::Admin);
    // Sign-in refuses a deactivated member outright.
    assert_eq!(
        plan(Some(&m), &sign_in(outcome(None, &[])), &catalogue()),
        Err(Refusal::Deactivated)
    );
}

#[test]
fn sign_in_refuses_strangers_and_other_connections_members() {
    let mut st = sign_in(outcome(None, &[]));
    st.creates = false;
    assert_eq!(plan(None, &st, &catalogue()), Err(Refusal::NotProvisioned));
    let mut m = member(BaseRole::Reader);
    m.of_other_connection = true;
    assert_eq!(
        plan(Some(&m), &sign_in(outcome(None, &[])), &catalogue()),
        Err(Refusal::OtherConnection)
    );
}

#[test]
fn sign_in_changes_only_what_the_idp_speaks_about() {
    let mut m = member(BaseRole::Writer);
    m.custom_roles = vec!["dev".into()];
    let silent = sign_in(outcome(None, &[]));
    let p = plan(Some(&m), &silent, &catalogue()).unwrap();
    assert_eq!(p.role, BaseRole::Writer);
    assert_eq!(p.custom_roles, vec!["dev"]);
    assert_eq!(p.teams, None);
    assert_eq!(p.last_name.as_deref(), Some("Lee"), "no name given: kept");
    let mut teams = outcome(None, &[]);
    teams.teams = vec!["ops".into()];
    let p = plan(Some(&m), &sign_in(teams), &catalogue()).unwrap();
    assert_eq!(p.teams, Some(vec!["ops".to_owned()]));
    let mut leave = sign_in(outcome(Some(BaseRole::Admin), &["dev"]));
    leave.owns_roles = false;
    let p = plan(Some(&m), &leave, &catalogue()).unwrap();
    assert_eq!(p.role, BaseRole::Writer);
    assert_eq!(p.skipped[0].reason, "the connection leaves roles to SCIM");
}

fn base_role() -> impl Strategy<Value = BaseRole> {
    prop_oneof![
        Just(BaseRole::Reader),
        Just(BaseRole::Writer),
        Just(BaseRole::Admin),
        Just(BaseRole::Owner),
        Just(BaseRole::NoAccess),
    ]
}

fn statement() -> impl Strategy<Value = Statement> {
    (
        proptest::option::of(base_role()),
        proptest::collection::vec(
            prop_oneof![Just("dev"), Just("proj-admin"), Just("ghost")],
            0..3,
        ),
        any::<bool>(),
        prop_oneof![
            Just(Activity::Unchanged),
            Just(Activity::Active),
            Just(Activity::Deactivated)
        ],
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(role, custom, scim_channel, activity, owns_roles, speaks)| {
                let mapped = outcome(role.filter(|r| *r != BaseRole::Owner), &custom);
                let mut st = if scim_channel {
                    scim(mapped)
                } else {
                    sign_in(mapped)
                };
                st.activity = if scim_channel {
                    activity
                } else {
                    Activity::Unchanged
                };
                st.owns_roles = owns_roles || scim_channel;
                st.speaks_custom_roles = speaks;
                st
            },
        )
}

fn current() -> impl Strategy<Value = Option<CurrentMember>> {
    proptest::option::of((base_role(), any::<bool>()).prop_map(|(role, active)| {
        let mut m = member(role);
        m.active = active || role == BaseRole::Owner;
        m
    }))
}

proptest! {
    /// Whatever the IdP says: the owner keeps its role and status, only existing custom
    /// roles are ever assigned, a frozen member's roles do not move, and a plan lists an
    /// action for every change it makes.
    #[test]
    fn invariants_hold(current in current(), st in statement()) {
        let roles = catalogue();
        let Ok(p) = plan(current.as_ref(), &st, &roles) else {
            return Ok(());
        };
        if let Some(m) = &current {
            if m.role == BaseRole::Owner {
                prop_assert_eq!(p.role, BaseRole::Owner);
                prop_assert!(p.active);
                prop_assert_eq!(&p.custom_roles, &m.custom_roles);
            }
            if p.transition == Transition::Frozen {
                prop_assert_eq!(p.role, m.role);
                prop_assert_eq!(&p.custom_roles, &m.custom_roles);
            }
            if p.role != m.role {
                prop_assert!(p.actions.contains(&"updateRole"));
            }
            if p.active != m.active {
                prop_assert!(p.actions.contains(&"updateMemberStatus"));
            }
        } else {
            prop_assert_eq!(&p.actions, &vec!["createMember"]);
        }
        prop_assert!(p.role != BaseRole::Owner || current.as_ref().is_some_and(|m| m.role == BaseRole::Owner));
        for key in &p.custom_roles {
            prop_assert!(roles.contains_key(key), "{key} does not exist");
        }
        if st.channel == Channel::Scim && st.mapped.custom_roles.iter().any(|k| k == "ghost") {
            // SCIM only gets here when the roles were not applied at all.
            prop_assert!(!p.custom_roles.iter().any(|k| k == "ghost"));
        }
    }
}
