//! The access review: every member and every API token, with status, base role, custom roles
//! and teams, each with the source that granted it, streamed as JSON lines or CSV.
//!
//! Memory stays bounded whatever the directory's size: rows are read in keyset pages by id,
//! each page's team memberships, teams and token counts in one query each, and every page is
//! rendered and handed to the response body before the next is read. Pages are separate
//! reads, so a review taken during changes shows each row as it was when its page was read.

use std::collections::{BTreeMap, HashMap};

use futures_util::Stream;
use futures_util::stream;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::domain::access_review::{Grant, ReviewRow, RowKind, SignIn, csv_header};
use crate::domain::grant_source::{CustomRoleSources, GrantSource};
use crate::domain::policy::Resource;
use crate::error::Result;
use crate::service::authz::authorize;
use crate::service::util::{from_json, rows_where_in, values_per_statement};
use crate::service::{Ctx, Service};

/// Rows read and rendered at a time.
pub const REVIEW_PAGE: u64 = 1_000;

/// How the review is rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewFormat {
    JsonLines,
    Csv,
}

/// Where the stream is: members after an id, then tokens after an id.
enum Cursor {
    Start,
    Members(Option<String>),
    Tokens(Option<String>),
    Done,
}

impl Service {
    /// The review as a stream of rendered chunks (one per page). Everything it shows must be
    /// viewable: `viewMember` on every member, `viewTeam` on every team and `viewToken` on
    /// every token; a partial review would read as a complete one, so there is none.
    pub fn access_review(
        &self,
        ctx: &Ctx,
        format: ReviewFormat,
    ) -> Result<impl Stream<Item = Result<Vec<u8>>> + Send + 'static> {
        let p = &ctx.principal;
        authorize(p, "viewMember", &Resource::member("*"))?;
        authorize(p, "viewTeam", &Resource::team("*"))?;
        authorize(p, "viewToken", &Resource::member("*").token("*"))?;
        authorize(p, "viewToken", &Resource::service_token("*"))?;
        let db = self.db().clone();
        let now = self.now_ms();
        Ok(stream::try_unfold(Cursor::Start, move |cursor| {
            let db = db.clone();
            async move { next_chunk(&db, cursor, format, now).await }
        }))
    }
}

impl Service {
    /// One member's row of the review: base role, custom roles and teams with their sources,
    /// last sign-in and live token count. A member may always read their own; anyone else
    /// needs `viewMember` on the member and `viewTeam` on the teams shown.
    pub async fn member_access(&self, ctx: &Ctx, member_id: &str) -> Result<ReviewRow> {
        let p = &ctx.principal;
        if p.member().is_none_or(|me| me.id != member_id) {
            authorize(p, "viewMember", &Resource::member(member_id))?;
            authorize(p, "viewTeam", &Resource::team("*"))?;
        }
        let db = self.db();
        let m = crate::service::member_rows::find(db, member_id).await?;
        let ids = [m.id.clone()];
        let memberships = memberships_of(db, &ids).await?;
        let tokens = live_token_counts(db, &ids, self.now_ms()).await?;
        let held = memberships
            .get(&m.id)
            .map(Vec::as_slice)
            .unwrap_or_default();
        member_row(&m, held, tokens.get(&m.id).copied().unwrap_or(0))
    }
}

