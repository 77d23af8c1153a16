//! Paging a directory list (members, teams, custom roles, tokens) in the database: `limit`
//! and `offset` checked once, the page and its count read by SQL, `next` the offset after the
//! page. Visibility comes in two ways: when the caller's roles decide the view action alike
//! for every row, one decision stands for the page and the database pages; otherwise the
//! matching keys are read in order, each is decided, and the page is cut from those visible.

use std::collections::HashMap;

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{Condition, ConnectionTrait, EntityTrait, QuerySelect, QueryTrait, Select};

use crate::error::{Error, Result};
use crate::service::util::rows_where_in;

/// Rows per page unless `limit` says otherwise, and at most.
pub const DEFAULT_LIMIT: u64 = 20;
pub const MAX_LIMIT: u64 = 1000;

/// A list request searched by text alone (custom roles, tokens), as sent.
#[derive(Debug, Default, Clone)]
pub struct TextQuery {
    /// `query:<text>`.
    pub filter: Option<String>,
    pub limit: Option<u64>,
    pub offset: Option<u64>,
}

/// A list request with a filter and a sort (members, teams), as sent.
#[derive(Debug, Default, Clone)]
pub struct SortedQuery {
    pub filter: Option<String>,
    pub sort: Option<String>,
    pub limit: Option<u64>,
    pub offset: Option<u64>,
}

/// One page of a list.
pub struct ListPage<T> {
    pub items: Vec<T>,
    /// Matching rows the caller may view, on every page.
    pub total_count: u64,
    /// The offset of the next page, when there is one.
    pub next: Option<String>,
}

/// Which rows of a sorted list a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub limit: u64,
    pub offset: u64,
}

impl Window {
    /// The window asked for, `limit` defaulted and checked.
    pub fn new(limit: Option<u64>, offset: Option<u64>) -> Result<Self> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(Error::invalid(format!(
                "limit: must be between 1 and {MAX_LIMIT}"
            )));
        }
        Ok(Window {
            limit,
            offset: offset.unwrap_or(0),
        })
    }

    /// The offset of the next page, when rows remain after the `shown` of this one.
    pub fn next(&self, shown: usize, total: u64) -> Option<String> {
        let end = self
            .offset
            .saturating_add(u64::try_from(shown).unwrap_or(u64::MAX));
        (end < total).then(|| end.to_string())
    }

    /// This window of an ordered list.
    pub fn cut<T: Clone>(&self, all: &[T]) -> Vec<T> {
        let start = usize::try_from(self.offset)
            .unwrap_or(usize::MAX)
            .min(all.len());
        let end = start
            .saturating_add(usize::try_from(self.limit).unwrap_or(usize::MAX))
            .min(all.len());
        all.get(start..end).unwrap_or_default().to_vec()
    }
}

/// `[text, text + U+10FFFF)`: the strings starting with `text`, as a range an index serves.
pub fn starts_with(column: Expr, text: &str) -> Condition {
    Condition::all()
        .add(column.clone().gte(text))
        .add(column.lt(format!("{text}\u{10FFFF}")))
}

/// A page and its count, when one decision stands for every row: the database pages and
/// counts, and the caller sees every match or none (`may_view` asked of the first row).
pub async fn page_alike<E: EntityTrait>(
    db: &impl ConnectionTrait,
    select: Select<E>,
    window: Window,
    may_view: impl Fn(&E::Model) -> bool,
) -> Result<(Vec<E::Model>, u64)>
where
    E::Model: Sync,
{
    let total = count(db, select.clone()).await?;
    page_counted(db, select, total, window, may_view).await
}

/// A page when one decision stands for every row and the matches are counted already.
pub async fn page_counted<E: EntityTrait>(
    db: &impl ConnectionTrait,
    select: Select<E>,
    total: u64,
    window: Window,
    may_view: impl Fn(&E::Model) -> bool,
) -> Result<(Vec<E::Model>, u64)>
where
    E::Model: Sync,
{
    let rows = select
        .offset(window.offset)
        .limit(window.limit)
        .all(db)
        .await?;
    Ok(shown_alike(rows, total, may_view))
}

