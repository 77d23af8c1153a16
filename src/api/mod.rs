//! The REST edge: poem-openapi modules, one per resource. Handlers are thin: they
//! authenticate, call one service command and render its result.

mod access;
mod account;
mod approvals;
mod audit;
pub mod auth;
mod connections;
pub mod document;
mod environments;
pub mod error;
mod examples;
mod flags;
mod ip_allowlist;
mod members;
pub mod ops;
mod projects;
mod responses;
mod roles;
mod sessions;
pub mod strict_request;
mod teams;
mod tokens;
mod variables;
mod webhooks;

use poem_openapi::{OpenApiService, Tags};

/// Groups of operations in the documentation.
#[derive(Tags)]
pub enum Tag {
    /// Projects: the top of the flag domain.
    Projects,
    /// Environments of a project, with tags and the `critical` marker.
    Environments,
    /// Feature flags and their per-environment state, changed by semantic-patch instructions.
    Flags,
    /// Environment variables; secret values are write-only.
    Variables,
    /// Members of the account.
    Members,
    /// Teams of members sharing custom roles.
    Teams,
    /// Custom roles and their policy statements.
    Roles,
    /// API tokens.
    Tokens,
    /// Approval requests: changes that need a second pair of eyes before they apply.
    Approvals,
    /// The append-only, hash-chained audit log.
    AuditLog,
    /// Who the caller is and what the policy language knows.
    Account,
    /// Identity connections (Okta, Entra ID, generic): SCIM tokens and mapping rules.
    Connections,
    /// Webhooks: the audit log pushed, signed and in order, to receivers.
    Webhooks,
    /// Browser sessions from SSO sign-in: who is signed in where, ending sessions, timeouts.
    Sessions,
}

/// Every REST module, as one value poem-openapi can serve and document.
pub fn apis() -> impl poem_openapi::OpenApi {
    (
        projects::ProjectsApi,
        environments::EnvironmentsApi,
        flags::FlagsApi,
        variables::VariablesApi,
        members::MembersApi,
        teams::TeamsApi,
        roles::RolesApi,
        tokens::TokensApi,
        approvals::ApprovalsApi,
        audit::AuditApi,
        account::AccountApi,
        ip_allowlist::IpAllowlistApi,
        access::AccessApi,
        connections::ConnectionsApi,
        webhooks::WebhooksApi,
        sessions::SessionsApi,
    )
}

/// The OpenAPI service with its metadata. No `servers` entry: the document is the same
/// whatever the deployment's URL, so the checked-in copy can be compared byte for byte.
pub fn openapi_service() -> OpenApiService<impl poem_openapi::OpenApi, ()> {
    OpenApiService::new(apis(), "Gatehouse", env!("CARGO_PKG_VERSION")).description(
        "The identity edge and governance core of a feature-flag platform: projects, \
             environments, flags, members, teams, custom roles, API tokens and a tamper-evident \
             audit log. Authenticate with `Authorization: <token>` (or `Bearer <token>`). Errors \
             are `{\"code\", \"message\"}` JSON. No string anywhere (path, query or JSON \
             body) may contain U+0000: such a request is refused with 400 \
             `invalid_request`.",
    )
}
