//! The traffic split and the objects that carry it, as plain data.

use serde_json::json;

use super::*;

/// Argo Rollouts' rounding (`approximateWeightedCanaryStableReplicaCounts`, no surge).
#[test]
fn replicas_follow_argo_rounding_and_the_total_stays_at_spec() {
    let table = [
        // (spec, weight) -> canary
        ((10, 20), 2),
        ((10, 25), 3), // 2.5: a tie takes the ceiling
        ((4, 10), 1),  // 0.4 would round to 0, but a weight of 1-99 keeps one canary
        ((3, 50), 2),  // 1.5: tied, ceiling
        ((5, 33), 2),  // 1.65 → 2
        ((5, 99), 4),  // 4.95: all five would leave no stable
        ((1, 50), 1),  // one replica: zero allowed, 0.5 tie → ceiling
        ((1, 10), 0),
        ((10, 0), 0),
        ((10, 100), 10),
        ((0, 50), 0),
    ];
    for ((spec, weight), canary) in table {
        let (c, s) = replica_split(spec, weight);
        assert_eq!(c, canary, "spec {spec}, weight {weight}");
        assert_eq!(c + s, spec, "the total stays at spec");
    }
}

fn deployment() -> serde_json::Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}, "uid": "u1", "resourceVersion": "9"},
        "spec": {
            "replicas": 10,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [
                    {"name": "web", "image": "harbor.example.com/shop/web@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
                    {"name": "proxy", "image": "envoyproxy/envoy:v1.30"}
                ]}
            }
        },
        "status": {"replicas": 10}
    })
}

#[test]
fn the_canary_deployment_is_a_labelled_copy_on_the_new_image() {
    let new = "harbor.example.com/shop/web@sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    let canary = canary_deployment(&deployment(), "harbor.example.com/shop/web", new, 2);
    assert_eq!(canary["metadata"]["name"], "web-canary");
    assert_eq!(canary["spec"]["replicas"], 2);
    assert_eq!(
        canary["spec"]["selector"]["matchLabels"],
        json!({"app": "web", "gantry.dev/track": "canary"})
    );
    assert_eq!(
        canary["spec"]["template"]["metadata"]["labels"]["app"], "web",
        "the Service still selects it"
    );
    let containers = &canary["spec"]["template"]["spec"]["containers"];
    assert_eq!(containers[0]["image"], new);
    assert_eq!(
        containers[1]["image"], "envoyproxy/envoy:v1.30",
        "other images untouched"
    );
    assert!(canary["metadata"].get("uid").is_none() && canary.get("status").is_none());

    let stable = stable_deployment(
        &deployment(),
        "harbor.example.com/shop/web",
        "harbor.example.com/shop/web@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        8,
    );
    assert_eq!(stable["spec"]["replicas"], 8);
    assert_eq!(stable["metadata"]["name"], "web");
}

#[test]
fn a_canary_service_selects_only_canary_pods() {
    let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}});
    let canary = canary_service(&svc);
    assert_eq!(
        canary["metadata"],
        json!({"name": "web-canary", "namespace": "shop", "labels": null})
    );
    assert_eq!(
        canary["spec"]["selector"],
        json!({"app": "web", "gantry.dev/track": "canary"})
    );
    assert_eq!(canary["spec"]["ports"], json!([{"port": 80}]));
}

#[test]
fn http_route_backends_carry_the_weights() {
    let route = json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": {"name": "web"},
    "spec": {"rules": [
        {"backendRefs": [{"name": "web", "port": 80}]},
        {"backendRefs": [{"name": "other", "port": 80}]}
    ]}});
    let split = http_route(&route, "web", 30);
    assert_eq!(
        split["spec"]["rules"][0]["backendRefs"],
        json!([{"name": "web", "port": 80, "weight": 70}, {"name": "web-canary", "port": 80, "weight": 30}])
    );
    assert_eq!(
        split["spec"]["rules"][1], route["spec"]["rules"][1],
        "other backends untouched"
    );
    let back = http_route(&split, "web", 0);
    assert_eq!(
        back["spec"]["rules"][0]["backendRefs"],
        json!([{"name": "web", "port": 80, "weight": 100}, {"name": "web-canary", "port": 80, "weight": 0}])
    );
}

#[test]
fn nginx_gets_a_canary_ingress_with_the_weight_annotations() {
    let ingress = json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
    "metadata": {"name": "web", "annotations": {"kubernetes.io/ingress.class": "nginx"}},
    "spec": {"rules": [{"host": "shop.example.com", "http": {"paths": [
        {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80}}}}
    ]}}]}});
    let canary = nginx_canary(&ingress, "web", 25);
    assert_eq!(canary["metadata"]["name"], "web-canary");
    assert_eq!(
        canary["metadata"]["annotations"],
        json!({"kubernetes.io/ingress.class": "nginx", "nginx.ingress.kubernetes.io/canary": "true", "nginx.ingress.kubernetes.io/canary-weight": "25"})
    );
    assert_eq!(
        canary["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"],
        "web-canary"
    );
}
