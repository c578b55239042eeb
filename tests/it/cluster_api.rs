//! The cluster client at request level, against kube's `tower-test` mock (controller-rs's
//! `ApiServerVerifier` pattern): each request's method, path, query, content type and body are
//! checked, and answered the way an API server answers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use gantry::cluster::apply::{Action, ApiTable, Applier};
use gantry::cluster::{LiveObject, ObjectId, SyncContext, plan};
use kube::core::ApiResource;
use serde_json::{Value, json};

pub use crate::fake_cluster::Seen;

pub type Answer = Box<dyn FnMut(&Seen) -> (u16, Value) + Send>;

/// A mock API server: records every request and answers with `answer`.
pub fn mock(mut answer: Answer) -> (kube::Client, Arc<Mutex<Vec<Seen>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let client = crate::fake_cluster::respond(move |s| {
        let reply = answer(s);
        log.lock().expect("log").push(s.clone());
        reply
    });
    (client, seen)
}

/// What an API server returns for a server-side apply: the object with server fields added.
fn applied(body: &Value, rv: &str) -> Value {
    let mut o = body.clone();
    o["metadata"]["uid"] = json!("2f1c7b0e-5d8a-4c1e-9a53-3b2a1f0e9d77");
    o["metadata"]["resourceVersion"] = json!(rv);
    o["metadata"]["creationTimestamp"] = json!("2026-11-23T05:00:00Z");
    o["metadata"]["managedFields"] = json!([{"manager": "gantry", "operation": "Apply", "apiVersion": body["apiVersion"], "fieldsType": "FieldsV1", "fieldsV1": {}}]);
    o
}

/// Query parameters, order-free (kube writes them in its own order, with a leading `&`).
fn params(query: &str) -> std::collections::BTreeSet<&str> {
    query.split('&').filter(|p| !p.is_empty()).collect()
}

fn table() -> ApiTable {
    let mut t = ApiTable::default();
    let ar = |group: &str, version: &str, kind: &str, plural: &str| ApiResource {
        group: group.into(),
        version: version.into(),
        api_version: if group.is_empty() {
            version.into()
        } else {
            format!("{group}/{version}")
        },
        kind: kind.into(),
        plural: plural.into(),
    };
    t.insert(ar("", "v1", "Namespace", "namespaces"), false, true);
    t.insert(ar("", "v1", "ConfigMap", "configmaps"), true, true);
    t.insert(ar("apps", "v1", "Deployment", "deployments"), true, true);
    t.insert(
        ar(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
            "customresourcedefinitions",
        ),
        false,
        true,
    );
    t
}

fn rendered() -> Vec<(Value, String)> {
    vec![
        (
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 2}}),
            "deploy.yaml".into(),
        ),
        (
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web-config"}, "data": {"A": "1"}}),
            "cm.yaml".into(),
        ),
        (
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop-dev"}}),
            "ns.yaml".into(),
        ),
    ]
}

fn ctx() -> SyncContext {
    SyncContext::new("web", "dev", "shop-dev", "0123abcd")
}

#[tokio::test]
async fn apply_is_server_side_as_gantry_with_force_in_plan_order() {
    let (client, seen) = mock(Box::new(|s| (200, applied(&s.body, "101"))));
    let applier_table = table();
    let p = plan(rendered(), &[], &applier_table.scopes(), &ctx()).expect("plan");
    let mut applier = Applier::new(client, applier_table);
    let rows = applier.sync(&p, &HashMap::new()).await.expect("sync");

    let seen = seen.lock().expect("log").clone();
    let paths: Vec<(&str, &str)> = seen
        .iter()
        .map(|s| (s.method.as_str(), s.path.as_str()))
        .collect();
    assert_eq!(
        paths,
        [
            ("PATCH", "/api/v1/namespaces/shop-dev"),
            ("PATCH", "/api/v1/namespaces/shop-dev/configmaps/web-config"),
            ("PATCH", "/apis/apps/v1/namespaces/shop-dev/deployments/web"),
        ]
    );
    for s in &seen {
        assert_eq!(
            params(&s.query),
            params("fieldManager=gantry&force=true"),
            "{}",
            s.path
        );
        assert_eq!(s.content_type, "application/apply-patch+yaml");
        assert_eq!(
            s.body["metadata"]["labels"]["app.kubernetes.io/managed-by"],
            "gantry"
        );
        assert!(
            s.body["metadata"]["annotations"]["gantry.dev/tracking-id"]
                .as_str()
                .is_some_and(|t| t.starts_with("web:dev:")),
            "{}",
            s.body
        );
        assert!(
            s.body["metadata"]["annotations"]["gantry.dev/revision"].is_null(),
            "no per-commit value on objects"
        );
    }
    assert_eq!(seen[2].body["metadata"]["namespace"], "shop-dev");
    assert!(rows.iter().all(|r| r.action == Action::Created), "{rows:?}");
}

