//! Reads the stored audit chain in bulk, for verification.
//!
//! Chunks of entries are read by background tasks ahead of the caller, who hashes them.
//! SQLite packs a chunk into one string (`string_agg`) that this module unpacks: row by row,
//! a message from the connection's thread per row is most of what verifying costs there.
//! PostgreSQL sends rows, which is cheaper for it than building the string; they are packed
//! here, so the caller reads one format.
//!
//! One record: `<body bytes>,<seq>,<prev_hash bytes>,<hash bytes>,<prev_hash><hash><body>`;
//! lengths in bytes, so no content needs escaping.

use futures_util::StreamExt;
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, Statement, StreamTrait};
use tokio::sync::mpsc;

use crate::error::{Error, Result};

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

/// A packed chunk: the entries of one seq range `(after_seq, ..]` that exist.
pub(crate) struct Chunk {
    pub packed: String,
    pub after_seq: i64,
    lane: usize,
}

/// Entries per chunk, and connections reading chunks at once: on SQLite the database packs
/// one chunk while another is in transit and a third is hashed; PostgreSQL's server
/// processes do more of the work, in parallel.
fn chunking(backend: DatabaseBackend) -> (i64, i64) {
    match backend {
        DatabaseBackend::Postgres => (2_000, 4),
        _ => (500, 2),
    }
}

/// Streams the chain's entries with `seq` in `(0, upto]` as packed chunks, in order. Chunks
/// are fixed seq ranges, read by background tasks (lanes) each a chunk ahead of the consumer;
/// a range whose rows are missing arrives empty, and the verifier finds the gap.
pub(crate) fn scan(db: DatabaseConnection, upto: i64) -> Chunks {
    let (size, lanes) = chunking(db.get_database_backend());
    let mut chunks = Chunks {
        lanes: Vec::new(),
        spent: Vec::new(),
        next: 0,
    };
    for (index, lane) in (0..lanes).enumerate() {
        let (sender, receiver) = mpsc::channel(1);
        let (spent_sender, mut spent) = mpsc::channel::<String>(2);
        let db = db.clone();
        tokio::spawn(async move {
            let mut after = lane * size;
            while after < upto {
                // A buffer the consumer is done with: its pages are already mapped.
                let buffer = spent.try_recv().unwrap_or_default();
                let fetched = fetch(&db, buffer, after, (after + size).min(upto)).await;
                let failed = fetched.is_err();
                let fetched = fetched.map(|packed| Chunk {
                    packed,
                    after_seq: after,
                    lane: index,
                });
                if sender.send(fetched).await.is_err() || failed {
                    break;
                }
                after += lanes * size;
            }
        });
        chunks.lanes.push(receiver);
        chunks.spent.push(spent_sender);
    }
    chunks
}

/// Chunks in chain order, taken from the lanes in turn.
pub(crate) struct Chunks {
    lanes: Vec<mpsc::Receiver<Result<Chunk>>>,
    /// Where each lane takes back the buffers of chunks the consumer has finished.
    spent: Vec<mpsc::Sender<String>>,
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

    /// Hands a finished chunk's buffer back to its lane for reuse: fresh pages for every
    /// chunk cost the kernel more than packing them does.
    pub(crate) fn recycle(&self, chunk: Chunk) {
        if let Some(lane) = self.spent.get(chunk.lane) {
            let _ = lane.try_send(chunk.packed);
        }
    }
}

async fn fetch(db: &DatabaseConnection, buffer: String, after: i64, upto: i64) -> Result<String> {
    match db.get_database_backend() {
        DatabaseBackend::Postgres => fetch_rows(db, buffer, after, upto).await,
        _ => fetch_packed(db, after, upto).await,
    }
}

/// SQLite packs the chunk. It aggregates the ordered subquery in its order (sorting again
/// inside the aggregate would halve the speed); were rows ever packed out of order, the
/// verifier would report a break, never pass a chain.
async fn fetch_packed(db: &DatabaseConnection, after: i64, upto: i64) -> Result<String> {
    let sql = "SELECT string_agg(octet_length(body) || ',' || seq || ',' \
               || octet_length(prev_hash) || ',' || octet_length(hash) || ',' \
               || prev_hash || hash || body, '') \
               FROM (SELECT seq, body, prev_hash, hash FROM audit_entry \
                     WHERE seq > $1 AND seq <= $2 ORDER BY seq) chunk";
    let statement =
        Statement::from_sql_and_values(db.get_database_backend(), sql, [after.into(), upto.into()]);
    let packed: Option<String> = match db.query_one_raw(statement).await? {
        Some(row) => row.try_get_by_index(0).map_err(Error::internal)?,
        None => None,
    };
    Ok(packed.unwrap_or_default())
}

/// PostgreSQL sends the rows; they are packed here as they stream in.
async fn fetch_rows(
    db: &DatabaseConnection,
    mut packed: String,
    after: i64,
    upto: i64,
) -> Result<String> {
    let sql = "SELECT seq, prev_hash, hash, body FROM audit_entry \
               WHERE seq > $1 AND seq <= $2 ORDER BY seq";
    let statement =
        Statement::from_sql_and_values(db.get_database_backend(), sql, [after.into(), upto.into()]);
    packed.clear();
    let mut rows = db.stream_raw(statement).await?;
    while let Some(row) = rows.next().await {
        let row = row?;
        let seq: i64 = row.try_get_by_index(0).map_err(Error::internal)?;
        let prev_hash: String = row.try_get_by_index(1).map_err(Error::internal)?;
        let hash: String = row.try_get_by_index(2).map_err(Error::internal)?;
        let body: String = row.try_get_by_index(3).map_err(Error::internal)?;
        pack_into(&mut packed, seq, &prev_hash, &hash, &body);
    }
    Ok(packed)
}

/// Appends one record in the packed format.
fn pack_into(out: &mut String, seq: i64, prev_hash: &str, hash: &str, body: &str) {
    use std::fmt::Write as _;
    let _ = write!(
        out,
        "{},{seq},{},{},{prev_hash}{hash}{body}",
        body.len(),
        prev_hash.len(),
        hash.len()
    );
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What the SQL (and `fetch_rows`) builds.
    fn pack(links: &[(i64, String, String, String)]) -> String {
        let mut out = String::new();
        for (seq, prev, hash, body) in links {
            pack_into(&mut out, *seq, prev, hash, body);
        }
        out
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
