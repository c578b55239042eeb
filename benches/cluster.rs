//! Sync planner benchmark (`cargo bench --bench cluster`). Prints the figure the README
//! records: planning a sync of 5,000 rendered objects against a 5,000-object live inventory
//! (target ≤ 200 ms).

use std::collections::BTreeMap;

use gantry::cluster::{LiveObject, ObjectId, Scopes, SyncContext, plan, tracking_id};
use serde_json::{Value, json};

mod common;
use common::measure;

/// 5,000 objects: Deployments, Services and ConfigMaps in 10 namespaces, a few waves.
fn rendered() -> Vec<(Value, String)> {
    (0..5_000)
        .map(|i| {
            let ns = format!("team-{}", i % 10);
            let o = match i % 3 {
                0 => json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": format!("app{i}"), "namespace": ns, "labels": {"app": format!("app{i}")}, "annotations": {"gantry.dev/sync-wave": (i % 4).to_string()}},
                    "spec": {"replicas": 2, "selector": {"matchLabels": {"app": format!("app{i}")}}, "template": {"metadata": {"labels": {"app": format!("app{i}")}}, "spec": {"containers": [{"name": "main", "image": "registry.example.com/team/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "ports": [{"containerPort": 8080}]}]}}}}),
                1 => json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": format!("app{i}"), "namespace": ns}, "spec": {"selector": {"app": format!("app{i}")}, "ports": [{"port": 80, "targetPort": 8080}]}}),
                _ => json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("config{i}"), "namespace": ns}, "data": {"LOG_LEVEL": "info", "FEATURE_X": "true"}}),
            };
            (o, format!("apps/big/base/doc{i}.yaml"))
        })
        .collect()
}

fn main() {
    let ctx = SyncContext::new(
        "big",
        "prod",
        "default",
        "0123456789abcdef0123456789abcdef01234567",
    );
    let labels = BTreeMap::from([
        (
            "app.kubernetes.io/managed-by".to_string(),
            "gantry".to_string(),
        ),
        ("gantry.dev/app".to_string(), "big".to_string()),
        ("gantry.dev/env".to_string(), "prod".to_string()),
    ]);
    // The live inventory: 4,900 of the rendered objects plus 100 stale ones to prune.
    let scopes = Scopes::builtin();
    let objects = rendered();
    let mut live: Vec<LiveObject> = objects
        .iter()
        .take(4_900)
        .map(|(o, origin)| {
            let id = ObjectId::of(o, &scopes, "default", origin).expect("id");
            LiveObject {
                tracking_id: Some(tracking_id("big", "prod", &id)),
                controlled: false,
                id,
                labels: labels.clone(),
            }
        })
        .collect();
    live.extend((0..100).map(|i| {
        let id = ObjectId {
            group: String::new(),
            kind: "ConfigMap".into(),
            namespace: Some("team-0".into()),
            name: format!("stale{i}"),
        };
        LiveObject {
            tracking_id: Some(tracking_id("big", "prod", &id)),
            controlled: false,
            id,
            labels: labels.clone(),
        }
    }));
    let mut last = None;
    let times = measure(20, || {
        let p = plan(objects.clone(), &live, &scopes, &ctx).expect("plan");
        assert_eq!(p.objects().count(), 5_000);
        assert_eq!(p.prune.len(), 100);
        last = Some(p.batches.len());
    });
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
    let median = ms(times[times.len() / 2]);
    println!(
        "plan a sync of 5,000 objects against 5,000 live: median {median:.2} ms, min {:.2} ms, max {:.2} ms over {} runs, {} batches (target ≤ 200 ms: {})",
        ms(times[0]),
        ms(times[times.len() - 1]),
        times.len(),
        last.unwrap_or_default(),
        if median <= 200.0 { "ok" } else { "OVER TARGET" }
    );
}
