//! `GET /api/v2/members` with LaunchDarkly's filters and sorts, run as SQL on indexed
//! columns: the database filters, counts and pages, and only the page's rows are read.
//!
//! Visibility: when the caller's roles decide `viewMember` alike for every member (the usual
//! case: base roles, `member/*` statements), the decision is taken once and the database
//! pages. Otherwise (a statement names particular members) the matching ids are read in
//! order and each is decided, so the count and the pages hold only members the caller may
//! view.

use migration::m20261207_000010_directory_indexes::{MEMBER_DISPLAY_KEY, MEMBER_LAST_NAME_KEY};
use migration::m20261211_000020_membership_copies::{ROLE, SORT_KEYS};
use migration::m20261211_000021_member_total::{COLUMN, TABLE};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, NullOrdering, Query, SubQueryStatement};
use sea_orm::{
    Condition, ConnectionTrait, DatabaseBackend, EntityTrait, IdenStatic, JoinType, Order,
    QueryFilter, QueryOrder, QuerySelect, Select, Statement,
};

use super::{Member, rep_with_teams};
use crate::domain::directory_query::{
    LastSeen, MemberFilter, MemberSortField, Sort, parse_member_filter, parse_member_sort,
};
use crate::domain::policy::{Resource, ResourceType};
use crate::error::{Error, Result};
use crate::service::access::summarize;
use crate::service::authz::{authorize, decides_alike_for_every};
use crate::service::member_rows::team_keys_of;
use crate::service::paging::{
    ListPage, SortedQuery, Window, count, page_counted, page_one_by_one, rows_in_key_order,
    shown_alike, starts_with,
};
use crate::service::{Ctx, Service};

use entity::member::Column as C;

/// A request, checked.
struct Plan {
    filter: MemberFilter,
    sort: Option<Sort<MemberSortField>>,
    window: Window,
}

fn plan(query: &SortedQuery) -> Result<Plan> {
    let filter = parse_member_filter(query.filter.as_deref().unwrap_or_default())
        .map_err(|e| Error::invalid(format!("filter: {e}")))?;
    let sort = query
        .sort
        .as_deref()
        .map(parse_member_sort)
        .transpose()
        .map_err(|e| Error::invalid(format!("sort: {e}")))?;
    Ok(Plan {
        filter,
        sort,
        window: Window::new(query.limit, query.offset)?,
    })
}

/// How a filter's columns may be read: through their indexes, or (SQLite) only from the rows
/// a scan of the sort's index reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reach {
    Indexed,
    InSortOrder,
}

/// From this offset on, a page's ids are read first and then its rows: an offset skips rows
/// one by one, and skipping index entries costs less than skipping whole rows (on
/// PostgreSQL each a heap read: offset 50,000 took 27 ms).
const LATE_ROW_LOOKUP_FROM: u64 = 1_000;

/// Fewer matches than this are always read through the filter's indexes and sorted.
const SORT_ORDER_ABOVE: u64 = 5_000;

/// How an SQLite page is read. SQLite's planner, from sampled statistics, sometimes reads an
/// unselective filter through its own index and sorts every match (66,000 members never
/// seen: 100 ms) where a walk of the sort's index reaches the page within a few hundred
/// rows. The count, taken first, and the table's size in the statistics say which costs
/// less: sorting `total` matches, or walking the sort's index until `offset + limit` of
/// them are found, about `(offset + limit) * rows / total` rows. A unary `+` then keeps the
/// planner off the filter's indexes.
fn sqlite_reach(total: u64, rows: Option<u64>, window: Window) -> Reach {
    let Some(rows) = rows else {
        return Reach::Indexed;
    };
    let wanted = window.offset.saturating_add(window.limit);
    let walked = wanted.saturating_mul(rows) / Ord::max(total, 1);
    if total > SORT_ORDER_ABOVE && walked < total {
        Reach::InSortOrder
    } else {
        Reach::Indexed
    }
}

/// The member table's row count as SQLite's statistics last saw it, if they have it.
async fn sqlite_member_rows(db: &impl ConnectionTrait) -> Result<Option<u64>> {
    let row = db
        .query_one_raw(Statement::from_string(
            DatabaseBackend::Sqlite,
            "SELECT stat FROM sqlite_stat1 WHERE tbl = 'member' AND idx = 'sqlite_autoindex_member_1'",
        ))
        .await;
    // No statistics table yet is no statistics.
    let Ok(Some(row)) = row else {
        return Ok(None);
    };
    let stat: String = row.try_get("", "stat")?;
    Ok(stat.split(' ').next().and_then(|n| n.parse().ok()))
}