/// The next rendered chunk and where to go on; `None` at the end.
async fn next_chunk(
    db: &DatabaseConnection,
    cursor: Cursor,
    format: ReviewFormat,
    now: i64,
) -> Result<Option<(Vec<u8>, Cursor)>> {
    let (rows, next) = match cursor {
        Cursor::Start => {
            let header = match format {
                ReviewFormat::Csv => csv_header().into_bytes(),
                ReviewFormat::JsonLines => Vec::new(),
            };
            return Ok(Some((header, Cursor::Members(None))));
        }
        Cursor::Members(after) => {
            let page = member_page(db, after.as_deref(), now).await?;
            let next = match page.last() {
                Some(last) if page.len() as u64 == REVIEW_PAGE => {
                    Cursor::Members(Some(last.id.clone()))
                }
                _ => Cursor::Tokens(None),
            };
            (page, next)
        }
        Cursor::Tokens(after) => {
            let page = token_page(db, after.as_deref(), now).await?;
            let next = match page.last() {
                Some(last) if page.len() as u64 == REVIEW_PAGE => {
                    Cursor::Tokens(Some(last.id.clone()))
                }
                _ => Cursor::Done,
            };
            (page, next)
        }
        Cursor::Done => return Ok(None),
    };
    let mut chunk = Vec::with_capacity(rows.len() * 256);
    for row in &rows {
        let line = match format {
            ReviewFormat::JsonLines => row.json_line(),
            ReviewFormat::Csv => row.csv_line(),
        };
        chunk.extend_from_slice(line.as_bytes());
    }
    Ok(Some((chunk, next)))
}

/// A page of member rows after `after` (by id), with their teams and token counts.
async fn member_page(
    db: &DatabaseConnection,
    after: Option<&str>,
    now: i64,
) -> Result<Vec<ReviewRow>> {
    use entity::member::{Column, Entity};
    let mut query = Entity::find().order_by_asc(Column::Id).limit(REVIEW_PAGE);
    if let Some(after) = after {
        query = query.filter(Column::Id.gt(after));
    }
    let members = query.all(db).await?;
    if members.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = members.iter().map(|m| m.id.clone()).collect();
    let memberships = memberships_of(db, &ids).await?;
    let tokens = live_token_counts(db, &ids, now).await?;
    members
        .iter()
        .map(|m| {
            let held = memberships
                .get(&m.id)
                .map(Vec::as_slice)
                .unwrap_or_default();
            member_row(m, held, tokens.get(&m.id).copied().unwrap_or(0))
        })
        .collect()
}

/// A team membership as the review shows it.
struct Membership {
    team_key: String,
    team_roles: Vec<String>,
    source: GrantSource,
}

/// The memberships of the members `ids`, by member id, teams in key order: two queries.
async fn memberships_of(
    db: &DatabaseConnection,
    ids: &[String],
) -> Result<HashMap<String, Vec<Membership>>> {
    let links = rows_where_in::<entity::team_member::Entity>(
        db,
        entity::team_member::Column::MemberId,
        ids,
    )
    .await?;
    let mut team_ids: Vec<String> = links.iter().map(|l| l.team_id.clone()).collect();
    team_ids.sort();
    team_ids.dedup();
    let teams: HashMap<String, entity::team::Model> = if team_ids.is_empty() {
        HashMap::new()
    } else {
        entity::team::Entity::find()
            .filter(entity::team::Column::Id.is_in(team_ids))
            .all(db)
            .await?
            .into_iter()
            .map(|t| (t.id.clone(), t))
            .collect()
    };
    let mut out: HashMap<String, Vec<Membership>> = HashMap::new();
    for link in links {
        let Some(team) = teams.get(&link.team_id) else {
            continue;
        };
        out.entry(link.member_id).or_default().push(Membership {
            team_key: team.key.clone(),
            team_roles: from_json(&team.custom_roles)?,
            source: GrantSource::parse(link.source.as_deref()),
        });
    }
    for list in out.values_mut() {
        list.sort_by(|a, b| a.team_key.cmp(&b.team_key));
    }
    Ok(out)
}

