//! The SCIM edge at `/scim/v2`: plain poem handlers (SCIM speaks `application/scim+json` with
//! RFC 7644 errors, which the REST OpenAPI document does not describe). Each handler
//! authenticates the connection's bearer token, parses, calls one service command, renders.

use poem::http::{StatusCode, header};
use poem::web::{Data, Path};
use poem::{Body, IntoResponse, Request, Response, Route, delete, get, handler, post};
use serde_json::Value;

use super::error::{SCIM_JSON, error_response};
use crate::domain::scim::discovery;
use crate::domain::scim::error::{ScimError, ScimResult};
use crate::domain::scim::filter::parse_filter;
use crate::domain::scim::resource::Projection;
use crate::domain::scim::schema::SEARCH_REQUEST_URN;
use crate::edge::RequestId;
use crate::service::Service;
use crate::service::scim::{ListRequest, ScimCtx};

/// The routes, to be nested at `/scim/v2`.
pub fn routes() -> Route {
    Route::new()
        .at("/ServiceProviderConfig", get(service_provider_config))
        .at("/ResourceTypes", get(resource_types))
        .at("/ResourceTypes/:name", get(resource_type))
        .at("/Schemas", get(list_schemas))
        .at("/Schemas/:id", get(get_schema))
        .at("/Users", get(list_users).post(create_user))
        .at("/Users/.search", post(search_users))
        .at(
            "/Users/:id",
            get(get_user)
                .put(replace_user)
                .patch(patch_user)
                .delete(delete_user),
        )
        .at("/Groups", get(list_groups).post(create_group))
        .at("/Groups/.search", post(search_groups))
        .at(
            "/Groups/:id",
            get(get_group)
                .put(replace_group)
                .patch(patch_group)
                .delete(delete_group),
        )
        .at(
            "/Me",
            get(not_implemented)
                .post(not_implemented)
                .put(not_implemented)
                .patch(not_implemented)
                .delete(not_implemented),
        )
        .at("/Bulk", post(not_implemented))
        .at("/.search", post(not_implemented))
        .at(
            "/*rest",
            delete(unknown)
                .get(unknown)
                .post(unknown)
                .put(unknown)
                .patch(unknown),
        )
}

/// What a handler answers.
pub struct Reply {
    status: StatusCode,
    body: Option<Value>,
    location: bool,
}

impl Reply {
    fn ok(body: Value) -> Self {
        Reply {
            status: StatusCode::OK,
            body: Some(body),
            location: false,
        }
    }
    fn created(body: Value) -> Self {
        Reply {
            status: StatusCode::CREATED,
            body: Some(body),
            location: true,
        }
    }
    fn no_content() -> Self {
        Reply {
            status: StatusCode::NO_CONTENT,
            body: None,
            location: false,
        }
    }
}

/// A handler's result rendered as SCIM.
pub struct Scim(ScimResult<Reply>);

impl IntoResponse for Scim {
    fn into_response(self) -> Response {
        match self.0 {
            Ok(reply) => {
                let mut resp = Response::builder().status(reply.status);
                // `get` rather than `pointer`, which allocates for every step of its path.
                if let Some(meta) = reply.body.as_ref().and_then(|b| b.get("meta")) {
                    if let Some(version) = meta.get("version").and_then(Value::as_str) {
                        resp = resp.header(header::ETAG, version);
                    }
                    if reply.location
                        && let Some(loc) = meta.get("location").and_then(Value::as_str)
                    {
                        resp = resp.header(header::LOCATION, loc);
                    }
                }
                match reply.body {
                    Some(body) => resp
                        .content_type(SCIM_JSON)
                        .body(serde_json::to_vec(&body).unwrap_or_default()),
                    None => resp.finish(),
                }
            }
            Err(e) => error_response(&e),
        }
    }
}

async fn context(service: &Service, req: &Request) -> ScimResult<ScimCtx> {
    let auth = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if auth.is_none_or(|a| !a.trim_start().to_ascii_lowercase().starts_with("bearer ")) {
        return Err(ScimError::unauthorized(
            "send Authorization: Bearer <SCIM token>",
        ));
    }
    service
        .scim_context(
            auth,
            req.extensions().get::<RequestId>().map(|r| r.0.clone()),
            crate::edge::client_address::of(req),
        )
        .await
}

async fn json_body(body: Body) -> ScimResult<Value> {
    let bytes = body
        .into_bytes()
        .await
        .map_err(|e| ScimError::invalid_syntax(format!("cannot read the body: {e}")))?;
    if bytes.is_empty() {
        return Err(ScimError::invalid_syntax("a JSON body is needed"));
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| ScimError::invalid_syntax(format!("malformed JSON: {e}")))
}

