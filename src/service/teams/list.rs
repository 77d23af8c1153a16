//! `GET /api/v2/teams` with LaunchDarkly's team filters (`query:`, `nomembers:`) and sorts
//! (`name`, `memberCount`), run as SQL on indexed columns: the lower-cased key and name, and
//! the member count each team keeps. A page shows each team's member count, never its
//! members, so it reads only the page's team rows.

use migration::m20261207_000013_directory_query_indexes::{LOWER_KEY, LOWER_NAME};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, EntityTrait, Order, QueryFilter, QueryOrder, Select};

use super::{TeamSummary, summary};
use crate::domain::directory_query::{
    Sort, TeamFilter, TeamSortField, parse_team_filter, parse_team_sort,
};
use crate::domain::policy::{Resource, ResourceType};
use crate::error::{Error, Result};
use crate::service::authz::{authorize, decides_alike_for_every};
use crate::service::paging::{
    ListPage, SortedQuery, Window, page_alike, page_one_by_one, starts_with,
};
use crate::service::{Ctx, Service};

use entity::team::Column as C;

/// A request, checked.
struct Plan {
    filter: TeamFilter,
    sort: Option<Sort<TeamSortField>>,
    window: Window,
}

fn plan(query: &SortedQuery) -> Result<Plan> {
    let filter = parse_team_filter(query.filter.as_deref().unwrap_or_default())
        .map_err(|e| Error::invalid(format!("filter: {e}")))?;
    let sort = query
        .sort
        .as_deref()
        .map(parse_team_sort)
        .transpose()
        .map_err(|e| Error::invalid(format!("sort: {e}")))?;
    Ok(Plan {
        filter,
        sort,
        window: Window::new(query.limit, query.offset)?,
    })
}

/// The WHERE clause of a filter.
fn condition(f: &TeamFilter) -> Condition {
    let mut all = Condition::all();
    if let Some(q) = &f.query {
        all = all.add(
            Condition::any()
                .add(starts_with(Expr::cust(LOWER_KEY), q))
                .add(starts_with(Expr::cust(LOWER_NAME), q)),
        );
    }
    match f.no_members {
        Some(true) => all = all.add(C::MemberCount.eq(0)),
        Some(false) => all = all.add(C::MemberCount.gt(0)),
        None => {}
    }
    all
}

/// Orders a select as asked, ties broken by id so that pages never overlap; by key when no
/// sort is given. Names compare ignoring case.
fn ordered(
    select: Select<entity::team::Entity>,
    sort: Option<&Sort<TeamSortField>>,
) -> Select<entity::team::Entity> {
    let Some(sort) = sort else {
        return select.order_by_asc(C::Key);
    };
    let order = if sort.descending {
        Order::Desc
    } else {
        Order::Asc
    };
    let select = match sort.field {
        TeamSortField::Name => select.order_by(Expr::cust(LOWER_NAME), order.clone()),
        TeamSortField::MemberCount => select.order_by(C::MemberCount, order.clone()),
    };
    select.order_by(C::Id, order)
}

impl Service {
    /// A page of the teams matching a query that the caller may view.
    pub async fn list_teams(
        &self,
        ctx: &Ctx,
        query: &SortedQuery,
    ) -> Result<ListPage<TeamSummary>> {
        let plan = plan(query)?;
        let select = ordered(
            entity::team::Entity::find().filter(condition(&plan.filter)),
            plan.sort.as_ref(),
        );
        let may_view =
            |key: &str| authorize(&ctx.principal, "viewTeam", &Resource::team(key)).is_ok();
        let (rows, total) =
            if decides_alike_for_every(&ctx.principal, ResourceType::Team, "viewTeam") {
                page_alike(self.db(), select, plan.window, |t| may_view(&t.key)).await?
            } else {
                page_one_by_one(self.db(), select, C::Key, |t| &t.key, plan.window, may_view)
                    .await?
            };
        let items = rows.iter().map(summary).collect::<Result<Vec<_>>>()?;
        Ok(ListPage {
            next: plan.window.next(items.len(), total),
            items,
            total_count: total,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_filter_or_sort_is_named() {
        let bad = SortedQuery {
            filter: Some("nomembers:maybe".to_owned()),
            ..SortedQuery::default()
        };
        let err = plan(&bad).err().unwrap().to_string();
        assert!(err.contains("filter: \"nomembers:maybe\""), "{err}");
        let bad = SortedQuery {
            sort: Some("-key".to_owned()),
            ..SortedQuery::default()
        };
        let err = plan(&bad).err().unwrap().to_string();
        assert!(err.contains("sort: \"-key\""), "{err}");
    }
}
