//! A group's membership change as pure logic: the ordered member operations of a PATCH or
//! PUT folded into one delta, and that delta resolved against what is stored into exactly the
//! rows to insert and delete. What the fold needs from the store is as small as the request:
//! the membership of the ids it names, unless it replaces or filters the whole list.

use std::collections::{BTreeSet, HashSet};

use serde_json::json;

use super::error::{ScimError, ScimResult};
use super::filter::matches;
use super::patch::MemberChange;
use super::schema::GROUP;

/// What a request asks of a group's membership, folded from its operations in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MembershipDelta {
    /// The stored membership goes first (a replace, or a remove of all members).
    pub reset: bool,
    /// Ids that end up members, in the order the request named them.
    pub add: Vec<String>,
    /// Ids that end up not members (when not `reset`).
    pub remove: Vec<String>,
}

/// The rows a change really touches: adds that are not members yet, removes that are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MembershipChange {
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

impl MembershipChange {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }

    /// The member count after the change, from the count before it.
    pub fn count_after(&self, before: i64) -> i64 {
        before + self.added.len() as i64 - self.removed.len() as i64
    }
}

/// Whether folding `changes` needs the whole stored membership: a filter that is not a list
/// of ids selects among all members, and a replace must know whom it drops.
pub fn needs_whole_membership(changes: &[MemberChange]) -> bool {
    changes.iter().any(|c| {
        matches!(
            c,
            MemberChange::RemoveWhere(_) | MemberChange::Replace(_) | MemberChange::RemoveAll
        )
    })
}

/// Folds the ordered changes into one delta. `current` is the stored membership, given only
/// when `needs_whole_membership` says so (a filtered remove evaluates against it).
pub fn fold(changes: &[MemberChange], current: Option<&[String]>) -> ScimResult<MembershipDelta> {
    let mut added: Vec<String> = Vec::new();
    let mut added_set: HashSet<String> = HashSet::new();
    let mut removed: BTreeSet<String> = BTreeSet::new();
    let mut reset = false;
    let def = GROUP.resolve(None, "members", None).map(|r| r.def);
    for change in changes {
        match change {
            MemberChange::Add(ids) => {
                for id in ids {
                    removed.remove(id);
                    if added_set.insert(id.clone()) {
                        added.push(id.clone());
                    }
                }
            }
            MemberChange::Remove(ids) => {
                for id in ids {
                    if added_set.remove(id) {
                        added.retain(|a| a != id);
                    }
                    removed.insert(id.clone());
                }
            }
            MemberChange::Replace(ids) => {
                reset = true;
                removed.clear();
                added.clear();
                added_set.clear();
                for id in ids {
                    if added_set.insert(id.clone()) {
                        added.push(id.clone());
                    }
                }
            }
            MemberChange::RemoveAll => {
                reset = true;
                removed.clear();
                added.clear();
                added_set.clear();
            }
            MemberChange::RemoveWhere(filter) => {
                let (Some(current), Some(def)) = (current, def) else {
                    return Err(ScimError::internal(
                        "membership was not loaded for a filtered remove",
                    ));
                };
                let candidates = current
                    .iter()
                    .filter(|id| !reset && !removed.contains(*id))
                    .chain(added.iter());
                let mut hit = Vec::new();
                for id in candidates {
                    // The RFC's member has no display name here; `type` is always User.
                    let element = json!({"value": id, "display": "", "type": "User"});
                    if matches(filter, &element, def)
                        .map_err(|e| ScimError::invalid_path(format!("members[...]: {e}")))?
                    {
                        hit.push(id.clone());
                    }
                }
                for id in hit {
                    if added_set.remove(&id) {
                        added.retain(|a| a != &id);
                    }
                    removed.insert(id);
                }
            }
        }
    }
    Ok(MembershipDelta {
        reset,
        add: added,
        remove: removed.into_iter().collect(),
    })
}

impl MembershipDelta {
    /// The ids whose stored membership decides what changes (when not `reset`).
    pub fn named(&self) -> impl Iterator<Item = &String> {
        self.add.iter().chain(self.remove.iter())
    }

