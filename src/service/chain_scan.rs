//! Reads the stored audit chain in bulk, for verification.
//!
//! Chunks of entries are read, and checked by a function the caller gives, in background
//! tasks ahead of the caller, so that checking runs on every core.
//! SQLite packs a chunk into one string (`string_agg`) that this module unpacks: row by row,
//! a message from the connection's thread per row is most of what verifying costs there.
//! PostgreSQL sends rows, which is cheaper for it than building the string. Either way the
//! caller reads [`Links`] borrowed from what the database sent, nothing copied out of it.
//!
//! One record: `<body bytes>,<seq>,<prev_hash bytes>,<hash bytes>,<date>,` then the byte
//! lengths of `id`, `kind`, `actor_kind`, `actor_id` (-1 for none), `actions`, `resources`
//! and `search_text`, each followed by `,`, then the values in that order:
//! `<prev_hash><hash><body><id><kind><actor_kind><actor_id><actions><resources><search_text>`.
//! Lengths are in bytes, so no content needs escaping. The query columns come along so
//! that verification checks them against the body they sit beside.

use sea_orm::sqlx::{self, Row as _, postgres::PgRow};
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, QueryResult, Statement};
use tokio::sync::mpsc;

use crate::domain::audit::StoredColumns;
use crate::error::{Error, Result};

/// One stored link as the chunk holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PackedLink<'a> {
    pub seq: i64,
    pub prev_hash: &'a str,
    pub hash: &'a str,
    pub body: &'a str,
    /// The query columns stored beside the body.
    pub columns: StoredColumns<'a>,
}

/// A chunk whose framing does not parse (a column changed behind the database's back in a
/// way the lengths do not describe): verification reports the chain broken after `after_seq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Malformed {
    pub after_seq: i64,
}

/// The links of a packed chunk, in order; after a record that does not frame, its
/// [`Malformed`] and nothing more.
pub(crate) fn unpack(packed: &str, after_seq: i64) -> Unpack<'_> {
    Unpack {
        rest: packed,
        after_seq,
    }
}

/// The iterator [`unpack`] returns.
pub(crate) struct Unpack<'a> {
    rest: &'a str,
    after_seq: i64,
}

impl<'a> Iterator for Unpack<'a> {
    type Item = Result<PackedLink<'a>, Malformed>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let link = record(&mut self.rest, self.after_seq);
        match &link {
            Ok(link) => self.after_seq = link.seq,
            // Nothing after a bad frame can be trusted to start where it seems to.
            Err(_) => self.rest = "",
        }
        Some(link)
    }
}

/// Reads the record at the start of `rest` and moves past it.
fn record<'a>(rest: &mut &'a str, after_seq: i64) -> Result<PackedLink<'a>, Malformed> {
    let bad = Malformed { after_seq };
    let mut field = || -> Result<i64, Malformed> {
        let (number, tail) = leading_number(rest).ok_or(bad.clone())?;
        *rest = tail;
        Ok(number)
    };
    let body_len = field()?;
    let seq = field()?;
    let prev_len = field()?;
    let hash_len = field()?;
    let date = field()?;
    let mut lengths = [0i64; 7];
    for length in &mut lengths {
        *length = field()?;
    }
    let [
        id_len,
        kind_len,
        actor_kind_len,
        actor_id_len,
        actions_len,
        resources_len,
        search_len,
    ] = lengths;
    let mut take = |len: i64| -> Result<&'a str, Malformed> {
        let len = usize::try_from(len).map_err(|_| bad.clone())?;
        if !rest.is_char_boundary(len) || len > rest.len() {
            return Err(bad.clone());
        }
        let (value, tail) = rest.split_at(len);
        *rest = tail;
        Ok(value)
    };
    let prev_hash = take(prev_len)?;
    let hash = take(hash_len)?;
    let body = take(body_len)?;
    let id = take(id_len)?;
    let kind = take(kind_len)?;
    let actor_kind = take(actor_kind_len)?;
    let actor_id = if actor_id_len < 0 {
        None
    } else {
        Some(take(actor_id_len)?)
    };
    let columns = StoredColumns {
        id,
        date,
        kind,
        actor_kind,
        actor_id,
        actions: take(actions_len)?,
        resources: take(resources_len)?,
        search_text: take(search_len)?,
    };
    Ok(PackedLink {
        seq,
        prev_hash,
        hash,
        body,
        columns,
    })
}

