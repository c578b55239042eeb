//! What a real cluster's controllers and API server do beside the request itself, where gantry
//! depends on it — so that the fake is never kinder than the real thing:
//! - the `Endpoints` and `EndpointSlice` controllers make an `Endpoints` (same name, Service's
//!   labels, no owner reference) and an `EndpointSlice` (generated name, Service's labels plus
//!   `kubernetes.io/service-name`, a controller owner reference) for every Service with a
//!   selector;
//! - a foreground DELETE only marks the object (`deletionTimestamp`, finalizer
//!   `foregroundDeletion`); the garbage collector deletes its dependents and then the object a
//!   moment later (here: at the next request), and removes objects whose owner is gone;
//! - server-side apply records the applied fields in `managedFields` (`fieldsV1`) and counts
//!   `metadata.generation` up when the spec changes, and a write through the `scale`
//!   subresource moves `spec.replicas` to its manager with `subresource: scale`;
//! - the Deployment controller, with kubelets that start every pod, reports a Deployment
//!   rolled out a moment after each change (`status.observedGeneration`, ready replicas): the
//!   apply response itself still shows the old status, as on a real cluster.

use serde_json::{Map, Value, json};

use super::Cluster;

/// `fieldsV1` of an applied object: every map key as `f:key`, lists and scalars as leaves.
/// `apiVersion`, `kind` and the object's name and namespace are not owned fields.
pub fn fields_v1(obj: &Value) -> Value {
    fn walk(v: &Value) -> Value {
        match v.as_object() {
            Some(map) if !map.is_empty() => Value::Object(
                map.iter()
                    .map(|(k, v)| (format!("f:{k}"), walk(v)))
                    .collect::<Map<_, _>>(),
            ),
            _ => json!({}),
        }
    }
    let mut fields = walk(obj);
    if let Some(map) = fields.as_object_mut() {
        map.remove("f:apiVersion");
        map.remove("f:kind");
        if let Some(meta) = map.get_mut("f:metadata").and_then(Value::as_object_mut) {
            meta.remove("f:name");
            meta.remove("f:namespace");
        }
    }
    fields
}

/// Runs the controllers once: Services get their `Endpoints` and `EndpointSlices`, marked objects
/// are collected with their dependents, orphans are removed.
pub fn reconcile(cluster: &Cluster, rv: &str) {
    use std::sync::atomic::Ordering;
    let writes = cluster.writes.load(Ordering::SeqCst);
    if cluster.reconciled.swap(writes, Ordering::SeqCst) == writes {
        return;
    }
    endpoints(cluster, rv);
    deployments(cluster, rv);
    collect_garbage(cluster);
}

fn deployments(cluster: &Cluster, rv: &str) {
    let store = cluster.objects("deployments");
    for d in store.lock().expect("deployments").values_mut() {
        let generation = d["metadata"]["generation"].as_i64().unwrap_or(1);
        if d["status"]["observedGeneration"].as_i64() == Some(generation) {
            continue;
        }
        let replicas = d["spec"]["replicas"].as_i64().unwrap_or(1);
        d["status"] = json!({"observedGeneration": generation, "replicas": replicas,
            "updatedReplicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas,
            "conditions": [{"type": "Available", "status": "True"},
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]});
        d["metadata"]["resourceVersion"] = json!(rv);
    }
}

/// The next `metadata.generation`: counted up when the spec changed (or on creation).
pub fn generation(before: Option<&Value>, after: &Value) -> Value {
    match before {
        None => json!(1),
        Some(b) if b["spec"] == after["spec"] => b["metadata"]["generation"].clone(),
        Some(b) => json!(b["metadata"]["generation"].as_i64().unwrap_or(1) + 1),
    }
}

