//! Issue 18: canaries behind a traffic router, end to end at request level — with Gateway API
//! the sync's `HTTPRoute` carries the weights (stable 80, `web-canary` 20) and a canary Service
//! selects only canary pods; with NGINX a `web-canary` Ingress carries the canary annotations;
//! the stable Deployment keeps every replica meanwhile; promotion removes the canary objects.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::daemon::{options_for, spawn};
use crate::fake_cluster::Cluster;
use crate::harness::canary::{REPO, config, digest, object};
use crate::harness::git::Remote;
use crate::harness::prometheus::{Exporter, Prometheus};

const OBJECTS: &str = "apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 10
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: 'harbor.example.com/shop/web:1'}]}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {selector: {app: web}, ports: [{port: 80}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web}
spec: {rules: [{backendRefs: [{name: web, port: 80}]}]}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web}
spec:
  rules:
    - host: shop.example.com
      http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]}
";

/// Polls until `done`, at most 90 s.
async fn until(cluster: &Cluster, what: &str, done: impl Fn(&Cluster) -> bool) {
    let started = Instant::now();
    while !done(cluster) {
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "{what}: not within 90 s"
        );
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

async fn scenario(routing: &str) -> Cluster {
    let _one = crate::harness::prometheus::one_at_a_time().await;
    let exporter = Exporter::start().await;
    exporter.set_error_ratio(0.001);
    let prometheus = Prometheus::start(exporter.port).await;
    let remote = Remote::new();
    let work = remote.clone_work();
    work.write(
        "gantry.yaml",
        &config(
            &prometheus.url(),
            &format!("      trafficRouting: {routing}\n      steps:\n        - setWeight: 20\n        - analysis: {{templates: [{{templateName: errors}}]}}"),
            "        interval: 1s\n        count: 4",
        ),
    );
    work.write("apps/web/overlays/dev/objects.yaml", OBJECTS);
    let kustomization = |d: char| {
        format!(
            "resources: [objects.yaml]\nimages:\n  - name: {REPO}\n    digest: {}\n",
            digest(d)
        )
    };
    work.write(
        "apps/web/overlays/dev/kustomization.yaml",
        &kustomization('a'),
    );
    work.commit_all("web: a");
    work.push();
    let cluster = Cluster::default();
    cluster.add_namespace("shop-dev");
    let data = tempfile::tempdir().expect("data");
    let daemon = spawn(options_for(&remote.url(), data.path(), cluster.client())).await;
    until(&cluster, "first deploy", |c| {
        object(c, "deployments", "web").is_some()
    })
    .await;
    work.write(
        "apps/web/overlays/dev/kustomization.yaml",
        &kustomization('b'),
    );
    work.commit_all("web: b");
    work.push();
    let running = |c: &Cluster| {
        object(c, "deployments", "web-canary").is_some_and(|d| d["spec"]["replicas"] == 2)
            && object(c, "deployments", "web").is_some_and(|d| d["spec"]["replicas"] == 10)
            && object(c, "services", "web-canary").is_some_and(|s| {
                s["spec"]["selector"] == json!({"app": "web", "gantry.dev/track": "canary"})
            })
    };
    let routed = routing.to_owned();
    let weights = move |c: &Cluster| {
        if routed.contains("gatewayAPI") {
            object(c, "httproutes", "web").is_some_and(|r| {
                r["spec"]["rules"][0]["backendRefs"]
                    == json!([{"name": "web", "port": 80, "weight": 80}, {"name": "web-canary", "port": 80, "weight": 20}])
            })
        } else {
            object(c, "ingresses", "web-canary").is_some_and(|i| {
                i["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary"] == "true"
                    && i["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"]
                        == "20"
                    && i["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"]
                        == "web-canary"
            })
        }
    };
    let promoted = |c: &Cluster| {
        object(c, "deployments", "web").is_some_and(|d| {
            d["spec"]["template"]["spec"]["containers"][0]["image"]
                == format!("{REPO}@{}", digest('b'))
        }) && object(c, "deployments", "web-canary").is_none()
            && object(c, "services", "web-canary").is_none()
            && object(c, "ingresses", "web-canary").is_none()
    };
    until(&cluster, "canary running", |c| running(c) && weights(c)).await;
    until(&cluster, "promotion", promoted).await;
    daemon.shutdown.cancel();
    daemon.task.await.expect("daemon stopped");
    cluster
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn regression_issue_18_a_gateway_api_canary_weighs_the_http_route() {
    let cluster = scenario("{gatewayAPI: {httpRoute: web}}").await;
    let route = object(&cluster, "httproutes", "web").expect("the route");
    let backends = &route["spec"]["rules"][0]["backendRefs"];
    assert!(
        backends.as_array().is_some_and(|b| b
            .iter()
            .all(|x| x["name"] != "web-canary" || x["weight"] == 0)),
        "after promotion no traffic goes to the canary: {backends}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn regression_issue_18_an_nginx_canary_gets_its_own_ingress() {
    scenario("{nginx: {stableIngress: web}}").await;
}
