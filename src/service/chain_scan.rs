//! Reads the stored audit chain in bulk, for verification.
//!
//! The database packs a chunk of entries into one string (`string_agg`, on SQLite and
//! PostgreSQL alike) and this module unpacks it. Row by row, the driver's per-row cost (on
//! SQLite a message from the connection's thread per row) is most of what verifying costs;
//! packed, a chunk of hundreds of entries is one row. A background task reads the next chunk
//! while the caller hashes the current one.
//!
//! One record: `<body bytes>,<seq>,<prev_hash bytes>,<hash bytes>,<prev_hash><hash><body>`;
//! lengths in bytes, so no content needs escaping.

use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, Statement};
use tokio::sync::mpsc;

use crate::error::{Error, Result};

/// Entries per chunk: large enough that the per-row cost vanishes, small enough that the
/// next chunk arrives while this one is hashed.
const CHUNK: i64 = 500;

/// One stored link as the chunk holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PackedLink<'a> {
    pub seq: i64,
    pub prev_hash: &'a str,
    pub hash: &'a str,
    pub body: &'a str,
}

/// A chunk whose framing does not parse (a column changed behind the database's back in a
/// way the lengths do not describe): verification reports the chain broken after `after_seq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Malformed {
    pub after_seq: i64,
}

/// Splits a packed chunk into its links, in order.
pub(crate) fn unpack(packed: &str, mut after_seq: i64) -> Result<Vec<PackedLink<'_>>, Malformed> {
    let mut links = Vec::new();
    let mut rest = packed;
    while !rest.is_empty() {
        let bad = Malformed { after_seq };
        let mut field = || -> Result<i64, Malformed> {
            let (number, tail) = rest.split_once(',').ok_or(bad.clone())?;
            rest = tail;
            number.parse().map_err(|_| bad.clone())
        };
        let body_len = field()?;
        let seq = field()?;
        let prev_len = field()?;
        let hash_len = field()?;
        let mut take = |len: i64| -> Result<&str, Malformed> {
            let len = usize::try_from(len).map_err(|_| bad.clone())?;
            if !rest.is_char_boundary(len) || len > rest.len() {
                return Err(bad.clone());
            }
            let (value, tail) = rest.split_at(len);
            rest = tail;
            Ok(value)
        };
        let prev_hash = take(prev_len)?;
        let hash = take(hash_len)?;
        let body = take(body_len)?;
        links.push(PackedLink {
            seq,
            prev_hash,
            hash,
            body,
        });
        after_seq = seq;
    }
    Ok(links)
}

/// A packed chunk: the entries with `seq` in `(after_seq, after_seq + CHUNK]` that exist.
pub(crate) struct Chunk {
    pub packed: String,
    pub after_seq: i64,
}

/// Connections reading chunks at once: the database packs one chunk while another is in
/// transit and a third is hashed.
const LANES: i64 = 2;

/// Streams the chain's entries with `seq` in `(0, upto]` as packed chunks, in order. Chunks
/// are fixed seq ranges, read by `LANES` background tasks each a chunk ahead of the consumer;
/// a range whose rows are missing arrives empty, and the verifier finds the gap.
pub(crate) fn scan(db: DatabaseConnection, upto: i64) -> Chunks {
    let lanes: Vec<mpsc::Receiver<Result<Chunk>>> = (0..LANES)
        .map(|lane| {
            let (sender, receiver) = mpsc::channel(1);
            let db = db.clone();
            tokio::spawn(async move {
                let mut after = lane * CHUNK;
                while after < upto {
                    let chunk = fetch(&db, after, (after + CHUNK).min(upto)).await;
                    let failed = chunk.is_err();
                    if sender.send(chunk).await.is_err() || failed {
                        break;
                    }
                    after += LANES * CHUNK;
                }
            });
            receiver
        })
        .collect();
    Chunks { lanes, next: 0 }
}

/// Chunks in chain order, taken from the lanes in turn.
pub(crate) struct Chunks {
    lanes: Vec<mpsc::Receiver<Result<Chunk>>>,
    next: usize,
}