fn endpoints(cluster: &Cluster, rv: &str) {
    let services: Vec<Value> = cluster
        .objects("services")
        .lock()
        .expect("services")
        .values()
        .filter(|s| {
            s["spec"]["selector"].is_object() && s["metadata"]["deletionTimestamp"].is_null()
        })
        .cloned()
        .collect();
    let endpoints = cluster.objects("endpoints");
    let slices = cluster.objects("endpointslices");
    for svc in services {
        let ns = svc["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let name = svc["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let labels = svc["metadata"]["labels"].clone();
        let mut ep = endpoints.lock().expect("endpoints");
        let key = (ns.clone(), name.clone());
        if ep.get(&key).map(|e| &e["metadata"]["labels"]) != Some(&labels) {
            ep.insert(
                key,
                json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": {
                    "name": name, "namespace": ns, "labels": labels, "uid": format!("uid-ep-{ns}-{name}"),
                    "resourceVersion": rv,
                    "managedFields": [{"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1", "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {"f:labels": {}}}}]}}),
            );
        }
        drop(ep);
        let mut slice_labels = labels.as_object().cloned().unwrap_or_default();
        slice_labels.insert("kubernetes.io/service-name".into(), json!(name));
        slice_labels.insert(
            "endpointslice.kubernetes.io/managed-by".into(),
            json!("endpointslice-controller.k8s.io"),
        );
        let mut sl = slices.lock().expect("endpointslices");
        let existing = sl
            .iter()
            .find(|((n, _), s)| {
                *n == ns && s["metadata"]["labels"]["kubernetes.io/service-name"] == name.as_str()
            })
            .map(|(k, _)| k.clone());
        let slice_name = existing.map_or_else(|| format!("{name}-{}", suffix(rv)), |(_, n)| n);
        sl.insert(
            (ns.clone(), slice_name.clone()),
            json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": {
                "name": slice_name, "namespace": ns, "labels": slice_labels, "generateName": format!("{name}-"),
                "uid": format!("uid-slice-{ns}-{slice_name}"), "resourceVersion": rv,
                "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": name,
                    "uid": svc["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true}]},
                "addressType": "IPv4", "endpoints": null, "ports": null}),
        );
    }
}

/// Five lower-case characters, like a generated name's suffix.
fn suffix(rv: &str) -> String {
    let n: u64 = rv.parse().unwrap_or_default();
    (0..5)
        .map(|i| char::from(b'b' + u8::try_from((n / 7u64.pow(i)) % 20).unwrap_or(0)))
        .collect()
}

/// Deletes what foreground deletion marked (after its dependents), and orphans — objects whose
/// controlling owner is gone — as the garbage collector does.
fn collect_garbage(cluster: &Cluster) {
    let stores: Vec<super::Store> = {
        let mut all = vec![cluster.store.clone(), cluster.pods.clone()];
        all.extend(cluster.others.lock().expect("stores").values().cloned());
        all
    };
    let mut uids = std::collections::HashSet::new();
    for store in &stores {
        let mut objects = store.lock().expect("store");
        objects.retain(|_, o| o["metadata"]["deletionTimestamp"].is_null());
        uids.extend(
            objects
                .values()
                .filter_map(|o| o["metadata"]["uid"].as_str().map(str::to_owned)),
        );
    }
    for store in &stores {
        store.lock().expect("store").retain(|_, o| {
            o["metadata"]["ownerReferences"]
                .as_array()
                .is_none_or(|refs| {
                    refs.iter()
                        .all(|r| r["uid"].as_str().is_some_and(|u| uids.contains(u)))
                })
        });
    }
}

/// A foreground DELETE: the object stays, marked, until the garbage collector runs.
pub fn mark_deleted(obj: &mut Value, rv: &str) {
    obj["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
    obj["metadata"]["deletionGracePeriodSeconds"] = json!(0);
    obj["metadata"]["finalizers"] = json!(["foregroundDeletion"]);
    obj["metadata"]["resourceVersion"] = json!(rv);
}

/// A merge patch through the `scale` subresource, as `kubectl scale` sends: `spec.replicas`
/// changes and its ownership moves to `manager` with `subresource: scale`.
pub fn scale(obj: &mut Value, replicas: &Value, manager: &str, rv: &str) -> Value {
    if obj["spec"]["replicas"] != *replicas {
        obj["metadata"]["generation"] =
            json!(obj["metadata"]["generation"].as_i64().unwrap_or(1) + 1);
    }
    obj["spec"]["replicas"] = replicas.clone();
    obj["metadata"]["resourceVersion"] = json!(rv);
    let entries = obj["metadata"]["managedFields"]
        .as_array_mut()
        .map(std::mem::take)
        .unwrap_or_default();
    let mut entries: Vec<Value> = entries
        .into_iter()
        .map(|mut e| {
            if let Some(spec) = e["fieldsV1"]["f:spec"].as_object_mut() {
                spec.remove("f:replicas");
            }
            e
        })
        .collect();
    entries.push(json!({"manager": manager, "operation": "Update", "apiVersion": "autoscaling/v1",
        "subresource": "scale", "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:replicas": {}}}}));
    obj["metadata"]["managedFields"] = json!(entries);
    json!({"apiVersion": "autoscaling/v1", "kind": "Scale",
        "metadata": {"name": obj["metadata"]["name"], "namespace": obj["metadata"]["namespace"], "resourceVersion": rv},
        "spec": {"replicas": replicas}, "status": {"replicas": replicas}})
}
