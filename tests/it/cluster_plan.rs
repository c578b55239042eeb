//! The sync planner with plain data: apply order and waves, labels, prune set, both prune
//! guards, and the errors that stop a sync before anything is applied.

use std::collections::BTreeMap;

use gantry::cluster::{
    ClusterError, LiveObject, ObjectId, Plan, Scopes, SyncContext, plan, tracking_id,
};
use serde_json::{Value, json};

fn obj(api_version: &str, kind: &str, name: &str) -> Value {
    json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": name}})
}

fn with_wave(mut o: Value, wave: &str) -> Value {
    o["metadata"]["annotations"] = json!({"gantry.dev/sync-wave": wave});
    o
}

fn ctx() -> SyncContext {
    SyncContext::new("web", "dev", "shop-dev", "0123abcd")
}

fn run(objects: Vec<Value>, live: &[LiveObject], ctx: &SyncContext) -> Result<Plan, ClusterError> {
    let rendered = objects
        .into_iter()
        .enumerate()
        .map(|(i, o)| (o, format!("doc{i}")))
        .collect();
    plan(rendered, live, &Scopes::builtin(), ctx)
}

fn names(p: &Plan) -> Vec<Vec<String>> {
    p.batches
        .iter()
        .map(|b| {
            b.objects
                .iter()
                .map(|(id, _)| format!("{}/{}", id.kind, id.name))
                .collect()
        })
        .collect()
}

fn id(group: &str, kind: &str, ns: Option<&str>, name: &str) -> ObjectId {
    ObjectId {
        group: group.into(),
        kind: kind.into(),
        namespace: ns.map(Into::into),
        name: name.into(),
    }
}

fn ours(id: ObjectId) -> LiveObject {
    LiveObject {
        tracking_id: Some(tracking_id("web", "dev", &id)),
        controlled: false,
        id,
        labels: BTreeMap::from([
            (
                "app.kubernetes.io/managed-by".to_string(),
                "gantry".to_string(),
            ),
            ("gantry.dev/app".to_string(), "web".to_string()),
            ("gantry.dev/env".to_string(), "dev".to_string()),
        ]),
    }
}

fn crd() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced", "names": {"kind": "Widget", "plural": "widgets"}}
    })
}

#[test]
fn namespaces_then_crds_then_waves_with_cluster_scoped_first_and_kind_order() {
    let p = run(
        vec![
            obj("apps/v1", "Deployment", "web"),
            obj("example.com/v1", "Widget", "w1"),
            obj("v1", "Service", "web"),
            with_wave(obj("batch/v1", "Job", "migrate"), "-1"),
            obj("v1", "ConfigMap", "web-config"),
            crd(),
            obj("rbac.authorization.k8s.io/v1", "ClusterRole", "web-reader"),
            with_wave(obj("v1", "ConfigMap", "smoke-test"), "5"),
            obj("v1", "ServiceAccount", "web"),
            obj("v1", "Namespace", "shop-dev"),
        ],
        &[],
        &ctx(),
    )
    .expect("plan");
    assert_eq!(
        names(&p),
        vec![
            vec!["Namespace/shop-dev"],
            vec!["CustomResourceDefinition/widgets.example.com"],
            vec!["Job/migrate"],
            vec![
                "ClusterRole/web-reader",
                "ServiceAccount/web",
                "ConfigMap/web-config",
                "Service/web",
                "Deployment/web",
                "Widget/w1"
            ],
            vec!["ConfigMap/smoke-test"],
        ]
    );
    assert!(p.batches[1].crds && !p.batches[0].crds && !p.batches[3].crds);
    assert_eq!(
        p.batches.iter().map(|b| b.wave).collect::<Vec<_>>(),
        [0, 0, -1, 0, 5]
    );
    assert!(p.prune.is_empty());
}

#[test]
fn every_object_carries_the_labels_the_tracking_id_and_its_namespace() {
    let mut svc = obj("v1", "Service", "web");
    svc["metadata"]["labels"] = json!({"app": "web"});
    svc["metadata"]["namespace"] = json!("other");
    let p = run(
        vec![
            svc,
            obj("v1", "ConfigMap", "c"),
            obj("v1", "Namespace", "shop-dev"),
        ],
        &[],
        &ctx(),
    )
    .expect("plan");
    let by_name: BTreeMap<String, &Value> =
        p.objects().map(|(id, o)| (id.to_string(), o)).collect();
    let service = by_name["Service other/web"];
    assert_eq!(
        service["metadata"]["labels"],
        json!({"app": "web", "app.kubernetes.io/managed-by": "gantry", "gantry.dev/app": "web", "gantry.dev/env": "dev"})
    );
    // The tracking id names the object itself; no per-commit value (it would rewrite every
    // unchanged object on every commit).
    assert_eq!(
        service["metadata"]["annotations"],
        json!({"gantry.dev/tracking-id": "web:dev:/Service:other/web"})
    );
    assert_eq!(
        by_name["ConfigMap shop-dev/c"]["metadata"]["namespace"],
        "shop-dev"
    );
    assert!(
        by_name["Namespace shop-dev"]["metadata"]
            .get("namespace")
            .is_none()
    );
}

