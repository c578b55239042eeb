//! The object endpoints of the fake API server: discovery of the kinds in [`KINDS`],
//! label-selected LIST (items without `apiVersion`/`kind`, as a real server sends them), GET,
//! POST (create), server-side apply (with `managedFields`) and JSON merge PATCH, the `scale`
//! subresource, DELETE (foreground marks the object for the garbage collector in
//! [`super::controllers`]), for namespaced and cluster-scoped kinds alike.

use serde_json::{Value, json};

use super::controllers::{fields_v1, generation, mark_deleted, scale};
use super::{Cluster, Seen, Store, not_found};

/// The kinds this server knows: (group/version, plural, kind, namespaced).
pub const KINDS: &[(&str, &str, &str, bool)] = &[
    ("v1", "configmaps", "ConfigMap", true),
    ("v1", "pods", "Pod", true),
    ("v1", "services", "Service", true),
    ("v1", "namespaces", "Namespace", false),
    ("apps/v1", "deployments", "Deployment", true),
    ("v1", "endpoints", "Endpoints", true),
    (
        "discovery.k8s.io/v1",
        "endpointslices",
        "EndpointSlice",
        true,
    ),
    (
        "apiextensions.k8s.io/v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        false,
    ),
    // Traffic routers' kinds (on a real cluster HTTPRoute comes with the Gateway API CRDs).
    ("networking.k8s.io/v1", "ingresses", "Ingress", true),
    (
        "gateway.networking.k8s.io/v1",
        "httproutes",
        "HTTPRoute",
        true,
    ),
    // gantry's own kinds: served once their CRD exists, as on a real server.
    ("gantry.dev/v1alpha1", "appsyncs", "AppSync", true),
    ("gantry.dev/v1alpha1", "rollouts", "Rollout", true),
];

/// The store of a known resource, and its kind.
pub(super) fn kind_of(
    cluster: &Cluster,
    gv: &str,
    resource: &str,
) -> Option<(Store, &'static str)> {
    let &(_, plural, kind, _) = KINDS.iter().find(|k| k.0 == gv && k.1 == resource)?;
    if gv.starts_with("gantry.dev/")
        && !cluster
            .objects("customresourcedefinitions")
            .lock()
            .expect("crds")
            .contains_key(&(String::new(), format!("{plural}.gantry.dev")))
    {
        return None;
    }
    let store = match plural {
        "configmaps" => cluster.store.clone(),
        "pods" => cluster.pods.clone(),
        other => cluster.objects(other),
    };
    Some((store, kind))
}

fn discovery(cluster: &Cluster, gv: &str) -> Value {
    let verbs = json!([
        "create", "delete", "get", "list", "patch", "update", "watch"
    ]);
    let resources: Vec<Value> = KINDS
        .iter()
        .filter(|k| k.0 == gv && kind_of(cluster, k.0, k.1).is_some())
        .map(|&(_, plural, kind, namespaced)| {
            json!({"name": plural, "singularName": kind.to_lowercase(), "namespaced": namespaced, "kind": kind, "verbs": verbs})
        })
        .collect();
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources})
}

