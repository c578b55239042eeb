//! coordination.k8s.io Leases: create, read, and apply or strategic-merge patches of `spec`,
//! with server-side apply's conflict rule for `spec.holderIdentity`.

use serde_json::{Value, json};

use super::{Leases, not_found};

pub(super) fn conflict(message: &str) -> (u16, Value) {
    (
        409,
        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Conflict", "code": 409, "message": message}),
    )
}

pub(super) fn query_param<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    query
        .split('&')
        .find_map(|p| p.strip_prefix(key)?.strip_prefix('='))
}

/// The Lease endpoints: create, read, and apply or strategic-merge patches of `spec`.
pub(super) fn lease(leases: &Leases, request: &LeaseRequest<'_>) -> (u16, Value) {
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

pub(super) struct LeaseRequest<'a> {
    pub(super) method: &'a str,
    pub(super) namespace: &'a str,
    pub(super) name: Option<&'a str>,
    pub(super) query: &'a str,
    pub(super) content_type: &'a str,
    pub(super) body: &'a Value,
}
