//! Compiled roles and the evaluator.
//!
//! A [`CompiledRole`] is built once per role version *and assignment* (role attributes are
//! expanded at compile time). Actions become a bitset over [`ActionId`]; resource specifiers
//! become pre-split glob matchers. [`decide`] then runs in memory without allocating.
//!
//! # Semantics (LaunchDarkly's)
//!
//! * **Within one role**: a matching `deny` beats any matching `allow`; statement order is
//!   irrelevant; nothing matched means no access from that role, except:
//!   * `basePermissions: reader` grants every catalogue view action (those with
//!     `view: true` that exist for the resource's type) when no statement of the role denies it;
//!   * `viewProject` on a project is implicitly allowed by every role that does not deny it
//!     ("all roles can view all projects by default; a deny hides the project").
//! * **Across roles**: the most permissive wins: allowed if any role allows. A deny in one
//!   role never cancels an allow in another, so adding a role can only add access. In
//!   particular a project is hidden (`viewProject` denied) only when *every* role the member
//!   holds denies it; with no role at all everything is denied.
//! * **Base vs custom roles** is the caller's choice of `roles`: pass the member's custom roles
//!   (own and teams') when there are any — they supersede the base role — and the base
//!   role's built-in role otherwise (see `BaseRole::supersedes_custom_roles` for owners).
//! * `notActions` covers every catalogue action not listed; `notResources` covers every
//!   resource matched by none of the specifiers (of any type).
//! * A specifier matches a resource segment by segment: same number of segments, same types,
//!   the name glob matches the key, every tag selector matches at least one of the segment's
//!   tags (AND across selectors), and every property selector equals the segment's property.
//! * Project-wide flag actions (`createFlag`, `updateName`, ...) must be allowed on the flag
//!   in every environment of the project: use [`decide_all`] with one resource per environment.

use std::collections::BTreeMap;

use super::action::{self, ActionId, ActionSet};
use super::base_role::{BasePermissions, BaseRole, SELF_MEMBER_ATTRIBUTE};
use super::glob::Glob;
use super::resource::{PropertyValue, Resource, ResourceSegment, ResourceType};
use super::specifier::{Selector, Specifier};
use super::statement::{Effect, PolicyError, PolicyStatement, validate_inputs};

/// Upper bound on concrete alternatives one specifier may expand to.
pub const MAX_EXPANSIONS_PER_SPECIFIER: usize = 4096;

#[derive(Debug, Clone)]
struct CompiledSegment {
    kind: ResourceType,
    name: Glob,
    tags: Vec<Glob>,
    properties: Vec<(String, PropertyValue)>,
}

impl CompiledSegment {
    fn matches(&self, seg: &ResourceSegment) -> bool {
        self.kind == seg.kind
            && self.name.matches(&seg.key)
            && self
                .tags
                .iter()
                .all(|g| seg.tags.iter().any(|t| g.matches(t)))
            && self
                .properties
                .iter()
                .all(|(n, v)| seg.property(n) == Some(v))
    }
}

#[derive(Debug, Clone)]
struct CompiledSpecifier {
    segments: Vec<CompiledSegment>,
}

impl CompiledSpecifier {
    fn matches(&self, resource: &Resource) -> bool {
        self.segments.len() == resource.segments.len()
            && self
                .segments
                .iter()
                .zip(resource.segments.iter())
                .all(|(c, s)| c.matches(s))
    }
}

#[derive(Debug, Clone)]
struct CompiledStatement {
    /// Index of the statement in the role's policy.
    index: usize,
    effect: Effect,
    /// Already inverted for `notActions`.
    actions: ActionSet,
    resources_negated: bool,
    specifiers: Vec<CompiledSpecifier>,
}

impl CompiledStatement {
    fn matches(&self, action: ActionId, resource: &Resource) -> bool {
        self.actions.contains(action)
            && (self.specifiers.iter().any(|s| s.matches(resource)) != self.resources_negated)
    }
}