fn if_match(req: &Request) -> Option<String> {
    req.headers()
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn query_params(req: &Request) -> ScimResult<Vec<(String, String)>> {
    req.params::<Vec<(String, String)>>()
        .map_err(|e| ScimError::invalid_syntax(format!("query string: {e}")))
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn number(name: &str, v: Option<&Value>) -> ScimResult<Option<i64>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| ScimError::invalid_value(format!("{name}: must be an integer"))),
        Some(Value::String(s)) => s
            .trim()
            .parse::<i64>()
            .map(Some)
            .map_err(|_| ScimError::invalid_value(format!("{name}: {s:?} is not an integer"))),
        Some(_) => Err(ScimError::invalid_value(format!(
            "{name}: must be an integer"
        ))),
    }
}

/// An `attributes` / `excludedAttributes` value of a `.search` body: a comma-separated
/// string or an array of attribute paths.
fn attr_list_text(v: Option<&Value>, name: &str) -> ScimResult<Option<String>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Array(items)) => Ok(Some(
            items
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(","),
        )),
        Some(_) => Err(ScimError::invalid_value(format!(
            "{name}: a list of attribute paths"
        ))),
    }
}

/// A list request from query parameters or a `.search` body (both as JSON values).
fn list_request(get: impl Fn(&str) -> Option<Value>) -> ScimResult<ListRequest> {
    let filter = match get("filter") {
        None | Some(Value::Null) => None,
        Some(Value::String(f)) if f.trim().is_empty() => None,
        Some(Value::String(f)) => Some(parse_filter(&f).map_err(|e| {
            if e.is_invalid_value() {
                ScimError::invalid_value(e.to_string())
            } else {
                ScimError::invalid_filter(e.to_string())
            }
        })?),
        Some(_) => return Err(ScimError::invalid_filter("filter: must be a string")),
    };
    let start = number("startIndex", get("startIndex").as_ref())?.unwrap_or(1);
    let count = number("count", get("count").as_ref())?;
    let sort_by = match get("sortBy") {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(
            crate::domain::scim::filter::split_path_word(s.trim()).ok_or_else(|| {
                ScimError::invalid_value(format!("sortBy: {s:?} is not an attribute path"))
            })?,
        ),
        _ => None,
    };
    let descending = match get("sortOrder") {
        Some(Value::String(s)) if s.eq_ignore_ascii_case("descending") => true,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("ascending") || s.is_empty() => false,
        None | Some(Value::Null) => false,
        Some(other) => {
            return Err(ScimError::invalid_value(format!(
                "sortOrder: {other} is not ascending or descending"
            )));
        }
    };
    Ok(ListRequest {
        filter,
        start_index: u64::try_from(start.max(1)).unwrap_or(1),
        count: count.map(|c| u64::try_from(c.max(0)).unwrap_or(0)),
        sort_by,
        descending,
        projection: Projection::parse(
            attr_list_text(get("attributes").as_ref(), "attributes")?.as_deref(),
            attr_list_text(get("excludedAttributes").as_ref(), "excludedAttributes")?.as_deref(),
        )?,
    })
}

fn list_from_query(req: &Request) -> ScimResult<ListRequest> {
    let params = query_params(req)?;
    list_request(|name| param(&params, name).map(|v| Value::String(v.to_owned())))
}

fn list_from_search(body: &Value) -> ScimResult<ListRequest> {
    let obj = body
        .as_object()
        .ok_or_else(|| ScimError::invalid_syntax("a SearchRequest is a JSON object"))?;
    if let Some(schemas) = obj.get("schemas") {
        let listed = schemas.as_array().is_some_and(|a| {
            a.iter().any(|s| {
                s.as_str()
                    .is_some_and(|s| s.eq_ignore_ascii_case(SEARCH_REQUEST_URN))
            })
        });
        if !listed {
            return Err(ScimError::invalid_syntax(format!(
                "schemas: a search lists {SEARCH_REQUEST_URN:?}"
            )));
        }
    }
    list_request(|name| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    })
}

fn base(service: &Service) -> String {
    format!("{}/scim/v2", service.public_url())
}

#[handler]
async fn service_provider_config(service: Data<&Service>, req: &Request) -> Scim {
    Scim(
        async {
            context(&service, req).await?;
            Ok(Reply::ok(discovery::service_provider_config(&base(
                &service,
            ))))
        }
        .await,
    )
}

