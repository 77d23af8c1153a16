//! Checking what a receiver got: a JSON-lines file of events from a webhook or the stream
//! (entries as the API renders them, checkpoint events, and optionally whole delivery bodies
//! or their `{fromSeq, toSeq}` headers), duplicates allowed.
//!
//! An entry is checked on its own (its hash recomputes from its content and `prevHash`),
//! against its neighbours (contiguous seqs link), and against signed checkpoints. Seqs that
//! are missing and not inside a delivered range (where the webhook's filters may have left
//! them out) are gaps. What follows the last checkpoint is reported as unconfirmed.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::canonical::canonical_bytes;
use super::chain::link;
use super::checkpoint::{Checkpoint, verify_checkpoint, verify_checkpoint_with_key};
use super::entry::AuditEntry;

/// The fields the API adds to an entry that are not part of its hashed content.
const RENDERED_ONLY: &[&str] = &["event", "recipients", "prevHash", "hash"];

/// What a check found. `ok` only when nothing is broken.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamReport {
    pub ok: bool,
    /// Distinct entries received.
    pub entries: u64,
    /// Entries received more than once (at-least-once delivery), identical each time.
    pub duplicates: u64,
    pub checkpoints: u64,
    /// The highest seq a verified checkpoint confirms.
    pub confirmed_through: Option<i64>,
    /// Entries after `confirmedThrough` (or all, without a checkpoint): intact as far as the
    /// chain shows, but not yet confirmed by a signature.
    pub unconfirmed: u64,
    /// Missing seqs, as inclusive ranges, not covered by a delivered range.
    pub gaps: Vec<(i64, i64)>,
    /// Seqs that arrived after a higher seq.
    pub reordered: Vec<i64>,
    /// Everything else that is broken, one sentence each.
    pub problems: Vec<String>,
}

/// One entry as received: its seq and links.
struct Received {
    hash: String,
    prev_hash: String,
}

/// Checks the lines of a received stream. `public_key` pins the checkpoint signer; without
/// it a checkpoint only proves it is self-consistent.
pub fn check_stream<'a>(
    lines: impl IntoIterator<Item = &'a str>,
    public_key: Option<&[u8; 32]>,
) -> StreamReport {
    let mut report = StreamReport::default();
    let mut entries: BTreeMap<i64, Received> = BTreeMap::new();
    let mut ranges: Vec<(i64, i64)> = Vec::new();
    let mut checkpoints: Vec<Checkpoint> = Vec::new();
    let mut highest = 0i64;
    for (n, line) in lines.into_iter().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let Ok(value) = serde_json::from_str::<Value>(line) else {
            report.problems.push(format!("line {}: not JSON", n + 1));
            continue;
        };
        let mut items = Vec::new();
        if let (Some(from), Some(to)) = (
            value.get("fromSeq").and_then(Value::as_i64),
            value.get("toSeq").and_then(Value::as_i64),
        ) {
            ranges.push((from, to));
            if let Some(events) = value.get("events").and_then(Value::as_array) {
                items.extend(events.iter().cloned());
            }
        } else {
            items.push(value);
        }
        for item in items {
            if item.get("event").and_then(Value::as_str) == Some("checkpoint") {
                match serde_json::from_value::<Checkpoint>(item) {
                    Ok(cp) => checkpoints.push(cp),
                    Err(e) => report
                        .problems
                        .push(format!("line {}: not a checkpoint: {e}", n + 1)),
                }
                continue;
            }
            match received_entry(&item) {
                Ok((seq, got)) => {
                    if let Some(seen) = entries.get(&seq) {
                        if seen.hash == got.hash {
                            report.duplicates += 1;
                        } else {
                            report
                                .problems
                                .push(format!("seq {seq}: received twice with different hashes"));
                        }
                        continue;
                    }
                    if seq < highest {
                        report.reordered.push(seq);
                    }
                    highest = highest.max(seq);
                    entries.insert(seq, got);
                }
                Err(problem) => report.problems.push(format!("line {}: {problem}", n + 1)),
            }
        }
    }
    check_links(&entries, &mut report);
    report.gaps = gaps(&entries, &ranges);
    check_checkpoints(&entries, &checkpoints, public_key, &mut report);
    report.entries = entries.len() as u64;
    report.unconfirmed = entries
        .keys()
        .filter(|seq| report.confirmed_through.is_none_or(|c| **seq > c))
        .count() as u64;
    report.ok = report.problems.is_empty() && report.gaps.is_empty() && report.reordered.is_empty();
    report
}