/// What one role says about one `(action, resource)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleOutcome {
    /// A statement (by index in the role's policy) allows and none denies.
    Allowed(usize),
    /// A statement (by index) denies.
    Denied(usize),
    /// No statement matched; `basePermissions: reader` grants this view action.
    AllowedByBasePermissions,
    /// No statement matched; `viewProject` is allowed unless denied.
    AllowedByViewProjectDefault,
    /// No statement matched: no access from this role.
    NotMatched,
}

impl RoleOutcome {
    /// Whether this role grants access.
    pub fn is_allowed(self) -> bool {
        matches!(
            self,
            RoleOutcome::Allowed(_)
                | RoleOutcome::AllowedByBasePermissions
                | RoleOutcome::AllowedByViewProjectDefault
        )
    }
}

/// A role compiled for evaluation.
#[derive(Debug, Clone)]
pub struct CompiledRole {
    key: String,
    base_permissions: BasePermissions,
    /// Deny statements first, then allows (original indices kept).
    statements: Vec<CompiledStatement>,
    /// For each leaf resource type, the positions in `statements` (still deny-first) of the
    /// statements that can match a resource of that type.
    by_kind: [Vec<u32>; ResourceType::ALL.len()],
    statement_count: usize,
}

impl CompiledRole {
    /// Compiles validated statements for one assignment of the role: every
    /// `${roleAttribute/<key>}` is replaced by each of `role_attributes[key]` (values are
    /// glob text). A placeholder whose attribute is missing or empty is an error at
    /// `policy[i].resources[j]` (or `notResources`).
    pub fn compile(
        key: &str,
        statements: &[PolicyStatement],
        base_permissions: BasePermissions,
        role_attributes: &BTreeMap<String, Vec<String>>,
    ) -> Result<CompiledRole, PolicyError> {
        let mut compiled = Vec::with_capacity(statements.len());
        for (i, st) in statements.iter().enumerate() {
            let mut actions = ActionSet::empty();
            for pattern in &st.actions.patterns {
                actions = actions.union(&action::matching(pattern).collect());
            }
            if st.actions.negated {
                actions = actions.complement();
            }
            let field = if st.resources.negated {
                "notResources"
            } else {
                "resources"
            };
            let mut specifiers = Vec::new();
            for (j, spec) in st.resources.specifiers.iter().enumerate() {
                let path = format!("policy[{i}].{field}[{j}]");
                specifiers.extend(expand(spec, role_attributes, &path)?);
            }
            compiled.push(CompiledStatement {
                index: i,
                effect: st.effect,
                actions,
                resources_negated: st.resources.negated,
                specifiers,
            });
        }
        compiled.sort_by_key(|s| (s.effect == Effect::Allow, s.index));
        let mut by_kind: [Vec<u32>; ResourceType::ALL.len()] = Default::default();
        for (pos, st) in compiled.iter().enumerate() {
            let Ok(pos) = u32::try_from(pos) else { break };
            for kind in ResourceType::ALL {
                let relevant = st.resources_negated
                    || st
                        .specifiers
                        .iter()
                        .any(|sp| sp.segments.last().is_some_and(|seg| seg.kind == kind));
                if relevant && let Some(list) = by_kind.get_mut(kind.index()) {
                    list.push(pos);
                }
            }
        }
        Ok(CompiledRole {
            key: key.to_owned(),
            base_permissions,
            statements: compiled,
            by_kind,
            statement_count: statements.len(),
        })
    }

    /// The role's key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The role's base permissions.
    pub fn base_permissions(&self) -> BasePermissions {
        self.base_permissions
    }

    /// Number of statements in the role's policy.
    /// Whether the role decides `action` alike for every top-level resource of `kind` (a
    /// member, a team: a key and nothing else): no statement covering the action names one
    /// of them by anything but `<kind>/*`. A list of such resources can then be paged in the
    /// database and the decision taken once.
    pub fn decides_alike_for_every(&self, kind: ResourceType, action: ActionId) -> bool {
        self.statements
            .iter()
            .filter(|st| st.actions.contains(action))
            .flat_map(|st| &st.specifiers)
            .all(|sp| match sp.segments.as_slice() {
                [seg] if seg.kind == kind => {
                    seg.name.matches_everything()
                        && seg.tags.is_empty()
                        && seg.properties.is_empty()
                }
                // Any other shape never matches a one-segment resource of this kind.
                _ => true,
            })
    }

