//! Audit chain benchmarks: append cost of a realistic entry and verification
//! throughput of a pre-built chain. Run with `cargo bench --bench audit_chain`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use gatehouse::domain::audit::{
    Access, Actor, AuditEntry, ChainHead, ChainVerifier, IndexColumns, StoredEntry, Target,
    canonical_bytes, canonical_from_json, canonical_into, check_columns, index_columns, link,
};
use serde_json::json;

const CHAIN_LEN: usize = 100_000;
const JSON_CHAIN_LEN: usize = 10_000;

/// A typical "flag toggled in an environment" entry, ~440 canonical bytes.
fn realistic(i: usize) -> AuditEntry {
    AuditEntry {
        id: format!("ae_{i:08}"),
        seq: 0,
        date: 1_717_171_717_171 + i as i64,
        accesses: vec![Access {
            action: "updateOn".into(),
            resource: format!("proj/web:env/prod:flag/checkout-{}", i % 97),
        }],
        kind: "flag".into(),
        name: format!("checkout-{}", i % 97),
        description: "Turned flag on".into(),
        actor: Actor::Member {
            id: "mem_4f2a9c".into(),
            email: "alice@example.com".into(),
        },
        target: Some(Target {
            name: format!("checkout-{}", i % 97),
            resources: vec![format!("flag/checkout-{}", i % 97)],
        }),
        parent: None,
        environment: Some("prod".into()),
        previous_version: None,
        current_version: None,
        delta: Some(json!({"on": {"from": false, "to": true}, "version": i + 1})),
        comment: None,
        approval_request_id: None,
        request_id: Some(format!("req-{i:08}")),
        source_ip: None,
    }
}

struct Row {
    seq: i64,
    canonical: Vec<u8>,
    prev_hash: [u8; 32],
    hash: [u8; 32],
    id: String,
}

fn build_chain(n: usize) -> Vec<StoredEntry> {
    let mut head = ChainHead::EMPTY;
    (0..n)
        .map(|i| head.append(realistic(i)).expect("append"))
        .collect()
}

fn bench_append(c: &mut Criterion) {
    let entry = realistic(12_345);
    let size = canonical_bytes(&entry).len();
    eprintln!("realistic entry: {size} canonical bytes");
    if std::env::var_os("AUDIT_BENCH_SHOW").is_some() {
        eprintln!("{}", String::from_utf8_lossy(&canonical_bytes(&entry)));
    }
    let prev = [0x5a; 32];

    let mut g = c.benchmark_group("append");
    g.throughput(Throughput::Elements(1));
    g.bench_function("canonicalise+link", |b| {
        b.iter(|| link(black_box(&prev), &canonical_bytes(black_box(&entry))))
    });
    let mut buf = Vec::new();
    g.bench_function("canonicalise+link (reused buffer)", |b| {
        b.iter(|| {
            canonical_into(black_box(&entry), &mut buf);
            link(black_box(&prev), &buf)
        })
    });
    g.bench_function("ChainHead::append (validate+canonicalise+link)", |b| {
        let mut head = ChainHead::EMPTY;
        b.iter_batched(
            || entry.clone(),
            |e| head.append(e).expect("append"),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn bench_verify(c: &mut Criterion) {
    let stored = build_chain(CHAIN_LEN);
    let rows: Vec<Row> = stored
        .iter()
        .map(|s| Row {
            seq: s.entry.seq,
            canonical: canonical_bytes(&s.entry),
            prev_hash: s.prev_hash,
            hash: s.hash,
            id: s.entry.id.clone(),
        })
        .collect();
    let avg = rows.iter().map(|r| r.canonical.len()).sum::<usize>() / rows.len();
    eprintln!("chain: {CHAIN_LEN} entries, {avg} canonical bytes on average");

    let mut g = c.benchmark_group("verify");
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(5));

    g.throughput(Throughput::Elements(CHAIN_LEN as u64));
    g.bench_function("100k pre-built canonical rows", |b| {
        b.iter(|| {
            let mut v = ChainVerifier::new();
            for r in &rows {
                v.push(r.seq, &r.canonical, &r.prev_hash, &r.hash, &r.id)
                    .expect("valid chain");
            }
            v.finish()
        })
    });
    g.bench_function("100k StoredEntry (re-canonicalise + push)", |b| {
        b.iter(|| {
            let mut v = ChainVerifier::new();
            for s in &stored {
                v.push_stored(s).expect("valid chain");
            }
            v.finish()
        })
    });

    let texts: Vec<String> = stored[..JSON_CHAIN_LEN]
        .iter()
        .map(|s| serde_json::to_string(s).expect("json"))
        .collect();
    g.throughput(Throughput::Elements(JSON_CHAIN_LEN as u64));
    g.bench_function(
        "10k stored JSON text (parse + re-canonicalise + push)",
        |b| {
            b.iter(|| {
                let mut v = ChainVerifier::new();
                for (t, s) in texts.iter().zip(&stored) {
                    let canon = canonical_from_json(t).expect("json");
                    v.push(s.entry.seq, &canon, &s.prev_hash, &s.hash, &s.entry.id)
                        .expect("valid chain");
                }
                v.finish()
            })
        },
    );
    g.finish();
}

/// Checking an entry's stored query columns against its body, as verify does for each entry.
fn bench_columns(c: &mut Criterion) {
    let stored = build_chain(JSON_CHAIN_LEN);
    let rows: Vec<(String, IndexColumns)> = stored
        .iter()
        .map(|s| {
            let body = String::from_utf8(canonical_bytes(&s.entry)).expect("utf-8");
            (body, index_columns(&s.entry))
        })
        .collect();
    let mut g = c.benchmark_group("columns");
    g.throughput(Throughput::Elements(JSON_CHAIN_LEN as u64));
    g.bench_function("10k bodies checked against their columns", |b| {
        b.iter(|| {
            for (body, c) in &rows {
                check_columns(&c.stored(), body).expect("columns hold");
            }
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = bench_append, bench_verify, bench_columns
}
criterion_main!(benches);
