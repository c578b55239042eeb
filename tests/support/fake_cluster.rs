//! An in-memory stand-in for the Kubernetes API at request level (kube's tower-test mock),
//! answering as an API server does for what gantry uses: on ConfigMaps and Pods discovery,
//! label-selected LIST, server-side apply and merge PATCH, GET and DELETE; on
//! coordination.k8s.io Leases GET, POST and PATCH with server-side apply's conflict rule for
//! `spec.holderIdentity` (an apply without force by another field manager that would change it
//! answers 409 Conflict), which is what leader election relies on; Events are recorded.
//! Clients made from one [`Cluster`] share its state, as replicas share an API server. Shared
//! by the daemon tests and bench (`#[path]`-included).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use http::{Request, Response};
use kube::client::Body;
use serde_json::{Value, json};

/// ConfigMaps by (namespace, name), as etcd would hold them.
pub type Store = Arc<Mutex<BTreeMap<(String, String), Value>>>;

/// When each PATCH of a ConfigMap or Pod arrived, for latency measurements.
pub type Patches = Arc<Mutex<Vec<Instant>>>;

/// Leases by (namespace, name), with the field manager owning `spec.holderIdentity`.
pub type Leases = Arc<Mutex<BTreeMap<(String, String), (Value, Option<String>)>>>;

fn conflict(message: &str) -> (u16, Value) {
    (
        409,
        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Conflict", "code": 409, "message": message}),
    )
}

fn query_param<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    query
        .split('&')
        .find_map(|p| p.strip_prefix(key)?.strip_prefix('='))
}

/// The Lease endpoints: create, read, and apply or strategic-merge patches of `spec`.
fn lease(leases: &Leases, request: &LeaseRequest<'_>) -> (u16, Value) {
    let mut leases = leases.lock().expect("leases");
    let key = (
        request.namespace.to_owned(),
        request.name.unwrap_or_default().to_owned(),
    );
    match (request.method, request.name) {
        ("POST", None) => {
            let name = request.body["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let key = (request.namespace.to_owned(), name);
            if leases.contains_key(&key) {
                return (
                    409,
                    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "AlreadyExists", "code": 409}),
                );
            }
            let mut o = request.body.clone();
            o["apiVersion"] = json!("coordination.k8s.io/v1");
            o["kind"] = json!("Lease");
            o["metadata"]["namespace"] = json!(request.namespace);
            o["metadata"]["resourceVersion"] = json!("1");
            leases.insert(key, (o.clone(), None));
            (201, o)
        }
        ("GET", Some(_)) => match leases.get(&key) {
            Some((o, _)) => (200, o.clone()),
            None => not_found("lease"),
        },
        ("PATCH", Some(_)) => {
            let Some((o, owner)) = leases.get_mut(&key) else {
                return not_found("lease");
            };
            let manager = query_param(request.query, "fieldManager")
                .unwrap_or("unknown")
                .to_owned();
            let apply = request.content_type.starts_with("application/apply-patch");
            let force = query_param(request.query, "force") == Some("true");
            let spec = request.body["spec"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            if let Some(holder) = spec.get("holderIdentity") {
                let taken = owner.as_ref().is_some_and(|m| *m != manager);
                if apply && !force && taken && o["spec"]["holderIdentity"] != *holder {
                    return conflict(
                        "Apply failed with 1 conflict: conflict with another manager: .spec.holderIdentity",
                    );
                }
                *owner = (!holder.is_null()).then(|| manager.clone());
            }
            if !o["spec"].is_object() {
                o["spec"] = json!({});
            }
            for (k, v) in spec {
                if v.is_null() {
                    o["spec"].as_object_mut().expect("spec").remove(&k);
                } else {
                    o["spec"][k] = v;
                }
            }
            let rv: u64 = o["metadata"]["resourceVersion"]
                .as_str()
                .and_then(|v| v.parse().ok())
                .unwrap_or(1);
            o["metadata"]["resourceVersion"] = json!((rv + 1).to_string());
            (200, o.clone())
        }
        _ => not_found("lease request"),
    }
}

struct LeaseRequest<'a> {
    method: &'a str,
    namespace: &'a str,
    name: Option<&'a str>,
    query: &'a str,
    content_type: &'a str,
    body: &'a Value,
}

/// One API server's state; every [`Cluster::client`] talks to the same objects.
#[derive(Clone, Default)]
pub struct Cluster {
    /// ConfigMaps.
    pub store: Store,
    /// Pods (workloads, for image admission); no kubelet runs them, so they have no status.
    pub pods: Store,
    pub leases: Leases,
    pub patches: Patches,
    /// Events created through `events.k8s.io/v1`, in order.
    pub events: Arc<Mutex<Vec<Value>>>,
}

