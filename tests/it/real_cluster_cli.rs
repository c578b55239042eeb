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

/// The daemon on a config repo made from `examples/quickstart`, as README's "Try the daemon"
/// shows it: every environment in reach syncs (the example's placeholder images draw signature
/// warnings, not refusals), and prod waits for its window when outside it. It used to refuse
/// every sync: the example's policy enforced signatures from a Secret nobody had created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_issue_14_the_daemon_syncs_the_quickstart_example_as_documented() {
    on_both(|kubeconfig, _| async move {
        let remote = crate::harness::git::Remote::new();
        let work = remote.clone_work();
        let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart");
        let copied = Command::new("cp")
            .arg("-r")
            .arg(example.join("."))
            .arg(&work.path)
            .status()
            .expect("cp");
        assert!(copied.success());
        work.commit_all("shop: from the quickstart example");
        work.push();
        let data = tempfile::tempdir().expect("data");
        let port = crate::harness::free_port();
        let mut daemon = Command::new(env!("CARGO_BIN_EXE_gantry"))
            .args([
                "daemon",
                "--config-repo",
                &remote.url(),
                "--context",
                "test",
            ])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .arg("--data-dir")
            .arg(data.path())
            .env("KUBECONFIG", &kubeconfig)
            .env("RUST_LOG", "warn")
            .env_remove("GANTRY_KUBE_ASSETS")
            .spawn()
            .expect("gantry daemon");
        let url = format!("http://127.0.0.1:{port}/api/v1/apps");
        let started = std::time::Instant::now();
        let rows = loop {
            assert!(
                started.elapsed() < std::time::Duration::from_mins(1),
                "not synced within 60 s"
            );
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            let Ok(reply) = reqwest::get(&url).await else {
                continue;
            };
            let Ok(body) = reply.json::<serde_json::Value>().await else {
                continue;
            };
            let rows = body["apps"].as_array().cloned().unwrap_or_default();
            if rows.len() == 6
                && rows
                    .iter()
                    .all(|r| r["phase"] != "Unknown" && r["attempts"].as_u64() > Some(0))
            {
                break rows;
            }
        };
        let _ = daemon.kill();
        let _ = daemon.wait();
        for row in &rows {
            let phase = row["phase"].as_str().unwrap_or_default();
            assert_eq!(row["error"], serde_json::Value::Null, "{row}");
            if row["env"] == "prod" && phase == "waiting" {
                continue;
            }
            assert_eq!(phase, "synced", "{row}");
            let note = row["note"].as_str().unwrap_or_default();
            assert!(note.contains("signature"), "warned about signatures: {row}");
        }
    })
    .await;
}

/// `gantry up --context`: the quickstart's second commit (a new digest for web in dev) syncs
/// with no error, and only the changed Deployment is configured.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_issue_14_the_quickstarts_second_commit_syncs_with_no_error() {
    on_both(|kubeconfig, _| async move {
        let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart");
        let out = gantry(
            &kubeconfig,
            &["up", example.to_str().expect("utf-8"), "--context", "test"],
        )
        .await;
        let stdout = text(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", text(&out.stderr));
        assert!(
            stdout.contains("web/dev (synced):\n  unchanged       Service shop-dev/web\n  configured      Deployment.apps shop-dev/web\n"),
            "{stdout}"
        );
        assert!(!stdout.contains("  error: "), "{stdout}");
    })
    .await;
}

/// Installs what `--leader-elect` needs (namespace `gantry`, gantry's CRDs), as README
/// says to, through the API.
async fn prepare_for_leader_election(client: &kube::Client) {
    use kube::api::{Api, DynamicObject, Patch, PatchParams};
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let ns = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "gantry"}});
    namespaces
        .patch("gantry", &PatchParams::apply("test"), &Patch::Apply(&ns))
        .await
        .expect("namespace gantry");
    let ar = kube::core::ApiResource {
        group: "apiextensions.k8s.io".into(),
        version: "v1".into(),
        api_version: "apiextensions.k8s.io/v1".into(),
        kind: "CustomResourceDefinition".into(),
        plural: "customresourcedefinitions".into(),
    };
    let crds: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
    let yaml = gantry::store::crds_yaml();
    let mut applied = false;
    for doc in yaml.split("\n---\n") {
        let crd: serde_json::Value = serde_saphyr::from_str(doc).expect("CRD YAML");
        let name = crd["metadata"]["name"]
            .as_str()
            .expect("CRD name")
            .to_owned();
        // The fake serves AppSyncs without a CRD object; a real server needs it.
        applied |= crds
            .patch(&name, &PatchParams::apply("test"), &Patch::Apply(&crd))
            .await
            .is_ok();
    }
    if applied {
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    }
}

fn start_replica(
    kubeconfig: &Path,
    url: &str,
    port: u16,
    data: &Path,
    name: &str,
) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_gantry"))
        .args([
            "daemon",
            "--config-repo",
            url,
            "--context",
            "test",
            "--leader-elect",
        ])
        .args([
            "--namespace",
            "gantry",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .arg("--data-dir")
        .arg(data)
        .env("KUBECONFIG", kubeconfig)
        .env("HOSTNAME", name)
        .env("POD_NAME", name)
        .env("RUST_LOG", "warn")
        .env_remove("GANTRY_KUBE_ASSETS")
        .spawn()
        .expect("gantry daemon")
}

async fn leads(port: u16) -> bool {
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(1))
        .build()
        .expect("http client");
    match http
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
    {
        Ok(r) => r
            .text()
            .await
            .is_ok_and(|t| t.lines().any(|l| l == "gantry_leader 1")),
        Err(_) => false,
    }
}

/// SIGTERM of the leader process: the follower leads within 2 s, with the default 15 s lease
/// (it used to wait for the lease to expire).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_issue_14_sigterm_of_the_leader_hands_over_within_two_seconds() {
    on_both(|kubeconfig, client| async move {
        prepare_for_leader_election(&client).await;
        let (remote, _work, _) = crate::daemon::deployed(&["a"]);
        let dirs = [
            tempfile::tempdir().expect("a"),
            tempfile::tempdir().expect("b"),
        ];
        let ports = [crate::harness::free_port(), crate::harness::free_port()];
        let mut a = start_replica(
            &kubeconfig,
            &remote.url(),
            ports[0],
            dirs[0].path(),
            "replica-a",
        );
        let started = std::time::Instant::now();
        while !leads(ports[0]).await {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(30),
                "a never led"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let mut b = start_replica(
            &kubeconfig,
            &remote.url(),
            ports[1],
            dirs[1].path(),
            "replica-b",
        );
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        assert!(!leads(ports[1]).await, "b follows while a leads");
        println!("a leads; b follows; SIGTERM to a");
        let term = Command::new("sh")
            .args(["-c", &format!("kill -TERM {}", a.id())])
            .status()
            .expect("kill");
        assert!(term.success());
        let stopped = std::time::Instant::now();
        while !leads(ports[1]).await {
            assert!(
                stopped.elapsed() < std::time::Duration::from_secs(2),
                "b did not lead within 2 s of a's SIGTERM"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        println!("hand-over {:?} after SIGTERM", stopped.elapsed());
        let exited = (0..100).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(100));
            a.try_wait().ok().flatten().is_some()
        });
        if !exited {
            let _ = a.kill();
        }
        let _ = a.wait();
        assert!(exited, "a did not exit within 10 s of SIGTERM");
        let _ = b.kill();
        let _ = b.wait();
    })
    .await;
}
