//! Issue 14's command-line scenarios: the real `gantry` binary with a kubeconfig, each from one
//! body against the fake API server over HTTP and (with `GANTRY_KUBE_ASSETS`) a real one.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::fake_cluster::Cluster;
use crate::harness::envtest::Envtest;

/// Runs `body` with a kubeconfig (context `test`) for the fake, then for a real server.
async fn on_both<F, Fut>(body: F)
where
    F: Fn(PathBuf, kube::Client) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().expect("dir");
    let cluster = Cluster::default();
    let url = cluster.serve_http().await;
    let fake = dir.path().join("fake");
    std::fs::write(
        &fake,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: {url}\ncontexts:\n- name: test\n  context: {{cluster: test, user: test}}\ncurrent-context: test\nusers:\n- name: test\n  user: {{token: test}}\n"
        ),
    )
    .expect("kubeconfig");
    body(fake, cluster.client()).await;
    if let Some(env) = Envtest::start().await {
        let real = dir.path().join("real");
        std::fs::write(&real, env.kubeconfig_for("test")).expect("kubeconfig");
        body(real, env.client.clone()).await;
    }
}

async fn gantry(kubeconfig: &Path, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gantry"));
    command
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .env("RUST_LOG", "warn")
        .env_remove("GANTRY_KUBE_ASSETS");
    tokio::task::spawn_blocking(move || command.output().expect("run gantry"))
        .await
        .expect("join")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// An overlay `apps/web/overlays/dev` with one ConfigMap, optionally bringing its own Namespace.
fn overlay(root: &Path, namespace: Option<&str>) -> PathBuf {
    let dir = root.join("apps/web/overlays/dev");
    std::fs::create_dir_all(&dir).expect("overlay dir");
    std::fs::write(
        dir.join("cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-config\ndata:\n  A: \"1\"\n",
    )
    .expect("cm");
    let mut resources = vec!["cm.yaml"];
    if let Some(ns) = namespace {
        std::fs::write(
            dir.join("ns.yaml"),
            format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n"),
        )
        .expect("ns");
        resources.push("ns.yaml");
    }
    std::fs::write(
        dir.join("kustomization.yaml"),
        format!("resources:\n  - {}\n", resources.join("\n  - ")),
    )
    .expect("kustomization");
    dir
}

/// `gantry apply` into an environment namespace that does not exist yet creates it, as the
/// daemon does (it failed with `namespaces "…" not found`); a dry run of a first deploy that
/// brings its own Namespace shows what it would create (it failed on the first object in it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_issue_14_apply_creates_the_namespace_and_dry_runs_a_first_deploy() {
    on_both(|kubeconfig, client| async move {
        let root = tempfile::tempdir().expect("root");
        let dir = overlay(root.path(), Some("issue14-own"));
        let dir = dir.to_str().expect("utf-8");
        let dry = gantry(
            &kubeconfig,
            &[
                "apply",
                dir,
                "--context",
                "test",
                "--namespace",
                "issue14-own",
                "--dry-run",
            ],
        )
        .await;
        assert_eq!(dry.status.code(), Some(0), "{}", text(&dry.stderr));
        let out = text(&dry.stdout);
        assert!(
            out.contains("ConfigMap issue14-own/web-config  created (dry run)"),
            "{out}"
        );
        let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> =
            kube::Api::all(client.clone());
        assert!(
            namespaces
                .get_opt("issue14-own")
                .await
                .expect("get")
                .is_none(),
            "a dry run creates nothing"
        );

        let root = tempfile::tempdir().expect("root");
        let dir = overlay(root.path(), None);
        let dir = dir.to_str().expect("utf-8");
        let applied = gantry(
            &kubeconfig,
            &[
                "apply",
                dir,
                "--context",
                "test",
                "--namespace",
                "issue14-new",
            ],
        )
        .await;
        assert_eq!(applied.status.code(), Some(0), "{}", text(&applied.stderr));
        assert!(
            text(&applied.stdout).contains("ConfigMap issue14-new/web-config  created"),
            "{}",
            text(&applied.stdout)
        );
        assert!(
            namespaces
                .get_opt("issue14-new")
                .await
                .expect("get")
                .is_some()
        );
    })
    .await;
}

/// `gantry daemon --leader-elect` on a fresh cluster said only `namespaces "gantry" not found`
/// (or an `AppSync` 404) and exited; now it names both missing pieces and their fixes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_issue_14_leader_elect_on_a_fresh_cluster_says_what_is_missing() {
    on_both(|kubeconfig, _| async move {
        let data = tempfile::tempdir().expect("data");
        let out = gantry(
            &kubeconfig,
            &[
                "daemon",
                "--config-repo",
                "file:///nonexistent",
                "--context",
                "test",
                "--leader-elect",
                "--namespace",
                "gantry",
                "--data-dir",
                data.path().to_str().expect("utf-8"),
                "--listen",
                "127.0.0.1:0",
            ],
        )
        .await;
        let stderr = text(&out.stderr);
        assert_ne!(out.status.code(), Some(0), "{stderr}");
        for expected in [
            "namespace \"gantry\" does not exist",
            "kubectl create namespace gantry",
            "the AppSync CRD (appsyncs.gantry.dev) is not installed",
            "gantry crds | kubectl apply -f -",
        ] {
            assert!(
                stderr.contains(expected),
                "missing {expected:?} in {stderr}"
            );
        }
    })
    .await;
}