    pub fn statement_count(&self) -> usize {
        self.statement_count
    }

    /// What this role alone says about `(action, resource)`. Never allocates.
    pub fn evaluate(&self, action: ActionId, resource: &Resource) -> RoleOutcome {
        let kind = resource.kind();
        let found = match kind.and_then(|k| self.by_kind.get(k.index())) {
            Some(list) => first_match(
                list.iter()
                    .filter_map(|&pos| self.statements.get(pos as usize)),
                action,
                resource,
            ),
            // a resource without segments: only the full list is meaningful
            None => first_match(self.statements.iter(), action, resource),
        };
        if let Some(outcome) = found {
            return outcome;
        }
        let applies = kind.is_some_and(|k| action.applies_to(k));
        if self.base_permissions == BasePermissions::Reader && applies && action.is_view() {
            return RoleOutcome::AllowedByBasePermissions;
        }
        if action == ActionId::view_project() && kind == Some(ResourceType::Proj) {
            return RoleOutcome::AllowedByViewProjectDefault;
        }
        RoleOutcome::NotMatched
    }
}

/// The first deny that matches, else the first allow (statements come deny-first).
fn first_match<'a>(
    statements: impl Iterator<Item = &'a CompiledStatement>,
    action: ActionId,
    resource: &Resource,
) -> Option<RoleOutcome> {
    for st in statements {
        if st.matches(action, resource) {
            return Some(match st.effect {
                Effect::Deny => RoleOutcome::Denied(st.index),
                Effect::Allow => RoleOutcome::Allowed(st.index),
            });
        }
    }
    None
}

fn expand(
    spec: &Specifier,
    attrs: &BTreeMap<String, Vec<String>>,
    path: &str,
) -> Result<Vec<CompiledSpecifier>, PolicyError> {
    let missing = |k: String| PolicyError {
        path: path.to_owned(),
        message: format!("role attribute `{k}` has no value in this assignment"),
    };
    let too_many = || PolicyError {
        path: path.to_owned(),
        message: format!(
            "role attributes expand this specifier to more than {MAX_EXPANSIONS_PER_SPECIFIER} alternatives"
        ),
    };
    let mut out: Vec<Vec<CompiledSegment>> = vec![Vec::new()];
    for seg in &spec.segments {
        // alternatives for this segment: product of name values and each tag's values
        let mut alts: Vec<CompiledSegment> = seg
            .name
            .expand(attrs)
            .map_err(missing)?
            .iter()
            .map(|n| CompiledSegment {
                kind: seg.kind,
                name: Glob::new(n),
                tags: Vec::new(),
                properties: Vec::new(),
            })
            .collect();
        for sel in &seg.selectors {
            match sel {
                Selector::Property { name, value } => alts
                    .iter_mut()
                    .for_each(|a| a.properties.push((name.clone(), value.clone()))),
                Selector::Tag(p) => {
                    let values = p.expand(attrs).map_err(missing)?;
                    if alts.len().saturating_mul(values.len()) > MAX_EXPANSIONS_PER_SPECIFIER {
                        return Err(too_many());
                    }
                    alts = alts
                        .iter()
                        .flat_map(|a| {
                            values.iter().map(move |v| {
                                let mut a = a.clone();
                                a.tags.push(Glob::new(v));
                                a
                            })
                        })
                        .collect();
                }
            }
        }
        if out.len().saturating_mul(alts.len()) > MAX_EXPANSIONS_PER_SPECIFIER {
            return Err(too_many());
        }
        out = out
            .iter()
            .flat_map(|prefix| {
                alts.iter().map(move |a| {
                    let mut p = prefix.clone();
                    p.push(a.clone());
                    p
                })
            })
            .collect();
    }
    Ok(out
        .into_iter()
        .map(|segments| CompiledSpecifier { segments })
        .collect())
}

/// Which statement decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecidedBy {
    /// Index into the `roles` slice given to [`decide`].
    pub role_index: usize,
    /// Index of the statement in that role's policy.
    pub statement_index: usize,
    /// The statement's effect.
    pub effect: Effect,
}

