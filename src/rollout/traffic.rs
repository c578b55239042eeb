//! Traffic for a canary (stage ⑦, pure): how many replicas each side gets for a weight, and the
//! objects that carry the split — a `<name>-canary` Deployment beside the stable one (replica
//! weights), `HTTPRoute` backend weights (Gateway API), or a canary copy of an Ingress with
//! NGINX's canary annotations.
//!
//! Input: rendered objects (the stable Deployment, Service, `HTTPRoute` or Ingress), the canary
//! image, the weight. Output: the objects to apply; nothing is applied here.

use serde_json::{Value, json};

use crate::core::ImageRef;

/// The label that tells canary pods from stable ones; the canary Deployment selects on it.
pub const TRACK: &str = "gantry.dev/track";
/// Suffix of every object made for the canary.
pub const CANARY_SUFFIX: &str = "-canary";

/// Argo Rollouts' split of `spec` replicas for `weight` percent without surge: the canary
/// count closest to the weight (the ceiling on a tie), never 0 for a weight between 1 and 99
/// when there are 2 or more replicas, and the stable side gets the rest.
#[must_use]
pub fn replica_split(spec: u32, weight: u32) -> (u32, u32) {
    if spec == 0 {
        return (0, 0);
    }
    let weight = weight.min(100);
    let exact = f64::from(spec) * f64::from(weight) / 100.0;
    let (ceil, floor) = (exact.ceil(), exact.floor());
    #[expect(clippy::float_cmp, reason = "a tie is an exact .5, as Argo checks it")]
    let tied = exact - floor == 0.5;
    let zero_allowed = weight == 100 || weight == 0 || spec == 1;
    let delta = |canary: f64| (canary * 100.0 / f64::from(spec) - f64::from(weight)).abs();
    let mut options = Vec::new();
    if ceil < f64::from(spec) || zero_allowed {
        options.push(ceil);
    }
    if !tied && (floor != 0.0 || zero_allowed) {
        options.push(floor);
    }
    let best = options
        .into_iter()
        .reduce(|best, o| if delta(o) < delta(best) { o } else { best })
        .unwrap_or(0.0);
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "0..=spec"
    )]
    let canary = best as u32;
    (canary, spec - canary)
}

/// Replaces the image of every container running `repository` (any tag or digest) with `image`.
pub(super) fn set_image(object: &mut Value, repository: &str, image: &str) {
    let wanted = ImageRef::parse(repository).map_or_else(|_| repository.to_owned(), |r| r.name());
    crate::manifest::workload::each_pod_spec_mut(object, &mut |pod| {
        for list in ["initContainers", "containers"] {
            let Some(containers) = pod.get_mut(list).and_then(Value::as_array_mut) else {
                continue;
            };
            for c in containers {
                let runs = c["image"]
                    .as_str()
                    .and_then(|i| ImageRef::parse(i).ok())
                    .is_some_and(|r| r.name() == wanted);
                if runs {
                    c["image"] = json!(image);
                }
            }
        }
    });
}

/// The stable Deployment as the rollout keeps it until promotion: `repository`'s containers
/// on the stable image, replicas from the split.
#[must_use]
pub fn stable_deployment(
    rendered: &Value,
    repository: &str,
    stable_image: &str,
    replicas: u32,
) -> Value {
    let mut stable = rendered.clone();
    set_image(&mut stable, repository, stable_image);
    stable["spec"]["replicas"] = json!(replicas);
    stable
}

