//! The reconcile scenarios against a real API server (etcd + kube-apiserver from
//! `GANTRY_KUBE_ASSETS`); without it they print `SKIP: …` and pass. Written for any v1.26+
//! API server; no controller-manager is needed (they check what was applied, not rollouts).

use std::collections::HashMap;

use gantry::cluster::apply::{Action, ApiTable, Applier};
use gantry::cluster::heal::{Healed, Intent};
use gantry::cluster::{self, ObjectId, SyncContext};
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::core::ApiResource;
use serde_json::{Value, json};

use crate::harness::envtest::Envtest;

const NS: &str = "gantry-envtest";

fn objects(config_value: &str, with_service: bool) -> Vec<(Value, String)> {
    let mut out = vec![
        (
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}),
            "ns.yaml".to_string(),
        ),
        (
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web-config"}, "data": {"A": config_value}}),
            "cm.yaml".to_string(),
        ),
        (
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "main", "image": "registry.example.com/shop/web:1.0.0"}]}}}}),
            "deploy.yaml".to_string(),
        ),
    ];
    if with_service {
        out.push((json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}), "svc.yaml".to_string()));
    }
    out
}

/// Discovery, inventory, plan, sync; returns the actions by object and the heal intents.
async fn sync(
    env: &Envtest,
    rendered: Vec<(Value, String)>,
) -> (HashMap<String, Action>, Vec<Intent>) {
    let table = ApiTable::discover(&env.client).await.expect("discovery");
    let mut applier = Applier::new(env.client.clone(), table);
    let live = applier.inventory("web", "dev").await.expect("inventory");
    let inventory: Vec<_> = live.values().map(|(l, _)| l.clone()).collect();
    let ctx = SyncContext::new("web", "dev", NS, "0123abcd");
    let plan = cluster::plan(rendered, &inventory, &applier.table.scopes(), &ctx).expect("plan");
    let rows = applier.sync(&plan, &live).await.expect("sync");
    let intents = gantry::cluster::heal::intents(&plan, &rows);
    (
        rows.iter().map(|r| (r.id.to_string(), r.action)).collect(),
        intents,
    )
}

fn configmaps(env: &Envtest) -> Api<DynamicObject> {
    let ar = ApiResource {
        group: String::new(),
        version: "v1".into(),
        api_version: "v1".into(),
        kind: "ConfigMap".into(),
        plural: "configmaps".into(),
    };
    Api::namespaced_with(env.client.clone(), NS, &ar)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envtest_apply_change_prune_and_self_heal() {
    let Some(env) = Envtest::start().await else {
        return;
    };

    // Apply: everything is created and carries gantry's labels.
    let (actions, _) = sync(&env, objects("1", true)).await;
    assert_eq!(
        actions[&format!("ConfigMap {NS}/web-config")],
        Action::Created
    );
    let cm = configmaps(&env)
        .get("web-config")
        .await
        .expect("configmap exists");
    let labels = cm.metadata.labels.clone().unwrap_or_default();
    assert_eq!(
        labels
            .get("app.kubernetes.io/managed-by")
            .map(String::as_str),
        Some("gantry")
    );
    assert_eq!(
        labels.get("gantry.dev/app").map(String::as_str),
        Some("web")
    );

    // Re-applying the same render changes nothing; changing it updates the object.
    let (actions, _) = sync(&env, objects("1", true)).await;
    assert_eq!(
        actions[&format!("ConfigMap {NS}/web-config")],
        Action::Unchanged
    );
    let (actions, _) = sync(&env, objects("2", true)).await;
    assert_eq!(
        actions[&format!("ConfigMap {NS}/web-config")],
        Action::Configured
    );

    // Removing the Service from the render prunes it.
    let (actions, mut intents) = sync(&env, objects("2", false)).await;
    assert_eq!(actions[&format!("Service {NS}/web")], Action::Pruned);

    // Deleted by hand → recreated; edited by hand → reclaimed.
    configmaps(&env)
        .delete("web-config", &DeleteParams::default())
        .await
        .expect("delete by hand");
    let applier = Applier::new(
        env.client.clone(),
        ApiTable::discover(&env.client).await.expect("discovery"),
    );
    let reports = applier.heal(&mut intents, None).await.expect("heal");
    assert!(
        reports
            .iter()
            .any(|r| r.id.name == "web-config" && r.healed == Healed::Recreated),
        "{reports:?}"
    );

    let mut fresh: Vec<Intent> = sync(&env, objects("2", false)).await.1;
    configmaps(&env)
        .patch(
            "web-config",
            &PatchParams {
                field_manager: Some("kubectl-edit".into()),
                ..PatchParams::default()
            },
            &Patch::Merge(json!({"data": {"A": "edited by hand"}})),
        )
        .await
        .expect("edit by hand");
    let reports = applier.heal(&mut fresh, None).await.expect("heal");
    assert!(reports.iter().any(|r| r.id.name == "web-config" && matches!(&r.healed, Healed::Reclaimed(d) if d.iter().any(|d| d.path == "f:data/f:A"))), "{reports:?}");
    let cm = configmaps(&env).get("web-config").await.expect("configmap");
    assert_eq!(cm.data["data"]["A"], "2", "the value in Git is back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envtest_a_crd_and_its_resource_in_one_sync() {
    let Some(env) = Envtest::start().await else {
        return;
    };
    let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced", "names": {"kind": "Widget", "plural": "widgets", "singular": "widget", "listKind": "WidgetList"},
            "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}});
    let widget = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w1"}, "spec": {"size": 3}});
    let mut rendered = objects("1", false);
    rendered.push((widget, "widget.yaml".into()));
    rendered.push((crd, "crd.yaml".into()));
    let (actions, _) = sync(&env, rendered).await;
    let id = ObjectId {
        group: "example.com".into(),
        kind: "Widget".into(),
        namespace: Some(NS.into()),
        name: "w1".into(),
    };
    assert_eq!(actions[&id.to_string()], Action::Created);
}
