//! `manifests/`, gantry deploying itself: it renders with gantry's own renderer, passes every
//! workload rule gantry enforces, runs two replicas with probes on the daemon's routes, grants
//! what leader election and Events need, and its arguments parse with today's CLI.

use std::path::Path;

use clap::Parser as _;
use gantry::artifact::admit::admit;
use gantry::config::policy::{Policy, PolicySpec, WorkloadPolicy};
use gantry::manifest::{DiskFs, Reorder, render};
use serde_json::Value;

fn rendered() -> Vec<Value> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let fs = DiskFs::new(root).expect("repo root");
    render(&fs, Path::new("manifests"), Reorder::Legacy)
        .expect("manifests render")
        .into_iter()
        .map(|r| r.obj)
        .collect()
}

fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

#[test]
fn manifests_render_and_pass_every_workload_rule() {
    let objects = rendered();
    let kinds: Vec<&str> = objects.iter().filter_map(|o| o["kind"].as_str()).collect();
    assert_eq!(
        kinds,
        [
            "Namespace",
            "CustomResourceDefinition",
            "CustomResourceDefinition",
            "ServiceAccount",
            "Role",
            "ClusterRole",
            "RoleBinding",
            "ClusterRoleBinding",
            "Service",
            "Deployment"
        ]
    );
    let strict = Policy {
        file: "strict".into(),
        spec: PolicySpec::Workloads(WorkloadPolicy {
            run_as_non_root: true,
            disallow_privileged: true,
            disallow_privilege_escalation: true,
            disallow_host_namespaces: true,
            require_resources: true,
            disallow_latest_tag: true,
            read_only_root_filesystem: true,
            ..WorkloadPolicy::default()
        }),
    };
    let with_origin: Vec<(Value, String)> = objects
        .iter()
        .map(|o| (o.clone(), "manifests".into()))
        .collect();
    let violations = admit(&with_origin, &[strict], "gantry");
    assert!(violations.is_empty(), "{violations:#?}");

    let d = find(&objects, "Deployment", "gantry");
    assert_eq!(d["metadata"]["namespace"], "gantry");
    assert_eq!(d["spec"]["replicas"], 2);
    let c = &d["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["image"], "ghcr.io/gantry-dev/gantry:0.1.0");
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["securityContext"]["capabilities"]["drop"][0], "ALL");
}

#[test]
fn the_deployment_arguments_parse_with_the_cli() {
    let objects = rendered();
    let c = &find(&objects, "Deployment", "gantry")["spec"]["template"]["spec"]["containers"][0];
    let mut argv = vec!["gantry".to_owned()];
    argv.extend(c["args"].as_array().expect("args").iter().map(|a| {
        a.as_str().expect("string arg").replace(
            "$(GANTRY_CONFIG_REPO)",
            "https://git.example.com/config.git",
        )
    }));
    let cli = gantry::cli::Cli::try_parse_from(&argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
    assert!(
        format!("{:?}", cli.command).contains("leader_elect: true"),
        "{:?}",
        cli.command
    );
}

#[test]
fn rbac_covers_leases_events_and_the_applied_kinds() {
    let objects = rendered();
    let rules = |kind: &str, name: &str| {
        find(&objects, kind, name)["rules"]
            .as_array()
            .expect("rules")
            .clone()
    };
    let grants = |rules: &[Value], group: &str, resource: &str, verb: &str| {
        rules.iter().any(|r| {
            let has = |k: &str, v: &str| r[k].as_array().is_some_and(|a| a.iter().any(|x| x == v));
            has("apiGroups", group) && has("resources", resource) && has("verbs", verb)
        })
    };
    let leader = rules("Role", "gantry-leader-election");
    for verb in ["get", "create", "patch", "update"] {
        assert!(
            grants(&leader, "coordination.k8s.io", "leases", verb),
            "leases {verb}"
        );
    }
    for verb in ["get", "list", "create", "patch"] {
        assert!(
            grants(&leader, "gantry.dev", "appsyncs", verb),
            "appsyncs {verb}"
        );
        assert!(
            grants(&leader, "gantry.dev", "appsyncs/status", verb),
            "appsyncs/status {verb}"
        );
    }
    assert!(
        grants(&leader, "", "pods", "patch"),
        "the leader labels its pod"
    );
    let service = find(&objects, "Service", "gantry");
    assert_eq!(
        service["spec"]["selector"][gantry::daemon::LEADER_LABEL],
        "true",
        "webhooks and /api go to the leader"
    );
    let cluster = rules("ClusterRole", "gantry");
    assert!(grants(&cluster, "events.k8s.io", "events", "create"));
    for (group, resource) in [
        ("", "configmaps"),
        ("apps", "deployments"),
        ("", "services"),
    ] {
        for verb in ["get", "list", "watch", "patch", "delete"] {
            assert!(
                grants(&cluster, group, resource, verb),
                "{group}/{resource} {verb}"
            );
        }
    }
    assert!(
        !cluster.iter().any(|r| r["resources"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x == "*"))),
        "no wildcards"
    );
}

/// gantry reads exactly the Secrets the example config names, by name, and nothing else.
#[test]
fn the_role_reads_only_the_secrets_the_example_config_names() {
    use gantry::config::SecretRef;
    use gantry::config::policy::PolicySpec;
    let config = gantry::config::load(std::path::Path::new("examples/quickstart")).expect("config");
    let mut named: Vec<String> = config
        .registry
        .iter()
        .filter_map(|r| r.credentials.clone())
        .chain(config.policies.iter().flat_map(|p| match &p.spec {
            PolicySpec::Signatures(s) => s.rules.iter().flat_map(|r| r.keys.clone()).collect(),
            _ => Vec::new(),
        }))
        .filter_map(|s| match s {
            SecretRef::Secret(name) => Some(name),
            _ => None,
        })
        .collect();
    named.sort();
    let objects = rendered();
    let role = find(&objects, "Role", "gantry-leader-election");
    let secrets: Vec<&Value> = role["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .filter(|r| {
            r["resources"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x == "secrets"))
        })
        .collect();
    assert_eq!(secrets.len(), 1, "{secrets:?}");
    assert_eq!(secrets[0]["verbs"], serde_json::json!(["get"]));
    let mut granted: Vec<String> = secrets[0]["resourceNames"]
        .as_array()
        .expect("resourceNames")
        .iter()
        .map(|n| n.as_str().expect("name").to_owned())
        .collect();
    granted.sort();
    assert_eq!(granted, named);
}

/// The checked-in CRDs are what the Rust types generate: regenerate with
/// `cargo run -- crds > manifests/crds/gantry.yaml` when this fails.
#[test]
fn checked_in_crds_match_the_rust_types() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests/crds/gantry.yaml");
    let checked_in = std::fs::read_to_string(&path).expect("manifests/crds/gantry.yaml");
    assert!(
        checked_in == gantry::store::crds_yaml(),
        "manifests/crds/gantry.yaml drifted from src/store/mod.rs; run `cargo run -- crds > manifests/crds/gantry.yaml`"
    );
}
