//! Preset project roles a new deployment can use at once: Project Admin, Maintainer,
//! Developer, Contributor and Viewer. Each is scoped by the `projects` role attribute
//! (`roleAttributes: {"projects": ["shop", "web-*"]}` where the role is assigned).
//!
//! Their statements are data: the service stores them as immutable built-ins of the preset
//! role; admins may add statements of their own next to them.

use serde_json::{Value, json};

/// The role attribute every preset is scoped by.
pub const PROJECTS_ATTRIBUTE: &str = "projects";

/// One preset role.
#[derive(Debug, Clone)]
pub struct Preset {
    /// The role key the preset is created under.
    pub key: &'static str,
    /// Display name.
    pub name: &'static str,
    /// What the role is for.
    pub description: &'static str,
    /// `reader` or `no_access`.
    pub base_permissions: &'static str,
    /// The built-in policy statements.
    pub statements: Value,
}

const P: &str = "proj/${roleAttribute/projects}";

fn in_projects(suffix: &str) -> String {
    format!("{P}{suffix}")
}

/// Everything the presets grant inside their projects, by resource.
fn scopes() -> Vec<String> {
    vec![
        in_projects(""),
        in_projects(":env/*"),
        in_projects(":env/*:flag/*"),
        in_projects(":env/*:segment/*"),
        in_projects(":env/*:var/*"),
        in_projects(":env/*:request/*"),
    ]
}

/// Hides every project outside the assigned ones (`viewProject` is allowed by default).
fn only_these_projects() -> Value {
    json!({"effect": "deny", "actions": ["viewProject"], "notResources": [in_projects("")]})
}

/// The preset roles, in order of decreasing power.
pub fn presets() -> Vec<Preset> {
    vec![
        Preset {
            key: "project-admin",
            name: "Project Admin",
            description: "Everything inside the assigned projects, including their environments and deletion.",
            base_permissions: "no_access",
            statements: json!([{"effect": "allow", "actions": ["*"], "resources": scopes()}, only_these_projects()]),
        },
        Preset {
            key: "project-maintainer",
            name: "Maintainer",
            description: "Manage flags, segments, variables and environments of the assigned projects; cannot delete projects or environments.",
            base_permissions: "no_access",
            statements: json!([
                {"effect": "allow", "actions": ["*"], "resources": scopes()},
                {"effect": "deny", "actions": ["deleteProject", "deleteEnvironment"], "resources": [in_projects(""), in_projects(":env/*")]},
                only_these_projects()
            ]),
        },
        Preset {
            key: "project-developer",
            name: "Developer",
            description: "All flag, segment and variable actions and approval requests within the assigned projects, except bypassing required approvals.",
            base_permissions: "no_access",
            statements: json!([
                // `notActions` rather than a deny: an admin may still grant the bypass by
                // adding a statement, which a built-in deny would silently override.
                {"effect": "allow", "notActions": ["bypassRequiredApproval"], "resources": [
                    in_projects(":env/*:flag/*"), in_projects(":env/*:segment/*"),
                    in_projects(":env/*:var/*"), in_projects(":env/*:request/*")]},
                {"effect": "allow", "actions": ["viewProject"], "resources": [in_projects("")]},
                only_these_projects()
            ]),
        },
        Preset {
            key: "project-contributor",
            name: "Contributor",
            description: "Change flag status, targeting and rules, and request approvals, in the assigned projects; no destructive actions.",
            base_permissions: "no_access",
            statements: json!([
                {"effect": "allow", "actions": [
                    "updateOn", "updateTargets", "updateRules", "updateFallthrough", "updateOffVariation",
                    "updateExpiringTargets", "updateScheduledChanges", "updateFlagRuleDescription",
                    "createApprovalRequest", "updateApprovalRequest", "deleteApprovalRequest"],
                 "resources": [in_projects(":env/*:flag/*")]},
                {"effect": "allow", "actions": ["createApprovalRequest", "updateApprovalRequest", "deleteApprovalRequest"],
                 "resources": [in_projects(":env/*:request/*")]},
                {"effect": "allow", "actions": ["viewProject"], "resources": [in_projects("")]},
                only_these_projects()
            ]),
        },
        Preset {
            key: "project-viewer",
            name: "Viewer",
            description: "See the assigned projects and nothing else.",
            base_permissions: "no_access",
            statements: json!([
                {"effect": "allow", "actions": ["viewProject"], "resources": [in_projects("")]},
                only_these_projects()
            ]),
        },
    ]
}

/// The preset with `key`, if any.
pub fn preset(key: &str) -> Option<Preset> {
    presets().into_iter().find(|p| p.key == key)
}