/// How many live (neither revoked nor expired) personal tokens each of `ids` has: one query.
async fn live_token_counts(
    db: &DatabaseConnection,
    ids: &[String],
    now: i64,
) -> Result<HashMap<String, u64>> {
    use entity::api_token::{Column, Entity};
    let mut counts: Vec<(Option<String>, i64)> = Vec::new();
    for chunk in ids.chunks(values_per_statement(db.get_database_backend(), 1)) {
        counts.extend(
            Entity::find()
                .select_only()
                .column(Column::OwnerId)
                .column_as(Expr::col(Column::Id).count(), "n")
                .filter(Column::OwnerId.is_in(chunk.to_vec()))
                .filter(Column::RevokedAt.is_null())
                .filter(
                    sea_orm::Condition::any()
                        .add(Column::ExpiresAt.is_null())
                        .add(Column::ExpiresAt.gt(now)),
                )
                .group_by(Column::OwnerId)
                .into_tuple::<(Option<String>, i64)>()
                .all(db)
                .await?,
        );
    }
    Ok(counts
        .into_iter()
        .filter_map(|(owner, n)| Some((owner?, u64::try_from(n).unwrap_or(0))))
        .collect())
}

/// A member's row: its own grants with their recorded sources, then the custom roles its
/// teams give it (`team:<key>`).
fn member_row(
    m: &entity::member::Model,
    memberships: &[Membership],
    personal_tokens: u64,
) -> Result<ReviewRow> {
    let own: Vec<String> = from_json(&m.custom_roles)?;
    let sources: CustomRoleSources = match &m.custom_role_sources {
        Some(json) => from_json(json)?,
        None => BTreeMap::new(),
    };
    let mut custom_roles: Vec<Grant> = own
        .iter()
        .map(|k| Grant::new(k, &GrantSource::parse(sources.get(k).map(String::as_str))))
        .collect();
    for team in memberships {
        for key in &team.team_roles {
            custom_roles.push(Grant::new(key, &GrantSource::team(&team.team_key)));
        }
    }
    Ok(ReviewRow {
        kind: RowKind::Member,
        id: m.id.clone(),
        name: m.email.clone(),
        status: m.status.clone(),
        role: Some(Grant::new(
            &m.role,
            &GrantSource::parse(m.role_source.as_deref()),
        )),
        custom_roles,
        teams: memberships
            .iter()
            .map(|t| Grant::new(&t.team_key, &t.source))
            .collect(),
        last_seen: m.last_seen,
        last_sign_in: m.last_sign_in_at.map(|at| SignIn {
            at,
            connection: m.last_sign_in_connection.clone(),
            protocol: m.last_sign_in_protocol.clone(),
        }),
        personal_tokens: Some(personal_tokens),
        owner_id: None,
        expires_at: None,
    })
}

/// A page of token rows after `after` (by id).
async fn token_page(
    db: &DatabaseConnection,
    after: Option<&str>,
    now: i64,
) -> Result<Vec<ReviewRow>> {
    use entity::api_token::{Column, Entity};
    let mut query = Entity::find().order_by_asc(Column::Id).limit(REVIEW_PAGE);
    if let Some(after) = after {
        query = query.filter(Column::Id.gt(after));
    }
    query
        .all(db)
        .await?
        .iter()
        .map(|t| token_row(t, now))
        .collect()
}

/// A token's row: what the token holds, granted by whoever created it.
fn token_row(t: &entity::api_token::Model, now: i64) -> Result<ReviewRow> {
    let source = match &t.created_by {
        Some(creator) => GrantSource::rest(creator),
        None => GrantSource::Unknown,
    };
    let custom_roles: Vec<String> = from_json(&t.custom_roles)?;
    let status = if t.revoked_at.is_some() {
        "revoked"
    } else if t.expires_at.is_some_and(|e| e <= now) {
        "expired"
    } else {
        "active"
    };
    Ok(ReviewRow {
        kind: RowKind::Token,
        id: t.id.clone(),
        name: t.name.clone(),
        status: status.to_owned(),
        role: t.role.as_deref().map(|r| Grant::new(r, &source)),
        custom_roles: custom_roles
            .iter()
            .map(|k| Grant::new(k, &source))
            .collect(),
        teams: Vec::new(),
        last_seen: t.last_used,
        last_sign_in: None,
        personal_tokens: None,
        owner_id: t.owner_id.clone(),
        expires_at: t.expires_at,
    })
}
