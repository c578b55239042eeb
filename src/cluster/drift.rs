//! Drift: a change another field manager made to a field gantry owns (stage ⑥, self-heal).
//!
//! Input: the fields gantry owned right after its apply (its `managedFields` entry, as the
//! apply response returned it) and the object as it is now. Output: the fields other managers
//! have taken over — a `kubectl edit` or `kubectl scale` moves ownership of what it changed to
//! its own manager — so the executor re-applies with force, which takes them back.
//! Fields gantry never set (defaults, an HPA's own fields, status) never count as drift.

use std::collections::BTreeSet;

use serde_json::Value;

use super::apply::FIELD_MANAGER;

/// A field now held by another manager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drift {
    pub manager: String,
    pub operation: String,
    /// Path in `fieldsV1` notation, e.g. `f:spec/f:replicas`.
    pub path: String,
}

/// Leaf paths of a `fieldsV1` tree. A node owns itself when it has a `.` key or no children.
#[must_use]
pub fn leaf_paths(fields: &Value) -> BTreeSet<String> {
    fn walk(node: &Value, prefix: &str, out: &mut BTreeSet<String>) {
        let Some(map) = node.as_object() else {
            return;
        };
        if (map.is_empty() || map.contains_key(".")) && !prefix.is_empty() {
            out.insert(prefix.to_string());
        }
        for (key, child) in map {
            if key == "." {
                continue;
            }
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}/{key}")
            };
            walk(child, &path, out);
        }
    }
    let mut out = BTreeSet::new();
    walk(fields, "", &mut out);
    out
}

/// The fields `manager` holds through server-side apply in `obj`'s `managedFields`.
#[must_use]
pub fn owned_by(obj: &Value, manager: &str) -> BTreeSet<String> {
    obj["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| {
            e["manager"] == manager && e["operation"] == "Apply" && e["subresource"].is_null()
        })
        .flat_map(|e| leaf_paths(&e["fieldsV1"]))
        .collect()
}

/// Fields of `owned` (what gantry held after its apply) that another manager holds in `live`.
#[must_use]
pub fn drift(owned: &BTreeSet<String>, live: &Value) -> Vec<Drift> {
    let mut out = Vec::new();
    for entry in live["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let manager = entry["manager"].as_str().unwrap_or_default();
        // Status writes by controllers touch only the status subresource; `kubectl scale`
        // writes `spec.replicas` through the scale subresource, and that is drift.
        if manager == FIELD_MANAGER || entry["subresource"] == "status" {
            continue;
        }
        for path in leaf_paths(&entry["fieldsV1"]) {
            if owned.contains(&path) {
                out.push(Drift {
                    manager: manager.to_string(),
                    operation: entry["operation"].as_str().unwrap_or_default().to_string(),
                    path,
                });
            }
        }
    }
    out
}
