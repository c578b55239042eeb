//! Drift detection from `managedFields` (plain data) and the self-heal pass at request level.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use gantry::cluster::ObjectId;
use gantry::cluster::apply::Applier;
use gantry::cluster::drift::{Drift, drift, leaf_paths, owned_by};
use gantry::cluster::heal::{Healed, Intent};
use kube::runtime::events::{Recorder, Reporter};
use serde_json::{Value, json};

/// A ConfigMap as the API server returns it after `kubectl edit` changed `data.A`.
fn edited_configmap() -> Value {
    json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "web-config", "namespace": "shop-dev", "uid": "5d1b", "resourceVersion": "88",
            "annotations": {"gantry.dev/tracking-id": "web:dev:/ConfigMap:shop-dev/web-config"},
            "managedFields": [
                {"manager": "gantry", "operation": "Apply", "apiVersion": "v1", "time": "2026-11-23T05:00:00Z", "fieldsType": "FieldsV1",
                 "fieldsV1": {"f:data": {"f:B": {}}, "f:metadata": {"f:labels": {"f:app.kubernetes.io/managed-by": {}}}}},
                {"manager": "kubectl-edit", "operation": "Update", "apiVersion": "v1", "time": "2026-11-23T05:10:00Z", "fieldsType": "FieldsV1",
                 "fieldsV1": {"f:data": {"f:A": {}}}}
            ]},
        "data": {"A": "edited by hand", "B": "2"}
    })
}

fn owned_after_apply() -> BTreeSet<String> {
    [
        "f:data/f:A",
        "f:data/f:B",
        "f:metadata/f:labels/f:app.kubernetes.io/managed-by",
    ]
    .into_iter()
    .map(String::from)
    .collect()
}

#[test]
fn leaf_paths_follow_fields_v1() {
    let fields = json!({"f:metadata": {"f:labels": {".": {}, "f:app": {}}}, "f:spec": {"f:template": {"f:spec": {"f:containers": {
        "k:{\"name\":\"main\"}": {".": {}, "f:image": {}, "f:name": {}}}}}}});
    let paths: Vec<String> = leaf_paths(&fields).into_iter().collect();
    assert_eq!(
        paths,
        [
            "f:metadata/f:labels",
            "f:metadata/f:labels/f:app",
            "f:spec/f:template/f:spec/f:containers/k:{\"name\":\"main\"}",
            "f:spec/f:template/f:spec/f:containers/k:{\"name\":\"main\"}/f:image",
            "f:spec/f:template/f:spec/f:containers/k:{\"name\":\"main\"}/f:name",
        ]
    );
}

#[test]
fn a_field_taken_by_another_manager_is_drift_and_status_writes_are_not() {
    let live = edited_configmap();
    assert_eq!(
        drift(&owned_after_apply(), &live),
        [Drift {
            manager: "kubectl-edit".into(),
            operation: "Update".into(),
            path: "f:data/f:A".into()
        }]
    );
    assert_eq!(owned_by(&live, "gantry").len(), 2);

    let deploy = json!({"metadata": {"managedFields": [
        {"manager": "kube-controller-manager", "operation": "Update", "subresource": "status", "fieldsV1": {"f:status": {"f:replicas": {}}}},
        {"manager": "hpa-controller", "operation": "Update", "fieldsV1": {"f:spec": {"f:replicas": {}}}}
    ]}});
    // gantry never set replicas: the HPA owning it is not drift.
    let owned: BTreeSet<String> =
        ["f:spec/f:template/f:spec/f:containers/k:{\"name\":\"main\"}/f:image".to_string()].into();
    assert!(drift(&owned, &deploy).is_empty());
    // Had gantry set replicas, the HPA taking them is.
    let owned: BTreeSet<String> = ["f:spec/f:replicas".to_string()].into();
    assert_eq!(drift(&owned, &deploy).len(), 1);
}

type Seen = Arc<Mutex<Vec<(String, String, Value)>>>;

/// An API table that knows ConfigMaps, as discovery would report them.
fn configmap_table() -> gantry::cluster::apply::ApiTable {
    let mut table = gantry::cluster::apply::ApiTable::default();
    let ar = kube::core::ApiResource {
        group: String::new(),
        version: "v1".into(),
        api_version: "v1".into(),
        kind: "ConfigMap".into(),
        plural: "configmaps".into(),
    };
    table.insert(ar, true, true);
    table
}

fn cm(name: &str) -> ObjectId {
    ObjectId {
        group: String::new(),
        kind: "ConfigMap".into(),
        namespace: Some("shop-dev".into()),
        name: name.into(),
    }
}

