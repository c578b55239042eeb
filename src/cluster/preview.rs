//! The plan-only preview of a sync (stage ⑥ without a cluster, pure): what a sync would apply and prune,
//! shown against the previous plan, since no live state is known.
//!
//! Input: the rendered objects, the sync context and the previous plan (object → pretty JSON).
//! Output: a [`Done`] with phase `planned`: would create, would configure (with the changed
//! lines), unchanged, would prune.

use std::collections::HashMap;

use super::outcome::{Done, ObjectStatus, Phase, RowHealth};
use super::{ClusterError, HealthStatus, SyncContext};

/// Without a cluster, the previous plan stands in for the live state: what it applied and the
/// new render drops is what a sync would prune.
pub fn preview<S: std::hash::BuildHasher>(
    rendered: Vec<(serde_json::Value, String)>,
    ctx: &SyncContext,
    previous: &HashMap<String, String, S>,
    reason: &str,
    digest: String,
    warning: Option<String>,
) -> Result<Done, ClusterError> {
    let scopes = super::Scopes::builtin();
    let plan = super::plan(rendered, &[], &scopes, ctx)?;
    let mut planned = HashMap::new();
    let mut objects: Vec<ObjectStatus> = plan
        .objects()
        .map(|(id, obj)| {
            let id = id.to_string();
            let text = serde_json::to_string_pretty(obj).unwrap_or_default();
            let (action, diff) = match previous.get(&id) {
                None => ("would create", None),
                Some(before) if *before == text => ("unchanged", None),
                Some(before) => ("would configure", Some(changed_lines(before, &text))),
            };
            planned.insert(id.clone(), text);
            ObjectStatus {
                object: id,
                action: action.into(),
                health: RowHealth::NotApplied,
                diff,
            }
        })
        .collect();
    let mut gone: Vec<&String> = previous
        .keys()
        .filter(|p| !planned.contains_key(*p))
        .collect();
    gone.sort();
    objects.extend(gone.into_iter().map(|p| ObjectStatus {
        object: p.clone(),
        action: "would prune".into(),
        health: RowHealth::NotApplied,
        diff: None,
    }));
    Ok(Done {
        corrected: 0,
        changed: Vec::new(),
        planned,
        phase: Phase::Planned,
        health: HealthStatus::Missing,
        applied: 0,
        pruned: 0,
        prune_held: false,
        objects,
        digest,
        warning: Some(match warning {
            Some(w) => format!("not applied: {reason}\n{w}"),
            None => format!("not applied: {reason}"),
        }),
    })
}

/// The lines that differ between two renderings of an object, `-`/`+` prefixed.
fn changed_lines(before: &str, after: &str) -> String {
    similar::TextDiff::from_lines(before, after)
        .iter_all_changes()
        .filter_map(|c| match c.tag() {
            similar::ChangeTag::Delete => Some(format!("- {}", c.value().trim())),
            similar::ChangeTag::Insert => Some(format!("+ {}", c.value().trim())),
            similar::ChangeTag::Equal => None,
        })
        .collect::<Vec<_>>()
        .join("\n")
}
