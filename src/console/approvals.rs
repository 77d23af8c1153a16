//! `/console/approvals`: the requests waiting for the viewer's review, those ready to apply,
//! and the viewer's own; a request's page shows its change as a before/after diff with the
//! review and apply forms. Every action runs the REST command with the viewer's session.

use maud::{Markup, html};
use poem::http::StatusCode;
use poem::web::{Data, Form, Path};
use poem::{Request, Response, handler};
use serde::Deserialize;

use super::auth::{Viewer, form_poster, signed_in};
use super::diff::json_diff;
use super::error::{ConsoleResult, form_of, page_or_error};
use super::format::{json, time};
use super::page::{Section, csrf_field, frame, respond, see_other};
use crate::error::Error;
use crate::service::Service;
use crate::service::approvals::{ApplyPost, ApprovalRequest, ApprovalRequestQuery, ReviewPost};
use crate::service::spelled::Spelled;

/// The viewer's own requests shown.
const OWN_SHOWN: u64 = 50;

/// `GET /console/approvals`.
#[handler]
pub async fn inbox(req: &Request, service: Data<&Service>) -> Response {
    page_or_error(inbox_page(&service, req).await)
}

async fn inbox_page(service: &Service, req: &Request) -> ConsoleResult {
    let viewer = signed_in(service, req).await?;
    let waiting = service.approval_inbox(&viewer.ctx).await?;
    let own = service
        .list_approval_requests(
            &viewer.ctx,
            ApprovalRequestQuery {
                requestor_id: Some(viewer.member_id.clone()),
                limit: Some(OWN_SHOWN),
                ..Default::default()
            },
        )
        .await?
        .items;
    let body = html! {
        (request_table("to-review", "Waiting for your review", &waiting.to_review, "Nothing waits for your review."))
        (request_table("to-apply", "Approved, ready for you to apply", &waiting.to_apply, "Nothing is ready to apply."))
        (request_table("own", "Your requests", &own, "You have made no requests."))
    };
    Ok(respond(
        StatusCode::OK,
        frame("Approvals", Some(&viewer), Section::Approvals, body),
    ))
}

