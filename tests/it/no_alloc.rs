//! The hot paths must not allocate: `decide` (every authorization) and `ChainVerifier::push`
//! (every verified audit entry). A counting global allocator, per thread so parallel tests do
//! not disturb each other, checks it.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeMap;

use gatehouse::domain::audit::{Actor, AuditEntry, ChainHead, ChainVerifier, canonical_bytes};
use gatehouse::domain::policy::{
    BasePermissions, BaseRole, CompiledRole, NO_TAGS, Resource, decide, decide_all, lookup,
    validate_document,
};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

#[test]
fn decide_does_not_allocate() {
    let policy = serde_json::json!([
        {"effect": "allow", "actions": ["update*", "createFlag"], "resources": ["proj/${roleAttribute/p}:env/*;{critical:false}:flag/*;beta"]},
        {"effect": "deny", "notActions": ["viewProject"], "notResources": ["proj/*:env/*:flag/a?c*"]},
        {"effect": "allow", "actions": ["*"], "resources": ["team/ops_*", "member/*:token/*"]}
    ]);
    let statements = validate_document(&policy, &["p".to_owned()]).unwrap();
    let mut attrs = BTreeMap::new();
    attrs.insert("p".to_owned(), vec!["alpha".to_owned(), "b*".to_owned()]);
    let custom = CompiledRole::compile("c", &statements, BasePermissions::Reader, &attrs).unwrap();
    let writer = BaseRole::Writer.compile("m1").unwrap();
    let resources = [
        Resource::project("alpha", &["x"])
            .env("test", NO_TAGS, false)
            .flag("abc-1", &["beta"]),
        Resource::project("beta", NO_TAGS)
            .env("production", NO_TAGS, true)
            .flag("f", NO_TAGS),
        Resource::project("gamma", NO_TAGS),
        Resource::team("ops_core"),
        Resource::member("m1").token("t"),
        Resource::acct(),
    ];
    let roles = [&custom, &writer];
    let id = lookup("updateOn").unwrap();
    // warm up the catalogue (a one-time allocation) before counting
    let _ = decide(&roles, "viewProject", &resources[0]);

    // the counter works
    let c0 = allocations();
    let probe = std::hint::black_box(vec![1u8; 8]);
    assert!(allocations() > c0);
    drop(probe);

    let before = allocations();
    let mut allowed = 0usize;
    for r in &resources {
        for a in [
            "updateOn",
            "viewProject",
            "createFlag",
            "viewTeam",
            "createAccessToken",
            "bogus",
        ] {
            allowed += usize::from(decide(&roles, a, r).allowed);
        }
        allowed += usize::from(decide(&roles, id, r).allowed);
    }
    allowed += usize::from(decide_all(&roles, "createFlag", resources.iter().take(2)).allowed);
    let after = allocations();
    assert_eq!(
        after - before,
        0,
        "decide allocated {} times",
        after - before
    );
    assert!(allowed > 0);
}

#[test]
fn push_does_not_allocate() {
    let mut head = ChainHead::EMPTY;
    let rows: Vec<_> = (0..1000)
        .map(|i| {
            let e = AuditEntry {
                id: format!("e{i}"),
                seq: 0,
                date: i,
                accesses: vec![],
                kind: "flag".into(),
                name: "n".into(),
                description: "d".into(),
                actor: Actor::System,
                target: None,
                parent: None,
                environment: None,
                previous_version: None,
                current_version: None,
                delta: None,
                comment: None,
                approval_request_id: None,
                request_id: None,
                source_ip: None,
            };
            let s = head.append(e).unwrap();
            (canonical_bytes(&s.entry), s)
        })
        .collect();
    let mut v = ChainVerifier::new();
    let before = allocations();
    for (canon, s) in &rows {
        v.push(s.entry.seq, canon, &s.prev_hash, &s.hash, &s.entry.id)
            .unwrap();
    }
    let after = allocations();
    assert_eq!(after - before, 0, "push allocated");
    assert_eq!(v.finish().entries, 1000);
}