fn groups(cluster: &Cluster) -> Value {
    let mut gvs: Vec<(&str, &str)> = KINDS
        .iter()
        .filter(|k| kind_of(cluster, k.0, k.1).is_some())
        .filter_map(|k| k.0.split_once('/'))
        .collect();
    gvs.dedup();
    let groups: Vec<Value> = gvs
        .iter()
        .map(|(g, v)| {
            let gv = format!("{g}/{v}");
            json!({"name": g, "versions": [{"groupVersion": gv, "version": v}], "preferredVersion": {"groupVersion": gv, "version": v}})
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `key=value` pairs of a URL-encoded `labelSelector`.
pub(super) fn selector(query: &str) -> Vec<(String, String)> {
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
fn patch(store: &Store, key: (String, String), req: &Seen, rv: &str) -> (u16, Value) {
    if req.content_type.starts_with("application/merge-patch+json") {
        let mut objects = store.lock().expect("store");
        let Some(existing) = objects.get_mut(&key) else {
            return not_found(&req.path);
        };
        merge(existing, &req.body);
        existing["metadata"]["resourceVersion"] = json!(rv);
        // An update moves the fields it wrote to its manager, as a real server records it.
        let entries = take_over(existing, req, "Update");
        existing["metadata"]["managedFields"] = entries;
        return (200, existing.clone());
    }
    // A no-op apply leaves the object, resourceVersion included, as it was.
    if let Some(existing) = store.lock().expect("store").get(&key) {
        let strip = |o: &Value| {
            let mut o = o.clone();
            if let Some(m) = o["metadata"].as_object_mut() {
                for k in [
                    "uid",
                    "resourceVersion",
                    "managedFields",
                    "namespace",
                    "generation",
                ] {
                    m.remove(k);
                }
            }
            // Written by controllers, not by an apply.
            if let Some(top) = o.as_object_mut() {
                top.remove("status");
            }
            o
        };
        if strip(existing) == strip(&req.body) {
            return (200, existing.clone());
        }
    }
    let mut o = req.body.clone();
    o["metadata"]["uid"] = json!(format!("uid-{}-{}", key.0, key.1));
    o["metadata"]["resourceVersion"] = json!(rv);
    if !key.0.is_empty() {
        o["metadata"]["namespace"] = json!(key.0);
    }
    let before = store.lock().expect("store").get(&key).cloned();
    o["metadata"]["generation"] = generation(before.as_ref(), &o);
    // What controllers wrote (status) stays; an apply does not own it.
    if let Some(status) = before
        .as_ref()
        .map(|b| b["status"].clone())
        .filter(|s| !s.is_null())
    {
        o["status"] = status;
    }
    o["metadata"]["managedFields"] = match &before {
        Some(b) => take_over(b, req, "Apply"),
        None => take_over(&o, req, "Apply"),
    };
    store.lock().expect("store").insert(key, o.clone());
    (200, o)
}

/// `managedFields` after `req` (an apply or an update) wrote its fields to `object`: other
/// managers keep their entries less the fields it took over (a forced apply, or an update,
/// takes them), and its manager gets one entry with what it wrote.
fn take_over(object: &Value, req: &Seen, operation: &str) -> Value {
    let manager = super::lease::query_param(&req.query, "fieldManager").unwrap_or("unknown");
    let written = fields_v1(&req.body);
    let mut entries: Vec<Value> = object["metadata"]["managedFields"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e["manager"] != manager)
        .map(|mut e| {
            remove_fields(&mut e["fieldsV1"], &written);
            e
        })
        .filter(|e| e["fieldsV1"].as_object().is_some_and(|m| !m.is_empty()))
        .collect();
    entries.push(
        json!({"manager": manager, "operation": operation, "apiVersion": object["apiVersion"],
        "fieldsType": "FieldsV1", "fieldsV1": written}),
    );
    json!(entries)
}

/// Removes from `fields` every leaf that `taken` holds (both `fieldsV1` trees).
fn remove_fields(fields: &mut Value, taken: &Value) {
    let (Some(map), Some(taken)) = (fields.as_object_mut(), taken.as_object()) else {
        return;
    };
    for (k, sub) in taken {
        let leaf = sub.as_object().is_none_or(serde_json::Map::is_empty);
        if leaf {
            map.remove(k);
        } else if let Some(child) = map.get_mut(k) {
            remove_fields(child, sub);
            if child.as_object().is_some_and(serde_json::Map::is_empty) {
                map.remove(k);
            }
        }
    }
}

/// Creates an object (POST); 409 `AlreadyExists` when it is there.
fn create(store: &Store, namespace: &str, req: &Seen, rv: &str) -> (u16, Value) {
    let name = req.body["metadata"]["name"].as_str().unwrap_or_default();
    let key = (namespace.to_owned(), name.to_owned());
    let mut objects = store.lock().expect("store");
    if objects.contains_key(&key) {
        return (
            409,
            json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "AlreadyExists", "code": 409, "message": format!("{name} already exists")}),
        );
    }
    let mut o = req.body.clone();
    o["metadata"]["uid"] = json!(format!("uid-{namespace}-{name}"));
    o["metadata"]["resourceVersion"] = json!(rv);
    if !namespace.is_empty() {
        o["metadata"]["namespace"] = json!(namespace);
    }
    objects.insert(key, o.clone());
    (201, o)
}

/// Every object endpoint; `rv` is the server's resourceVersion after this request.
pub fn answer(cluster: &Cluster, rv: u64, req: &Seen) -> (u16, Value) {
    let (method, path) = (req.method.as_str(), req.path.as_str());
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (gv, rest) = match parts.as_slice() {
        ["api"] if method == "GET" => {
            return (
                200,
                json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}),
            );
        }
        ["apis"] if method == "GET" => return (200, groups(cluster)),
        ["api", "v1", rest @ ..] => ("v1".to_owned(), rest),
        ["apis", group, version, rest @ ..] => (format!("{group}/{version}"), rest),
        _ => return not_found(&format!("{method} {path}")),
    };
    // (resource, namespace or "" for cluster-scoped, name).
    let (resource, namespace, name) = match rest {
        [] if method == "GET" => return (200, discovery(cluster, &gv)),
        [resource] => (*resource, "", None),
        ["namespaces", ns, resource] => (*resource, *ns, None),
        ["namespaces", ns, resource, name] => (*resource, *ns, Some(*name)),
        ["namespaces", ns, resource, name, sub @ ("scale" | "status")] if method == "PATCH" => {
            return subresource(cluster, &gv, (resource, ns, name, sub), req, rv);
        }
        [resource, name] => (*resource, "", Some(*name)),
        _ => return not_found(&format!("{method} {path}")),
    };
    let Some((store, kind)) = kind_of(cluster, &gv, resource) else {
        return not_found(&format!("{method} {path}"));
    };
    let rv = rv.to_string();
    let key = |name: &str| (namespace.to_owned(), name.to_owned());
    let writes = matches!(method, "POST" | "PATCH");
    // NamespaceLifecycle: nothing is created or applied in a namespace that does not exist.
    if writes && !namespace.is_empty() && !namespace_exists(cluster, namespace) {
        return (
            404,
            json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404,
                "message": format!("namespaces \"{namespace}\" not found"), "details": {"name": namespace, "kind": "namespaces"}}),
        );
    }
    // `dryRun=All`: the write is answered as it would be, on a copy that is then dropped.
    let store = if req.query.contains("dryRun=All") {
        std::sync::Arc::new(std::sync::Mutex::new(store.lock().expect("store").clone()))
    } else {
        store
    };
    match (method, name) {
        ("GET", None) => {
            cluster
                .lists
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            list(&store, (&gv, kind), namespace, req, &rv)
        }
        ("POST", None) => create(&store, namespace, req, &rv),
        ("PATCH", Some(name)) => patch(&store, key(name), req, &rv),
        ("GET", Some(name)) => match store.lock().expect("store").get(&key(name)) {
            Some(o) => (200, o.clone()),
            None => not_found(path),
        },
        ("DELETE", Some(name)) => delete(&store, &key(name), req, &rv),
        _ => not_found(&format!("{method} {path}")),
    }
}

