//! The cluster cache (stage ⑥, I/O edge): one watch per kind over everything gantry manages in a
//! cluster, filled once and kept current, as Argo CD's cluster cache is. A sync then takes its
//! inventory from memory instead of listing every kind, health follows the live objects within
//! a watch event, and drift is seen when it happens.
//!
//! Input: a kube client and the API table (which kinds exist). Output: the inventory of an
//! app × environment, the cached live object of an id, and a stream of [`Change`]s (which
//! object changed or went away). Only objects labelled `app.kubernetes.io/managed-by=gantry`
//! are watched, so memory follows what gantry manages, not the cluster's size.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt as _;
use kube::api::{Api, DynamicObject};
use kube::core::ApiResource;
use kube::runtime::WatchStreamExt as _;
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher::{self, Event};
use serde_json::Value;
use tokio::sync::broadcast;

use super::apply::ApiTable;
use super::apply::{Action, Row};
use super::labels::{MANAGED_BY, MANAGED_BY_VALUE, NEVER_INVENTORIED, TRACKING_ID};
use super::written::{Written, resource_version};
use super::{ClusterError, LiveObject, ObjectId};
use crate::core::AppEnv;

/// How long a new kind's first LIST may take before a sync gives up waiting for it.
const READY_TIMEOUT: Duration = Duration::from_mins(1);

/// A cached object changed (added, modified) or was deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub id: ObjectId,
    pub deleted: bool,
    /// The app and environment of its tracking annotation, when it has one.
    pub owner: Option<AppEnv>,
}

/// Ids of the cached objects by the (app, environment) their tracking annotation names, and
/// back. An id whose object a relist dropped may linger; lookups skip what the store lacks.
#[derive(Default)]
struct Index {
    by_owner: HashMap<AppEnv, HashSet<ObjectId>>,
    owner: HashMap<ObjectId, AppEnv>,
}

impl Index {
    fn set(&mut self, id: &ObjectId, owner: Option<&AppEnv>) {
        if let Some(old) = self.owner.remove(id)
            && let Some(ids) = self.by_owner.get_mut(&old)
        {
            ids.remove(id);
        }
        if let Some(owner) = owner {
            self.owner.insert(id.clone(), owner.clone());
            self.by_owner
                .entry(owner.clone())
                .or_default()
                .insert(id.clone());
        }
    }
}