    /// The rows to touch, given `present`: which of the named ids are members (when not
    /// `reset`), or the whole stored membership (when `reset`). Both lists come sorted.
    pub fn resolve(&self, present: &HashSet<String>) -> MembershipChange {
        let mut added: Vec<String> = self
            .add
            .iter()
            .filter(|id| !present.contains(*id))
            .cloned()
            .collect();
        let mut removed: Vec<String> = if self.reset {
            let keep: HashSet<&String> = self.add.iter().collect();
            present
                .iter()
                .filter(|id| !keep.contains(id))
                .cloned()
                .collect()
        } else {
            self.remove
                .iter()
                .filter(|id| present.contains(*id))
                .cloned()
                .collect()
        };
        added.sort();
        removed.sort();
        MembershipChange { added, removed }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    fn set(v: &[&str]) -> HashSet<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn changes_fold_in_order() {
        let d = fold(
            &[
                MemberChange::Add(ids(&["a", "b", "c"])),
                MemberChange::Remove(ids(&["b", "x"])),
                MemberChange::Add(ids(&["x"])),
            ],
            None,
        )
        .unwrap();
        assert!(!d.reset);
        assert_eq!(d.add, ids(&["a", "c", "x"]));
        assert_eq!(d.remove, ids(&["b"]));
        let d = fold(
            &[
                MemberChange::Add(ids(&["a"])),
                MemberChange::Replace(ids(&["z"])),
            ],
            None,
        )
        .unwrap();
        assert!(d.reset);
        assert_eq!(d.add, ids(&["z"]));
        let f =
            crate::domain::scim::filter::parse_filter(r#"value sw "1" or type ne "User""#).unwrap();
        let d = fold(&[MemberChange::RemoveWhere(f)], Some(&ids(&["1", "2"]))).unwrap();
        assert_eq!(d.remove, ids(&["1"]));
    }

    #[test]
    fn a_filtered_remove_without_the_membership_is_an_internal_error() {
        let f = crate::domain::scim::filter::parse_filter(r#"value sw "1""#).unwrap();
        assert!(fold(&[MemberChange::RemoveWhere(f.clone())], None).is_err());
        assert!(needs_whole_membership(&[MemberChange::RemoveWhere(f)]));
        assert!(needs_whole_membership(&[MemberChange::RemoveAll]));
        assert!(needs_whole_membership(&[MemberChange::Replace(ids(&[]))]));
        assert!(!needs_whole_membership(&[
            MemberChange::Add(ids(&["a"])),
            MemberChange::Remove(ids(&["b"]))
        ]));
    }

    #[test]
    fn resolving_touches_only_what_changes() {
        let d = fold(
            &[
                MemberChange::Add(ids(&["a", "b"])),
                MemberChange::Remove(ids(&["c", "d"])),
            ],
            None,
        )
        .unwrap();
        // "a" and "c" are members already, "b" and "d" are not.
        let change = d.resolve(&set(&["a", "c"]));
        assert_eq!(change.added, ids(&["b"]));
        assert_eq!(change.removed, ids(&["c"]));
        assert_eq!(change.count_after(10), 10);
        let replace = fold(&[MemberChange::Replace(ids(&["a", "z"]))], None).unwrap();
        let change = replace.resolve(&set(&["a", "b", "c"]));
        assert_eq!(change.added, ids(&["z"]));
        assert_eq!(change.removed, ids(&["b", "c"]));
        assert!(
            fold(&[MemberChange::Add(ids(&["a"]))], None)
                .unwrap()
                .resolve(&set(&["a"]))
                .is_empty()
        );
    }

    fn change() -> impl Strategy<Value = MemberChange> {
        let id_list = proptest::collection::vec("[a-e]", 0..4);
        prop_oneof![
            id_list.clone().prop_map(MemberChange::Add),
            id_list.clone().prop_map(MemberChange::Remove),
            id_list.prop_map(MemberChange::Replace),
            Just(MemberChange::RemoveAll),
        ]
    }

    /// Applies changes one by one to a set: the meaning the fold must keep.
    fn apply_naively(start: &HashSet<String>, changes: &[MemberChange]) -> HashSet<String> {
        let mut s = start.clone();
        for c in changes {
            match c {
                MemberChange::Add(v) => s.extend(v.iter().cloned()),
                MemberChange::Remove(v) => v.iter().for_each(|id| {
                    s.remove(id);
                }),
                MemberChange::Replace(v) => s = v.iter().cloned().collect(),
                MemberChange::RemoveAll => s.clear(),
                MemberChange::RemoveWhere(_) => unreachable!(),
            }
        }
        s
    }

    proptest! {
        /// Folding and resolving against the stored set gives the same membership as applying
        /// each operation in turn, and touches no row that stays as it is.
        #[test]
        fn fold_then_resolve_equals_applying_in_turn(
            start in proptest::collection::hash_set("[a-e]", 0..5),
            changes in proptest::collection::vec(change(), 0..6),
        ) {
            let delta = fold(&changes, None).unwrap();
            let present: HashSet<String> = if delta.reset {
                start.clone()
            } else {
                delta.named().filter(|id| start.contains(*id)).cloned().collect()
            };
            let change = delta.resolve(&present);
            let mut result = start.clone();
            for id in &change.removed {
                prop_assert!(result.remove(id), "removed a non-member {id}");
            }
            for id in &change.added {
                prop_assert!(result.insert(id.clone()), "added a member twice {id}");
            }
            prop_assert_eq!(&result, &apply_naively(&start, &changes));
            prop_assert_eq!(change.count_after(start.len() as i64), result.len() as i64);
        }
    }
}
