//! Property tests for the whole audit module.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use proptest::prelude::*;
use serde_json::{Map, Value};

use super::canonical::tests::serde_sorted;
use super::*;

fn text() -> impl Strategy<Value = String> {
    // Any Unicode scalar values, including controls, quotes and backslashes.
    prop::collection::vec(any::<char>(), 0..8).prop_map(String::from_iter)
}

fn json(floats: bool) -> impl Strategy<Value = Value> {
    let float = if floats {
        any::<f64>()
            .prop_filter_map("finite", |f| {
                serde_json::Number::from_f64(f).map(Value::Number)
            })
            .boxed()
    } else {
        any::<i64>().prop_map(Value::from).boxed()
    };
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        float,
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((text(), inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn actor() -> impl Strategy<Value = Actor> {
    prop_oneof![
        (text(), text()).prop_map(|(id, email)| Actor::Member { id, email }),
        (text(), text(), any::<bool>(), prop::option::of(text())).prop_map(
            |(id, name, service_token, owner_id)| Actor::Token {
                id,
                name,
                service_token,
                owner_id
            }
        ),
        (text(), text(), any::<bool>(), any::<bool>()).prop_map(|(id, name, is_scim, is_sso)| {
            Actor::App {
                id,
                name,
                is_scim,
                is_sso,
            }
        }),
        Just(Actor::System),
    ]
}

fn entry_with(floats: bool) -> impl Strategy<Value = AuditEntry> {
    let head = (
        text(),
        any::<i64>(),
        any::<i64>(),
        prop::collection::vec(
            (text(), text()).prop_map(|(action, resource)| Access { action, resource }),
            0..3,
        ),
        text(),
        text(),
        text(),
        actor(),
    );
    let links = (
        prop::option::of(
            (text(), prop::collection::vec(text(), 0..3))
                .prop_map(|(name, resources)| Target { name, resources }),
        ),
        prop::option::of((text(), text()).prop_map(|(name, resource)| Parent { name, resource })),
        prop::option::of(text()),
    );
    let payloads = (
        prop::option::of(json(floats)),
        prop::option::of(json(floats)),
        prop::option::of(json(floats)),
    );
    let extra = (
        prop::option::of(text()),
        prop::option::of(text()),
        prop::option::of(text()),
        prop::option::of(text()),
    );
    (head, links, payloads, extra).prop_map(
        |(
            (id, seq, date, accesses, kind, name, description, actor),
            (target, parent, environment),
            (previous_version, current_version, delta),
            (comment, approval_request_id, request_id, source_ip),
        )| AuditEntry {
            id,
            seq,
            date,
            accesses,
            kind,
            name,
            description,
            actor,
            target,
            parent,
            environment,
            previous_version,
            current_version,
            delta,
            comment,
            approval_request_id,
            request_id,
            source_ip,
        },
    )
}

/// `v` with every float replaced by a string (so encodings differ iff `v`
/// held a float).
fn strip_floats(v: &Value) -> Value {
    match v {
        Value::Number(n) if !(n.is_i64() || n.is_u64()) => Value::String("float".into()),
        Value::Array(a) => Value::Array(a.iter().map(strip_floats).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), strip_floats(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// A stored row as the service would read it back.
#[derive(Clone)]
struct Row {
    seq: i64,
    canonical: Vec<u8>,
    prev_hash: [u8; 32],
    hash: [u8; 32],
    id: String,
}

fn build(entries: Vec<AuditEntry>) -> (Vec<StoredEntry>, Vec<Row>) {
    let mut head = ChainHead::EMPTY;
    let stored: Vec<StoredEntry> = entries
        .into_iter()
        .map(|e| head.append(e).unwrap())
        .collect();
    let rows = stored
        .iter()
        .map(|s| Row {
            seq: s.entry.seq,
            canonical: canonical_bytes(&s.entry),
            prev_hash: s.prev_hash,
            hash: s.hash,
            id: s.entry.id.clone(),
        })
        .collect();
    (stored, rows)
}

fn verify(rows: &[Row]) -> Result<ChainSummary, ChainBreak> {
    let mut v = ChainVerifier::new();
    for r in rows {
        v.push(r.seq, &r.canonical, &r.prev_hash, &r.hash, &r.id)?;
    }
    Ok(v.finish())
}

fn entries() -> impl Strategy<Value = Vec<AuditEntry>> {
    prop::collection::vec(entry_with(false), 1..10)
}

proptest! {
    #[test]
    fn canonical_agrees_with_serde_and_round_trips(e in entry_with(false)) {
        let canon = canonical_bytes(&e);
        prop_assert_eq!(&canon, &serde_sorted(&e));
        prop_assert_eq!(&canonical_from_json(&serde_json::to_string_pretty(&e).unwrap()).unwrap(), &canon);
        prop_assert_eq!(&canonical_from_json(std::str::from_utf8(&canon).unwrap()).unwrap(), &canon);
        prop_assert!(e.validate().is_ok());
    }

    #[test]
    fn floats_are_deterministic_but_refused(e in entry_with(true)) {
        // In memory, a float still encodes deterministically (and like serde_json)...
        let canon = canonical_bytes(&e);
        prop_assert_eq!(&canonical_bytes(&e.clone()), &canon);
        prop_assert_eq!(&canon, &serde_sorted(&e));
        // ...but serde_json's default (non-`float_roundtrip`) parser may read
        // it back 1 ulp off (e.g. 2.9392729881927726e-111), so the stored text
        // would not re-hash: entries with floats are refused on append.
        let has_float = [&e.previous_version, &e.current_version, &e.delta]
            .into_iter()
            .flatten()
            .any(|v| canonical_value_bytes(v) != canonical_value_bytes(&strip_floats(v)));
        prop_assert_eq!(e.validate().is_err(), has_float);
        prop_assert_eq!(ChainHead::default().append(e).is_err(), has_float);
    }

    #[test]
    fn any_chain_verifies(es in entries()) {
        let n = es.len();
        let (stored, rows) = build(es);
        let summary = verify(&rows).unwrap();
        prop_assert_eq!(summary.entries, n as u64);
        prop_assert_eq!(summary.head_seq, n as i64);
        prop_assert_eq!(summary.head_hash, stored[n - 1].hash);
        prop_assert_eq!(verify_chain(&stored).unwrap(), summary);
        // Stored JSON round trip keeps the chain valid.
        let reread: Vec<StoredEntry> = stored
            .iter()
            .map(|s| serde_json::from_str(&serde_json::to_string(s).unwrap()).unwrap())
            .collect();
        prop_assert_eq!(verify_chain(&reread).unwrap(), summary);
    }

    #[test]
    fn flipped_byte_is_detected(
        es in entries(),
        which in any::<prop::sample::Index>(),
        byte in any::<prop::sample::Index>(),
        mask in 1u8..=255,
    ) {
        let (_, mut rows) = build(es);
        let k = which.index(rows.len());
        let b = byte.index(rows[k].canonical.len());
        rows[k].canonical[b] ^= mask;
        let err = verify(&rows).unwrap_err();
        prop_assert_eq!(err.reason, BreakReason::HashMismatch);
        prop_assert_eq!(err.seq, k as i64 + 1);
        prop_assert_eq!(err.expected_seq, k as i64 + 1);
        prop_assert_eq!(&err.id, &rows[k].id);
    }

    #[test]
    fn flipped_stored_hash_is_detected(es in entries(), which in any::<prop::sample::Index>(), bit in 0u32..256) {
        let (_, mut rows) = build(es);
        let k = which.index(rows.len());
        rows[k].hash[(bit / 8) as usize] ^= 1 << (bit % 8);
        let err = verify(&rows).unwrap_err();
        prop_assert_eq!(err.reason, BreakReason::HashMismatch);
        prop_assert_eq!(err.seq, k as i64 + 1);
    }

    #[test]
    fn swapped_rows_are_detected(es in prop::collection::vec(entry_with(false), 2..10), a in any::<prop::sample::Index>(), b in any::<prop::sample::Index>()) {
        let (_, rows) = build(es);
        let (i, j) = (a.index(rows.len()), b.index(rows.len()));
        prop_assume!(i != j);
        let (lo, hi) = (i.min(j), i.max(j));

        // Whole rows swapped (seq column travels with the row).
        let mut swapped = rows.clone();
        swapped.swap(lo, hi);
        let err = verify(&swapped).unwrap_err();
        prop_assert_eq!(err.reason, BreakReason::SeqGap);
        prop_assert_eq!(err.expected_seq, lo as i64 + 1);
        prop_assert_eq!(err.seq, hi as i64 + 1);

        // Only the entry contents swapped (seq/prevHash/hash left in place).
        let mut contents = rows;
        let tmp = contents[lo].canonical.clone();
        contents[lo].canonical = contents[hi].canonical.clone();
        contents[hi].canonical = tmp;
        let err = verify(&contents).unwrap_err();
        prop_assert_eq!(err.reason, BreakReason::HashMismatch);
        prop_assert_eq!(err.seq, lo as i64 + 1);
    }

    #[test]
    fn deleted_row_is_detected(es in entries(), which in any::<prop::sample::Index>()) {
        let (_, mut rows) = build(es);
        let n = rows.len();
        let k = which.index(n);
        // Checkpoint of the intact head, kept outside the database.
        let signer = CheckpointSigner::from_seed([7; 32]);
        let cp = signer.sign(n as i64, &rows[n - 1].hash);
        rows.remove(k);
        if k + 1 < n {
            let err = verify(&rows).unwrap_err();
            prop_assert_eq!(err.reason, BreakReason::SeqGap);
            prop_assert_eq!(err.expected_seq, k as i64 + 1);
            prop_assert_eq!(err.seq, k as i64 + 2);
        } else {
            // Cutting the tail leaves a valid chain: only the checkpoint sees it.
            let summary = verify(&rows).unwrap();
            verify_checkpoint_with_key(&cp, &signer.public_key()).unwrap();
            prop_assert!(summary.head_seq < cp.seq);
            let head = ChainHead { seq: summary.head_seq, hash: summary.head_hash };
            prop_assert!(!cp.matches(&head));
        }
    }
}
