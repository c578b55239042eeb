//! Issue 18: the real `gantry daemon` killed with SIGKILL while its canary waits in a pause and
//! again during an analysis; each restart resumes from the stored state — the same step, the
//! measurements taken before the kill kept and the next one not taken early — and the canary
//! is promoted with no commit of gantry's own (no rollback, nothing twice).

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::fake_cluster::Cluster;
use crate::harness::canary::{REPO, config, digest, object};
use crate::harness::git::Remote;
use crate::harness::prometheus::{Exporter, Prometheus};

fn start(remote: &str, data: &Path, kubeconfig: &Path, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_gantry"))
        .args(["daemon", "--config-repo", remote, "--context", "test"])
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--poll-interval",
            "200ms",
        ])
        .arg("--data-dir")
        .arg(data)
        .env("KUBECONFIG", kubeconfig)
        .env("RUST_LOG", "warn")
        .env_remove("GANTRY_KUBE_ASSETS")
        .spawn()
        .expect("gantry daemon")
}

fn kill(mut child: Child) {
    let _ = child.kill(); // SIGKILL
    let _ = child.wait();
}

/// The rollout of web in dev as the daemon at `port` shows it, once `ok` holds (60 s at most).
async fn rollout(port: u16, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let url = format!("http://127.0.0.1:{port}/api/v1/rollouts/web/dev");
    let started = Instant::now();
    let mut last = Value::Null;
    while started.elapsed() < Duration::from_mins(1) {
        if let Ok(reply) = reqwest::get(&url).await
            && let Ok(body) = reply.json::<Value>().await
        {
            if ok(&body) {
                return body;
            }
            last = body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what}: not within 60 s; last {last}");
}

fn measurements(r: &Value) -> Vec<u64> {
    r["analysis"][0]["metrics"][0]["measurements"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["finished_at"].as_u64())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn regression_issue_18_a_killed_daemon_resumes_its_canary_where_it_was() {
    let _one = crate::harness::prometheus::one_at_a_time().await;
    let exporter = Exporter::start().await;
    exporter.set_error_ratio(0.001);
    let prometheus = Prometheus::start(exporter.port).await;
    let cluster = Cluster::default();
    cluster.add_namespace("shop-dev");
    let dir = tempfile::tempdir().expect("dir");
    let kubeconfig = dir.path().join("kubeconfig");
    let server = cluster.serve_http().await;
    std::fs::write(
        &kubeconfig,
        format!("apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: {server}\ncontexts:\n- name: test\n  context: {{cluster: test, user: test}}\ncurrent-context: test\nusers:\n- name: test\n  user: {{token: test}}\n"),
    )
    .expect("kubeconfig");

    let remote = Remote::new();
    let work = remote.clone_work();
    work.write(
        "gantry.yaml",
        &config(
            &prometheus.url(),
            "      steps:\n        - setWeight: 20\n        - pause: {}\n        - analysis: {templates: [{templateName: errors}]}\n        - setWeight: 50",
            "        interval: 2s\n        count: 6",
        ),
    );
    work.write(
        "apps/web/overlays/dev/deployment.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 10\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: web, image: 'harbor.example.com/shop/web:1'}]}\n",
    );
    let kustomization = |d: char| {
        format!(
            "resources: [deployment.yaml]\nimages:\n  - name: {REPO}\n    digest: {}\n",
            digest(d)
        )
    };
    work.write(
        "apps/web/overlays/dev/kustomization.yaml",
        &kustomization('a'),
    );
    work.commit_all("web: a");
    work.push();

    let data = dir.path().join("data");
    let port = crate::harness::free_port();
    let a = start(&remote.url(), &data, &kubeconfig, port);
    let started = Instant::now();
    while object(&cluster, "deployments", "web").is_none() {
        assert!(
            started.elapsed() < Duration::from_mins(1),
            "first deploy not synced"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    work.write(
        "apps/web/overlays/dev/kustomization.yaml",
        &kustomization('b'),
    );
    work.commit_all("web: b");
    work.push();
    let paused = rollout(port, "canary paused at step 2", |r| r["step"] == 2).await;
    assert_eq!(paused["canaryReplicas"], 2);

    // Killed in the pause; the restart shows the same step, the canary untouched.
    kill(a);
    let b = start(&remote.url(), &data, &kubeconfig, port);
    let resumed = rollout(port, "restored", |r| r["step"] == 2).await;
    assert_eq!(resumed["phase"], "Progressing");
    assert_eq!(
        object(&cluster, "deployments", "web-canary").and_then(|d| d["spec"]["replicas"].as_u64()),
        Some(2)
    );

    // Promoted past the pause; killed during the analysis, after two measurements.
    let promote = Command::new(env!("CARGO_BIN_EXE_gantry"))
        .args([
            "rollout",
            "promote",
            "web",
            "--env",
            "dev",
            "--server",
            &format!("http://127.0.0.1:{port}"),
        ])
        .output()
        .expect("gantry rollout promote");
    assert!(
        promote.status.success(),
        "{}",
        String::from_utf8_lossy(&promote.stderr)
    );
    let before = rollout(port, "two measurements", |r| measurements(r).len() >= 2).await;
    let taken = measurements(&before);
    kill(b);
    let c = start(&remote.url(), &data, &kubeconfig, port);
    let after = rollout(port, "a measurement after the restart", |r| {
        measurements(r).len() > taken.len()
    })
    .await;
    let all = measurements(&after);
    assert_eq!(
        &all[..taken.len()],
        taken.as_slice(),
        "the measurements before the kill are kept"
    );
    let (last_before, first_after) = (taken[taken.len() - 1], all[taken.len()]);
    assert!(
        first_after >= last_before + 2_000,
        "the next measurement waits out the interval after a restart: {last_before} → {first_after}"
    );
    assert_eq!(after["step"], 3, "still the analysis step");

    let promoted = Instant::now();
    loop {
        let stable = object(&cluster, "deployments", "web")
            .map(|d| d["spec"]["template"]["spec"]["containers"][0]["image"].clone());
        if stable == Some(Value::from(format!("{REPO}@{}", digest('b'))))
            && object(&cluster, "deployments", "web-canary").is_none()
        {
            break;
        }
        assert!(promoted.elapsed() < Duration::from_mins(1), "not promoted");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    kill(c);
    let log = remote.log("main");
    assert_eq!(
        log.len(),
        2,
        "the two commits of the test, nothing of gantry's: {log:?}"
    );
}
