//! Property tests: no panics on any input, round trips, and "adding a role never reduces
//! access".
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;

use gatehouse::domain::policy::{
    BasePermissions, CompiledRole, Effect, Resource, Specifier, StatementInput, decide,
    validate_document, validate_inputs,
};
use proptest::prelude::*;
use proptest::sample::select;

const ACTIONS: &[&str] = &[
    "*",
    "update*",
    "updateOn",
    "viewProject",
    "createFlag",
    "viewTeam",
    "createAccessToken",
    "*Flag*",
    "updateName",
    "view*",
    "viewSdkKey",
    "updateAccountOwner",
];
const SPECS: &[&str] = &[
    "proj/*",
    "proj/a*",
    "proj/*:env/*",
    "proj/*:env/*:flag/*",
    "proj/*:env/prod*:flag/*;beta",
    "proj/*:env/*;{critical:true}:flag/*",
    "proj/*:env/*;{critical:false}:segment/*",
    "proj/${roleAttribute/p}:env/*:flag/*",
    "proj/*;mobile,beta:env/*:flag/?b",
    "member/*:token/*",
    "member/m?",
    "team/t?",
    "team/*",
    "acct",
    "proj/*:env/*:var/*",
    "proj/*:env/*:request/*",
    "service-token/*",
    "role/*",
    "connection/okta",
];
const CHECK_ACTIONS: &[&str] = &[
    "updateOn",
    "viewProject",
    "createFlag",
    "viewTeam",
    "createAccessToken",
    "updateName",
    "viewSdkKey",
    "updateAccountOwner",
    "viewMember",
    "updateRules",
    "bogus",
];
const KEYS: &[&str] = &["a", "ab", "b", "prod", "production", "m1", "t1", "okta"];
const TAGS: &[&str] = &["mobile", "beta", "qa_x"];

fn statement() -> impl Strategy<Value = StatementInput> {
    (
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec(select(ACTIONS), 1..3),
        prop::collection::vec(select(SPECS), 1..3),
    )
        .prop_map(|(deny, not_a, not_r, actions, specs)| {
            let actions: Vec<String> = actions.iter().map(|s| (*s).to_owned()).collect();
            let specs: Vec<String> = specs.iter().map(|s| (*s).to_owned()).collect();
            StatementInput {
                effect: if deny { Effect::Deny } else { Effect::Allow },
                actions: (!not_a).then(|| actions.clone()),
                not_actions: not_a.then_some(actions),
                resources: (!not_r).then(|| specs.clone()),
                not_resources: not_r.then_some(specs),
            }
        })
}

fn role() -> impl Strategy<Value = CompiledRole> {
    (prop::collection::vec(statement(), 0..5), any::<bool>()).prop_map(|(sts, reader)| {
        let declared = vec!["p".to_owned()];
        let validated = validate_inputs(&sts, &declared).unwrap();
        let mut attrs = BTreeMap::new();
        attrs.insert("p".to_owned(), vec!["a".to_owned(), "b*".to_owned()]);
        let base = if reader {
            BasePermissions::Reader
        } else {
            BasePermissions::NoAccess
        };
        CompiledRole::compile("r", &validated, base, &attrs).unwrap()
    })
}

fn tags() -> impl Strategy<Value = Vec<&'static str>> {
    prop::collection::vec(select(TAGS), 0..3)
}

fn resource() -> impl Strategy<Value = Resource> {
    (
        0..9u8,
        select(KEYS),
        select(KEYS),
        select(KEYS),
        tags(),
        tags(),
        any::<bool>(),
    )
        .prop_map(|(kind, k1, k2, k3, t1, t2, critical)| {
            let proj = || Resource::project(k1, &t1);
            let env = || proj().env(k2, &t2, critical);
            match kind {
                0 => proj(),
                1 => env(),
                2 => env().flag(k3, &t1),
                3 => env().segment(k3, &t2),
                4 => env().var(k3),
                5 => Resource::member(k1).token(k2),
                6 => Resource::team(k1),
                7 => Resource::acct(),
                _ => Resource::member(k1),
            }
        })
}

