//! Listing approval requests: the query's filters, which requests the caller may see, and
//! pages.

use std::collections::BTreeMap;

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};

use super::shapes::{ApprovalRequest, ApprovalRequestPage, ApprovalRequestQuery};
use super::steps::list_filter;
use super::stored::{parse_resource_id, rep};
use crate::domain::approval::{
    EnvironmentApprovalSettings, RequestStatus, ResourceKind, ReviewStatus,
};
use crate::error::{Error, Result};
use crate::service::approval_settings::env_settings;
use crate::service::authz::authorize;
use crate::service::{Ctx, Service, projects};

/// Default and largest page of `GET /api/v2/approval-requests` (LaunchDarkly's numbers).
const DEFAULT_LIMIT: u64 = 20;
const MAX_LIMIT: u64 = 200;

/// The reviews of the listed requests, by request id, in the order they were made.
type ReviewsByRequest = BTreeMap<String, Vec<entity::approval_review::Model>>;

/// A list query, validated.
#[derive(Debug, PartialEq)]
pub(super) struct ListFilter {
    statuses: Option<Vec<RequestStatus>>,
    review_statuses: Option<Vec<ReviewStatus>>,
    requestor_id: Option<String>,
    /// The canonical form of the queried `resourceId`.
    resource_id: Option<String>,
    project_key: Option<String>,
    offset: usize,
    page_size: usize,
}

impl Service {
    /// Lists requests the caller may see (`viewProject` on their project), newest first.
    pub async fn list_approval_requests(
        &self,
        ctx: &Ctx,
        query: ApprovalRequestQuery,
    ) -> Result<ApprovalRequestPage> {
        let filter = parse_list_query(&query)?;
        let rows = matching_rows(self.db(), &filter).await?;
        let reviews = reviews_by_request(self.db(), &rows).await?;
        let items = self
            .visible_reps(ctx, &rows, &reviews, filter.review_statuses.as_deref())
            .await?;
        let total_count = items.len() as u64;
        let next = next_cursor(items.len(), filter.offset, filter.page_size);
        let items = items
            .into_iter()
            .skip(filter.offset)
            .take(filter.page_size)
            .collect();
        Ok(ApprovalRequestPage {
            items,
            total_count,
            next,
        })
    }

    /// The requests of projects the caller may view, with the review statuses asked for.
    /// Projects and environments are read once each, however many requests they hold.
    pub(super) async fn visible_reps(
        &self,
        ctx: &Ctx,
        rows: &[entity::approval_request::Model],
        reviews: &ReviewsByRequest,
        review_statuses: Option<&[ReviewStatus]>,
    ) -> Result<Vec<ApprovalRequest>> {
        let mut envs: BTreeMap<String, Option<EnvironmentApprovalSettings>> = BTreeMap::new();
        let mut visible_projects: BTreeMap<String, bool> = BTreeMap::new();
        let mut items = Vec::new();
        for row in rows {
            if !visible_projects.contains_key(&row.project_id) {
                let visible = project_visible(self.db(), ctx, &row.project_id).await?;
                visible_projects.insert(row.project_id.clone(), visible);
            }
            if visible_projects.get(&row.project_id) != Some(&true) {
                continue;
            }
            if !envs.contains_key(&row.environment_id) {
                let settings = environment_settings(self.db(), &row.environment_id).await?;
                envs.insert(row.environment_id.clone(), settings);
            }
            let settings = envs
                .get(&row.environment_id)
                .cloned()
                .flatten()
                .unwrap_or_default();
            let kind = ResourceKind::parse(&row.resource_kind)
                .ok_or_else(|| Error::internal("stored approval request has an unknown kind"))?;
            let r = rep(
                row,
                reviews.get(&row.id).map(Vec::as_slice).unwrap_or(&[]),
                settings.for_kind(kind),
            )?;
            if review_status_wanted(review_statuses, &r.review_status) {
                items.push(r);
            }
        }
        Ok(items)
    }
}

/// The requests matching the filter's columns, newest first.
pub(super) async fn matching_rows(
    db: &impl ConnectionTrait,
    filter: &ListFilter,
) -> Result<Vec<entity::approval_request::Model>> {
    use entity::approval_request::Column as C;
    let mut find = entity::approval_request::Entity::find();
    if let Some(s) = &filter.statuses {
        find = find.filter(C::Status.is_in(s.iter().map(|s| s.as_str())));
    }
    if let Some(r) = &filter.requestor_id {
        find = find.filter(C::RequestorMemberId.eq(r.clone()));
    }
    if let Some(canonical) = &filter.resource_id {
        find = find.filter(C::ResourceId.eq(canonical.clone()));
    }
    if let Some(p) = &filter.project_key {
        find = find.filter(C::ProjectKey.eq(p.clone()));
    }
    Ok(find
        .order_by_desc(C::CreatedAt)
        .order_by_desc(C::Id)
        .all(db)
        .await?)
}

/// The reviews of `rows`, read in chunks so no query carries too many parameters.
pub(super) async fn reviews_by_request(
    db: &impl ConnectionTrait,
    rows: &[entity::approval_request::Model],
) -> Result<ReviewsByRequest> {
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let mut reviews = ReviewsByRequest::new();
    for chunk in ids.chunks(500) {
        for r in entity::approval_review::Entity::find()
            .filter(entity::approval_review::Column::RequestId.is_in(chunk.to_vec()))
            .order_by_asc(entity::approval_review::Column::Position)
            .all(db)
            .await?
        {
            reviews.entry(r.request_id.clone()).or_default().push(r);
        }
    }
    Ok(reviews)
}

