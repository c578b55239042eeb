//! The `StateStore`: the redb file keeps records across reopen; the cluster store writes `AppSync`
//! resources with server-side apply (spec, then the status subresource) and reads them back,
//! checked at request level against kube's tower-test mock.

use std::sync::Arc;

use gantry::store::cluster::ClusterStore;
use gantry::store::local::LocalStore;
use gantry::store::{AppSyncSpec, AppSyncStatus, StateStore, SyncRecord};
use serde_json::json;

fn record(app: &str, revision: &str) -> SyncRecord {
    SyncRecord {
        spec: AppSyncSpec {
            app: app.into(),
            env: "dev".into(),
        },
        status: AppSyncStatus {
            desired: Some(revision.into()),
            revision: Some(revision.into()),
            note: None,
            health: "Healthy".into(),
            phase: "synced".into(),
            last_sync: Some("2026-11-23T08:00:00Z".into()),
            error: None,
            objects: 3,
        },
    }
}

#[tokio::test]
async fn the_local_store_keeps_records_across_reopen() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("state/state.redb");
    let store = Arc::new(LocalStore::open(&path).expect("open"));
    assert!(store.load().await.expect("load empty").is_empty());
    store.save(&record("web", "aaa")).await.expect("save");
    store.save(&record("api", "bbb")).await.expect("save");
    store.save(&record("web", "ccc")).await.expect("overwrite");
    drop(store);
    let reopened = Arc::new(LocalStore::open(&path).expect("reopen"));
    let mut records = reopened.load().await.expect("load");
    records.sort_by(|a, b| a.spec.app.cmp(&b.spec.app));
    assert_eq!(records, [record("api", "bbb"), record("web", "ccc")]);
}

#[tokio::test]
async fn the_cluster_store_applies_appsync_resources_and_their_status() {
    let (client, seen) = crate::cluster_api::mock(Box::new(|req| {
        if req.method == "GET" {
            (
                200,
                json!({"apiVersion": "gantry.dev/v1alpha1", "kind": "AppSyncList", "metadata": {"resourceVersion": "7"},
                    "items": [{"apiVersion": "gantry.dev/v1alpha1", "kind": "AppSync", "metadata": {"name": "web-dev", "namespace": "gantry"},
                        "spec": {"app": "web", "env": "dev"},
                        "status": {"desired": "aaa", "revision": "aaa", "health": "Healthy", "phase": "synced", "lastSync": "2026-11-23T08:00:00Z", "objects": 3}}]}),
            )
        } else {
            let mut o = req.body.clone();
            o["metadata"]["name"] = json!("web-dev");
            o["metadata"]["namespace"] = json!("gantry");
            o["spec"] = json!({"app": "web", "env": "dev"});
            (200, o)
        }
    }));
    let store = ClusterStore::new(client, "gantry");
    store.save(&record("web", "aaa")).await.expect("save");
    assert_eq!(store.load().await.expect("load"), [record("web", "aaa")]);
    let seen = seen.lock().expect("seen").clone();
    let calls: Vec<(String, String, String)> = seen
        .iter()
        .map(|s| (s.method.clone(), s.path.clone(), s.content_type.clone()))
        .collect();
    assert_eq!(
        calls,
        [
            (
                "PATCH".into(),
                "/apis/gantry.dev/v1alpha1/namespaces/gantry/appsyncs/web-dev".into(),
                "application/apply-patch+yaml".into()
            ),
            (
                "PATCH".into(),
                "/apis/gantry.dev/v1alpha1/namespaces/gantry/appsyncs/web-dev/status".into(),
                "application/apply-patch+yaml".into()
            ),
            (
                "GET".into(),
                "/apis/gantry.dev/v1alpha1/namespaces/gantry/appsyncs".into(),
                String::new()
            ),
        ]
    );
    assert!(
        seen[0].query.contains("fieldManager=gantry") && seen[0].query.contains("force=true"),
        "{}",
        seen[0].query
    );
    assert_eq!(seen[0].body["spec"], json!({"app": "web", "env": "dev"}));
    assert_eq!(seen[0].body["metadata"]["labels"]["gantry.dev/app"], "web");
    assert_eq!(seen[1].body["status"]["revision"], "aaa");
    assert_eq!(seen[1].body["status"]["lastSync"], "2026-11-23T08:00:00Z");
}

fn canary(step: usize) -> gantry::rollout::drive::Canary {
    let mut state = gantry::rollout::machine::State::start(1_000);
    state.step = step;
    state.weight = 20;
    gantry::rollout::drive::Canary {
        app: "web".into(),
        env: "prod".into(),
        namespace: "shop".into(),
        deployment: "web".into(),
        repository: "harbor.example.com/shop/web".into(),
        stable_image: "harbor.example.com/shop/web@sha256:aa".into(),
        canary_image: "harbor.example.com/shop/web@sha256:bb".into(),
        replicas: 10,
        traffic: gantry::config::Traffic::Replicas,
        routing: Vec::new(),
        state,
        rollback: None,
    }
}

/// Issue 18: a rollout's state survives a reopen (a restarted daemon resumes at its step) and
/// a finished rollout is removed.
#[tokio::test]
async fn regression_issue_18_the_local_store_keeps_rollouts_across_reopen() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("state.redb");
    let key = gantry::core::AppEnv::new("web", "prod");
    let store = Arc::new(LocalStore::open(&path).expect("open"));
    assert!(store.load_rollouts().await.expect("empty").is_empty());
    store
        .save_rollout(&key, Some(&canary(1)))
        .await
        .expect("save");
    store
        .save_rollout(&key, Some(&canary(3)))
        .await
        .expect("overwrite");
    drop(store);
    let store = Arc::new(LocalStore::open(&path).expect("reopen"));
    assert_eq!(store.load_rollouts().await.expect("load"), [canary(3)]);
    store.save_rollout(&key, None).await.expect("remove");
    assert!(store.load_rollouts().await.expect("load").is_empty());
}

/// Issue 18: in a cluster a rollout is a `Rollout` resource of group gantry.dev, its state in
/// the status subresource; a finished one is deleted.
#[tokio::test]
async fn regression_issue_18_the_cluster_store_keeps_rollouts_as_rollout_resources() {
    let cluster = crate::fake_cluster::Cluster::default();
    cluster.add_namespace("gantry");
    let crds = cluster.objects("customresourcedefinitions");
    crds.lock().expect("crds").insert(
        (String::new(), "rollouts.gantry.dev".into()),
        json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "rollouts.gantry.dev"}}),
    );
    let store = ClusterStore::new(cluster.client(), "gantry");
    let key = gantry::core::AppEnv::new("web", "prod");
    store
        .save_rollout(&key, Some(&canary(2)))
        .await
        .expect("save");
    let stored = cluster.objects("rollouts");
    let object = stored
        .lock()
        .expect("rollouts")
        .get(&("gantry".to_owned(), "web-prod".to_owned()))
        .cloned()
        .expect("a Rollout resource");
    assert_eq!(object["spec"], json!({"app": "web", "env": "prod"}));
    assert_eq!(object["status"]["step"], 2);
    assert_eq!(object["status"]["weight"], 20);
    assert_eq!(object["status"]["phase"], "Progressing");
    assert_eq!(store.load_rollouts().await.expect("load"), [canary(2)]);
    store.save_rollout(&key, None).await.expect("delete");
    assert!(store.load_rollouts().await.expect("load").is_empty());
}