struct Watched {
    ar: ApiResource,
    store: Store<DynamicObject>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Watched {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Watches of one cluster, shared by every sync against it.
pub struct ClusterCache {
    client: kube::Client,
    kinds: Mutex<HashMap<(String, String), Arc<Watched>>>,
    index: Arc<Mutex<Index>>,
    changes: broadcast::Sender<Change>,
    written: Arc<Written>,
}

impl ClusterCache {
    #[must_use]
    pub fn new(client: kube::Client) -> Arc<Self> {
        let (changes, _) = broadcast::channel(4096);
        Arc::new(Self {
            client,
            kinds: Mutex::default(),
            index: Arc::default(),
            changes,
            written: Arc::default(),
        })
    }

    /// Changes of cached objects from now on. A receiver that lags loses the oldest changes
    /// (the drift interval is the safety net).
    #[must_use]
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    /// Starts a watch for every listable kind of `table` not yet watched and waits until each
    /// new one has its initial list. A kind already watched costs nothing.
    ///
    /// # Panics
    ///
    /// When the cache's lock is poisoned (a panic while holding it).
    pub async fn ensure(&self, table: &ApiTable) -> Result<(), ClusterError> {
        let mut started = Vec::new();
        {
            let mut kinds = self.kinds.lock().expect("cache lock poisoned");
            for (ar, namespaced) in table.listable() {
                if NEVER_INVENTORIED.contains(&(ar.group.as_str(), ar.kind.as_str())) {
                    continue;
                }
                let key = (ar.group.clone(), ar.kind.clone());
                if kinds.contains_key(&key) {
                    continue;
                }
                let watched = Arc::new(self.watch(ar, namespaced));
                kinds.insert(key, Arc::clone(&watched));
                started.push(watched);
            }
        }
        for watched in started {
            let ready = tokio::time::timeout(READY_TIMEOUT, watched.store.wait_until_ready());
            if !matches!(ready.await, Ok(Ok(()))) {
                self.kinds
                    .lock()
                    .expect("cache lock poisoned")
                    .remove(&(watched.ar.group.clone(), watched.ar.kind.clone()));
                return Err(ClusterError::Api {
                    object: watched.ar.kind.clone(),
                    verb: "watch",
                    message: format!(
                        "the initial list did not complete within {} s",
                        READY_TIMEOUT.as_secs()
                    ),
                });
            }
        }
        Ok(())
    }

    fn watch(&self, ar: ApiResource, namespaced: bool) -> Watched {
        let writer = reflector::store::Writer::new(ar.clone());
        let store = writer.as_reader();
        let api = Api::<DynamicObject>::all_with(self.client.clone(), &ar);
        let config = watcher::Config::default().labels(&format!("{MANAGED_BY}={MANAGED_BY_VALUE}"));
        let changes = self.changes.clone();
        let index = Arc::clone(&self.index);
        let written = Arc::clone(&self.written);
        let (group, kind) = (ar.group.clone(), ar.kind.clone());
        let stream = reflector::reflector(
            writer,
            watcher::watcher(api, config).default_backoff().modify(slim),
        );
        let task = tokio::spawn(async move {
            futures::pin_mut!(stream);
            while let Some(event) = stream.next().await {
                let (object, deleted) = match event {
                    Ok(Event::Apply(o) | Event::InitApply(o)) => (o, false),
                    Ok(Event::Delete(o)) => (o, true),
                    Ok(Event::Init | Event::InitDone) => continue,
                    Err(e) => {
                        tracing::debug!(kind = %kind, error = %e, "watch error; retrying with backoff");
                        continue;
                    }
                };
                let id = id_of(&group, &kind, namespaced, &object);
                let owner = owner_of(&object);
                let rv = object.metadata.resource_version.as_deref();
                written.seen(&id, rv.and_then(|rv| rv.parse().ok()), deleted);
                index
                    .lock()
                    .expect("cache index lock poisoned")
                    .set(&id, owner.as_ref().filter(|_| !deleted));
                // Nobody listening is fine: the cache itself is up to date.
                let _ = changes.send(Change { id, deleted, owner });
            }
        });
        Watched { ar, store, task }
    }

    /// What gantry applied for `app` × `env`, from the cache (no request): as
    /// [`super::apply::Applier::inventory`] lists it, without the LISTs.
    ///
    /// # Panics
    ///
    /// When the cache's lock is poisoned (a panic while holding it).
    #[must_use]
    pub fn inventory(&self, app: &str, env: &str) -> HashMap<ObjectId, (LiveObject, Value)> {
        let owner = AppEnv::new(app, env);
        let mut ids: HashSet<ObjectId> = self
            .index
            .lock()
            .expect("cache index lock poisoned")
            .by_owner
            .get(&owner)
            .map(|ids| ids.iter().cloned().collect())
            .unwrap_or_default();
        ids.extend(self.written.owned_by(&owner));
        let mut out = HashMap::new();
        for id in ids {
            let Some(value) = self.get(&id) else { continue };
            if !value["metadata"]["deletionTimestamp"].is_null() {
                continue;
            }
            let live = LiveObject::from_live(id.clone(), &value);
            if live.is_tracked_by(app, env) {
                out.insert(id, (live, value));
            }
        }
        out
    }

    /// The cached live object of `id` (with `apiVersion` and `kind`), if it is watched: the
    /// watch's copy, or gantry's own newer write the watch has not delivered yet.
    ///
    /// # Panics
    ///
    /// When the cache's lock is poisoned (a panic while holding it).
    #[must_use]
    pub fn get(&self, id: &ObjectId) -> Option<Value> {
        self.written.resolve(id, self.watched_copy(id))
    }

    /// Records what a sync did, so the next sync and the healer read their own writes before
    /// the watch delivers them. `before` is the inventory the sync planned against.
    pub fn record(&self, rows: &[Row], before: &HashMap<ObjectId, (LiveObject, Value)>) {
        for row in rows {
            if !self.is_watched(&row.id) {
                continue;
            }
            match (&row.action, &row.live) {
                (Action::Pruned, _) => {
                    if let Some(rv) = before.get(&row.id).and_then(|(_, v)| resource_version(v)) {
                        self.written.deleted(&row.id, rv);
                    }
                }
                (_, Some(live)) => {
                    let Ok(mut object) = serde_json::from_value::<DynamicObject>(live.clone())
                    else {
                        continue;
                    };
                    slim(&mut object);
                    let owner = owner_of(&object);
                    let mut value = serde_json::to_value(&object).unwrap_or(Value::Null);
                    value["apiVersion"] = live["apiVersion"].clone();
                    value["kind"] = live["kind"].clone();
                    self.written.applied(&row.id, value, owner);
                }
                (_, None) => {}
            }
        }
    }

    fn is_watched(&self, id: &ObjectId) -> bool {
        self.kinds
            .lock()
            .expect("cache lock poisoned")
            .contains_key(&(id.group.clone(), id.kind.clone()))
    }

    fn watched_copy(&self, id: &ObjectId) -> Option<Value> {
        let watched = self
            .kinds
            .lock()
            .expect("cache lock poisoned")
            .get(&(id.group.clone(), id.kind.clone()))
            .cloned()?;
        let key = reflector::ObjectRef::new_with(&id.name, watched.ar.clone())
            .within(id.namespace.as_deref().unwrap_or_default());
        watched.store.get(&key).map(|o| typed(&watched.ar, &o))
    }

    /// Objects cached across all kinds (for figures and tests).
    ///
    /// # Panics
    ///
    /// When the cache's lock is poisoned (a panic while holding it).
    #[must_use]
    pub fn len(&self) -> usize {
        self.kinds
            .lock()
            .expect("cache lock poisoned")
            .values()
            .map(|w| w.store.len())
            .sum()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What the cache keeps of an object: identity, labels, annotations, `spec` and `status`
/// (health reads them). Not kept: `managedFields` (drift is checked against the live object
/// when a change arrives), the payload of ConfigMaps and Secrets (no secret value lives in the
/// daemon's memory), and kubectl's last-applied copy — together most of an object's bytes.
fn slim(object: &mut DynamicObject) {
    object.metadata.managed_fields = None;
    if let Some(annotations) = &mut object.metadata.annotations {
        annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
    if let Some(fields) = object.data.as_object_mut() {
        for payload in ["data", "binaryData", "stringData"] {
            fields.remove(payload);
        }
    }
}

/// (app, environment) of the object's tracking annotation (`app:env:…`).
fn owner_of(object: &DynamicObject) -> Option<AppEnv> {
    let tracking = object.metadata.annotations.as_ref()?.get(TRACKING_ID)?;
    let mut parts = tracking.splitn(3, ':');
    Some(AppEnv::new(parts.next()?, parts.next()?))
}

fn id_of(group: &str, kind: &str, namespaced: bool, object: &DynamicObject) -> ObjectId {
    ObjectId {
        group: group.to_owned(),
        kind: kind.to_owned(),
        namespace: if namespaced {
            object.metadata.namespace.clone()
        } else {
            None
        },
        name: object.metadata.name.clone().unwrap_or_default(),
    }
}

/// The object as JSON with its type: a real server's LIST items carry no `apiVersion`/`kind`.
fn typed(ar: &ApiResource, object: &DynamicObject) -> Value {
    let mut value = serde_json::to_value(object).unwrap_or(Value::Null);
    if let Some(map) = value.as_object_mut() {
        map.insert("apiVersion".into(), Value::from(ar.api_version.clone()));
        map.insert("kind".into(), Value::from(ar.kind.clone()));
    }
    value
}