/// Parses a rendered entry and checks that its hash recomputes from its content.
fn received_entry(item: &Value) -> Result<(i64, Received), String> {
    let Value::Object(map) = item else {
        return Err("not a JSON object".to_owned());
    };
    let text = |key: &str| map.get(key).and_then(Value::as_str).map(str::to_owned);
    let (Some(hash), Some(prev_hash)) = (text("hash"), text("prevHash")) else {
        return Err("an entry needs `hash` and `prevHash`".to_owned());
    };
    let mut content = map.clone();
    for key in RENDERED_ONLY {
        content.remove(*key);
    }
    if let Some(id) = content.remove("_id") {
        content.insert("id".to_owned(), id);
    }
    let entry: AuditEntry = serde_json::from_value(Value::Object(content))
        .map_err(|e| format!("not an audit entry: {e}"))?;
    let mut prev = [0u8; 32];
    hex::decode_to_slice(&prev_hash, &mut prev).map_err(|_| "prevHash is not 64 hex digits")?;
    if hex::encode(link(&prev, &canonical_bytes(&entry))) != hash {
        return Err(format!(
            "seq {}: the hash does not recompute from the entry (edited)",
            entry.seq
        ));
    }
    Ok((entry.seq, Received { hash, prev_hash }))
}

/// Contiguous entries must link.
fn check_links(entries: &BTreeMap<i64, Received>, report: &mut StreamReport) {
    let mut previous: Option<(i64, &Received)> = None;
    for (seq, got) in entries {
        if let Some((p, before)) = previous
            && p + 1 == *seq
            && got.prev_hash != before.hash
        {
            report
                .problems
                .push(format!("seq {seq}: prevHash is not the hash of seq {p}"));
        }
        previous = Some((*seq, got));
    }
}

/// Seqs between the first and the last received that are neither received nor inside a
/// delivered range.
fn gaps(entries: &BTreeMap<i64, Received>, ranges: &[(i64, i64)]) -> Vec<(i64, i64)> {
    let (Some(first), Some(last)) = (entries.keys().next(), entries.keys().next_back()) else {
        return Vec::new();
    };
    let covered = |seq: i64| ranges.iter().any(|(from, to)| (*from..=*to).contains(&seq));
    let mut out: Vec<(i64, i64)> = Vec::new();
    for seq in *first..=*last {
        if entries.contains_key(&seq) || covered(seq) {
            continue;
        }
        match out.last_mut() {
            Some((_, end)) if *end + 1 == seq => *end = seq,
            _ => out.push((seq, seq)),
        }
    }
    out
}

