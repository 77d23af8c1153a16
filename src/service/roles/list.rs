//! `GET /api/v2/roles?filter=query:<text>&limit=&offset=`: custom roles whose key or name
//! starts with the text (ignoring case), by key, paged in SQL on the lower-cased key and name.

use migration::m20261207_000013_directory_query_indexes::{LOWER_KEY, LOWER_NAME};
use sea_orm::sea_query::Expr;
use sea_orm::{Condition, EntityTrait, QueryFilter, QueryOrder};

use super::{Role, to_rep};
use crate::domain::directory_query::parse_text_filter;
use crate::domain::policy::{Resource, ResourceType};
use crate::error::{Error, Result};
use crate::service::access::summarize;
use crate::service::authz::{authorize, decides_alike_for_every};
use crate::service::paging::{
    ListPage, TextQuery, Window, page_alike, page_one_by_one, starts_with,
};
use crate::service::{Ctx, Service};

use entity::custom_role::Column as C;

impl Service {
    /// A page of the custom roles matching a query that the caller may view, by key.
    pub async fn list_roles(&self, ctx: &Ctx, query: &TextQuery) -> Result<ListPage<Role>> {
        let filter = parse_text_filter(query.filter.as_deref().unwrap_or_default())
            .map_err(|e| Error::invalid(format!("filter: {e}")))?;
        let window = Window::new(query.limit, query.offset)?;
        let mut matching = Condition::all();
        if let Some(q) = &filter.query {
            matching = matching.add(
                Condition::any()
                    .add(starts_with(Expr::cust(LOWER_KEY), q))
                    .add(starts_with(Expr::cust(LOWER_NAME), q)),
            );
        }
        let select = entity::custom_role::Entity::find()
            .filter(matching)
            .order_by_asc(C::Key);
        let may_view =
            |key: &str| authorize(&ctx.principal, "viewRole", &Resource::role(key)).is_ok();
        let (rows, total) =
            if decides_alike_for_every(&ctx.principal, ResourceType::Role, "viewRole") {
                page_alike(self.db(), select, window, |r| may_view(&r.key)).await?
            } else {
                page_one_by_one(self.db(), select, C::Key, |r| &r.key, window, may_view).await?
            };
        let mut items = Vec::with_capacity(rows.len());
        for m in &rows {
            let mut rep = to_rep(m)?;
            rep.access = summarize(&ctx.principal, &Resource::role(&m.key));
            items.push(rep);
        }
        Ok(ListPage {
            next: window.next(items.len(), total),
            items,
            total_count: total,
        })
    }
}