/// A page one decision stands for: all of it with its count, or none (`may_view` asked of
/// the first row).
pub fn shown_alike<M>(rows: Vec<M>, total: u64, may_view: impl Fn(&M) -> bool) -> (Vec<M>, u64) {
    match rows.first() {
        Some(first) if !may_view(first) => (Vec::new(), 0),
        _ => (rows, total),
    }
}

/// The rows whose `key` is one of `keys`, in the order of `keys`, read in chunks.
pub async fn rows_in_key_order<E: EntityTrait>(
    db: &impl ConnectionTrait,
    key: E::Column,
    key_of: impl Fn(&E::Model) -> &str,
    keys: &[String],
) -> Result<Vec<E::Model>> {
    let mut rows = rows_where_in::<E>(db, key, keys).await?;
    // A page holds up to 1,000 keys: looking each row's key up in the list was a quadratic sort.
    let place: HashMap<&str, usize> = keys.iter().enumerate().map(|(i, k)| (&**k, i)).collect();
    rows.sort_by_key(|row| place.get(key_of(row)).copied());
    Ok(rows)
}

/// The number of rows a select matches, counted by `SELECT COUNT(*) ... WHERE` alone. A
/// paginator's count wraps the whole select, columns and ORDER BY included, as a subquery,
/// which SQLite runs as written: it read every matching row and sorted them (30 ms for
/// 20,000 writers among 100,000 members) only to count them.
pub async fn count<E: EntityTrait>(db: &impl ConnectionTrait, select: Select<E>) -> Result<u64> {
    let mut counting = select.select_only().column_as(Expr::cust("COUNT(*)"), "n");
    QueryTrait::query(&mut counting).clear_order_by();
    let n: Option<i64> = counting.into_tuple().one(db).await?;
    Ok(n.map_or(0, |n| u64::try_from(n).unwrap_or(0)))
}

/// A page and its count when rows are decided one by one: the matching `key`s are read in
/// order (one column, not whole rows), each decided, and the visible page's rows read.
pub async fn page_one_by_one<E: EntityTrait>(
    db: &impl ConnectionTrait,
    select: Select<E>,
    key: E::Column,
    key_of: impl Fn(&E::Model) -> &str,
    window: Window,
    may_view: impl Fn(&str) -> bool,
) -> Result<(Vec<E::Model>, u64)> {
    let keys: Vec<String> = select
        .select_only()
        .column(key)
        .into_tuple()
        .all(db)
        .await?;
    let visible: Vec<String> = keys.into_iter().filter(|k| may_view(k)).collect();
    let total = u64::try_from(visible.len()).unwrap_or(u64::MAX);
    let page = window.cut(&visible);
    Ok((rows_in_key_order::<E>(db, key, key_of, &page).await?, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_checked_and_defaulted() {
        let window = Window::new(None, None).unwrap();
        assert_eq!((window.limit, window.offset), (DEFAULT_LIMIT, 0));
        for limit in [0, MAX_LIMIT + 1] {
            let err = Window::new(Some(limit), None).unwrap_err().to_string();
            assert!(err.contains("limit"), "{err}");
        }
    }

    #[test]
    fn next_points_past_the_page_while_rows_remain() {
        let window = Window::new(Some(2), Some(4)).unwrap();
        assert_eq!(window.next(2, 7).as_deref(), Some("6"));
        assert_eq!(window.next(2, 6), None);
        assert_eq!(window.next(0, 3), None);
        assert_eq!(window.cut(&[1, 2, 3, 4, 5, 6, 7]), [5, 6]);
        assert_eq!(window.cut(&[1, 2, 3]), Vec::<i32>::new());
    }
}