/// Why a decision came out as it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecisionReason {
    /// A statement decided (see [`Decision::decided_by`]).
    Statement,
    /// No statement matched; role `role_index` has `basePermissions: reader`.
    BasePermissions {
        /// Index of the role.
        role_index: usize,
    },
    /// No statement matched; `viewProject` is allowed unless denied (role `role_index`).
    ViewProjectDefault {
        /// Index of the role.
        role_index: usize,
    },
    /// Nothing matched in any role.
    NotMatched,
    /// The action is not in the catalogue.
    UnknownAction,
}

/// The outcome of [`decide`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Whether the action is allowed.
    pub allowed: bool,
    /// The statement that decided, if one did.
    pub decided_by: Option<DecidedBy>,
    /// Why.
    pub reason: DecisionReason,
}

impl Decision {
    const fn denied(reason: DecisionReason) -> Decision {
        Decision {
            allowed: false,
            decided_by: None,
            reason,
        }
    }
}

/// Something that names an action: an [`ActionId`], or a name looked up in the catalogue.
pub trait ActionRef {
    /// The action's id, if it is in the catalogue.
    fn action_id(&self) -> Option<ActionId>;
}

impl ActionRef for ActionId {
    fn action_id(&self) -> Option<ActionId> {
        Some(*self)
    }
}

impl ActionRef for &str {
    fn action_id(&self) -> Option<ActionId> {
        action::lookup(self)
    }
}

impl ActionRef for &String {
    fn action_id(&self) -> Option<ActionId> {
        action::lookup(self)
    }
}

/// Decides whether a holder of `roles` may perform `action` on `resource`. Allocation-free.
///
/// When allowed, `decided_by` is the first role (in slice order) whose statement allows;
/// implicit allows (reader base permissions, the `viewProject` default) are used only when no
/// statement of any role allows. When denied, `decided_by` is the first role's denying
/// statement, or `None` when nothing matched.
pub fn decide<A: ActionRef, R: AsRef<CompiledRole>>(
    roles: &[R],
    action: A,
    resource: &Resource,
) -> Decision {
    let Some(action) = action.action_id() else {
        return Decision::denied(DecisionReason::UnknownAction);
    };
    let mut implicit: Option<DecisionReason> = None;
    let mut deny: Option<DecidedBy> = None;
    for (role_index, role) in roles.iter().enumerate() {
        match role.as_ref().evaluate(action, resource) {
            RoleOutcome::Allowed(statement_index) => {
                return Decision {
                    allowed: true,
                    decided_by: Some(DecidedBy {
                        role_index,
                        statement_index,
                        effect: Effect::Allow,
                    }),
                    reason: DecisionReason::Statement,
                };
            }
            RoleOutcome::Denied(statement_index) => {
                deny.get_or_insert(DecidedBy {
                    role_index,
                    statement_index,
                    effect: Effect::Deny,
                });
            }
            RoleOutcome::AllowedByBasePermissions => {
                implicit.get_or_insert(DecisionReason::BasePermissions { role_index });
            }
            RoleOutcome::AllowedByViewProjectDefault => {
                implicit.get_or_insert(DecisionReason::ViewProjectDefault { role_index });
            }
            RoleOutcome::NotMatched => {}
        }
    }
    if let Some(reason) = implicit {
        return Decision {
            allowed: true,
            decided_by: None,
            reason,
        };
    }
    match deny {
        Some(d) => Decision {
            allowed: false,
            decided_by: Some(d),
            reason: DecisionReason::Statement,
        },
        None => Decision::denied(DecisionReason::NotMatched),
    }
}

/// Decides one action over several resources (e.g. a project-wide flag action over the flag
/// in every environment): allowed only if allowed on each. Returns the first denial, or the
/// decision for the last resource. An empty list is denied (`NotMatched`). Allocation-free.
pub fn decide_all<'r, A: ActionRef, R: AsRef<CompiledRole>>(
    roles: &[R],
    action: A,
    resources: impl IntoIterator<Item = &'r Resource>,
) -> Decision {
    let Some(action) = action.action_id() else {
        return Decision::denied(DecisionReason::UnknownAction);
    };
    let mut last = Decision::denied(DecisionReason::NotMatched);
    for r in resources {
        last = decide(roles, action, r);
        if !last.allowed {
            return last;
        }
    }
    last
}