/// What gantry rendered for the ConfigMap `name`.
fn desired(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "shop-dev"}, "data": {"A": "1", "B": "2"}})
}

/// An API server holding an edited ConfigMap, an untouched one, and nothing else.
fn heal_server() -> (kube::Client, Seen) {
    let seen: Seen = Arc::default();
    let log = Arc::clone(&seen);
    let client = crate::fake_cluster::respond(move |req| {
        let reply = match (req.method.as_str(), req.path.as_str()) {
            ("GET", "/api/v1/namespaces/shop-dev/configmaps/web-config") => {
                (200, edited_configmap())
            }
            ("GET", "/api/v1/namespaces/shop-dev/configmaps/untouched") => (
                200,
                json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "untouched", "namespace": "shop-dev", "managedFields": [{"manager": "gantry", "operation": "Apply", "fieldsV1": {"f:data": {"f:X": {}}}}]}}),
            ),
            ("GET", _) => (
                404,
                json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": "not found"}),
            ),
            ("PATCH", _) => {
                let mut o = req.body.clone();
                o["metadata"]["uid"] = json!("5d1b");
                o["metadata"]["managedFields"] = json!([{"manager": "gantry", "operation": "Apply", "fieldsV1": {"f:data": {"f:A": {}, "f:B": {}}}}]);
                (200, o)
            }
            _ => (201, req.body.clone()),
        };
        log.lock().expect("log").push((
            req.method.clone(),
            format!("{}?{}", req.path, req.query),
            req.body.clone(),
        ));
        reply
    });
    (client, seen)
}

#[tokio::test]
async fn a_heal_pass_reclaims_edited_fields_recreates_deleted_objects_and_backs_off() {
    let (client, seen) = heal_server();
    let table = configmap_table();
    let after_apply = json!({"metadata": {"managedFields": [{"manager": "gantry", "operation": "Apply", "fieldsV1": {"f:data": {"f:A": {}, "f:B": {}, "f:X": {}}}}]}});
    let mut intents = vec![
        Intent::new(cm("web-config"), &desired("web-config"), &after_apply),
        Intent::new(cm("deleted"), &desired("deleted"), &after_apply),
        Intent::new(cm("untouched"), &desired("untouched"), &after_apply),
    ];
    let applier = Applier::new(client.clone(), table);
    let recorder = Recorder::new(
        client,
        Reporter {
            controller: "gantry".into(),
            instance: Some("gantry-0".into()),
        },
    );
    let reports = applier
        .heal(&mut intents, Some(&recorder))
        .await
        .expect("heal");
    assert_eq!(reports.len(), 2);
    assert_eq!(reports[0].id.name, "web-config");
    assert!(
        matches!(&reports[0].healed, Healed::Reclaimed(d) if d.len() == 1 && d[0].path == "f:data/f:A")
    );
    assert_eq!(
        (reports[1].id.name.as_str(), &reports[1].healed),
        ("deleted", &Healed::Recreated)
    );

    let seen = seen.lock().expect("log").clone();
    let calls: Vec<(&str, &str)> = seen
        .iter()
        .map(|(m, p, _)| (m.as_str(), p.split('?').next().unwrap_or_default()))
        .collect();
    assert_eq!(
        calls,
        [
            ("GET", "/api/v1/namespaces/shop-dev/configmaps/web-config"),
            ("PATCH", "/api/v1/namespaces/shop-dev/configmaps/web-config"),
            ("POST", "/apis/events.k8s.io/v1/namespaces/shop-dev/events"),
            ("GET", "/api/v1/namespaces/shop-dev/configmaps/deleted"),
            ("PATCH", "/api/v1/namespaces/shop-dev/configmaps/deleted"),
            ("POST", "/apis/events.k8s.io/v1/namespaces/shop-dev/events"),
            ("GET", "/api/v1/namespaces/shop-dev/configmaps/untouched"),
        ]
    );
    assert!(
        seen[1].1.contains("force=true") && seen[1].1.contains("fieldManager=gantry"),
        "{}",
        seen[1].1
    );
    let event = &seen[2].2;
    assert_eq!(event["reason"], "DriftCorrected");
    assert_eq!(event["type"], "Warning");
    assert_eq!(
        event["note"],
        "fields changed outside Git, re-applied: data.A (Update by kubectl-edit)"
    );
    assert_eq!(event["regarding"]["name"], "web-config");

    // Right after a heal, the same objects wait out their backoff; the clean one is checked.
    let reports = applier
        .heal(&mut intents, Some(&recorder))
        .await
        .expect("heal");
    assert!(reports.is_empty());
}

