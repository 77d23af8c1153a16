//! `GET /api/v2/teams` with LaunchDarkly's team filters (`query:`, `nomembers:`) and sorts
//! (`name`, `memberCount`), run as SQL on indexed columns: the lower-cased key and name, and
//! the member count each team keeps. A page's member ids are read in one query.

use std::collections::HashMap;

use migration::m20261207_000013_directory_query_indexes::{LOWER_KEY, LOWER_NAME};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, Order, QueryFilter, QueryOrder,
    QuerySelect, Select,
};

use super::{Team, rep_with_members};
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
    pub async fn list_teams(&self, ctx: &Ctx, query: &SortedQuery) -> Result<ListPage<Team>> {
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
        let mut members = member_ids_of(self.db(), &rows).await?;
        let items = rows
            .iter()
            .map(|t| rep_with_members(t, members.remove(&t.id).unwrap_or_default()))
            .collect::<Result<Vec<Team>>>()?;
        Ok(ListPage {
            next: plan.window.next(items.len(), total),
            items,
            total_count: total,
        })
    }
}

/// The member ids of each team of a page, sorted, in one query for the whole page.
async fn member_ids_of(
    db: &impl ConnectionTrait,
    teams: &[entity::team::Model],
) -> Result<HashMap<String, Vec<String>>> {
    use entity::team_member::Column as TM;
    if teams.is_empty() {
        return Ok(HashMap::new());
    }
    let pairs: Vec<(String, String)> = entity::team_member::Entity::find()
        .select_only()
        .column(TM::TeamId)
        .column(TM::MemberId)
        .filter(TM::TeamId.is_in(teams.iter().map(|t| t.id.clone())))
        .into_tuple()
        .all(db)
        .await?;
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for (team, member) in pairs {
        out.entry(team).or_default().push(member);
    }
    for ids in out.values_mut() {
        ids.sort();
    }
    Ok(out)
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