#[handler]
async fn resource_types(service: Data<&Service>, req: &Request) -> Scim {
    Scim(
        async {
            context(&service, req).await?;
            let b = base(&service);
            let all = discovery::RESOURCE_TYPES
                .iter()
                .map(|rs| discovery::resource_type(&b, rs))
                .collect();
            Ok(Reply::ok(discovery::list(all)))
        }
        .await,
    )
}

#[handler]
async fn resource_type(service: Data<&Service>, req: &Request, Path(name): Path<String>) -> Scim {
    Scim(
        async {
            context(&service, req).await?;
            let rs = discovery::find_resource_type(&name)
                .ok_or_else(|| ScimError::not_found(format!("ResourceType {name:?} not found")))?;
            Ok(Reply::ok(discovery::resource_type(&base(&service), rs)))
        }
        .await,
    )
}

#[handler]
async fn list_schemas(service: Data<&Service>, req: &Request) -> Scim {
    Scim(
        async {
            context(&service, req).await?;
            let roles = service.scim_assignable_custom_roles().await?;
            let b = base(&service);
            let all = crate::domain::scim::schema::published_schemas()
                .iter()
                .map(|s| discovery::schema(&b, s, &roles))
                .collect();
            Ok(Reply::ok(discovery::list(all)))
        }
        .await,
    )
}

#[handler]
async fn get_schema(service: Data<&Service>, req: &Request, Path(id): Path<String>) -> Scim {
    Scim(
        async {
            context(&service, req).await?;
            let s = discovery::find_schema(&id)
                .ok_or_else(|| ScimError::not_found(format!("Schema {id:?} not found")))?;
            let roles = service.scim_assignable_custom_roles().await?;
            Ok(Reply::ok(discovery::schema(&base(&service), s, &roles)))
        }
        .await,
    )
}

/// A single resource answer: 304 when `If-None-Match` names its current version.
fn single(req: &Request, body: Value) -> Reply {
    let current = body
        .pointer("/meta/version")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let none_match = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok());
    if let (Some(tags), Some(current)) = (none_match, current) {
        let bare = current.trim_start_matches("W/");
        if tags
            .split(',')
            .map(str::trim)
            .any(|t| t == "*" || t.trim_start_matches("W/") == bare)
        {
            return Reply {
                status: StatusCode::NOT_MODIFIED,
                body: None,
                location: false,
            };
        }
    }
    Reply::ok(body)
}

/// The `attributes` / `excludedAttributes` query parameters of a request.
fn projection(req: &Request) -> ScimResult<Projection> {
    let params = query_params(req)?;
    Projection::parse(
        param(&params, "attributes"),
        param(&params, "excludedAttributes"),
    )
}

#[handler]
async fn list_users(service: Data<&Service>, req: &Request) -> Scim {
    Scim(
        async {
            let sc = context(&service, req).await?;
            let list = list_from_query(req)?;
            Ok(Reply::ok(
                service.scim_list_users(&sc, &list).await?.to_json(),
            ))
        }
        .await,
    )
}

#[handler]
async fn search_users(service: Data<&Service>, req: &Request, body: Body) -> Scim {
    Scim(
        async {
            let sc = context(&service, req).await?;
            let list = list_from_search(&json_body(body).await?)?;
            Ok(Reply::ok(
                service.scim_list_users(&sc, &list).await?.to_json(),
            ))
        }
        .await,
    )
}

#[handler]
async fn get_user(service: Data<&Service>, req: &Request, Path(id): Path<String>) -> Scim {
    Scim(
        async {
            let sc = context(&service, req).await?;
            let user = service.scim_get_user(&sc, &id, &projection(req)?).await?;
            Ok(single(req, user))
        }
        .await,
    )
}

#[handler]
async fn create_user(service: Data<&Service>, req: &Request, body: Body) -> Scim {
    Scim(
        async {
            let sc = context(&service, req).await?;
            let user = service
                .scim_create_user(&sc, &json_body(body).await?, &projection(req)?)
                .await?;
            Ok(Reply::created(user))
        }
        .await,
    )
}

#[handler]
async fn replace_user(
    service: Data<&Service>,
    req: &Request,
    Path(id): Path<String>,
    body: Body,
) -> Scim {
    Scim(
        async {
            let sc = context(&service, req).await?;
            let body = json_body(body).await?;
            let user = service
                .scim_replace_user(&sc, &id, &body, if_match(req).as_deref(), &projection(req)?)
                .await?;
            Ok(Reply::ok(user))
        }
        .await,
    )
}

