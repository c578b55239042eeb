//! What the canary scenarios share: the app's image, digests, a gantry.yaml with one canary
//! strategy and one success-rate template, and the fake API server's objects in `shop-dev`.

use serde_json::Value;

use crate::fake_cluster::Cluster;

pub const REPO: &str = "harbor.example.com/shop/web";

/// `sha256:` and 64 times `c`.
pub fn digest(c: char) -> String {
    format!("sha256:{}", c.to_string().repeat(64))
}

/// A Harbor `PUSH_ARTIFACT` delivery: `REPO:tag` pushed at `digest`.
pub fn harbor_push(tag: &str, digest: &str) -> String {
    serde_json::json!({
        "type": "PUSH_ARTIFACT",
        "occur_at": 1_764_520_000,
        "operator": "ci-robot",
        "event_data": {
            "resources": [{"digest": digest, "tag": tag, "resource_url": format!("{REPO}:{tag}")}],
            "repository": {"name": "web", "namespace": "shop", "repo_full_name": "shop/web", "repo_type": "private"}
        }
    })
    .to_string()
}

/// The `Authorization` header the canary scenarios' Harbor webhook sends.
pub const HARBOR_AUTH: &str = "Bearer canary-harbor-hook";

/// gantry.yaml for web in dev (image updates of `v*` tags on) with the canary strategy `canary` (the YAML under `canary:`,
/// indented six spaces) and a `success-rate` metric (`metric`: its extra fields, indented
/// eight) on the Prometheus at `prometheus`. A loaded CI machine may miss a scrape: an empty
/// window is an error, and ten in a row are tolerated.
pub fn config(prometheus: &str, canary: &str, metric: &str) -> String {
    format!(
        r#"apiVersion: gantry.dev/v1alpha1
kind: Config
environments:
  - name: dev
    namespace: shop-dev
apps:
  - name: web
    image: {REPO}
    rollout: canary
    environments: [dev]
    imageUpdate: {{tags: ["v*"]}}
rollouts:
  - name: canary
    canary:
{canary}
analysisTemplates:
  - name: errors
    metrics:
      - name: success-rate
{metric}
        consecutiveErrorLimit: 10
        successCondition: result[0] >= 0.99
        provider:
          prometheus:
            address: {prometheus}
            query: 'sum(rate(http_requests_total{{status!="500"}}[10s])) / sum(rate(http_requests_total[10s]))'
"#
    )
}

/// The object `name` of `resource` in `shop-dev`, unless absent or being deleted.
pub fn object(cluster: &Cluster, resource: &str, name: &str) -> Option<Value> {
    cluster
        .objects(resource)
        .lock()
        .expect("objects")
        .get(&("shop-dev".to_owned(), name.to_owned()))
        .filter(|o| o["metadata"]["deletionTimestamp"].is_null())
        .cloned()
}