/// The WHERE clause of a filter: every field given holds, any of a field's alternatives.
pub(crate) fn condition(f: &MemberFilter) -> Condition {
    condition_reaching(f, Reach::Indexed)
}

fn condition_reaching(f: &MemberFilter, reach: Reach) -> Condition {
    let col = |c: C| match reach {
        Reach::Indexed => Expr::col((entity::member::Entity, c)),
        Reach::InSortOrder => Expr::cust(format!("+\"member\".\"{}\"", c.as_str())),
    };
    let key = |sql: &str| match reach {
        Reach::Indexed => Expr::cust(sql.to_owned()),
        Reach::InSortOrder => Expr::cust(format!("+({sql})")),
    };
    let mut all = Condition::all();
    if let Some(q) = &f.query {
        all = all.add(
            Condition::any()
                .add(starts_with(col(C::EmailLower), q))
                .add(starts_with(key(MEMBER_DISPLAY_KEY), q))
                .add(starts_with(key(MEMBER_LAST_NAME_KEY), q)),
        );
    }
    if !f.roles.is_empty() {
        all = all.add(role_is(col(C::Role), &f.roles));
    }
    if !f.ids.is_empty() {
        all = all.add(col(C::Id).is_in(f.ids.clone()));
    }
    if !f.emails.is_empty() {
        all = all.add(col(C::EmailLower).is_in(f.emails.clone()));
    }
    if !f.teams.is_empty() {
        all = all.add(col(C::Id).in_subquery(team_members(&f.teams)));
    }
    if let Some(no_team) = f.no_team {
        all = all.add(if no_team {
            col(C::TeamCount).eq(0)
        } else {
            col(C::TeamCount).gt(0)
        });
    }
    if !f.last_seen.is_empty() {
        all = all.add(last_seen_is(col(C::LastSeen), &f.last_seen));
    }
    all
}

/// `role` is one of `roles`; the owner counts as an admin.
fn role_is(role: Expr, roles: &[String]) -> Condition {
    let mut roles = roles.to_vec();
    if roles.iter().any(|r| r == "admin") {
        roles.push("owner".to_owned());
    }
    Condition::all().add(role.is_in(roles))
}

/// `last_seen` is as any of `seen` says.
fn last_seen_is(last_seen: Expr, seen: &[LastSeen]) -> Condition {
    let mut any = Condition::any();
    for seen in seen {
        any = any.add(match seen {
            LastSeen::Never | LastSeen::NoData => last_seen.clone().is_null(),
            LastSeen::Before(ms) => last_seen.clone().lt(*ms),
        });
    }
    any
}

/// How many members are on any of the teams, read from the membership rows alone (each
/// names a member): counting through `member` looked up every one of them, 2,000 primary-key
/// reads for one team on PostgreSQL.
async fn count_team_members(db: &impl ConnectionTrait, keys: &[String]) -> Result<u64> {
    let mut members = team_members(keys);
    members
        .clear_selects()
        .expr(Expr::cust("COUNT(DISTINCT team_member.member_id)"));
    number_read(db, &members, "COUNT answered no row").await
}