impl AsRef<CompiledRole> for CompiledRole {
    fn as_ref(&self) -> &CompiledRole {
        self
    }
}

/// A resource specifier compiled for matching concrete resources, without a role around it
/// (the audit log's `spec` filter). Placeholders are not allowed here.
#[derive(Debug, Clone)]
pub struct ResourceMatcher {
    alternatives: Vec<CompiledSpecifier>,
}

impl ResourceMatcher {
    /// Compiles a parsed specifier; a `${roleAttribute/...}` placeholder is an error.
    pub fn compile(spec: &Specifier) -> Result<ResourceMatcher, PolicyError> {
        Ok(ResourceMatcher {
            alternatives: expand(spec, &BTreeMap::new(), "spec")?,
        })
    }

    /// Whether the specifier matches the resource.
    pub fn matches(&self, resource: &Resource) -> bool {
        self.alternatives.iter().any(|s| s.matches(resource))
    }
}

/// A built-in role compiled like a custom one (here, beside the compiler, so that the base
/// roles' module stays below it).
impl BaseRole {
    /// The built-in role for member `member_id` (used by the writer's own-token statement),
    /// keyed `base:<name>`.
    pub fn compile(self, member_id: &str) -> Result<CompiledRole, PolicyError> {
        let declared = vec![SELF_MEMBER_ATTRIBUTE.to_owned()];
        let statements = validate_inputs(&self.statements(), &declared)?;
        let mut attrs = BTreeMap::new();
        attrs.insert(SELF_MEMBER_ATTRIBUTE.to_owned(), vec![member_id.to_owned()]);
        CompiledRole::compile(
            &format!("base:{}", self.as_str()),
            &statements,
            BasePermissions::NoAccess,
            &attrs,
        )
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::domain::policy::{lookup, validate};

    fn role(policy: serde_json::Value) -> CompiledRole {
        let statements = validate(policy.as_array().unwrap(), &[]).unwrap();
        CompiledRole::compile(
            "r",
            &statements,
            BasePermissions::NoAccess,
            &BTreeMap::new(),
        )
        .unwrap()
    }

    fn alike(role: &CompiledRole) -> bool {
        let view = lookup("viewMember").unwrap();
        role.decides_alike_for_every(ResourceType::Member, view)
    }

    #[test]
    fn a_role_naming_one_member_does_not_decide_alike() {
        let everyone = role(
            json!([{"effect": "allow", "actions": ["viewMember"], "resources": ["member/*"]}]),
        );
        assert!(alike(&everyone));
        let but_one = role(json!([
            {"effect": "allow", "actions": ["viewMember"], "resources": ["member/*"]},
            {"effect": "deny", "actions": ["viewMember"], "resources": ["member/ceo"]}
        ]));
        assert!(!alike(&but_one));
        let all_but =
            role(json!([{"effect": "allow", "actions": ["*"], "notResources": ["member/a*"]}]));
        assert!(!alike(&all_but));
        // Statements about other actions or other kinds do not matter.
        let other = role(json!([
            {"effect": "deny", "actions": ["deleteMember"], "resources": ["member/ceo"]},
            {"effect": "allow", "actions": ["viewMember"], "resources": ["team/eng", "proj/*"]}
        ]));
        assert!(alike(&other));
    }

    proptest! {
        /// Deciding alike means deciding alike: every member gets the same answer.
        #[test]
        fn alike_roles_answer_every_member_the_same(
            glob in "(\\*|a\\*|[a-c]{1,3})",
            effect in "(allow|deny)",
            ids in proptest::collection::vec("[a-c]{1,3}", 2..6),
        ) {
            let r = role(json!([
                {"effect": "allow", "actions": ["viewMember"], "resources": ["member/*"]},
                {"effect": effect, "actions": ["viewMember"], "resources": [format!("member/{glob}")]}
            ]));
            if alike(&r) {
                let answers: Vec<bool> = ids
                    .iter()
                    .map(|id| decide(&[&r], "viewMember", &Resource::member(id)).allowed)
                    .collect();
                prop_assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");
            }
        }
    }
}
