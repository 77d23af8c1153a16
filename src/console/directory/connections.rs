//! `/console/directory/connections`: the identity connections the viewer may view, and a
//! connection's page — its settings, SSO status (protocols, SAML metadata fetches, a test
//! sign-in link), SCIM health (last request, what it provisioned, recent refusals) and its
//! ordered mapping rules with a preview form that shows what given groups and attributes
//! would produce, without changing anything.

use std::collections::BTreeMap;

use maud::{Markup, html};
use poem::http::StatusCode;
use poem::web::{Data, Form, Path};
use poem::{Request, Response, handler};
use serde::Deserialize;
use serde_json::Value;

use super::{Part, directory_viewer, parts_nav};
use crate::console::auth::{Viewer, form_poster};
use crate::console::error::{ConsoleResult, form_of, page_or_error};
use crate::console::format::{time, time_or_never};
use crate::console::page::{Section, csrf_field, frame, respond};
use crate::domain::connection::{MetadataStatus, OidcSettings, SamlSettings};
use crate::domain::mapping::{MappingRuleDoc, RuleMatchDoc};
use crate::error::Error;
use crate::service::Service;
use crate::service::audit::AuditEntryRep;
use crate::service::connection_health::{AUDIT_SCAN, ScimHealth};
use crate::service::connections::{Connection, MappingPreview, MappingPreviewInput, ScimToken};
use crate::service::documented::Documented;

const PATH: &str = "/console/directory/connections";
/// Lines a preview form may give per field: far above any real profile.
const MAX_PREVIEW_LINES: usize = 500;

/// `GET /console/directory/connections`.
#[handler]
pub async fn list(req: &Request, service: Data<&Service>) -> Response {
    page_or_error(list_page(&service, req).await)
}

async fn list_page(service: &Service, req: &Request) -> ConsoleResult {
    let viewer = directory_viewer(service, req).await?;
    let connections = service.list_connections(&viewer.ctx).await?;
    let body = html! {
        (parts_nav(Part::Connections))
        @if connections.is_empty() {
            p role="status" { "There is no identity connection you may view." }
        } @else {
            table {
                caption { (connections.len()) " identity connection(s)" }
                thead { tr {
                    th scope="col" { "Key" } th scope="col" { "Name" } th scope="col" { "Kind" }
                    th scope="col" { "Sign-in" } th scope="col" { "Live SCIM tokens" }
                    th scope="col" { "Last SCIM request" } th scope="col" { "Default role" }
                } }
                tbody {
                    @for c in &connections {
                        tr {
                            th scope="row" { a href=(format!("{PATH}/{}", c.key)) { code { (c.key) } } }
                            td { (c.name) }
                            td { (c.kind) }
                            td { (protocols(c)) }
                            td { (c.scim_tokens.iter().filter(|t| !t.revoked).count()) }
                            td { (time_or_never(last_token_use(&c.scim_tokens))) }
                            td { (c.default_role) }
                        }
                    }
                }
            }
        }
    };
    Ok(respond(
        StatusCode::OK,
        frame("Connections", Some(&viewer), Section::Directory, body),
    ))
}