fn request_table(id: &str, title: &str, rows: &[ApprovalRequest], empty: &str) -> Markup {
    html! {
        section aria-labelledby=(id) {
            h2 id=(id) { (title) }
            @if rows.is_empty() { p { (empty) } } @else {
                table {
                    thead { tr {
                        th scope="col" { "Request" } th scope="col" { "Resource" }
                        th scope="col" { "State" } th scope="col" { "Made" }
                    } }
                    tbody {
                        @for r in rows {
                            tr {
                                td { a href=(format!("/console/approvals/{}", r.id)) { (r.description) } }
                                td { code { (r.resource_id) } }
                                td { (r.status) ", " (r.review_status) }
                                td { (time(r.creation_date)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /console/approvals/{id}`.
#[handler]
pub async fn detail(req: &Request, service: Data<&Service>, id: Path<String>) -> Response {
    page_or_error(detail_page(&service, req, &id).await)
}

async fn detail_page(service: &Service, req: &Request, id: &str) -> ConsoleResult {
    let viewer = signed_in(service, req).await?;
    let request = service.get_approval_request(&viewer.ctx, id).await?;
    let preview = service.preview_approval_change(&viewer.ctx, id).await?;
    let actions = service.approval_actions(&viewer.ctx, id).await?;
    let pending = request.status == "pending";
    let body = html! {
        table {
            tbody {
                tr { th scope="row" { "Description" } td { (request.description) } }
                tr { th scope="row" { "Resource" } td { code { (request.resource_id) } } }
                tr { th scope="row" { "State" } td { (request.status) ", " (request.review_status) } }
                tr { th scope="row" { "Requested by" } td { (request.requestor_id.as_deref().or(request.requestor_token_id.as_deref()).unwrap_or("")) } }
                tr { th scope="row" { "Made" } td { (time(request.creation_date)) } }
                tr { th scope="row" { "Revision" } td { (request.revision) } }
            }
        }
        section aria-labelledby="change" {
            h2 id="change" { "The change" }
            (json_diff(&preview.before, &preview.after))
            details {
                summary { "Instructions" }
                pre { (json(&serde_json::Value::Array(request.instructions.clone()))) }
            }
        }
        @if !request.conflicts.is_empty() {
            section aria-labelledby="conflicts" {
                h2 id="conflicts" { "Conflicts" }
                ul { @for c in &request.conflicts { li { (c.reason) } } }
            }
        }
        section aria-labelledby="reviews" {
            h2 id="reviews" { "Reviews" }
            @if request.all_reviews.is_empty() { p { "No reviews yet." } }
            ul {
                @for r in &request.all_reviews {
                    li {
                        strong { (r.kind) } " by "
                        (r.member_id.as_deref().or(r.service_token_id.as_deref()).unwrap_or(""))
                        " at " (time(r.creation_date))
                        @if r.voided { " (voided by a later edit)" }
                        @if let Some(c) = &r.comment { blockquote { (c) } }
                    }
                }
            }
        }
        @if pending && actions.review {
            (review_form(&viewer, &request))
        }
        @if pending && actions.apply && request.review_status == "approved" {
            form class="stack" method="post" action=(format!("/console/approvals/{}/apply", request.id)) {
                (csrf_field(&viewer))
                fieldset {
                    legend { "Apply" }
                    label for="apply-comment" { "Comment (optional)" }
                    textarea id="apply-comment" name="comment" rows="2" {}
                    p { button type="submit" { "Apply the change" } }
                }
            }
        }
        p { a href="/console/approvals" { "Back to approvals" } }
    };
    Ok(respond(
        StatusCode::OK,
        frame("Approval request", Some(&viewer), Section::Approvals, body),
    ))
}

fn review_form(viewer: &Viewer, request: &ApprovalRequest) -> Markup {
    html! {
        form class="stack" method="post" action=(format!("/console/approvals/{}/reviews", request.id)) {
            (csrf_field(viewer))
            fieldset {
                legend { "Review" }
                label { input type="radio" name="kind" value="approve" required; " Approve" }
                label { input type="radio" name="kind" value="decline"; " Decline" }
                label { input type="radio" name="kind" value="comment"; " Comment only" }
                label for="review-comment" { "Comment" }
                textarea id="review-comment" name="comment" rows="3" {}
                p { button type="submit" { "Send review" } }
            }
        }
    }
}

/// The review and apply forms.
#[derive(Debug, Deserialize)]
pub struct ReviewForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    comment: String,
}

/// `POST /console/approvals/{id}/reviews`.
#[handler]
pub async fn review(
    req: &Request,
    service: Data<&Service>,
    id: Path<String>,
    form: poem::Result<Form<ReviewForm>>,
) -> Response {
    page_or_error(
        async {
            let form = form_of(form)?;
            let viewer = form_poster(&service, req, &form.csrf).await?;
            if !matches!(form.kind.as_str(), "approve" | "decline" | "comment") {
                return Err(Error::invalid("kind: approve, decline or comment").into());
            }
            service
                .review_approval_request(
                    &viewer.ctx,
                    &id,
                    ReviewPost {
                        kind: Spelled::new(form.kind),
                        comment: comment(form.comment),
                    },
                )
                .await?;
            Ok(see_other(&format!("/console/approvals/{}", id.0)))
        }
        .await,
    )
}

/// `POST /console/approvals/{id}/apply`.
#[handler]
pub async fn apply(
    req: &Request,
    service: Data<&Service>,
    id: Path<String>,
    form: poem::Result<Form<ReviewForm>>,
) -> Response {
    page_or_error(
        async {
            let form = form_of(form)?;
            let viewer = form_poster(&service, req, &form.csrf).await?;
            service
                .apply_approval_request(
                    &viewer.ctx,
                    &id,
                    ApplyPost {
                        comment: comment(form.comment),
                    },
                )
                .await?;
            Ok(see_other(&format!("/console/approvals/{}", id.0)))
        }
        .await,
    )
}

fn comment(text: String) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}