/// The one number a query answers; `missing` names the fault when it answers no row.
async fn number_read(
    db: &impl ConnectionTrait,
    query: &sea_orm::sea_query::SelectStatement,
    missing: &str,
) -> Result<u64> {
    let row = db
        .query_one(query)
        .await?
        .ok_or_else(|| Error::internal(missing))?;
    let n: i64 = row.try_get_by_index(0)?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// How many members there are, as the database keeps it while members come and go.
async fn member_total(db: &impl ConnectionTrait) -> Result<u64> {
    let total = Query::select()
        .column(Alias::new(COLUMN))
        .from(Alias::new(TABLE))
        .and_where(Expr::col(Alias::new("id")).eq(1))
        .to_owned();
    number_read(db, &total, "the member total row is missing").await
}

/// The ids of the members of any of the teams.
fn team_members(keys: &[String]) -> sea_orm::sea_query::SelectStatement {
    use entity::team::Column as T;
    use entity::team_member::Column as TM;
    Query::select()
        .column((entity::team_member::Entity, TM::MemberId))
        .from(entity::team_member::Entity)
        .inner_join(
            entity::team::Entity,
            Expr::col((entity::team::Entity, T::Id))
                .equals((entity::team_member::Entity, TM::TeamId)),
        )
        .and_where(Expr::col((entity::team::Entity, T::Key)).is_in(keys.to_vec()))
        .to_owned()
}

/// What a page is ordered by: `member`'s own columns, or the sort keys its membership rows
/// carry.
struct SortColumns {
    id: Expr,
    email: Expr,
    display: Expr,
    last_seen: Expr,
    created_at: Expr,
}

impl SortColumns {
    fn member() -> Self {
        let col = |c: C| Expr::col((entity::member::Entity, c));
        SortColumns {
            id: col(C::Id),
            email: col(C::EmailLower),
            display: Expr::cust(MEMBER_DISPLAY_KEY),
            last_seen: col(C::LastSeen),
            created_at: col(C::CreatedAt),
        }
    }

    fn membership() -> Self {
        let col = |name: &str| Expr::col((entity::team_member::Entity, Alias::new(name)));
        let [email, display, last_seen, created_at] = SORT_KEYS.map(col);
        SortColumns {
            id: Expr::col((
                entity::team_member::Entity,
                entity::team_member::Column::MemberId,
            )),
            email,
            display,
            last_seen,
            created_at,
        }
    }
}

/// Orders a select as asked, ties broken by id so that pages never overlap. Members never
/// seen come first in ascending `lastSeen` order; without a sort, by email.
fn ordered(
    select: Select<entity::member::Entity>,
    sort: Option<&Sort<MemberSortField>>,
    by: &SortColumns,
) -> Select<entity::member::Entity> {
    let Some(sort) = sort else {
        return select
            .order_by_asc(by.email.clone())
            .order_by_asc(by.id.clone());
    };
    let order = if sort.descending {
        Order::Desc
    } else {
        Order::Asc
    };
    let select = match sort.field {
        MemberSortField::DisplayName => select.order_by(by.display.clone(), order.clone()),
        MemberSortField::CreatedAt => select.order_by(by.created_at.clone(), order.clone()),
        MemberSortField::LastSeen => {
            let nulls = if sort.descending {
                NullOrdering::Last
            } else {
                NullOrdering::First
            };
            select.order_by_with_nulls(by.last_seen.clone(), order.clone(), nulls)
        }
    };
    select.order_by(by.id.clone(), order)
}

/// The team whose membership rows a page walks: a filter of one team, and else at most the
/// columns those rows carry a copy of (role, last seen), which are then tested on them. A
/// filter on anything else (a name, an email, ids) keeps `member`'s own indexes, joined with
/// the team.
fn walked_team(filter: &MemberFilter) -> Option<&str> {
    let [team] = filter.teams.as_slice() else {
        return None;
    };
    let beside = MemberFilter {
        teams: Vec::new(),
        roles: Vec::new(),
        last_seen: Vec::new(),
        ..filter.clone()
    };
    (beside == MemberFilter::default()).then_some(team.as_str())
}

/// The membership rows of `team` that pass the filter's role and last-seen, tested on the
/// rows' copies.
fn membership_condition(team: &str, filter: &MemberFilter) -> Condition {
    let col = |name: &str| Expr::col((entity::team_member::Entity, Alias::new(name)));
    let team_id = Query::select()
        .column(entity::team::Column::Id)
        .from(entity::team::Entity)
        .and_where(Expr::col(entity::team::Column::Key).eq(team))
        .to_owned();
    let mut all = Condition::all().add(
        Expr::col((
            entity::team_member::Entity,
            entity::team_member::Column::TeamId,
        ))
        .eq(Expr::SubQuery(
            None,
            Box::new(SubQueryStatement::SelectStatement(team_id)),
        )),
    );
    if !filter.roles.is_empty() {
        all = all.add(role_is(col(ROLE), &filter.roles));
    }
    if !filter.last_seen.is_empty() {
        let [_, _, last_seen, _] = SORT_KEYS;
        all = all.add(last_seen_is(col(last_seen), &filter.last_seen));
    }
    all
}

/// How many of `team`'s membership rows pass the filter, counted on those rows alone.
async fn count_walked(db: &impl ConnectionTrait, team: &str, filter: &MemberFilter) -> Result<u64> {
    let counting = Query::select()
        .expr(Expr::cust("COUNT(*)"))
        .from(entity::team_member::Entity)
        .cond_where(membership_condition(team, filter))
        .to_owned();
    number_read(db, &counting, "COUNT answered no row").await
}

/// The members a plan asks for, read through `reach`, in the plan's order. A filter of one
/// team joins that team's membership rows and is ordered by the sort keys they carry, so
/// the database walks the team's index in the page's order and stops at the page; ordering
/// by `member`'s columns would read every member of the team to sort them.
fn select(plan: &Plan, reach: Reach) -> Select<entity::member::Entity> {
    // A team's walk needs no reach: its index is the filter and the order.
    let Some(team) = walked_team(&plan.filter) else {
        let matching =
            entity::member::Entity::find().filter(condition_reaching(&plan.filter, reach));
        return ordered(matching, plan.sort.as_ref(), &SortColumns::member());
    };
    let memberships = entity::member::Entity::belongs_to(entity::team_member::Entity)
        .from(C::Id)
        .to(entity::team_member::Column::MemberId)
        .into();
    let matching = entity::member::Entity::find()
        .join(JoinType::InnerJoin, memberships)
        .filter(membership_condition(team, &plan.filter));
    ordered(matching, plan.sort.as_ref(), &SortColumns::membership())
}

impl Service {
    /// A page of the members matching a query that the caller may view.
    pub async fn list_members(&self, ctx: &Ctx, query: &SortedQuery) -> Result<ListPage<Member>> {
        let plan = plan(query)?;
        let may_view =
            |id: &str| authorize(&ctx.principal, "viewMember", &Resource::member(id)).is_ok();
        let (rows, total) =
            if decides_alike_for_every(&ctx.principal, ResourceType::Member, "viewMember") {
                self.page_alike(&plan, |m| may_view(&m.id)).await?
            } else {
                let select = select(&plan, Reach::Indexed);
                page_one_by_one(self.db(), select, C::Id, |m| &m.id, plan.window, may_view).await?
            };
        let ids: Vec<String> = rows.iter().map(|m| m.id.clone()).collect();
        let mut teams = team_keys_of(self.db(), &ids).await?;
        let mut items = Vec::with_capacity(rows.len());
        for m in &rows {
            let mut rep = rep_with_teams(m, teams.remove(&m.id).unwrap_or_default())?;
            rep.access = summarize(&ctx.principal, &Resource::member(&m.id));
            items.push(rep);
        }
        Ok(ListPage {
            next: plan.window.next(items.len(), total),
            items,
            total_count: total,
        })
    }

    /// A page and its count when one decision stands for every member: counted first, then
    /// read the way the count says costs less.
    async fn page_alike(
        &self,
        plan: &Plan,
        may_view: impl Fn(&entity::member::Model) -> bool,
    ) -> Result<(Vec<entity::member::Model>, u64)> {
        let total = if plan.filter == MemberFilter::default() {
            member_total(self.db()).await?
        } else if let Some(team) = walked_team(&plan.filter) {
            count_walked(self.db(), team, &plan.filter).await?
        } else if let Some(keys) = plan.filter.only_teams() {
            count_team_members(self.db(), keys).await?
        } else {
            count(self.db(), select(plan, Reach::Indexed)).await?
        };
        let reach = if self.db().get_database_backend() == DatabaseBackend::Sqlite
            && total > SORT_ORDER_ABOVE
            && walked_team(&plan.filter).is_none()
        {
            sqlite_reach(total, sqlite_member_rows(self.db()).await?, plan.window)
        } else {
            Reach::Indexed
        };
        if plan.window.offset < LATE_ROW_LOOKUP_FROM {
            return page_counted(self.db(), select(plan, reach), total, plan.window, may_view)
                .await;
        }
        let ids: Vec<String> = select(plan, reach)
            .select_only()
            .column(C::Id)
            .offset(plan.window.offset)
            .limit(plan.window.limit)
            .into_tuple()
            .all(self.db())
            .await?;
        let rows =
            rows_in_key_order::<entity::member::Entity>(self.db(), C::Id, |m| &m.id, &ids).await?;
        Ok(shown_alike(rows, total, may_view))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_walks_the_sort_index_only_when_that_reads_fewer_rows_than_sorting() {
        let window = |offset, limit| Window { offset, limit };
        // 66,000 of 100,000 never seen: a first page is 150 rows into the name index.
        assert_eq!(
            sqlite_reach(66_000, Some(100_000), window(0, 100)),
            Reach::InSortOrder
        );
        // A deep page walks further than sorting reads.
        assert_eq!(
            sqlite_reach(20_000, Some(100_000), window(10_000, 100)),
            Reach::Indexed
        );
        // Few matches, or no statistics: the filter's indexes.
        assert_eq!(
            sqlite_reach(4_000, Some(100_000), window(0, 20)),
            Reach::Indexed
        );
        assert_eq!(sqlite_reach(66_000, None, window(0, 20)), Reach::Indexed);
    }

    #[test]
    fn a_bad_filter_is_named_and_limits_checked() {
        let bad = SortedQuery {
            filter: Some("role:boss".to_owned()),
            ..SortedQuery::default()
        };
        let err = plan(&bad).err().unwrap().to_string();
        assert!(err.contains("filter: \"role:boss\""), "{err}");
        let too_many = SortedQuery {
            limit: Some(1001),
            ..SortedQuery::default()
        };
        assert!(plan(&too_many).is_err());
    }
}