/// Audit-log specs: the policy ones without placeholders, plus literal keys.
const AUDIT_SPECS: &[&str] = &[
    "proj/*",
    "proj/a*",
    "proj/a",
    "proj/*:env/*",
    "proj/ab:env/prod",
    "proj/*:env/*:flag/*",
    "proj/a:env/production:flag/b",
    "proj/*:env/prod*:flag/*;beta",
    "proj/*:env/*;{critical:true}:flag/*",
    "proj/*;mobile,beta:env/*:flag/?b",
    "proj/a;qa_x:env/*:var/okta",
    "member/*:token/*",
    "member/m1:token/t1",
    "member/m?",
    "team/t1",
    "team/*",
    "acct",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// The audit log narrows a `spec` query by the specifier's required texts before matching:
    /// every resource the specifier matches must contain them, as resources are written.
    #[test]
    fn a_matched_resource_contains_the_specifiers_required_texts(
        spec in select(AUDIT_SPECS),
        resource in resource(),
    ) {
        let parsed = Specifier::parse(spec).unwrap();
        let matcher = gatehouse::domain::policy::ResourceMatcher::compile(&parsed).unwrap();
        if matcher.matches(&resource) {
            let written = resource.to_string();
            for text in parsed.required_texts() {
                prop_assert!(written.contains(&text), "{spec} matched {written} without {text}");
            }
        }
    }

    #[test]
    fn adding_a_role_never_reduces_access(
        roles in prop::collection::vec(role(), 0..4),
        extra in role(),
        resources in prop::collection::vec(resource(), 1..6),
    ) {
        let mut refs: Vec<&CompiledRole> = roles.iter().collect();
        let before: Vec<bool> = resources.iter().flat_map(|r| {
            let refs = &refs;
            CHECK_ACTIONS.iter().map(move |a| decide(refs, *a, r).allowed)
        }).collect();
        refs.push(&extra);
        let after: Vec<bool> = resources.iter().flat_map(|r| {
            let refs = &refs;
            CHECK_ACTIONS.iter().map(move |a| decide(refs, *a, r).allowed)
        }).collect();
        for (b, a) in before.iter().zip(after.iter()) {
            prop_assert!(!b || *a);
        }
        // role order never matters for the outcome
        refs.reverse();
        let reversed: Vec<bool> = resources.iter().flat_map(|r| {
            let refs = &refs;
            CHECK_ACTIONS.iter().map(move |a| decide(refs, *a, r).allowed)
        }).collect();
        prop_assert_eq!(after, reversed);
    }

    #[test]
    fn statement_order_is_irrelevant(
        sts in prop::collection::vec(statement(), 0..6),
        resources in prop::collection::vec(resource(), 1..6),
    ) {
        let declared = vec!["p".to_owned()];
        let mut attrs = BTreeMap::new();
        attrs.insert("p".to_owned(), vec!["a".to_owned()]);
        let v = validate_inputs(&sts, &declared).unwrap();
        let mut rev = v.clone();
        rev.reverse();
        let a = CompiledRole::compile("a", &v, BasePermissions::NoAccess, &attrs).unwrap();
        let b = CompiledRole::compile("b", &rev, BasePermissions::NoAccess, &attrs).unwrap();
        for r in &resources {
            for act in CHECK_ACTIONS {
                prop_assert_eq!(decide(&[&a], *act, r).allowed, decide(&[&b], *act, r).allowed);
            }
        }
    }

    #[test]
    fn resources_round_trip(r in resource()) {
        let text = r.to_string();
        let back: Resource = text.parse().unwrap();
        prop_assert_eq!(back, r);
    }

    #[test]
    fn specifier_parser_never_panics(chars in prop::collection::vec(select(
        &['p','r','o','j','e','n','v','f','l','a','g','/','*','?',':',';',',','{','}','$','t','c','u','m','b','-','_','!',' ','é','R','A','0'][..]), 0..40)) {
        let s: String = chars.into_iter().collect();
        if let Ok(spec) = Specifier::parse(&s) {
            let again = Specifier::parse(&spec.to_string()).unwrap();
            prop_assert_eq!(again, spec);
        }
        let _ = s.parse::<Resource>();
    }

    #[test]
    fn grammar_shaped_inputs_never_panic(parts in prop::collection::vec(select(&[
        "proj/", "env/", "flag/", "*", "a", ":", ";", ",", "{critical:true}", "{x:", "}",
        "${roleAttribute/p}", "${roleAttribute/", "acct", "member/", "token/", "view:", "x?",
    ][..]), 0..12)) {
        let s: String = parts.concat();
        match Specifier::parse(&s) {
            Ok(spec) => prop_assert_eq!(Specifier::parse(&spec.to_string()).unwrap(), spec),
            Err(e) => prop_assert!(e.position <= s.chars().count()),
        }
    }
}

/// A tiny deterministic fuzz loop over random bytes (xorshift): the parsers and validation
/// never panic.
#[test]
fn random_bytes_never_panic() {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let alphabet =
        b"proj/env:flag;*?,{}$critical:true roleAttribute\"[]effectallowactions\xff\xc3\xa9";
    for _ in 0..20_000 {
        let len = (next() % 48) as usize;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                let r = next();
                if r % 4 == 0 {
                    (r >> 8) as u8
                } else {
                    alphabet[((r >> 8) as usize) % alphabet.len()]
                }
            })
            .collect();
        let s = String::from_utf8_lossy(&bytes);
        if let Err(e) = Specifier::parse(&s) {
            assert!(e.position <= s.chars().count());
        }
        let _ = s.parse::<Resource>();
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) {
            let _ = validate_document(&v, &[]);
        }
        let doc = format!(r#"[{{"effect":"allow","actions":["{s}"],"resources":["{s}"]}}]"#);
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&doc) {
            let _ = validate_document(&v, &["p".to_owned()]);
        }
    }
}
