//! LaunchDarkly's custom-role policy language, implemented exactly and fast.
//!
//! * [`action`]: the action catalogue (one static table) and dense [`ActionId`]s.
//! * [`resource`]: concrete resources such as `proj/default:env/production:flag/my-flag`.
//! * [`specifier`]: the resource-specifier grammar and parser.
//! * [`specifier_pattern`]: the same grammar as a regular expression, for the API document.
//! * [`glob`]: allocation-free `*`/`?` globs.
//! * [`statement`]: the statement wire shape and validation with JSON paths.
//! * [`compiled`]: compiled roles and the allocation-free evaluator ([`decide`]).
//! * [`base_role`]: `reader`/`writer`/`admin`/`owner`/`no_access` as built-in roles.
//! * [`who`]: "who can do this?": the stored resources a glob names, and allowances per grant.
//!
//! Typical use:
//!
//! ```
//! use std::collections::BTreeMap;
//! use gatehouse::domain::policy::{validate, CompiledRole, BasePermissions, Resource, decide, NO_TAGS};
//!
//! let json = serde_json::json!([
//!     {"effect": "allow", "actions": ["update*"], "resources": ["proj/*:env/*:flag/*"]},
//!     {"effect": "deny", "actions": ["*"], "resources": ["proj/*:env/production:flag/*"]}
//! ]);
//! let statements = validate(json.as_array().unwrap(), &[]).unwrap();
//! let role = CompiledRole::compile("dev", &statements, BasePermissions::NoAccess, &BTreeMap::new()).unwrap();
//! let staging = Resource::project("default", NO_TAGS).env("staging", NO_TAGS, false).flag("f", NO_TAGS);
//! let prod = Resource::project("default", NO_TAGS).env("production", NO_TAGS, true).flag("f", NO_TAGS);
//! assert!(decide(&[&role], "updateOn", &staging).allowed);
//! assert!(!decide(&[&role], "updateOn", &prod).allowed);
//! ```

pub mod action;
pub mod base_role;
pub mod compiled;
pub mod glob;
pub mod presets;
pub mod resource;
pub mod specifier;
pub mod specifier_pattern;
pub mod statement;
pub mod who;

pub use action::{ACTIONS, ActionId, ActionInfo, ActionSet, lookup, matching};
pub use base_role::{BasePermissions, BaseRole};
pub use compiled::{
    ActionRef, CompiledRole, DecidedBy, Decision, DecisionReason, ResourceMatcher, RoleOutcome,
    decide, decide_all,
};
pub use glob::Glob;
pub use resource::{NO_TAGS, PropertyValue, Resource, ResourceSegment, ResourceType};
pub use specifier::{Pattern, PatternPart, Selector, SpecSegment, Specifier, SpecifierError};
pub use statement::{
    ActionsClause, Effect, PolicyError, PolicyStatement, ResourcesClause, StatementInput,
    used_role_attributes, validate, validate_declaring, validate_document, validate_inputs,
};
