//! What a sync would change, as `kubectl diff` shows it (stage ⑥, `gantry diff`).
//!
//! Input: per object, the live state and the result of a server-side dry-run apply (the
//! executor fetches both). Output: a unified diff per changed object, with the fields the
//! server manages — managedFields, status, resourceVersion, uid, generation, timestamps —
//! stripped from both sides so only real differences show.

use serde_json::Value;
use similar::TextDiff;

use super::ObjectId;
use crate::manifest::emit;

/// One object's before and after; `None` for "does not exist".
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectDiff {
    pub id: ObjectId,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// Removes what the server owns and no manifest sets.
#[must_use]
pub fn normalize(obj: &Value) -> Value {
    let mut o = obj.clone();
    if let Some(map) = o.as_object_mut() {
        map.remove("status");
        if let Some(meta) = map.get_mut("metadata").and_then(Value::as_object_mut) {
            for field in [
                "managedFields",
                "resourceVersion",
                "uid",
                "generation",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "selfLink",
            ] {
                meta.remove(field);
            }
        }
    }
    o
}

impl ObjectDiff {
    /// The unified diff, `None` when nothing differs. `color` adds ANSI red/green.
    #[must_use]
    pub fn unified(&self, color: bool) -> Option<String> {
        let yaml = |v: &Option<Value>| match v {
            Some(v) => emit::documents([&normalize(v)]),
            None => String::new(),
        };
        let (before, after) = (yaml(&self.before), yaml(&self.after));
        if before == after {
            return None;
        }
        let name = self.id.to_string();
        let diff = TextDiff::from_lines(&before, &after);
        let text = diff
            .unified_diff()
            .context_radius(3)
            .header(&format!("live/{name}"), &format!("merged/{name}"))
            .to_string();
        if !color {
            return Some(text);
        }
        Some(
            text.lines()
                .map(|l| match l.as_bytes().first() {
                    Some(b'-') if !l.starts_with("---") => format!("\x1b[31m{l}\x1b[0m\n"),
                    Some(b'+') if !l.starts_with("+++") => format!("\x1b[32m{l}\x1b[0m\n"),
                    Some(b'@') => format!("\x1b[36m{l}\x1b[0m\n"),
                    _ => format!("{l}\n"),
                })
                .collect(),
        )
    }
}