/// The decimal number (an optional `-`, then digits) that `text` starts with up to its first
/// `,`, and what follows the comma; `None` unless exactly that is there and fits an `i64`.
/// Read byte by byte: twelve numbers per record, and splitting and parsing them as strings
/// was a tenth of unpacking.
fn leading_number(text: &str) -> Option<(i64, &str)> {
    let bytes = text.as_bytes();
    let negative = bytes.first() == Some(&b'-');
    let digits = usize::from(negative);
    let mut value: i64 = 0;
    let mut at = digits;
    loop {
        match bytes.get(at)? {
            b',' if at > digits => break,
            digit @ b'0'..=b'9' => {
                let digit = i64::from(digit - b'0');
                value = value.checked_mul(10)?;
                value = if negative {
                    value.checked_sub(digit)?
                } else {
                    value.checked_add(digit)?
                };
            }
            _ => return None,
        }
        at += 1;
    }
    Some((value, text.get(at + 1..)?))
}

/// Entries per chunk, and lanes reading and checking chunks at once: a lane checks its chunk
/// before it asks for the next, so four keep the database packing while others check (on
/// SQLite, with two, the profile found the cores busy half the time); PostgreSQL's server processes do more of
/// the work, in parallel.
fn chunking(backend: DatabaseBackend) -> (i64, i64) {
    match backend {
        DatabaseBackend::Postgres => (2_000, 4),
        _ => (500, 4),
    }
}

/// Reads the chain's entries with `seq` in `(0, upto]` in chunks and hands each chunk's
/// links to `check`; yields what `check` returns, in chain order. Chunks are fixed seq ranges, read and checked by background tasks (lanes) each a
/// chunk ahead of the consumer, so checking runs on every core; a range whose rows are
/// missing arrives empty, and the checks find the gap.
pub(crate) fn scan<T, F>(db: DatabaseConnection, upto: i64, check: F) -> Chunks<T>
where
    T: Send + 'static,
    F: Fn(&mut Links<'_>) -> T + Copy + Send + 'static,
{
    let (size, lanes) = chunking(db.get_database_backend());
    let mut chunks = Chunks {
        lanes: Vec::new(),
        next: 0,
    };
    for lane in 0..lanes {
        let (sender, receiver) = mpsc::channel(1);
        let db = db.clone();
        tokio::spawn(async move {
            let mut after = lane * size;
            while after < upto {
                let fetched = fetch(&db, after, (after + size).min(upto)).await;
                let checked = fetched.and_then(|chunk| chunk.check(after, check));
                let failed = checked.is_err();
                if sender.send(checked).await.is_err() || failed {
                    break;
                }
                after += lanes * size;
            }
        });
        chunks.lanes.push(receiver);
    }
    chunks
}

/// What the lanes make of the chunks, in chain order, taken from the lanes in turn.
pub(crate) struct Chunks<T> {
    lanes: Vec<mpsc::Receiver<Result<T>>>,
    next: usize,
}

impl<T> Chunks<T> {
    /// The next chunk's check, `None` after the last.
    pub(crate) async fn next_chunk(&mut self) -> Option<Result<T>> {
        let count = self.lanes.len();
        let lane = self.lanes.get_mut(self.next)?;
        self.next = (self.next + 1) % count;
        lane.recv().await
    }
}

/// The links of one chunk, as the backend delivered them; read in place either way, never
/// copied out of the rows.
pub(crate) enum Links<'a> {
    /// Unpacked from SQLite's string.
    Packed(Unpack<'a>),
    /// Read from PostgreSQL's rows.
    Rows(RowLinks<'a>),
}

impl<'a> Iterator for Links<'a> {
    type Item = Result<PackedLink<'a>, Malformed>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Links::Packed(links) => links.next(),
            Links::Rows(links) => links.next().map(Ok),
        }
    }
}