/// Each checkpoint must verify and, when its entry was received, match it.
fn check_checkpoints(
    entries: &BTreeMap<i64, Received>,
    checkpoints: &[Checkpoint],
    public_key: Option<&[u8; 32]>,
    report: &mut StreamReport,
) {
    for cp in checkpoints {
        report.checkpoints += 1;
        let verified = match public_key {
            Some(key) => verify_checkpoint_with_key(cp, key),
            None => verify_checkpoint(cp),
        };
        if let Err(e) = verified {
            report
                .problems
                .push(format!("checkpoint at seq {}: {e}", cp.seq));
            continue;
        }
        match entries.get(&cp.seq) {
            Some(got) if got.hash != cp.hash => report.problems.push(format!(
                "checkpoint at seq {}: the received entry has another hash",
                cp.seq
            )),
            _ => {
                report.confirmed_through = Some(report.confirmed_through.unwrap_or(0).max(cp.seq));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::chain::ChainHead;
    use super::super::checkpoint::CheckpointSigner;
    use super::super::entry::Actor;
    use super::*;

    /// A rendered chain of `n` entries plus a checkpoint of its head.
    fn stream(n: i64) -> (Vec<Value>, Value, [u8; 32]) {
        let mut head = ChainHead {
            seq: 0,
            hash: [0; 32],
        };
        let mut lines = Vec::new();
        for seq in 1..=n {
            let entry = AuditEntry {
                id: format!("e{seq}"),
                seq,
                date: 1_000 + seq,
                accesses: Vec::new(),
                kind: "member".into(),
                name: "n".into(),
                description: format!("change {seq}"),
                actor: Actor::System,
                target: None,
                parent: None,
                environment: None,
                previous_version: None,
                current_version: Some(json!({"n": seq})),
                delta: None,
                comment: None,
                approval_request_id: None,
                request_id: None,
                source_ip: None,
            };
            let stored = head.append(entry).unwrap();
            let mut v = serde_json::to_value(&stored.entry).unwrap();
            let map = v.as_object_mut().unwrap();
            let id = map.remove("id").unwrap();
            map.insert("_id".into(), id);
            map.insert("event".into(), json!("member.updated"));
            map.insert("prevHash".into(), json!(hex::encode(stored.prev_hash)));
            map.insert("hash".into(), json!(hex::encode(stored.hash)));
            lines.push(v);
        }
        let signer = CheckpointSigner::from_seed([7; 32]);
        let mut cp = serde_json::to_value(signer.sign(head.seq, &head.hash)).unwrap();
        cp["event"] = json!("checkpoint");
        (lines, cp, signer.public_key())
    }

    fn check(lines: &[Value], key: Option<&[u8; 32]>) -> StreamReport {
        let text: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        check_stream(text.iter().map(String::as_str), key)
    }

    #[test]
    fn a_clean_stream_with_duplicates_verifies() {
        let (mut lines, cp, key) = stream(5);
        lines.push(lines[3].clone());
        lines.push(cp);
        let report = check(&lines, Some(&key));
        assert!(report.ok, "{report:?}");
        assert_eq!(report.entries, 5);
        assert_eq!(report.duplicates, 1);
        assert_eq!(report.confirmed_through, Some(5));
        assert_eq!(report.unconfirmed, 0);
    }

    #[test]
    fn a_removed_event_is_a_gap_unless_a_range_covers_it() {
        let (mut lines, _, _) = stream(5);
        lines.remove(2);
        let report = check(&lines, None);
        assert!(!report.ok);
        assert_eq!(report.gaps, vec![(3, 3)]);
        assert_eq!(report.unconfirmed, 4);
        lines.insert(0, json!({"webhookId": "w", "fromSeq": 1, "toSeq": 5}));
        assert!(check(&lines, None).ok);
    }

    #[test]
    fn reordering_and_edits_are_reported() {
        let (mut lines, _, _) = stream(4);
        lines.swap(1, 2);
        let report = check(&lines, None);
        assert_eq!(report.reordered, vec![2]);
        assert!(!report.ok);

        let (mut lines, _, _) = stream(4);
        lines[1]["description"] = json!("nothing to see");
        let report = check(&lines, None);
        assert!(!report.ok);
        assert!(report.problems[0].contains("seq 2"), "{report:?}");
    }

    #[test]
    fn checkpoints_must_verify_and_match() {
        let (mut lines, mut cp, key) = stream(3);
        let other = [1u8; 32];
        lines.push(cp.clone());
        assert!(!check(&lines, Some(&other)).ok, "pinned to another key");
        cp["hash"] = lines[0]["hash"].clone();
        lines.pop();
        lines.push(cp);
        assert!(!check(&lines, Some(&key)).ok, "signature over another hash");
    }
}
