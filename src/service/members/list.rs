//! `GET /api/v2/members` with LaunchDarkly's filters and sorts, run as SQL on indexed
//! columns: the database filters, counts and pages, and only the page's rows are read.
//!
//! Visibility: when the caller's roles decide `viewMember` alike for every member (the usual
//! case: base roles, `member/*` statements), the decision is taken once and the database
//! pages. Otherwise (a statement names particular members) the matching ids are read in
//! order and each is decided, so the count and the pages hold only members the caller may
//! view.

use migration::m20261207_000010_directory_indexes::{MEMBER_DISPLAY_KEY, MEMBER_LAST_NAME_KEY};
use sea_orm::sea_query::{Expr, ExprTrait, NullOrdering, Query};
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, Order, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Select,
};

use super::{Member, to_rep};
use crate::domain::directory_query::{
    LastSeen, MemberFilter, MemberSortField, Sort, parse_member_filter, parse_member_sort,
};
use crate::domain::policy::{Resource, ResourceType};
use crate::error::{Error, Result};
use crate::service::access::summarize;
use crate::service::authz::{authorize, decides_alike_for_every};
use crate::service::{Ctx, Service};

use entity::member::Column as C;

/// Members per page unless `limit` says otherwise, and at most.
pub const DEFAULT_LIMIT: u64 = 20;
pub const MAX_LIMIT: u64 = 1000;

/// A member list request as sent.
#[derive(Debug, Default, Clone)]
pub struct MemberQuery {
    pub filter: Option<String>,
    pub sort: Option<String>,
    pub limit: Option<u64>,
    pub offset: Option<u64>,
}

/// One page of members.
pub struct MemberPage {
    pub items: Vec<Member>,
    /// Matching members the caller may view, on every page.
    pub total_count: u64,
    /// The offset of the next page, when there is one.
    pub next: Option<String>,
}

/// A request, checked.
struct Plan {
    filter: MemberFilter,
    sort: Option<Sort<MemberSortField>>,
    limit: u64,
    offset: u64,
}

fn plan(query: &MemberQuery) -> Result<Plan> {
    let filter = parse_member_filter(query.filter.as_deref().unwrap_or_default())
        .map_err(|e| Error::invalid(format!("filter: {e}")))?;
    let sort = query
        .sort
        .as_deref()
        .map(parse_member_sort)
        .transpose()
        .map_err(|e| Error::invalid(format!("sort: {e}")))?;
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(Error::invalid(format!(
            "limit: must be between 1 and {MAX_LIMIT}"
        )));
    }
    Ok(Plan {
        filter,
        sort,
        limit,
        offset: query.offset.unwrap_or(0),
    })
}

/// `[text, text + U+10FFFF)`: the strings starting with `text`, as a range an index serves.
fn starts_with(column: Expr, text: &str) -> Condition {
    Condition::all()
        .add(column.clone().gte(text))
        .add(column.lt(format!("{text}\u{10FFFF}")))
}

