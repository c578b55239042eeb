//! Read-your-writes for the cluster cache (stage ⑥, in memory): what a sync just applied or
//! pruned, held until the watch has delivered it, the way client-go's mutation cache does.
//!
//! Input: the objects a sync applied (as the server returned them) and the ids it pruned (with
//! the resourceVersion they had); then every watch event. Output: what a reader of the cache
//! should see for an id — the watch's copy once it is at least as new as gantry's own write,
//! gantry's write before that. Without it, a sync started a few hundred milliseconds after the
//! previous one (a second commit, a retry) plans against a cache the watch has not caught up
//! with yet: it reports an unchanged object as created and misses what it may prune.
//!
//! resourceVersions are compared as numbers, as client-go's mutation cache and every
//! etcd-backed server allow; one that is not a number leaves the watch's copy authoritative.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::Value;

use super::ObjectId;
use crate::core::AppEnv;

/// One write the watch has not delivered yet.
struct Entry {
    rv: u64,
    /// The applied object; `None` for a prune (the object must not be seen until it is gone
    /// or replaced by a newer one).
    object: Option<Value>,
    owner: Option<AppEnv>,
}

/// gantry's own writes, by id, until the watch catches up with them. Each entry is dropped
/// by the watch event that carries it (or a newer one), so memory stays bounded by the
/// objects gantry manages.
#[derive(Default)]
pub(super) struct Written {
    entries: Mutex<HashMap<ObjectId, Entry>>,
}

/// The numeric resourceVersion of an object, if it has one.
pub(super) fn resource_version(object: &Value) -> Option<u64> {
    object["metadata"]["resourceVersion"].as_str()?.parse().ok()
}

impl Written {
    /// A sync applied `object` (as the server answered).
    pub(super) fn applied(&self, id: &ObjectId, object: Value, owner: Option<AppEnv>) {
        let Some(rv) = resource_version(&object) else {
            return;
        };
        self.put(id, rv, Some(object), owner);
    }

    /// A sync deleted `id`, whose last known copy had resourceVersion `rv`.
    pub(super) fn deleted(&self, id: &ObjectId, rv: u64) {
        self.put(id, rv, None, None);
    }

    fn put(&self, id: &ObjectId, rv: u64, object: Option<Value>, owner: Option<AppEnv>) {
        let mut entries = self.entries.lock().expect("written lock poisoned");
        // A newer write already recorded (a concurrent sync) stays.
        if entries.get(id).is_some_and(|e| e.rv > rv) {
            return;
        }
        entries.insert(id.clone(), Entry { rv, object, owner });
    }

    /// The watch delivered `id` at `rv` (`None`: not a number), or its deletion: an entry the
    /// watch has caught up with is dropped.
    pub(super) fn seen(&self, id: &ObjectId, rv: Option<u64>, deleted: bool) {
        let mut entries = self.entries.lock().expect("written lock poisoned");
        let Some(entry) = entries.get(id) else {
            return;
        };
        if deleted || rv.is_none_or(|rv| caught_up(entry, rv)) {
            entries.remove(id);
        }
    }

    /// What a reader sees for `id`, given the watch's copy.
    pub(super) fn resolve(&self, id: &ObjectId, cached: Option<Value>) -> Option<Value> {
        let entries = self.entries.lock().expect("written lock poisoned");
        let Some(entry) = entries.get(id) else {
            return cached;
        };
        match cached.as_ref().map(resource_version) {
            Some(None) => cached,
            Some(Some(rv)) if caught_up(entry, rv) => cached,
            _ => entry.object.clone(),
        }
    }

    /// Ids of applied objects owned by `owner` that the watch may not have delivered yet.
    pub(super) fn owned_by(&self, owner: &AppEnv) -> Vec<ObjectId> {
        self.entries
            .lock()
            .expect("written lock poisoned")
            .iter()
            .filter(|(_, e)| e.object.is_some() && e.owner.as_ref() == Some(owner))
            .map(|(id, _)| id.clone())
            .collect()
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.lock().expect("written lock poisoned").len()
    }
}

/// An applied object is delivered by its own resourceVersion or a later one; a deletion only
/// by a later one (the same resourceVersion is the copy from before the delete).
fn caught_up(entry: &Entry, rv: u64) -> bool {
    if entry.object.is_some() {
        rv >= entry.rv
    } else {
        rv > entry.rv
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn id() -> ObjectId {
        ObjectId {
            group: String::new(),
            kind: "Service".into(),
            namespace: Some("shop".into()),
            name: "web".into(),
        }
    }

    fn at(rv: &str) -> Value {
        json!({"metadata": {"name": "web", "resourceVersion": rv}})
    }

    #[test]
    fn an_applied_object_is_seen_until_the_watch_delivers_it() {
        let w = Written::default();
        let owner = AppEnv::new("web", "dev");
        w.applied(&id(), at("12"), Some(owner.clone()));
        assert_eq!(w.owned_by(&owner), vec![id()]);
        assert_eq!(w.resolve(&id(), None), Some(at("12")));
        assert_eq!(w.resolve(&id(), Some(at("9"))), Some(at("12")));
        assert_eq!(w.resolve(&id(), Some(at("13"))), Some(at("13")));
        w.seen(&id(), Some(11), false);
        assert_eq!(w.len(), 1, "an older event keeps the entry");
        w.seen(&id(), Some(12), false);
        assert_eq!(w.len(), 0);
        assert_eq!(w.resolve(&id(), Some(at("9"))), Some(at("9")));
    }

    #[test]
    fn a_pruned_object_is_hidden_until_it_is_gone_or_newer() {
        let w = Written::default();
        w.deleted(&id(), 12);
        assert_eq!(w.resolve(&id(), Some(at("12"))), None);
        assert_eq!(w.resolve(&id(), Some(at("14"))), Some(at("14")));
        assert!(w.owned_by(&AppEnv::new("web", "dev")).is_empty());
        w.seen(&id(), Some(12), false);
        assert_eq!(w.len(), 1);
        w.seen(&id(), None, true);
        assert_eq!(w.len(), 0);
    }

    #[test]
    fn a_resource_version_that_is_not_a_number_leaves_the_watch_in_charge() {
        let w = Written::default();
        w.applied(&id(), at("abc"), None);
        assert_eq!(w.len(), 0);
        w.applied(&id(), at("5"), None);
        assert_eq!(w.resolve(&id(), Some(at("x"))), Some(at("x")));
        w.seen(&id(), None, false);
        assert_eq!(w.len(), 0);
    }

    #[test]
    fn an_older_write_does_not_replace_a_newer_one() {
        let w = Written::default();
        w.applied(&id(), at("20"), None);
        w.applied(&id(), at("15"), None);
        assert_eq!(w.resolve(&id(), None), Some(at("20")));
    }
}
