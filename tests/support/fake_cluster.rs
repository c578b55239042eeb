//! An in-memory stand-in for the Kubernetes API at request level (kube's tower-test mock),
//! answering as an API server does for what gantry's sync uses on ConfigMaps: discovery,
//! label-selected LIST, server-side apply PATCH, GET and DELETE. Shared by the daemon tests
//! and the daemon benchmark (`#[path]`-included).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use http::{Request, Response};
use kube::client::Body;
use serde_json::{Value, json};

/// ConfigMaps by (namespace, name), as etcd would hold them.
pub type Store = Arc<Mutex<BTreeMap<(String, String), Value>>>;

/// When each PATCH arrived, for latency measurements.
pub type Patches = Arc<Mutex<Vec<Instant>>>;

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

fn answer(
    store: &Store,
    rv: &mut u64,
    method: &str,
    path: &str,
    query: &str,
    body: &Value,
) -> (u16, Value) {
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
                {"name": "configmaps", "singularName": "configmap", "namespaced": true, "kind": "ConfigMap", "verbs": verbs}]}),
        ),
        ("GET", ["api", "v1", "configmaps"]) => {
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
                json!({"apiVersion": "v1", "kind": "ConfigMapList", "metadata": {"resourceVersion": rv.to_string()}, "items": items}),
            )
        }
        ("PATCH", ["api", "v1", "namespaces", ns, "configmaps", name]) => {
            let mut o = body.clone();
            o["metadata"]["uid"] = json!(format!("uid-{ns}-{name}"));
            o["metadata"]["resourceVersion"] = json!(rv.to_string());
            o["metadata"]["managedFields"] = json!([{"manager": "gantry", "operation": "Apply", "apiVersion": "v1", "fieldsType": "FieldsV1", "fieldsV1": {}}]);
            store
                .lock()
                .expect("store")
                .insert(((*ns).to_owned(), (*name).to_owned()), o.clone());
            (200, o)
        }
        ("DELETE", ["api", "v1", "namespaces", ns, "configmaps", name]) => {
            match store
                .lock()
                .expect("store")
                .remove(&((*ns).to_owned(), (*name).to_owned()))
            {
                Some(o) => (200, o),
                None => not_found(path),
            }
        }
        ("GET", ["api", "v1", "namespaces", ns, "configmaps", name]) => {
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

/// A client whose requests the fake answers from `store`; PATCH arrival times go to `patches`.
pub fn fake_cluster(store: Store, patches: Patches) -> kube::Client {
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    tokio::spawn(async move {
        let mut rv = 100;
        while let Some((request, send)) = handle.next_request().await {
            let (parts, body) = request.into_parts();
            let bytes = body.collect_bytes().await.expect("request body");
            let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            if parts.method == "PATCH" {
                patches.lock().expect("patches").push(Instant::now());
            }
            let (status, reply) = answer(
                &store,
                &mut rv,
                parts.method.as_str(),
                parts.uri.path(),
                parts.uri.query().unwrap_or_default(),
                &body,
            );
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