/// The links of PostgreSQL's rows. A row that does not decode ends them, and the lane
/// reports its error instead of the chunk's check.
pub(crate) struct RowLinks<'a> {
    rows: std::slice::Iter<'a, QueryResult>,
    error: Option<Error>,
}

impl<'a> Iterator for RowLinks<'a> {
    type Item = PackedLink<'a>;

    fn next(&mut self) -> Option<PackedLink<'a>> {
        let row = self.rows.next()?;
        match row_link(row) {
            Ok(link) => Some(link),
            Err(error) => {
                self.error = Some(error);
                self.rows = [].iter();
                None
            }
        }
    }
}

/// A chunk as read, before it is checked.
enum Fetched {
    /// SQLite's one row: the packed string, NULL for a range without rows.
    Packed(Option<QueryResult>),
    /// PostgreSQL's rows.
    Rows(Vec<QueryResult>),
}

impl Fetched {
    fn check<T>(&self, after: i64, check: impl FnOnce(&mut Links<'_>) -> T) -> Result<T> {
        match self {
            Fetched::Packed(row) => {
                let packed = row.as_ref().map(packed_text).transpose()?.flatten();
                let mut links = Links::Packed(unpack(packed.unwrap_or(""), after));
                Ok(check(&mut links))
            }
            Fetched::Rows(rows) => {
                let mut links = Links::Rows(RowLinks {
                    rows: rows.iter(),
                    error: None,
                });
                let checked = check(&mut links);
                match links {
                    Links::Rows(RowLinks {
                        error: Some(error), ..
                    }) => Err(error),
                    _ => Ok(checked),
                }
            }
        }
    }
}

async fn fetch(db: &DatabaseConnection, after: i64, upto: i64) -> Result<Fetched> {
    match db.get_database_backend() {
        DatabaseBackend::Postgres => fetch_rows(db, after, upto).await.map(Fetched::Rows),
        _ => fetch_packed(db, after, upto).await.map(Fetched::Packed),
    }
}

/// SQLite packs the chunk. `seq` is the table's rowid, so the range is read in `seq` order
/// and aggregated in that order: an `ORDER BY` (in the aggregate, or in a subquery that then
/// cannot be flattened and copies every row) costs a quarter of the query or more.
/// `NOT INDEXED` keeps it to the rowid: an index that starts with `seq` (the spec queries'
/// `(seq DESC, resources)`) would otherwise be picked for the range and hand the rows over
/// newest first. Were rows ever packed out of order, the verifier would report a break,
/// never pass a chain.
async fn fetch_packed(
    db: &DatabaseConnection,
    after: i64,
    upto: i64,
) -> Result<Option<QueryResult>> {
    // One concat() per row: a chain of `||` copies the growing record at every step. The
    // numbers go through one format(), which writes them into its text, where concat()
    // would turn each into a text value first (7% of SQLite's time); the values stay with
    // concat(), which copies them by length: format's `%s` stops at a NUL.
    let sql = "SELECT string_agg(concat(\
               format('%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,', \
               octet_length(body), seq, octet_length(prev_hash), octet_length(hash), date, \
               octet_length(id), octet_length(kind), octet_length(actor_kind), \
               coalesce(octet_length(actor_id), -1), octet_length(actions), \
               octet_length(resources), octet_length(search_text)), \
               prev_hash, hash, body, id, kind, actor_kind, actor_id, actions, resources, \
               search_text), '') \
               FROM audit_entry NOT INDEXED WHERE seq > $1 AND seq <= $2";
    let statement =
        Statement::from_sql_and_values(db.get_database_backend(), sql, [after.into(), upto.into()]);
    Ok(db.query_one_raw(statement).await?)
}

/// The packed string, borrowed from the row: it is most of what a chunk weighs.
fn packed_text(row: &QueryResult) -> Result<Option<&str>> {
    let row = row
        .try_as_sqlite_row()
        .ok_or_else(|| Error::internal("the packed chunk is not an SQLite row"))?;
    row.try_get(0).map_err(Error::internal)
}

/// PostgreSQL sends the rows, read in place. The `LIMIT` (the range's size: `seq` is
/// unique, so it never cuts the range short) makes the planner walk the primary key in
/// order; without statistics it would otherwise gather the range with a bitmap scan and sort
/// it, twice the server's time.
async fn fetch_rows(db: &DatabaseConnection, after: i64, upto: i64) -> Result<Vec<QueryResult>> {
    let sql = "SELECT seq, prev_hash, hash, body, date, id, kind, actor_kind, actor_id, \
               actions, resources, search_text FROM audit_entry \
               WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3";
    let values = [after.into(), upto.into(), (upto - after).into()];
    let statement = Statement::from_sql_and_values(db.get_database_backend(), sql, values);
    Ok(db.query_all_raw(statement).await?)
}

/// One PostgreSQL row's link, borrowing its text.
fn row_link(row: &QueryResult) -> Result<PackedLink<'_>> {
    let row = row
        .try_as_pg_row()
        .ok_or_else(|| Error::internal("the chunk's row is not a PostgreSQL row"))?;
    Ok(PackedLink {
        seq: column(row, 0)?,
        prev_hash: column(row, 1)?,
        hash: column(row, 2)?,
        body: column(row, 3)?,
        columns: StoredColumns {
            date: column(row, 4)?,
            id: column(row, 5)?,
            kind: column(row, 6)?,
            actor_kind: column(row, 7)?,
            actor_id: column(row, 8)?,
            actions: column(row, 9)?,
            resources: column(row, 10)?,
            search_text: column(row, 11)?,
        },
    })
}