#[handler]
async fn patch_user(
    service: Data<&Service>,
    req: &Request,
    Path(id): Path<String>,
    body: Body,
) -> Scim {
    Scim(
        async {
            let sc = context(&service, req).await?;
            let body = json_body(body).await?;
            let user = service
                .scim_patch_user(&sc, &id, &body, if_match(req).as_deref(), &projection(req)?)
                .await?;
            Ok(Reply::ok(user))
        }
        .await,
    )
}

#[handler]
async fn delete_user(service: Data<&Service>, req: &Request, Path(id): Path<String>) -> Scim {
    Scim(
        async {
            let sc = context(&service, req).await?;
            service
                .scim_delete_user(&sc, &id, if_match(req).as_deref())
                .await?;
            Ok(Reply::no_content())
        }
        .await,
    )
}

#[handler]
async fn list_groups(service: Data<&Service>, req: &Request) -> Scim {
    Scim(
        async {
            let sc = context(&service, req).await?;
            let list = list_from_query(req)?;
            Ok(Reply::ok(
                service.scim_list_groups(&sc, &list).await?.to_json(),
            ))
        }
        .await,
    )
}

#[handler]
async fn search_groups(service: Data<&Service>, req: &Request, body: Body) -> Scim {
    Scim(
        async {
            let sc = context(&service, req).await?;
            let list = list_from_search(&json_body(body).await?)?;
            Ok(Reply::ok(
                service.scim_list_groups(&sc, &list).await?.to_json(),
            ))
        }
        .await,
    )
}

#[handler]
async fn get_group(service: Data<&Service>, req: &Request, Path(id): Path<String>) -> Scim {
    Scim(
        async {
            let sc = context(&service, req).await?;
            let group = service.scim_get_group(&sc, &id, &projection(req)?).await?;
            Ok(single(req, group))
        }
        .await,
    )
}

#[handler]
async fn create_group(service: Data<&Service>, req: &Request, body: Body) -> Scim {
    Scim(
        async {
            let sc = context(&service, req).await?;
            let group = service
                .scim_create_group(&sc, &json_body(body).await?, &projection(req)?)
                .await?;
            Ok(Reply::created(group))
        }
        .await,
    )
}

#[handler]
async fn replace_group(
    service: Data<&Service>,
    req: &Request,
    Path(id): Path<String>,
    body: Body,
) -> Scim {
    Scim(
        async {
            let sc = context(&service, req).await?;
            let body = json_body(body).await?;
            let group = service
                .scim_replace_group(&sc, &id, &body, if_match(req).as_deref(), &projection(req)?)
                .await?;
            Ok(Reply::ok(group))
        }
        .await,
    )
}

#[handler]
async fn patch_group(
    service: Data<&Service>,
    req: &Request,
    Path(id): Path<String>,
    body: Body,
) -> Scim {
    Scim(
        async {
            let sc = context(&service, req).await?;
            let body = json_body(body).await?;
            // Nobody reads a whole group back after changing it: answer 204 unless the
            // request asks for attributes.
            let projection = projection(req)?;
            let answer = (!projection.is_default()).then_some(&projection);
            let group = service
                .scim_patch_group(&sc, &id, &body, if_match(req).as_deref(), answer)
                .await?;
            Ok(group.map_or_else(Reply::no_content, Reply::ok))
        }
        .await,
    )
}

#[handler]
async fn delete_group(service: Data<&Service>, req: &Request, Path(id): Path<String>) -> Scim {
    Scim(
        async {
            let sc = context(&service, req).await?;
            service
                .scim_delete_group(&sc, &id, if_match(req).as_deref())
                .await?;
            Ok(Reply::no_content())
        }
        .await,
    )
}

/// `/Me`, `/Bulk` and the root `/.search` are optional in RFC 7644 and not implemented;
/// ServiceProviderConfig says so for bulk.
#[handler]
async fn not_implemented(service: Data<&Service>, req: &Request) -> Scim {
    Scim(
        async {
            context(&service, req).await?;
            Err(ScimError::not_implemented(
                "not implemented by Gatehouse (see ServiceProviderConfig)",
            ))
        }
        .await,
    )
}

#[handler]
async fn unknown(service: Data<&Service>, req: &Request) -> Scim {
    Scim(
        async {
            context(&service, req).await?;
            Err(ScimError::not_found(format!(
                "no SCIM endpoint {}",
                req.uri().path()
            )))
        }
        .await,
    )
}
