//! Gatehouse: the identity edge of a feature-flag governance platform.
//!
//! `build_app` assembles the HTTP application from a [`service::Service`]; `main` and the
//! integration tests both use it.
#![forbid(unsafe_code)]
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::todo,
    clippy::indexing_slicing
)]

pub mod api;
pub mod app;
pub mod clock;
pub mod config;
pub mod console;
pub mod db;
pub mod domain;
pub mod edge;
pub mod error;
pub mod memory;
pub mod scim;
pub mod service;
pub mod sso;

use poem::{EndpointExt, IntoEndpoint, Route, get};

pub use app::admission::AdmissionLimits;

/// How the HTTP application guards itself: body size, the work in flight, and whose
/// `X-Forwarded-For` it believes.
#[derive(Debug, Clone)]
pub struct AppLimits {
    /// Larger request bodies get 413.
    pub max_body_bytes: usize,
    pub admission: AdmissionLimits,
    /// Proxies whose `X-Forwarded-For` names the client (`GATEHOUSE_TRUSTED_PROXIES`).
    pub trusted_proxies: edge::client_address::TrustedProxies,
}

impl Default for AppLimits {
    fn default() -> Self {
        AppLimits {
            max_body_bytes: 1 << 20,
            admission: AdmissionLimits::default(),
            trusted_proxies: edge::client_address::TrustedProxies::default(),
        }
    }
}

/// The whole HTTP application: REST API, docs, the browser console, SCIM, SSO, operational
/// endpoints and middleware.
pub fn build_app(service: service::Service, limits: AppLimits) -> impl poem::Endpoint {
    let max_body_bytes = limits.max_body_bytes;
    let admission = app::admission::Admission::new(limits.admission);
    let trusted = limits.trusted_proxies;
    api::strict_request::prepare();
    Route::new()
        .nest("/console", console::routes())
        .nest(
            "/",
            api::openapi_service()
                .into_endpoint()
                .around(api::strict_request::hold_to_document)
                .around(app::middleware::root_page),
        )
        .at("/openapi.json", get(api::document::serve_document))
        .nest("/docs", get(api::document::serve_docs))
        .nest("/scim/v2", scim::http::routes())
        .at("/health", get(api::ops::health))
        .at("/ready", get(api::ops::ready))
        .at("/metrics", get(api::ops::metrics))
        .nest("/sso", sso::routes())
        .with(poem::middleware::CookieJarManager::new())
        .around(app::middleware::refuse_nul)
        .around(move |ep, req| app::middleware::limit_body(ep, req, max_body_bytes))
        .around(move |ep, req| app::admission::admit(ep, req, admission.clone()))
        .around(move |ep, req| app::middleware::identify_client(ep, req, trusted.clone()))
        .around(app::middleware::observe)
        .data(service)
}

/// The OpenAPI document the service serves, as pretty JSON (what `gatehouse openapi` prints).
pub fn openapi_json() -> String {
    api::document::served().to_owned()
}