#[tokio::test]
async fn dry_run_sends_dry_run_all_and_unchanged_objects_are_reported() {
    let (client, seen) = mock(Box::new(|s| (200, applied(&s.body, "7"))));
    let t = table();
    let p = plan(rendered(), &[], &t.scopes(), &ctx()).expect("plan");
    let cm = ObjectId {
        group: String::new(),
        kind: "ConfigMap".into(),
        namespace: Some("shop-dev".into()),
        name: "web-config".into(),
    };
    let live = HashMap::from([(
        cm.clone(),
        (
            LiveObject::from_live(cm.clone(), &json!({})),
            json!({"metadata": {"resourceVersion": "7"}}),
        ),
    )]);
    let mut applier = Applier::new(client, t);
    applier.dry_run = true;
    let rows = applier.sync(&p, &live).await.expect("sync");
    assert!(
        seen.lock()
            .expect("log")
            .iter()
            .all(|s| params(&s.query) == params("dryRun=All&fieldManager=gantry&force=true")),
        "{:?}",
        seen.lock()
            .expect("log")
            .iter()
            .map(|s| &s.query)
            .collect::<Vec<_>>()
    );
    let actions: Vec<(String, Action)> =
        rows.iter().map(|r| (r.id.name.clone(), r.action)).collect();
    assert_eq!(actions[1], ("web-config".to_string(), Action::Unchanged));
}