#[test]
fn prune_takes_only_our_stale_objects_dependents_first() {
    let live = vec![
        ours(id("", "ConfigMap", Some("shop-dev"), "web-config")),
        ours(id("apps", "Deployment", Some("shop-dev"), "old-worker")),
        ours(id("", "Namespace", None, "shop-old")),
        ours(id("", "Service", Some("shop-dev"), "old-worker")),
        ours(id("", "Service", Some("shop-dev"), "web")),
        ours(id("apps", "Deployment", Some("shop-dev"), "web")),
        ours(id("", "ServiceAccount", Some("shop-dev"), "web")),
        ours(id("", "Secret", Some("shop-dev"), "web")),
        // Another app's object and an unlabelled one: never ours to delete.
        LiveObject {
            labels: BTreeMap::from([("gantry.dev/app".into(), "api".into())]),
            ..ours(id("", "Service", Some("shop-dev"), "api"))
        },
        LiveObject {
            labels: BTreeMap::new(),
            ..ours(id("", "Service", Some("shop-dev"), "manual"))
        },
    ];
    let rendered = vec![
        obj("v1", "ConfigMap", "web-config"),
        obj("v1", "Service", "web"),
        obj("apps/v1", "Deployment", "web"),
        obj("v1", "ServiceAccount", "web"),
        obj("v1", "Secret", "web"),
    ];
    let p = run(rendered.clone(), &live, &ctx()).expect("plan");
    assert_eq!(
        p.prune.iter().map(ToString::to_string).collect::<Vec<_>>(),
        [
            "Deployment.apps shop-dev/old-worker",
            "Service shop-dev/old-worker",
            "Namespace shop-old"
        ]
    );
    let no_prune = SyncContext {
        prune: false,
        ..ctx()
    };
    assert!(
        run(rendered, &live, &no_prune)
            .expect("plan")
            .prune
            .is_empty()
    );
}

#[test]
fn an_empty_render_never_prunes() {
    let live = vec![
        ours(id("", "Service", Some("shop-dev"), "web")),
        ours(id("apps", "Deployment", Some("shop-dev"), "web")),
    ];
    let err = run(vec![], &live, &ctx()).expect_err("guard");
    assert_eq!(
        err,
        ClusterError::EmptyRender {
            app: "web".into(),
            env: "dev".into(),
            live: 2
        }
    );
    assert_eq!(
        err.to_string(),
        "refusing to prune: the render of web/dev is empty but 2 object(s) are live; an empty render never deletes everything"
    );
    // Even the large-prune override does not make an empty render delete everything.
    let forced = SyncContext {
        allow_large_prune: true,
        max_prune_percent: 100,
        ..ctx()
    };
    assert!(matches!(
        run(vec![], &live, &forced),
        Err(ClusterError::EmptyRender { .. })
    ));
    // Nothing live, nothing rendered: nothing to do.
    assert_eq!(run(vec![], &[], &ctx()).expect("plan").batches.len(), 0);
}

#[test]
fn pruning_more_than_the_share_needs_the_override() {
    let live: Vec<LiveObject> = ["a", "b", "c", "d"]
        .iter()
        .map(|n| ours(id("", "ConfigMap", Some("shop-dev"), n)))
        .collect();
    let keep_one = vec![obj("v1", "ConfigMap", "a")];
    let err = run(keep_one.clone(), &live, &ctx()).expect_err("75% > 50%");
    assert_eq!(
        err.to_string(),
        "refusing to prune 3 of 4 objects (75%) of web/dev: more than maxPrunePercent 50%; re-run with the prune override if this is intended"
    );
    let keep_two = vec![obj("v1", "ConfigMap", "a"), obj("v1", "ConfigMap", "b")];
    assert_eq!(
        run(keep_two, &live, &ctx())
            .expect("50% is allowed")
            .prune
            .len(),
        2
    );
    let overridden = SyncContext {
        allow_large_prune: true,
        ..ctx()
    };
    assert_eq!(
        run(keep_one.clone(), &live, &overridden)
            .expect("override")
            .prune
            .len(),
        3
    );
    let strict = SyncContext {
        max_prune_percent: 10,
        ..ctx()
    };
    assert!(matches!(
        run(
            vec![
                obj("v1", "ConfigMap", "a"),
                obj("v1", "ConfigMap", "b"),
                obj("v1", "ConfigMap", "c")
            ],
            &live,
            &strict
        ),
        Err(ClusterError::PruneTooLarge {
            percent: 25,
            max: 10,
            ..
        })
    ));
}

#[test]
fn bad_input_stops_the_plan_with_the_object_named() {
    let err = run(
        vec![with_wave(obj("v1", "ConfigMap", "c"), "early")],
        &[],
        &ctx(),
    )
    .expect_err("bad wave");
    assert_eq!(
        err.to_string(),
        "ConfigMap shop-dev/c: annotation gantry.dev/sync-wave must be an integer, got \"early\""
    );
    let err = run(
        vec![obj("v1", "ConfigMap", "c"), obj("v1", "ConfigMap", "c")],
        &[],
        &ctx(),
    )
    .expect_err("dup");
    assert_eq!(
        err.to_string(),
        "ConfigMap shop-dev/c is rendered twice (from doc0 and doc1)"
    );
    let err =
        run(vec![obj("example.com/v1", "Widget", "w")], &[], &ctx()).expect_err("unknown kind");
    assert!(
        err.to_string().starts_with(
            "Widget w: the cluster does not serve kind Widget of group \"example.com\""
        ),
        "{err}"
    );
    let err = run(
        vec![json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}})],
        &[],
        &ctx(),
    )
    .expect_err("no name");
    assert_eq!(err.to_string(), "doc0: object has no metadata.name");
}