fn protocols(c: &Connection) -> String {
    let names: Vec<&str> = [(c.saml.is_some(), "SAML"), (c.oidc.is_some(), "OIDC")]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect();
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

fn last_token_use(tokens: &[ScimToken]) -> Option<i64> {
    tokens.iter().filter_map(|t| t.last_used).max()
}

/// `GET /console/directory/connections/{key}`.
#[handler]
pub async fn page(req: &Request, service: Data<&Service>, key: Path<String>) -> Response {
    page_or_error(
        async {
            let viewer = directory_viewer(&service, req).await?;
            connection_page(&service, &viewer, &key, None).await
        }
        .await,
    )
}

/// A preview asked for: the form as sent, and what the rules made of it.
struct Previewed {
    form: PreviewForm,
    outcome: MappingPreview,
}

async fn connection_page(
    service: &Service,
    viewer: &Viewer,
    key: &str,
    previewed: Option<Previewed>,
) -> ConsoleResult {
    let connection = service.get_connection(&viewer.ctx, key).await?;
    let health = service.scim_health(&viewer.ctx, key).await?;
    let body = html! {
        (parts_nav(Part::Connections))
        (settings(&connection))
        (sso_section(&connection))
        (scim_section(&health))
        (mappings_section(&connection))
        (preview_section(viewer, &connection, previewed.as_ref()))
        p { a href=(PATH) { "Back to the connections" } }
    };
    Ok(respond(
        StatusCode::OK,
        frame(
            &format!("Connection {}", connection.name),
            Some(viewer),
            Section::Directory,
            body,
        ),
    ))
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

fn settings(c: &Connection) -> Markup {
    html! {
        table {
            caption { "Settings" }
            tbody {
                tr { th scope="row" { "Key" } td { code { (c.key) } } }
                tr { th scope="row" { "Kind" } td { (c.kind) } }
                tr { th scope="row" { "Creates members at first sign-in" } td { (yes_no(c.jit)) } }
                tr { th scope="row" { "Default role" } td { (c.default_role) } }
                tr { th scope="row" { "SCIM DELETE of a user" } td { (c.deprovision) } }
                tr { th scope="row" { "Members must sign in through it" } td { (yes_no(c.sso_required)) } }
            }
        }
    }
}

/// A connection's stored settings as the domain reads them; `None` when absent or unreadable.
fn parsed<T: serde::de::DeserializeOwned, S>(body: Option<&Documented<S>>) -> Option<T> {
    body.and_then(|b| serde_json::from_value(b.value.clone()).ok())
}

fn sso_section(c: &Connection) -> Markup {
    let saml: Option<SamlSettings> = parsed(c.saml.as_ref());
    let oidc: Option<OidcSettings> = parsed(c.oidc.as_ref());
    html! {
        section aria-labelledby="sso" {
            h2 id="sso" { "Single sign-on" }
            @if c.saml.is_none() && c.oidc.is_none() {
                p { "No sign-in protocol is configured: members of this connection come through SCIM only." }
            }
            @if let Some(body) = &c.saml {
                h3 { "SAML 2.0" }
                @match &saml {
                    Some(s) => (saml_status(s)),
                    None => p class="error" { "The stored settings could not be read: " code { (body.value) } },
                }
                p { a href=(format!("/sso/{}/saml/login?returnTo=/", c.key)) { "Test sign-in with SAML" } }
            }
            @if let Some(body) = &c.oidc {
                h3 { "OpenID Connect" }
                @match &oidc {
                    Some(o) => (oidc_status(o, c.oidc_client_secret_set)),
                    None => p class="error" { "The stored settings could not be read: " code { (body.value) } },
                }
                p { a href=(format!("/sso/{}/oidc/login?returnTo=/", c.key)) { "Test sign-in with OIDC" } }
            }
        }
    }
}

fn saml_status(s: &SamlSettings) -> Markup {
    let entity_id = s
        .idp_entity_id
        .clone()
        .or_else(|| s.metadata_status.as_ref().and_then(|m| m.entity_id.clone()));
    let idp = if s.idp_metadata_url.is_some() {
        "fetched from the metadata URL"
    } else if s.idp_metadata_xml.is_some() {
        "from the metadata document given"
    } else {
        "entity ID, SSO URL and certificates given"
    };
    html! {
        table {
            tbody {
                tr { th scope="row" { "IdP settings" } td { (idp) } }
                tr { th scope="row" { "IdP entity ID" } td { (entity_id.as_deref().unwrap_or("from the metadata")) } }
                @if let Some(url) = &s.idp_metadata_url {
                    tr { th scope="row" { "Metadata URL" } td { code { (url) } " (every " (s.metadata_refresh_minutes()) " minutes)" } }
                }
                tr { th scope="row" { "Certificates given" } td { (s.idp_certificates.len()) } }
                tr { th scope="row" { "IdP-initiated sign-in" } td { (yes_no(s.allow_idp_initiated)) } }
                tr { th scope="row" { "Signs its requests" } td { (yes_no(s.sign_requests)) } }
            }
        }
        @if let Some(status) = &s.metadata_status {
            (metadata_status(status))
        } @else if s.idp_metadata_url.is_some() {
            p { "The metadata has not been fetched yet." }
        }
    }
}

fn metadata_status(m: &MetadataStatus) -> Markup {
    html! {
        table {
            caption { "Metadata status" }
            tbody {
                tr { th scope="row" { "Last good fetch" } td { (time_or_never(m.last_success)) } }
                tr { th scope="row" { "Last attempt" } td { (time_or_never(m.last_attempt)) } }
                tr {
                    th scope="row" { "Last error" }
                    td {
                        @match &m.last_error {
                            Some(e) => span class="refused" { (e) " (" (time_or_never(m.last_error_at)) ")" },
                            None => "none",
                        }
                    }
                }
                tr {
                    th scope="row" { "Signing certificate fingerprints (SHA-256)" }
                    td { @if m.certificates.is_empty() { "none" } ul { @for f in &m.certificates { li { code { (f) } } } } }
                }
            }
        }
    }
}

fn oidc_status(o: &OidcSettings, secret_set: bool) -> Markup {
    html! {
        table {
            tbody {
                tr { th scope="row" { "Issuer" } td { code { (o.issuer) } } }
                tr { th scope="row" { "Client ID" } td { code { (o.client_id) } } }
                tr { th scope="row" { "Client secret set" } td { (yes_no(secret_set)) } }
                tr { th scope="row" { "Scopes" } td { (o.scopes.join(" ")) } }
                tr { th scope="row" { "Groups claim" } td { code { (o.groups_claim) } } }
            }
        }
    }
}

fn scim_section(h: &ScimHealth) -> Markup {
    html! {
        section aria-labelledby="scim" {
            h2 id="scim" { "SCIM provisioning" }
            table {
                caption { "Health" }
                tbody {
                    tr { th scope="row" { "Last SCIM request" } td { (time_or_never(h.last_request)) } }
                    tr { th scope="row" { "Live SCIM tokens" } td { (h.live_tokens) } }
                    tr { th scope="row" { "Users provisioned" } td { (h.scim_users) " (" (h.scim_users_deactivated) " deactivated)" } }
                    tr { th scope="row" { "Members tied to the connection" } td { (h.linked_members) " (provisioned, or created at sign-in)" } }
                    tr { th scope="row" { "Groups provisioned" } td { (h.synced_teams) " IdP-synced team(s), " (h.synced_memberships) " membership(s)" } }
                    tr {
                        th scope="row" { "Refusals" }
                        td { (h.refusals_found) " among the connection's last " (h.entries_scanned) " audited change(s)"
                             @if h.entries_scanned >= AUDIT_SCAN { " (older ones not counted)" } }
                    }
                }
            }
            p class="source" { "The audit log keeps the refusals that touch roles (the owner, unknown custom roles, missing role attributes); other SCIM errors are answered to the identity provider and not kept." }
            h3 { "Recent refusals" }
            (entries(&h.recent_refusals, "No refusals."))
            h3 { "Recent SCIM changes" }
            (entries(&h.recent_changes, "No SCIM changes yet."))
        }
    }
}

fn entries(items: &[AuditEntryRep], empty: &str) -> Markup {
    html! {
        @if items.is_empty() { p { (empty) } } @else {
            ul {
                @for e in items {
                    li { a href=(format!("/console/audit/{}", e.id)) { (time(e.date)) } ": " (e.description) }
                }
            }
        }
    }
}

fn mappings_section(c: &Connection) -> Markup {
    html! {
        section aria-labelledby="mappings" {
            h2 id="mappings" { "Mapping rules" }
            @if c.mappings.is_empty() {
                p { "No mapping rules: only the role, customRole and teamKey attributes assign anything." }
            } @else {
                p { "Applied in this order to every SCIM statement and sign-in." }
                table {
                    thead { tr {
                        th scope="col" { "Rule" } th scope="col" { "When" } th scope="col" { "Team" }
                        th scope="col" { "Custom roles" } th scope="col" { "Role attributes" } th scope="col" { "Base role" }
                    } }
                    tbody {
                        @for (i, rule) in c.mappings.iter().enumerate() {
                            (rule_row(i, &rule.value))
                        }
                    }
                }
            }
        }
    }
}

fn rule_row(i: usize, value: &Value) -> Markup {
    let number = i.saturating_add(1);
    match serde_json::from_value::<MappingRuleDoc>(value.clone()) {
        Ok(rule) => html! {
            tr {
                th scope="row" { (number) }
                td {
                    @match &rule.r#match {
                        RuleMatchDoc::Group { group } => { "group matches " code { (group) } }
                        RuleMatchDoc::Attribute { attribute, value } => { "attribute " code { (attribute) } " is " code { (value) } }
                    }
                }
                td { @if let Some(t) = &rule.team { code { (t) } } }
                td { @for (j, r) in rule.custom_roles.iter().enumerate() { @if j > 0 { ", " } code { (r) } } }
                td { (attributes_text(&rule.role_attributes)) }
                td { (rule.role.as_deref().unwrap_or("")) }
            }
        },
        Err(_) => html! {
            tr { th scope="row" { (number) } td colspan="5" { code { (value) } } }
        },
    }
}

fn attributes_text(attrs: &BTreeMap<String, Vec<String>>) -> String {
    attrs
        .iter()
        .map(|(k, v)| format!("{k}={}", v.join("|")))
        .collect::<Vec<_>>()
        .join("; ")
}

fn preview_section(viewer: &Viewer, c: &Connection, previewed: Option<&Previewed>) -> Markup {
    let (groups, attributes) = previewed
        .map(|p| (p.form.groups.as_str(), p.form.attributes.as_str()))
        .unwrap_or_default();
    html! {
        section aria-labelledby="preview" {
            h2 id="preview" { "Preview the rules" }
            form class="stack" method="post" action=(format!("{PATH}/{}/preview#preview-outcome", c.key)) {
                (csrf_field(viewer))
                fieldset {
                    legend { "What the identity provider would send" }
                    label for="preview-groups" { "Groups, one per line" }
                    textarea id="preview-groups" name="groups" rows="4" { (groups) }
                    label for="preview-attributes" { "Attributes, one " code { "name=value" } " per line (a name given twice has both values)" }
                    textarea id="preview-attributes" name="attributes" rows="4" { (attributes) }
                    p { button type="submit" { "Preview" } }
                }
            }
            @if let Some(p) = previewed {
                (outcome(&p.outcome))
            }
        }
    }
}

fn outcome(p: &MappingPreview) -> Markup {
    let rules: Vec<String> = p
        .matched_rules
        .iter()
        .map(|i| i.saturating_add(1).to_string())
        .collect();
    html! {
        section id="preview-outcome" role="status" aria-labelledby="outcome" {
            h3 id="outcome" { "Outcome" }
            table {
                tbody {
                    tr {
                        th scope="row" { "Base role" }
                        td { code { (p.role) } @if !p.role_mapped { " (the connection's default)" } }
                    }
                    tr {
                        th scope="row" { "Custom roles" }
                        td { @if p.custom_roles.is_empty() { "none" } @for (i, r) in p.custom_roles.iter().enumerate() { @if i > 0 { ", " } code { (r) } } }
                    }
                    @if !p.unknown_custom_roles.is_empty() {
                        tr {
                            th scope="row" { "Unknown custom roles" }
                            td class="refused" { (p.unknown_custom_roles.join(", ")) " (SCIM refuses them, sign-in skips them)" }
                        }
                    }
                    tr { th scope="row" { "Role attributes" } td { (attributes_text(&p.role_attributes)) } }
                    tr {
                        th scope="row" { "Teams" }
                        td { @if p.teams.is_empty() { "none" } @for (i, t) in p.teams.iter().enumerate() { @if i > 0 { ", " } code { (t) } } }
                    }
                    tr {
                        th scope="row" { "Rules matched" }
                        td { @if rules.is_empty() { "none" } @else { (rules.join(", ")) } }
                    }
                }
            }
        }
    }
}

/// The preview form.
#[derive(Debug, Default, Deserialize)]
pub struct PreviewForm {
    #[serde(default)]
    csrf: String,
    /// One group name per line.
    #[serde(default)]
    groups: String,
    /// One `name=value` per line.
    #[serde(default)]
    attributes: String,
}

/// `POST /console/directory/connections/{key}/preview`: REST's mapping preview, shown on the
/// connection's page. It changes nothing, but it is a form of a signed-in page, so it carries
/// the CSRF token like every other.
#[handler]
pub async fn preview(
    req: &Request,
    service: Data<&Service>,
    key: Path<String>,
    form: poem::Result<Form<PreviewForm>>,
) -> Response {
    page_or_error(
        async {
            let form = form_of(form)?;
            let viewer = form_poster(&service, req, &form.csrf).await?;
            let input = preview_input(&form)?;
            let outcome = service.preview_mappings(&viewer.ctx, &key, input).await?;
            connection_page(&service, &viewer, &key, Some(Previewed { form, outcome })).await
        }
        .await,
    )
}

/// The REST body the form stands for: groups by name, attributes with every value given.
fn preview_input(form: &PreviewForm) -> Result<MappingPreviewInput, Error> {
    let groups: Vec<&str> = lines(&form.groups).collect();
    let pairs: Vec<&str> = lines(&form.attributes).collect();
    if groups.len() > MAX_PREVIEW_LINES || pairs.len() > MAX_PREVIEW_LINES {
        return Err(Error::invalid(format!(
            "at most {MAX_PREVIEW_LINES} groups and {MAX_PREVIEW_LINES} attributes"
        )));
    }
    let mut attributes: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for (i, line) in pairs.into_iter().enumerate() {
        let (name, value) = line
            .split_once('=')
            .map(|(n, v)| (n.trim(), v.trim()))
            .filter(|(n, _)| !n.is_empty())
            .ok_or_else(|| {
                Error::invalid(format!(
                    "attributes, line {}: name=value",
                    i.saturating_add(1)
                ))
            })?;
        attributes
            .entry(name.to_owned())
            .or_default()
            .push(Value::String(value.to_owned()));
    }
    Ok(MappingPreviewInput {
        attributes: attributes
            .into_iter()
            .map(|(name, values)| (name, Documented::new(Value::Array(values))))
            .collect(),
        groups: groups
            .into_iter()
            .map(|g| Documented::new(Value::String(g.to_owned())))
            .collect(),
    })
}

/// The non-blank lines of a text area, trimmed.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines().map(str::trim).filter(|l| !l.is_empty())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_preview_form_becomes_the_rest_body() {
        let form = PreviewForm {
            csrf: String::new(),
            groups: "eng-platform\r\n\r\n  sales \n".into(),
            attributes: "department = Sales\nteamKey=ops\nteamKey=web\n".into(),
        };
        let input = preview_input(&form).unwrap();
        let groups: Vec<Value> = Documented::values(&input.groups);
        assert_eq!(groups, [Value::from("eng-platform"), Value::from("sales")]);
        assert_eq!(
            input.attributes["department"].value,
            serde_json::json!(["Sales"])
        );
        assert_eq!(
            input.attributes["teamKey"].value,
            serde_json::json!(["ops", "web"])
        );
        let bad = PreviewForm {
            attributes: "department".into(),
            ..PreviewForm::default()
        };
        assert!(
            preview_input(&bad)
                .unwrap_err()
                .to_string()
                .contains("line 1")
        );
    }
}