#[tokio::test]
async fn prune_deletes_with_foreground_propagation_after_applying() {
    let (client, seen) = mock(Box::new(|s| match s.method.as_str() {
        "DELETE" => (
            200,
            json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}),
        ),
        _ => (200, applied(&s.body, "5")),
    }));
    let t = table();
    let stale = ObjectId {
        group: String::new(),
        kind: "ConfigMap".into(),
        namespace: Some("shop-dev".into()),
        name: "old".into(),
    };
    let labels = [
        ("app.kubernetes.io/managed-by", "gantry"),
        ("gantry.dev/app", "web"),
        ("gantry.dev/env", "dev"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect::<std::collections::BTreeMap<_, _>>();
    // Live: the three rendered objects and one that is no longer rendered.
    let live: HashMap<ObjectId, (LiveObject, Value)> = [
        ("", "Namespace", None, "shop-dev"),
        ("", "ConfigMap", Some("shop-dev"), "web-config"),
        ("apps", "Deployment", Some("shop-dev"), "web"),
        ("", "ConfigMap", Some("shop-dev"), "old"),
    ]
    .into_iter()
    .map(|(group, kind, ns, name)| {
        let id = ObjectId {
            group: group.into(),
            kind: kind.into(),
            namespace: ns.map(Into::into),
            name: name.into(),
        };
        let api_version = if group.is_empty() {
            "v1".to_string()
        } else {
            format!("{group}/v1")
        };
        let obj = json!({"apiVersion": api_version, "metadata": {"resourceVersion": "3",
            "labels": labels, "annotations": {"gantry.dev/tracking-id": gantry::cluster::tracking_id("web", "dev", &id)}}});
        (id.clone(), (LiveObject::from_live(id, &obj), obj))
    })
    .collect();
    let inventory: Vec<LiveObject> = live.values().map(|(l, _)| l.clone()).collect();
    let p = plan(rendered(), &inventory, &t.scopes(), &ctx()).expect("plan");
    assert_eq!(p.prune, std::slice::from_ref(&stale));
    let rows = Applier::new(client, t).sync(&p, &live).await.expect("sync");
    let seen = seen.lock().expect("log").clone();
    let last = seen.last().expect("requests");
    assert_eq!(
        (last.method.as_str(), last.path.as_str()),
        ("DELETE", "/api/v1/namespaces/shop-dev/configmaps/old")
    );
    assert_eq!(last.body["propagationPolicy"], "Foreground");
    assert_eq!(rows.last().map(|r| r.action), Some(Action::Pruned));
}

#[tokio::test]
async fn the_inventory_lists_every_listable_kind_by_our_labels() {
    let (client, seen) = mock(Box::new(|s| {
        let items = if s.path == "/api/v1/configmaps" {
            // As a real server lists them: no apiVersion or kind on the items. The second
            // carries our labels and a tracking id copied from another object.
            json!([{"metadata": {"name": "web-config", "namespace": "shop-dev", "resourceVersion": "9",
                "labels": {"app.kubernetes.io/managed-by": "gantry", "gantry.dev/app": "web", "gantry.dev/env": "dev"},
                "annotations": {"gantry.dev/tracking-id": "web:dev:/ConfigMap:shop-dev/web-config"}}},
                {"metadata": {"name": "copy", "namespace": "shop-dev", "resourceVersion": "9",
                "labels": {"app.kubernetes.io/managed-by": "gantry", "gantry.dev/app": "web", "gantry.dev/env": "dev"},
                "annotations": {"gantry.dev/tracking-id": "web:dev:/ConfigMap:shop-dev/web-config"}}}])
        } else {
            json!([])
        };
        (
            200,
            json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": "10"}, "items": items}),
        )
    }));
    let inventory = Applier::new(client, table())
        .inventory("web", "dev")
        .await
        .expect("inventory");
    let seen = seen.lock().expect("log").clone();
    assert_eq!(seen.len(), 4, "one LIST per listable kind");
    for s in &seen {
        assert_eq!(s.method, "GET");
        assert_eq!(
            params(&s.query),
            params(
                "labelSelector=app.kubernetes.io%2Fmanaged-by%3Dgantry%2Cgantry.dev%2Fapp%3Dweb%2Cgantry.dev%2Fenv%3Ddev"
            )
        );
    }
    let ids: Vec<String> = inventory.keys().map(ToString::to_string).collect();
    assert_eq!(ids, ["ConfigMap shop-dev/web-config"]);
    let (_, value) = inventory.values().next().expect("one object");
    assert_eq!(
        (&value["apiVersion"], &value["kind"]),
        (&json!("v1"), &json!("ConfigMap")),
        "the list's type is put on its items"
    );
}

#[tokio::test]
async fn a_crd_and_its_resources_apply_in_one_sync() {
    let mut gets = 0;
    let (client, seen) = mock(Box::new(move |s| match s.method.as_str() {
        "GET" => {
            gets += 1;
            let established = if gets > 1 { "True" } else { "False" };
            (
                200,
                json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "widgets.example.com"},
                "status": {"conditions": [{"type": "NamesAccepted", "status": "True"}, {"type": "Established", "status": established}]}}),
            )
        }
        _ => (200, applied(&s.body, "1")),
    }));
    let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced", "names": {"kind": "Widget", "plural": "widgets"}, "versions": [{"name": "v1", "served": true, "storage": true}]}});
    let widget = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w1"}, "spec": {"size": 3}});
    let t = table();
    let p = plan(
        vec![(widget, "w.yaml".into()), (crd, "crd.yaml".into())],
        &[],
        &t.scopes(),
        &ctx(),
    )
    .expect("plan");
    Applier::new(client, t)
        .sync(&p, &HashMap::new())
        .await
        .expect("sync");
    let seen = seen.lock().expect("log").clone();
    let calls: Vec<(&str, &str)> = seen
        .iter()
        .map(|s| (s.method.as_str(), s.path.as_str()))
        .collect();
    assert_eq!(
        calls,
        [
            (
                "PATCH",
                "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com"
            ),
            (
                "GET",
                "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com"
            ),
            (
                "GET",
                "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com"
            ),
            (
                "PATCH",
                "/apis/example.com/v1/namespaces/shop-dev/widgets/w1"
            ),
        ]
    );
}

#[tokio::test]
async fn an_api_error_names_the_object_and_carries_the_servers_message() {
    let (client, _seen) = mock(Box::new(|_| {
        (
            422,
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "Deployment.apps \"web\" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0",
            "reason": "Invalid", "code": 422}),
        )
    }));
    let t = table();
    let p = plan(vec![rendered().remove(0)], &[], &t.scopes(), &ctx()).expect("plan");
    let err = Applier::new(client, t)
        .sync(&p, &HashMap::new())
        .await
        .expect_err("422");
    assert_eq!(
        err.to_string(),
        "cannot apply Deployment.apps shop-dev/web: Deployment.apps \"web\" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0 (422)"
    );
}