impl Cluster {
    pub fn client(&self) -> kube::Client {
        serve(self.clone(), Arc::default())
    }

    /// A client that goes silent when the flag is set: a replica that crashed without
    /// releasing anything.
    pub fn crashable_client(&self) -> (kube::Client, Arc<AtomicBool>) {
        let silent = Arc::new(AtomicBool::new(false));
        (serve(self.clone(), Arc::clone(&silent)), silent)
    }
}

fn not_found(what: &str) -> (u16, Value) {
    (
        404,
        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": what}),
    )
}

/// `key=value` pairs of a URL-encoded `labelSelector`.
fn selector(query: &str) -> Vec<(String, String)> {
    let decoded = query
        .split('&')
        .find_map(|p| p.strip_prefix("labelSelector="))
        .unwrap_or_default()
        .replace("%2F", "/")
        .replace("%3D", "=")
        .replace("%2C", ",");
    decoded
        .split(',')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// The store of a core/v1 resource this server knows.
fn kind_of<'a>(cluster: &'a Cluster, resource: &str) -> Option<(&'a Store, &'static str)> {
    match resource {
        "configmaps" => Some((&cluster.store, "ConfigMap")),
        "pods" => Some((&cluster.pods, "Pod")),
        _ => None,
    }
}

/// RFC 7386 JSON merge patch: objects merge key by key, `null` removes, anything else
/// replaces.
fn merge(target: &mut Value, patch: &Value) {
    let Some(fields) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    let object = target.as_object_mut().expect("made an object above");
    for (k, v) in fields {
        if v.is_null() {
            object.remove(k);
        } else {
            merge(object.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

/// A merge patch of an existing object, or a server-side apply creating or replacing it.
fn patch(store: &Store, (ns, name): (&str, &str), req: &Seen, rv: &str) -> (u16, Value) {
    let key = (ns.to_owned(), name.to_owned());
    if req.content_type.starts_with("application/merge-patch+json") {
        let mut objects = store.lock().expect("store");
        let Some(existing) = objects.get_mut(&key) else {
            return not_found(&req.path);
        };
        merge(existing, &req.body);
        existing["metadata"]["resourceVersion"] = json!(rv);
        return (200, existing.clone());
    }
    // A no-op apply leaves the object, resourceVersion included, as it was.
    if let Some(existing) = store.lock().expect("store").get(&key) {
        let strip = |o: &Value| {
            let mut o = o.clone();
            if let Some(m) = o["metadata"].as_object_mut() {
                for k in ["uid", "resourceVersion", "managedFields", "namespace"] {
                    m.remove(k);
                }
            }
            o
        };
        if strip(existing) == strip(&req.body) {
            return (200, existing.clone());
        }
    }
    let mut o = req.body.clone();
    o["metadata"]["uid"] = json!(format!("uid-{ns}-{name}"));
    o["metadata"]["resourceVersion"] = json!(rv);
    o["metadata"]["managedFields"] = json!([{"manager": "gantry", "operation": "Apply", "apiVersion": "v1", "fieldsType": "FieldsV1", "fieldsV1": {}}]);
    store.lock().expect("store").insert(key, o.clone());
    (200, o)
}

fn answer(cluster: &Cluster, rv: &mut u64, req: &Seen) -> (u16, Value) {
    let (method, path, query) = (req.method.as_str(), req.path.as_str(), req.query.as_str());
    let verbs = json!([
        "create", "delete", "get", "list", "patch", "update", "watch"
    ]);
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    *rv += 1;
    match (method, parts.as_slice()) {
        ("GET", ["api"]) => (
            200,
            json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}),
        ),
        ("GET", ["apis"]) => (
            200,
            json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": []}),
        ),
        ("GET", ["api", "v1"]) => (
            200,
            json!({"kind": "APIResourceList", "groupVersion": "v1", "resources": [
                {"name": "configmaps", "singularName": "configmap", "namespaced": true, "kind": "ConfigMap", "verbs": verbs},
                {"name": "pods", "singularName": "pod", "namespaced": true, "kind": "Pod", "verbs": verbs}]}),
        ),
        ("GET", ["api", "v1", resource]) => {
            let Some((store, kind)) = kind_of(cluster, resource) else {
                return not_found(path);
            };
            let wanted = selector(query);
            let items: Vec<Value> = store
                .lock()
                .expect("store")
                .values()
                .filter(|o| {
                    wanted
                        .iter()
                        .all(|(k, v)| o["metadata"]["labels"][k] == v.as_str())
                })
                .cloned()
                .collect();
            (
                200,
                json!({"apiVersion": "v1", "kind": format!("{kind}List"), "metadata": {"resourceVersion": rv.to_string()}, "items": items}),
            )
        }
        ("PATCH", ["api", "v1", "namespaces", ns, resource, name]) => {
            let Some((store, _)) = kind_of(cluster, resource) else {
                return not_found(path);
            };
            patch(store, (ns, name), req, &rv.to_string())
        }
        ("DELETE", ["api", "v1", "namespaces", ns, resource, name]) => {
            let Some((store, _)) = kind_of(cluster, resource) else {
                return not_found(path);
            };
            match store
                .lock()
                .expect("store")
                .remove(&((*ns).to_owned(), (*name).to_owned()))
            {
                Some(o) => (200, o),
                None => not_found(path),
            }
        }
        ("GET", ["api", "v1", "namespaces", ns, resource, name]) => {
            let Some((store, _)) = kind_of(cluster, resource) else {
                return not_found(path);
            };
            match store
                .lock()
                .expect("store")
                .get(&((*ns).to_owned(), (*name).to_owned()))
            {
                Some(o) => (200, o.clone()),
                None => not_found(path),
            }
        }
        _ => not_found(&format!("{method} {path}")),
    }
}

/// One request as the API server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: String,
    pub content_type: String,
    /// JSON (or YAML, for apply patches); `null` when empty.
    pub body: Value,
}

/// A client whose every request `answer` answers with (status, JSON body): the tower-test
/// loop every request-level test server here shares.
pub fn respond(answer: impl FnMut(&Seen) -> (u16, Value) + Send + 'static) -> kube::Client {
    respond_until(Arc::default(), answer)
}

/// As [`respond`], but once `silent` is set no request is answered any more, as when the
/// client's process froze or its network went away: requests hang, nothing reaches the state.
pub fn respond_until(
    silent: Arc<AtomicBool>,
    mut answer: impl FnMut(&Seen) -> (u16, Value) + Send + 'static,
) -> kube::Client {
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    tokio::spawn(async move {
        let mut unanswered = Vec::new();
        while let Some((request, send)) = handle.next_request().await {
            if silent.load(Ordering::SeqCst) {
                unanswered.push(send);
                continue;
            }
            let (parts, body) = request.into_parts();
            let bytes = body.collect_bytes().await.expect("request body");
            let seen = Seen {
                method: parts.method.to_string(),
                path: parts.uri.path().to_owned(),
                query: parts.uri.query().unwrap_or_default().to_owned(),
                content_type: parts
                    .headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned(),
                body: serde_json::from_slice(&bytes)
                    .or_else(|_| serde_saphyr::from_slice(&bytes))
                    .unwrap_or(Value::Null),
            };
            let (status, reply) = answer(&seen);
            send.send_response(
                Response::builder()
                    .status(status)
                    .header("content-type", "application/json")
                    .body(Body::from(serde_json::to_vec(&reply).expect("json")))
                    .expect("response"),
            );
        }
    });
    kube::Client::new(service, "default")
}

fn serve(cluster: Cluster, silent: Arc<AtomicBool>) -> kube::Client {
    let mut rv = 100;
    respond_until(silent, move |req| {
        let lease_path: Vec<&str> = req
            .path
            .strip_prefix("/apis/coordination.k8s.io/v1/namespaces/")
            .map(|rest| rest.split('/').collect())
            .unwrap_or_default();
        let is_event = req.method == "POST"
            && req.path.starts_with("/apis/events.k8s.io/v1/namespaces/")
            && req.path.ends_with("/events");
        if is_event {
            cluster
                .events
                .lock()
                .expect("events")
                .push(req.body.clone());
            (201, req.body.clone())
        } else if let [namespace, "leases", name @ ..] = lease_path.as_slice() {
            lease(
                &cluster.leases,
                &LeaseRequest {
                    method: &req.method,
                    namespace,
                    name: name.first().copied(),
                    query: &req.query,
                    content_type: &req.content_type,
                    body: &req.body,
                },
            )
        } else {
            if req.method == "PATCH" {
                cluster
                    .patches
                    .lock()
                    .expect("patches")
                    .push(Instant::now());
            }
            answer(&cluster, &mut rv, req)
        }
    })
}