impl Chunks {
    /// The next chunk, `None` after the last.
    pub(crate) async fn next_chunk(&mut self) -> Option<Result<Chunk>> {
        let count = self.lanes.len();
        let lane = self.lanes.get_mut(self.next)?;
        self.next = (self.next + 1) % count;
        lane.recv().await
    }
}

async fn fetch(db: &DatabaseConnection, after: i64, upto: i64) -> Result<Chunk> {
    // `$n` parameters: PostgreSQL's, and SQLite reads them as numbered parameters too.
    // SQLite aggregates the ordered subquery in its order, and sorting again inside the
    // aggregate would halve the speed; PostgreSQL is told the order. Were rows ever packed
    // out of order, the verifier would report a break, never pass a chain.
    let order = match db.get_database_backend() {
        DatabaseBackend::Postgres => " ORDER BY seq",
        _ => "",
    };
    let sql = format!(
        "SELECT string_agg(octet_length(body) || ',' || seq || ',' \
         || octet_length(prev_hash) || ',' || octet_length(hash) || ',' \
         || prev_hash || hash || body, ''{order}) \
         FROM (SELECT seq, body, prev_hash, hash FROM audit_entry \
               WHERE seq > $1 AND seq <= $2 ORDER BY seq) chunk"
    );
    let statement =
        Statement::from_sql_and_values(db.get_database_backend(), sql, [after.into(), upto.into()]);
    let packed: Option<String> = match db.query_one_raw(statement).await? {
        Some(row) => row.try_get_by_index(0).map_err(Error::internal)?,
        None => None,
    };
    Ok(Chunk {
        packed: packed.unwrap_or_default(),
        after_seq: after,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What the SQL builds, for one link.
    fn pack(links: &[(i64, String, String, String)]) -> String {
        links
            .iter()
            .map(|(seq, prev, hash, body)| {
                format!(
                    "{},{seq},{},{},{prev}{hash}{body}",
                    body.len(),
                    prev.len(),
                    hash.len()
                )
            })
            .collect()
    }

    #[test]
    fn unpacks_what_the_database_packs() {
        let links = vec![
            (
                1,
                "0".repeat(64),
                "a".repeat(64),
                r#"{"x":"1,2,3"}"#.to_owned(),
            ),
            (
                2,
                "a".repeat(64),
                "b".repeat(64),
                "{\"é\":\"ü,\"}".to_owned(),
            ),
        ];
        let packed = pack(&links);
        let out = unpack(&packed, 0).unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].seq, 2);
        assert_eq!(out[1].body, links[1].3);
        assert_eq!(out[0].hash, links[0].2);
    }

    #[test]
    fn a_bad_frame_names_where_it_breaks() {
        let good = pack(&[(7, "p".into(), "h".into(), "{}".into())]);
        assert_eq!(
            unpack(&format!("{good}9,8,1,1,ph{{}}"), 6),
            Err(Malformed { after_seq: 7 })
        );
        assert_eq!(unpack("x,1,1,1,ab{}", 0), Err(Malformed { after_seq: 0 }));
        // A length that would split a character.
        assert_eq!(unpack("1,1,0,0,é", 0), Err(Malformed { after_seq: 0 }));
    }

    proptest! {
        #[test]
        fn round_trips(links in prop::collection::vec(
            (1i64..1_000_000, ".{0,70}", ".{0,70}", ".{0,300}"), 0..20))
        {
            let packed = pack(&links);
            let out = unpack(&packed, 0).unwrap();
            prop_assert_eq!(out.len(), links.len());
            for (got, want) in out.iter().zip(&links) {
                prop_assert_eq!(got.seq, want.0);
                prop_assert_eq!(got.prev_hash, want.1.as_str());
                prop_assert_eq!(got.hash, want.2.as_str());
                prop_assert_eq!(got.body, want.3.as_str());
            }
        }

        #[test]
        fn never_panics(s in ".{0,200}", after in any::<i64>()) {
            let _ = unpack(&s, after);
        }
    }
}