/// The WHERE clause of a filter: every field given holds, any of a field's alternatives.
pub(crate) fn condition(f: &MemberFilter) -> Condition {
    let mut all = Condition::all();
    if let Some(q) = &f.query {
        all = all.add(
            Condition::any()
                .add(starts_with(Expr::col(C::EmailLower), q))
                .add(starts_with(Expr::cust(MEMBER_DISPLAY_KEY), q))
                .add(starts_with(Expr::cust(MEMBER_LAST_NAME_KEY), q)),
        );
    }
    if !f.roles.is_empty() {
        let mut roles = f.roles.clone();
        // The owner counts as an admin.
        if roles.iter().any(|r| r == "admin") {
            roles.push("owner".to_owned());
        }
        all = all.add(C::Role.is_in(roles));
    }
    if !f.ids.is_empty() {
        all = all.add(C::Id.is_in(f.ids.clone()));
    }
    if !f.emails.is_empty() {
        all = all.add(C::EmailLower.is_in(f.emails.clone()));
    }
    if !f.teams.is_empty() {
        all = all.add(C::Id.in_subquery(team_members(&f.teams)));
    }
    if let Some(no_team) = f.no_team {
        let on_a_team = C::Id.in_subquery(
            Query::select()
                .column(entity::team_member::Column::MemberId)
                .from(entity::team_member::Entity)
                .to_owned(),
        );
        all = all.add(if no_team { on_a_team.not() } else { on_a_team });
    }
    if !f.last_seen.is_empty() {
        let mut any = Condition::any();
        for seen in &f.last_seen {
            any = any.add(match seen {
                LastSeen::Never | LastSeen::NoData => C::LastSeen.is_null(),
                LastSeen::Before(ms) => C::LastSeen.lt(*ms),
            });
        }
        all = all.add(any);
    }
    all
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

/// Orders a select as asked, ties broken by id so that pages never overlap. Members never
/// seen come first in ascending `lastSeen` order; without a sort, by email.
fn ordered(
    select: Select<entity::member::Entity>,
    sort: Option<&Sort<MemberSortField>>,
) -> Select<entity::member::Entity> {
    let Some(sort) = sort else {
        return select.order_by_asc(C::EmailLower).order_by_asc(C::Id);
    };
    let order = if sort.descending {
        Order::Desc
    } else {
        Order::Asc
    };
    let select = match sort.field {
        MemberSortField::DisplayName => {
            select.order_by(Expr::cust(MEMBER_DISPLAY_KEY), order.clone())
        }
        MemberSortField::CreatedAt => select.order_by(C::CreatedAt, order.clone()),
        MemberSortField::LastSeen => {
            let nulls = if sort.descending {
                NullOrdering::Last
            } else {
                NullOrdering::First
            };
            select.order_by_with_nulls(C::LastSeen, order.clone(), nulls)
        }
    };
    select.order_by(C::Id, order)
}

impl Service {
    /// A page of the members matching a query that the caller may view.
    pub async fn list_members(&self, ctx: &Ctx, query: &MemberQuery) -> Result<MemberPage> {
        let plan = plan(query)?;
        let select = ordered(
            entity::member::Entity::find().filter(condition(&plan.filter)),
            plan.sort.as_ref(),
        );
        let (rows, total) =
            if decides_alike_for_every(&ctx.principal, ResourceType::Member, "viewMember") {
                self.page_alike(ctx, select, &plan).await?
            } else {
                self.page_one_by_one(ctx, select, &plan).await?
            };
        let mut items = Vec::with_capacity(rows.len());
        for m in &rows {
            let mut rep = to_rep(self.db(), m).await?;
            rep.access = summarize(&ctx.principal, &Resource::member(&m.id));
            items.push(rep);
        }
        let shown = plan
            .offset
            .saturating_add(u64::try_from(rows.len()).unwrap_or(u64::MAX));
        Ok(MemberPage {
            items,
            total_count: total,
            next: (shown < total).then(|| shown.to_string()),
        })
    }

    /// The database pages and counts; the caller sees every member or none.
    async fn page_alike(
        &self,
        ctx: &Ctx,
        select: Select<entity::member::Entity>,
        plan: &Plan,
    ) -> Result<(Vec<entity::member::Model>, u64)> {
        let total = select.clone().count(self.db()).await?;
        let rows = select
            .offset(plan.offset)
            .limit(plan.limit)
            .all(self.db())
            .await?;
        // One decision stands for all: any member's answer is every member's.
        match rows.first() {
            Some(m)
                if authorize(&ctx.principal, "viewMember", &Resource::member(&m.id)).is_err() =>
            {
                Ok((Vec::new(), 0))
            }
            _ => Ok((rows, total)),
        }
    }

    /// Each matching member is decided; the page is cut from those the caller may view.
    async fn page_one_by_one(
        &self,
        ctx: &Ctx,
        select: Select<entity::member::Entity>,
        plan: &Plan,
    ) -> Result<(Vec<entity::member::Model>, u64)> {
        let ids: Vec<String> = select
            .select_only()
            .column(C::Id)
            .into_tuple()
            .all(self.db())
            .await?;
        let visible: Vec<String> = ids
            .into_iter()
            .filter(|id| authorize(&ctx.principal, "viewMember", &Resource::member(id)).is_ok())
            .collect();
        let total = u64::try_from(visible.len()).unwrap_or(u64::MAX);
        let start = usize::try_from(plan.offset)
            .unwrap_or(usize::MAX)
            .min(visible.len());
        let end = start
            .saturating_add(usize::try_from(plan.limit).unwrap_or(usize::MAX))
            .min(visible.len());
        let page: Vec<String> = visible.get(start..end).unwrap_or_default().to_vec();
        let mut rows = entity::member::Entity::find()
            .filter(C::Id.is_in(page.clone()))
            .all(self.db())
            .await?;
        rows.sort_by_key(|m| page.iter().position(|id| *id == m.id));
        Ok((rows, total))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_checked_and_defaulted() {
        let planned = plan(&MemberQuery::default()).unwrap();
        assert_eq!((planned.limit, planned.offset), (DEFAULT_LIMIT, 0));
        for limit in [0, MAX_LIMIT + 1] {
            let query = MemberQuery {
                limit: Some(limit),
                ..MemberQuery::default()
            };
            assert!(plan(&query).is_err());
        }
        let bad = MemberQuery {
            filter: Some("role:boss".to_owned()),
            ..MemberQuery::default()
        };
        let err = plan(&bad).err().unwrap().to_string();
        assert!(err.contains("filter: \"role:boss\""), "{err}");
    }
}