/// Lists the edited ConfigMap, streams one DELETED event, then keeps later watches quiet.
fn watch_server() -> kube::Client {
    let (service, mut handle) = tower_test::mock::pair::<
        http::Request<kube::client::Body>,
        http::Response<kube::client::Body>,
    >();
    tokio::spawn(async move {
        let mut held = Vec::new();
        let mut watches = 0;
        while let Some((request, send)) = handle.next_request().await {
            let (parts, body) = request.into_parts();
            let body: Value = serde_json::from_slice(&body.collect_bytes().await.expect("body"))
                .unwrap_or(Value::Null);
            let query = parts.uri.query().unwrap_or_default().to_string();
            let reply = |status: u16, v: &Value| {
                http::Response::builder()
                    .status(status)
                    .body(kube::client::Body::from(
                        serde_json::to_vec(v).expect("json"),
                    ))
                    .expect("response")
            };
            let response = match (parts.method.as_str(), parts.uri.path()) {
                ("GET", "/api/v1/configmaps") if query.contains("watch=true") => {
                    watches += 1;
                    if watches > 1 {
                        held.push(send); // a quiet watch: never answers
                        continue;
                    }
                    let deleted = json!({"type": "DELETED", "object": {"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": "deleted", "namespace": "shop-dev", "resourceVersion": "11",
                            "annotations": {"gantry.dev/tracking-id": "web:dev:/ConfigMap:shop-dev/deleted"}}}});
                    http::Response::builder()
                        .status(200)
                        .body(kube::client::Body::from(
                            format!("{deleted}\n").into_bytes(),
                        ))
                        .expect("response")
                }
                ("GET", "/api/v1/configmaps") => {
                    assert!(
                        query.contains("labelSelector=app.kubernetes.io%2Fmanaged-by%3Dgantry"),
                        "{query}"
                    );
                    reply(
                        200,
                        &json!({"apiVersion": "v1", "kind": "ConfigMapList", "metadata": {"resourceVersion": "10"}, "items": [edited_configmap()]}),
                    )
                }
                ("GET", "/api/v1/namespaces/shop-dev/configmaps/web-config") => {
                    reply(200, &edited_configmap())
                }
                ("GET", _) => reply(
                    404,
                    &json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": "not found"}),
                ),
                _ => {
                    let mut o = body.clone();
                    o["metadata"]["managedFields"] = json!([{"manager": "gantry", "operation": "Apply", "fieldsV1": {"f:data": {"f:A": {}, "f:B": {}}}}]);
                    reply(200, &o)
                }
            };
            send.send_response(response);
        }
    });
    kube::Client::new(service, "default")
}

/// The watch path: the cache's initial list finds the hand-edited ConfigMap, a DELETED event
/// on its watch stream the deleted one; both changes reach the healer, which re-applies the
/// first and recreates the second.
#[tokio::test]
async fn the_watch_heals_what_the_list_and_the_event_stream_show() {
    let client = watch_server();
    let target = gantry::cluster::target::ClusterTarget::new(client);
    *target.table.lock().await = Some(configmap_table());
    let after_apply = json!({"metadata": {"managedFields": [{"manager": "gantry", "operation": "Apply", "fieldsV1": {"f:data": {"f:A": {}, "f:B": {}}}}]}});
    let intents = [
        Intent::new(cm("web-config"), &desired("web-config"), &after_apply),
        Intent::new(cm("deleted"), &desired("deleted"), &after_apply),
    ];
    target.intents.lock().expect("intents").insert(
        gantry::core::AppEnv::new("web", "dev"),
        intents.into_iter().map(|i| (i.id.clone(), i)).collect(),
    );
    let mut changes = target.cache.subscribe();
    target
        .cache
        .ensure(&configmap_table())
        .await
        .expect("the initial list");
    let mut batch = Vec::new();
    while batch.len() < 2 {
        let change = tokio::time::timeout(std::time::Duration::from_secs(10), changes.recv())
            .await
            .expect("a change within 10 s")
            .expect("change");
        batch.push(change);
    }
    assert!(
        batch.iter().any(|c| c.deleted && c.id.name == "deleted"),
        "{batch:?}"
    );
    let healer = gantry::cluster::watch::Healer::of(&target);
    let held = healer
        .heal(&target.cache, batch.clone(), |_| true, None)
        .await;
    assert!(held.corrected.is_empty(), "a closed window holds the heal");
    let pass = healer.heal(&target.cache, batch, |_| false, None).await;
    assert_eq!(
        pass.corrected.get(&gantry::core::AppEnv::new("web", "dev")),
        Some(&2)
    );
    assert!(pass.later.is_empty());
}