/// A label-selected LIST; items carry no `apiVersion`/`kind`, as a real server sends them.
fn list(
    store: &Store,
    (gv, kind): (&str, &str),
    namespace: &str,
    req: &Seen,
    rv: &str,
) -> (u16, Value) {
    let wanted = selector(&req.query);
    let items: Vec<Value> = store
        .lock()
        .expect("store")
        .iter()
        .filter(|((ns, _), _)| namespace.is_empty() || ns == namespace)
        .map(|(_, o)| o)
        .filter(|o| {
            wanted
                .iter()
                .all(|(k, v)| o["metadata"]["labels"][k] == v.as_str())
        })
        .map(|o| {
            let mut o = o.clone();
            if let Some(m) = o.as_object_mut() {
                m.remove("apiVersion");
                m.remove("kind");
            }
            o
        })
        .collect();
    (
        200,
        json!({"apiVersion": gv, "kind": format!("{kind}List"), "metadata": {"resourceVersion": rv}, "items": items}),
    )
}

/// DELETE: foreground propagation only marks the object; otherwise it goes at once.
fn delete(store: &Store, key: &(String, String), req: &Seen, rv: &str) -> (u16, Value) {
    let mut objects = store.lock().expect("store");
    if req.body["propagationPolicy"] == "Foreground" {
        match objects.get_mut(key) {
            Some(o) => {
                mark_deleted(o, rv);
                (200, o.clone())
            }
            None => not_found(&req.path),
        }
    } else {
        match objects.remove(key) {
            Some(o) => (200, o),
            None => not_found(&req.path),
        }
    }
}

/// Whether a Namespace object `name` exists (and is not being deleted).
pub fn namespace_exists(cluster: &Cluster, name: &str) -> bool {
    cluster
        .objects("namespaces")
        .lock()
        .expect("namespaces")
        .get(&(String::new(), name.to_owned()))
        .is_some_and(|n| n["metadata"]["deletionTimestamp"].is_null())
}

/// `PATCH …/{resource}/{name}/{scale|status}`: a merge patch of `spec.replicas` through the
/// scale subresource (`kubectl scale`), or the patch's `status` replacing the object's.
fn subresource(
    cluster: &Cluster,
    gv: &str,
    (resource, namespace, name, sub): (&str, &str, &str, &str),
    req: &Seen,
    rv: u64,
) -> (u16, Value) {
    let Some((store, _)) = kind_of(cluster, gv, resource) else {
        return not_found(&req.path);
    };
    let mut objects = store.lock().expect("store");
    let Some(obj) = objects.get_mut(&(namespace.to_owned(), name.to_owned())) else {
        return not_found(&req.path);
    };
    if sub == "scale" {
        let manager = super::lease::query_param(&req.query, "fieldManager").unwrap_or("kubectl");
        return (
            200,
            scale(obj, &req.body["spec"]["replicas"], manager, &rv.to_string()),
        );
    }
    obj["status"] = req.body["status"].clone();
    obj["metadata"]["resourceVersion"] = json!(rv.to_string());
    (200, obj.clone())
}