/// Whether the caller may view the project (a project gone since is not visible).
async fn project_visible(db: &impl ConnectionTrait, ctx: &Ctx, project_id: &str) -> Result<bool> {
    Ok(
        match entity::project::Entity::find_by_id(project_id.to_owned())
            .one(db)
            .await?
        {
            Some(p) => authorize(&ctx.principal, "viewProject", &projects::resource(&p)?).is_ok(),
            None => false,
        },
    )
}

/// The environment's approval settings, `None` when the environment is gone.
async fn environment_settings(
    db: &impl ConnectionTrait,
    environment_id: &str,
) -> Result<Option<EnvironmentApprovalSettings>> {
    match entity::environment::Entity::find_by_id(environment_id.to_owned())
        .one(db)
        .await?
    {
        Some(e) => Ok(Some(env_settings(&e)?)),
        None => Ok(None),
    }
}

/// Validates a list query; the errors name the parameter.
pub(super) fn parse_list_query(query: &ApprovalRequestQuery) -> Result<ListFilter> {
    let statuses = list_filter("status", query.status.as_deref(), RequestStatus::parse)?;
    let review_statuses = list_filter(
        "reviewStatus",
        query.review_status.as_deref(),
        ReviewStatus::parse,
    )?;
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(Error::invalid(format!(
            "limit: must be between 1 and {MAX_LIMIT}"
        )));
    }
    let offset: usize = match &query.cursor {
        None => 0,
        Some(c) => c
            .parse()
            .map_err(|_| Error::invalid("cursor: not a cursor this API returned"))?,
    };
    let resource_id = match &query.resource_id {
        Some(r) => Some(parse_resource_id(r)?.canonical()),
        None => None,
    };
    Ok(ListFilter {
        statuses,
        review_statuses,
        requestor_id: query.requestor_id.clone(),
        resource_id,
        project_key: query.project_key.clone(),
        offset,
        page_size: usize::try_from(limit).unwrap_or(usize::MAX),
    })
}

/// Whether a request with this review status passes the `reviewStatus` filter (none: all do).
fn review_status_wanted(wanted: Option<&[ReviewStatus]>, review_status: &str) -> bool {
    wanted.is_none_or(|w| w.iter().any(|s| s.as_str() == review_status))
}

/// The cursor of the page after the one at `offset`, when more items follow it.
fn next_cursor(total: usize, offset: usize, page_size: usize) -> Option<String> {
    (offset.saturating_add(page_size) < total).then(|| (offset + page_size).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(result: Result<ListFilter>) -> String {
        match result {
            Err(Error::InvalidRequest(m)) => m,
            other => panic!("expected an invalid request, got {other:?}"),
        }
    }

    #[test]
    fn an_empty_query_lists_everything_in_pages_of_twenty() {
        let filter = parse_list_query(&ApprovalRequestQuery::default()).unwrap();
        assert_eq!(
            filter,
            ListFilter {
                statuses: None,
                review_statuses: None,
                requestor_id: None,
                resource_id: None,
                project_key: None,
                offset: 0,
                page_size: 20,
            }
        );
    }

    #[test]
    fn filters_are_parsed_and_the_resource_id_made_canonical() {
        let filter = parse_list_query(&ApprovalRequestQuery {
            status: Some("pending, failed".to_owned()),
            review_status: Some("approved".to_owned()),
            resource_id: Some("proj/web:env/production:var/API_URL".to_owned()),
            limit: Some(200),
            cursor: Some("40".to_owned()),
            ..ApprovalRequestQuery::default()
        })
        .unwrap();
        assert_eq!(
            filter.statuses,
            Some(vec![RequestStatus::Pending, RequestStatus::Failed])
        );
        assert_eq!(filter.review_statuses, Some(vec![ReviewStatus::Approved]));
        assert_eq!(
            filter.resource_id.as_deref(),
            Some("proj/web:env/production:var/API_URL")
        );
        assert_eq!((filter.offset, filter.page_size), (40, 200));
    }

    #[test]
    fn bad_parameters_are_refused_by_name() {
        let query = |q: ApprovalRequestQuery| message(parse_list_query(&q));
        assert_eq!(
            query(ApprovalRequestQuery {
                status: Some("open".to_owned()),
                ..ApprovalRequestQuery::default()
            }),
            "status: \"open\" is not a known value"
        );
        for limit in [0, 201] {
            assert_eq!(
                query(ApprovalRequestQuery {
                    limit: Some(limit),
                    ..ApprovalRequestQuery::default()
                }),
                "limit: must be between 1 and 200"
            );
        }
        assert_eq!(
            query(ApprovalRequestQuery {
                cursor: Some("next".to_owned()),
                ..ApprovalRequestQuery::default()
            }),
            "cursor: not a cursor this API returned"
        );
    }

    #[test]
    fn the_review_status_filter_keeps_only_the_statuses_asked_for() {
        assert!(review_status_wanted(None, "declined"));
        let wanted = [ReviewStatus::Pending, ReviewStatus::Approved];
        assert!(review_status_wanted(Some(&wanted), "approved"));
        assert!(!review_status_wanted(Some(&wanted), "declined"));
    }

    #[test]
    fn a_next_cursor_exists_only_while_items_follow_the_page() {
        assert_eq!(next_cursor(45, 0, 20), Some("20".to_owned()));
        assert_eq!(next_cursor(45, 20, 20), Some("40".to_owned()));
        assert_eq!(next_cursor(45, 40, 20), None);
        assert_eq!(next_cursor(40, 20, 20), None);
        assert_eq!(next_cursor(3, 0, usize::MAX), None);
    }
}