/// A column decoded without sqlx's check of its declared type against `T`: the query names
/// the columns and the migrations fix their types, and the check (a type comparison per
/// column, twelve per entry) was a tenth of the client's time. A value that does not decode
/// as `T` is still an error.
fn column<'r, T>(row: &'r PgRow, index: usize) -> Result<T>
where
    T: sqlx::Decode<'r, sqlx::Postgres>,
{
    row.try_get_unchecked(index).map_err(Error::internal)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A stored row's fields: seq, prev_hash, hash, body, actor_id, search_text.
    type Row = (i64, String, String, String, Option<String>, String);

    fn link(row: &Row) -> PackedLink<'_> {
        PackedLink {
            seq: row.0,
            prev_hash: &row.1,
            hash: &row.2,
            body: &row.3,
            columns: StoredColumns {
                id: "ae_1",
                date: 1_700_000_000_000 + row.0,
                kind: "flag",
                actor_kind: "member",
                actor_id: row.4.as_deref(),
                actions: " updateOn ",
                resources: "proj/a:env/b:flag/c\nproj/d",
                search_text: &row.5,
            },
        }
    }

    fn unpacked(packed: &str, after_seq: i64) -> Result<Vec<PackedLink<'_>>, Malformed> {
        unpack(packed, after_seq).collect()
    }

    /// Appends one record in the packed format, as the SQL does.
    fn pack_into(out: &mut String, link: &PackedLink<'_>) {
        use std::fmt::Write as _;
        let c = &link.columns;
        let actor_id_len = c.actor_id.map_or(-1, |a| a.len() as i64);
        let _ = write!(
            out,
            "{},{},{},{},{},{},{},{},{actor_id_len},{},{},{},",
            link.body.len(),
            link.seq,
            link.prev_hash.len(),
            link.hash.len(),
            c.date,
            c.id.len(),
            c.kind.len(),
            c.actor_kind.len(),
            c.actions.len(),
            c.resources.len(),
            c.search_text.len(),
        );
        for part in [
            link.prev_hash,
            link.hash,
            link.body,
            c.id,
            c.kind,
            c.actor_kind,
            c.actor_id.unwrap_or(""),
            c.actions,
            c.resources,
            c.search_text,
        ] {
            out.push_str(part);
        }
    }

    /// What the SQL builds.
    fn pack(rows: &[Row]) -> String {
        let mut out = String::new();
        for row in rows {
            pack_into(&mut out, &link(row));
        }
        out
    }

    fn row(seq: i64, prev: &str, hash: &str, body: &str, actor: Option<&str>) -> Row {
        let search = "name\ndescription, with commas\n".to_owned();
        (
            seq,
            prev.into(),
            hash.into(),
            body.into(),
            actor.map(str::to_owned),
            search,
        )
    }

    #[test]
    fn unpacks_what_the_database_packs() {
        let rows = vec![
            row(
                1,
                &"0".repeat(64),
                &"a".repeat(64),
                r#"{"x":"1,2,3"}"#,
                Some("m1"),
            ),
            row(2, &"a".repeat(64), &"b".repeat(64), "{\"é\":\"ü,\"}", None),
        ];
        let packed = pack(&rows);
        let out = unpacked(&packed, 0).unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].seq, 2);
        assert_eq!(out[1].body, rows[1].3);
        assert_eq!(out[0].hash, rows[0].2);
        assert_eq!(out[0], link(&rows[0]));
        assert_eq!(out[1].columns.actor_id, None);
    }

    #[test]
    fn a_bad_frame_names_where_it_breaks() {
        let good = pack(&[row(7, "p", "h", "{}", None)]);
        assert_eq!(
            unpacked(&format!("{good}9,8,1,1,ph{{}}"), 6),
            Err(Malformed { after_seq: 7 })
        );
        // The links before a bad frame still come out, and nothing after it.
        let packed = format!("{good}9,8,1,1,ph{{}}{good}");
        let mut links = unpack(&packed, 6);
        assert_eq!(links.next().map(|l| l.map(|l| l.seq)), Some(Ok(7)));
        assert!(matches!(links.next(), Some(Err(_))));
        assert_eq!(links.next(), None);
        assert_eq!(unpacked("x,1,1,1,ab{}", 0), Err(Malformed { after_seq: 0 }));
        // A length that would split a character.
        assert_eq!(
            unpacked("1,1,0,0,5,0,0,0,-1,0,0,0,é", 0),
            Err(Malformed { after_seq: 0 })
        );
    }

    #[test]
    fn numbers_are_read_as_str_parse_reads_them() {
        for text in [
            "0,",
            "-1,",
            "42,rest",
            "9223372036854775807,",
            "-9223372036854775808,",
            "9223372036854775808,",
            "-9223372036854775809,",
            ",",
            "-,",
            "1",
            "1x,",
            "+1,",
            "--1,",
            "",
            "007,",
        ] {
            let expected = text
                .split_once(',')
                .filter(|(n, _)| !n.starts_with('+'))
                .and_then(|(n, tail)| Some((n.parse::<i64>().ok()?, tail)));
            assert_eq!(leading_number(text), expected, "{text:?}");
        }
    }

    proptest! {
        #[test]
        fn a_number_reads_back(n in any::<i64>(), tail in ".{0,10}") {
            let text = format!("{n},{tail}");
            prop_assert_eq!(leading_number(&text), Some((n, tail.as_str())));
        }

        #[test]
        fn round_trips(rows in prop::collection::vec(
            (1i64..1_000_000, ".{0,70}", ".{0,70}", ".{0,300}", proptest::option::of(".{0,20}"), ".{0,50}"),
            0..20))
        {
            let packed = pack(&rows);
            let out = unpacked(&packed, 0).unwrap();
            prop_assert_eq!(out.len(), rows.len());
            for (got, want) in out.iter().zip(&rows) {
                prop_assert_eq!(got, &link(want));
            }
        }

        #[test]
        fn never_panics(s in ".{0,200}", after in any::<i64>()) {
            let _ = unpacked(&s, after);
        }
    }
}