/// The canary Deployment: the stable one renamed `<name>-canary`, its pods labelled
/// `gantry.dev/track: canary` (which its selector adds, so the two never share pods), on the
/// canary image. Its pods keep the stable labels, so the same Service selects them.
#[must_use]
pub fn canary_deployment(
    rendered: &Value,
    repository: &str,
    canary_image: &str,
    replicas: u32,
) -> Value {
    let mut canary = rendered.clone();
    let name = rendered["metadata"]["name"].as_str().unwrap_or_default();
    canary["metadata"]["name"] = json!(format!("{name}{CANARY_SUFFIX}"));
    if let Some(meta) = canary["metadata"].as_object_mut() {
        for volatile in [
            "uid",
            "resourceVersion",
            "generation",
            "creationTimestamp",
            "managedFields",
        ] {
            meta.remove(volatile);
        }
    }
    // Not the sync's object: without the tracking annotation it is never inventoried, so never
    // pruned by the sync; the rollout owns it.
    if let Some(annotations) = canary["metadata"]["annotations"].as_object_mut() {
        annotations.remove(crate::cluster::labels::TRACKING_ID);
    }
    canary["metadata"]["labels"][TRACK] = json!("canary");
    canary["spec"]["selector"]["matchLabels"][TRACK] = json!("canary");
    canary["spec"]["template"]["metadata"]["labels"][TRACK] = json!("canary");
    canary["spec"]["replicas"] = json!(replicas);
    if let Some(status) = canary.as_object_mut() {
        status.remove("status");
    }
    set_image(&mut canary, repository, canary_image);
    canary
}

/// A Service selecting only canary pods, for traffic routers that weigh two backends.
#[must_use]
pub fn canary_service(stable: &Value) -> Value {
    let name = stable["metadata"]["name"].as_str().unwrap_or_default();
    let mut canary = json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": format!("{name}{CANARY_SUFFIX}"), "labels": stable["metadata"]["labels"].clone()},
        "spec": {"selector": stable["spec"]["selector"].clone(), "ports": stable["spec"]["ports"].clone()},
    });
    if let Some(ns) = stable["metadata"]["namespace"].as_str() {
        canary["metadata"]["namespace"] = json!(ns);
    }
    canary["spec"]["selector"][TRACK] = json!("canary");
    canary
}

/// The `HTTPRoute` with every rule that sends traffic to `service` splitting it: `service` at
/// `100 - weight`, `<service>-canary` at `weight` (added beside it when missing).
#[must_use]
pub fn http_route(route: &Value, service: &str, weight: u32) -> Value {
    let weight = weight.min(100);
    let canary_name = format!("{service}{CANARY_SUFFIX}");
    let mut out = route.clone();
    let Some(rules) = out["spec"]["rules"].as_array_mut() else {
        return out;
    };
    for rule in rules {
        let Some(backends) = rule["backendRefs"].as_array_mut() else {
            continue;
        };
        let Some(stable) = backends.iter().position(|b| b["name"] == service) else {
            continue;
        };
        backends[stable]["weight"] = json!(100 - weight);
        let existing = backends
            .iter()
            .position(|b| b["name"] == canary_name.as_str());
        if let Some(c) = existing {
            backends[c]["weight"] = json!(weight);
        } else {
            let mut canary = backends[stable].clone();
            canary["name"] = json!(canary_name);
            canary["weight"] = json!(weight);
            backends.push(canary);
        }
    }
    out
}

/// A copy of the stable Ingress named `<name>-canary`, sending `weight` percent of its traffic
/// to `<service>-canary` through NGINX's canary annotations.
#[must_use]
pub fn nginx_canary(ingress: &Value, service: &str, weight: u32) -> Value {
    let mut canary = ingress.clone();
    let name = ingress["metadata"]["name"].as_str().unwrap_or_default();
    canary["metadata"]["name"] = json!(format!("{name}{CANARY_SUFFIX}"));
    canary["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary"] = json!("true");
    canary["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"] =
        json!(weight.min(100).to_string());
    let canary_name = format!("{service}{CANARY_SUFFIX}");
    if let Some(rules) = canary["spec"]["rules"].as_array_mut() {
        for rule in rules {
            for path in rule["http"]["paths"].as_array_mut().into_iter().flatten() {
                if path["backend"]["service"]["name"] == service {
                    path["backend"]["service"]["name"] = json!(canary_name);
                }
            }
        }
    }
    canary
}

#[cfg(test)]
#[path = "traffic_tests.rs"]
mod tests;