#[tokio::test]
async fn diff_compares_live_with_a_dry_run_apply_without_server_fields() {
    let (client, seen) = mock(Box::new(|s| match (s.method.as_str(), s.path.as_str()) {
        ("GET", "/api/v1/namespaces/shop-dev/configmaps/web-config") => {
            let mut live = applied(
                &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web-config", "namespace": "shop-dev",
                "labels": {"app.kubernetes.io/managed-by": "gantry", "gantry.dev/app": "web", "gantry.dev/env": "dev"},
                "annotations": {"gantry.dev/tracking-id": "web:dev:/ConfigMap:shop-dev/web-config"}}, "data": {"A": "0"}}),
                "41",
            );
            live["metadata"]["generation"] = json!(1);
            (200, live)
        }
        ("GET", _) => (
            404,
            json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": "not found"}),
        ),
        _ => (200, applied(&s.body, "42")),
    }));
    let t = table();
    let rendered = vec![rendered().remove(1), rendered().remove(0)];
    let p = plan(rendered, &[], &t.scopes(), &ctx()).expect("plan");
    let diffs = Applier::new(client, t)
        .diff(&p, &HashMap::new())
        .await
        .expect("diff");
    assert!(
        seen.lock()
            .expect("log")
            .iter()
            .filter(|s| s.method == "PATCH")
            .all(|s| params(&s.query).contains("dryRun=All"))
    );
    let text: Vec<String> = diffs.iter().filter_map(|d| d.unified(false)).collect();
    assert_eq!(
        text[0],
        "--- live/ConfigMap shop-dev/web-config\n+++ merged/ConfigMap shop-dev/web-config\n@@ -1,6 +1,6 @@\n apiVersion: v1\n data:\n-  A: \"0\"\n+  A: \"1\"\n kind: ConfigMap\n metadata:\n   annotations:\n"
    );
    assert!(text[1].starts_with("--- live/Deployment.apps shop-dev/web\n+++ merged/Deployment.apps shop-dev/web\n@@ -0,0 +1,"), "{}", text[1]);
    assert!(!text.concat().contains("resourceVersion") && !text.concat().contains("managedFields"));
    // The same object on both sides: no diff.
    let same = gantry::cluster::diff::ObjectDiff {
        id: diffs[0].id.clone(),
        before: diffs[0].after.clone(),
        after: diffs[0].after.clone(),
    };
    assert_eq!(same.unified(false), None);
}

/// Discovery as an API server serves it: one custom group and the core group.
fn discovery_answer(s: &Seen) -> (u16, Value) {
    let verbs = json!([
        "create",
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "update",
        "watch"
    ]);
    match s.path.as_str() {
        "/apis" => (
            200,
            json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": [{"name": "example.com",
            "versions": [{"groupVersion": "example.com/v1", "version": "v1"}], "preferredVersion": {"groupVersion": "example.com/v1", "version": "v1"}}]}),
        ),
        "/apis/example.com/v1" => (
            200,
            json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "example.com/v1",
            "resources": [{"name": "widgets", "singularName": "widget", "namespaced": true, "kind": "Widget", "verbs": verbs}]}),
        ),
        "/api" => (
            200,
            json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}]}),
        ),
        "/api/v1" => (
            200,
            json!({"kind": "APIResourceList", "groupVersion": "v1",
            "resources": [{"name": "configmaps", "singularName": "configmap", "namespaced": true, "kind": "ConfigMap", "verbs": verbs}]}),
        ),
        _ => (
            404,
            json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404}),
        ),
    }
}

#[tokio::test]
async fn an_unknown_kind_triggers_discovery_once_and_known_kinds_never_do() {
    let (client, seen) = mock(Box::new(discovery_answer));
    let mut t = table();
    let widget =
        json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w1"}});
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});

    assert!(!t.ensure_kinds(&client, [&cm]).await.expect("known kinds"));
    assert!(
        seen.lock().expect("log").is_empty(),
        "no discovery for known kinds"
    );

    assert!(
        t.ensure_kinds(&client, [&cm, &widget])
            .await
            .expect("rediscovery")
    );
    let paths: Vec<String> = seen
        .lock()
        .expect("log")
        .iter()
        .map(|s| s.path.clone())
        .collect();
    assert_eq!(paths, ["/apis", "/apis/example.com/v1", "/api", "/api/v1"]);
    let id = ObjectId {
        group: "example.com".into(),
        kind: "Widget".into(),
        namespace: Some("shop-dev".into()),
        name: "w1".into(),
    };
    assert_eq!(
        t.scopes().is_namespaced("example.com", "Widget"),
        Some(true)
    );
    assert_eq!(
        t.resource(&id, "example.com/v1").expect("known now").plural,
        "widgets"
    );
    // Deployments were known before discovery and still are.
    assert!(t.scopes().is_namespaced("apps", "Deployment").is_some());

    assert!(!t.ensure_kinds(&client, [&widget]).await.expect("cached"));
    assert_eq!(
        seen.lock().expect("log").len(),
        4,
        "cached: no second discovery"
    );
}
