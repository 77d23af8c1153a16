//! `GET /api/v2/tokens?filter=query:<text>&limit=&offset=`: the tokens whose name starts with
//! the text (ignoring case), oldest first. The database filters and orders; visibility is
//! decided per token (own personal tokens always, others by `viewToken`), reading only each
//! match's id and owner, and then the page's rows.

use migration::m20261207_000013_directory_query_indexes::LOWER_NAME;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::{Token, resource_of, to_rep};
use crate::domain::directory_query::parse_text_filter;
use crate::error::{Error, Result};
use crate::service::authz::authorize;
use crate::service::paging::{ListPage, TextQuery, Window, starts_with};
use crate::service::{Ctx, Service};

use entity::api_token::Column as C;

impl Service {
    /// A page of the tokens matching a query that the caller may view, oldest first.
    pub async fn list_tokens(&self, ctx: &Ctx, query: &TextQuery) -> Result<ListPage<Token>> {
        let filter = parse_text_filter(query.filter.as_deref().unwrap_or_default())
            .map_err(|e| Error::invalid(format!("filter: {e}")))?;
        let window = Window::new(query.limit, query.offset)?;
        let mut matching = Condition::all();
        if let Some(q) = &filter.query {
            matching = matching.add(starts_with(Expr::cust(LOWER_NAME), q));
        }
        let matches: Vec<(String, Option<String>)> = entity::api_token::Entity::find()
            .select_only()
            .column(C::Id)
            .column(C::OwnerId)
            .filter(matching)
            .order_by_asc(C::CreatedAt)
            .order_by_asc(C::Id)
            .into_tuple()
            .all(self.db())
            .await?;
        let me = ctx.principal.member().map(|m| m.id.as_str());
        let visible: Vec<String> = matches
            .into_iter()
            .filter(|(id, owner)| {
                let own = me.is_some() && owner.as_deref() == me;
                own || authorize(
                    &ctx.principal,
                    "viewToken",
                    &resource_of(id, owner.as_deref()),
                )
                .is_ok()
            })
            .map(|(id, _)| id)
            .collect();
        let total = u64::try_from(visible.len()).unwrap_or(u64::MAX);
        let page = window.cut(&visible);
        let mut rows = entity::api_token::Entity::find()
            .filter(C::Id.is_in(page.clone()))
            .all(self.db())
            .await?;
        rows.sort_by_key(|t| page.iter().position(|id| *id == t.id));
        let items = rows.iter().map(to_rep).collect::<Result<Vec<Token>>>()?;
        Ok(ListPage {
            next: window.next(items.len(), total),
            items,
            total_count: total,
        })
    }
}

impl Service {
    /// The caller's own personal tokens, oldest first (none for a caller that is not a
    /// member): one indexed query, whatever the number of tokens others hold.
    pub async fn list_own_tokens(&self, ctx: &Ctx) -> Result<Vec<Token>> {
        let Some(me) = ctx.principal.member() else {
            return Ok(Vec::new());
        };
        entity::api_token::Entity::find()
            .filter(C::OwnerId.eq(me.id.clone()))
            .order_by_asc(C::CreatedAt)
            .order_by_asc(C::Id)
            .all(self.db())
            .await?
            .iter()
            .map(to_rep)
            .collect()
    }
}
