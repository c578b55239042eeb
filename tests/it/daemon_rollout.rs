//! Issue 18 end to end in one process: a real git remote, the daemon, the request-level API
//! server, and a real Prometheus (the harness's) scraping an exporter the test controls.
//! A new digest on a running Deployment with a rollout strategy becomes a canary: the canary
//! Deployment follows the weights while the stable one gives up the same replicas, a healthy
//! canary is promoted (the stable runs the new digest, the canary is gone); a canary whose
//! errors jump to 20 % is aborted, the rollback is committed to the remote with the
//! measurements, and the rejected digest is refused by `gantry deploy` and by an image update
//! (Harbor pushing it again under a new tag).

use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

use crate::cli::{gantry, text};
use crate::daemon::{dev, options_for, spawn, until};
use crate::fake_cluster::Cluster;
use crate::harness::canary::{HARBOR_AUTH, REPO, config, digest, harbor_push, object};
use crate::harness::git::Remote;
use crate::harness::prometheus::{Exporter, Prometheus};

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 10
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: harbor.example.com/shop/web:1.0
";

fn image_and_replicas(d: &Value) -> (String, u64) {
    (
        d["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        d["spec"]["replicas"].as_u64().unwrap_or_default(),
    )
}

/// Watches the two Deployments until `done`, at most 90 s; returns every (stable, canary)
/// replica pair seen.
async fn watch(cluster: &Cluster, what: &str, done: impl Fn(&Cluster) -> bool) -> Vec<(u64, u64)> {
    let started = Instant::now();
    let mut seen: Vec<(u64, u64)> = Vec::new();
    while !done(cluster) {
        let stable = object(cluster, "deployments", "web").map_or(0, |d| image_and_replicas(&d).1);
        let canary =
            object(cluster, "deployments", "web-canary").map_or(0, |d| image_and_replicas(&d).1);
        if seen.last() != Some(&(stable, canary)) {
            seen.push((stable, canary));
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "{what}: not within 90 s; seen {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    seen
}

async fn cli_deploy(url: &str, data: &TempDir, d: &str, extra: &[&str]) -> (bool, String) {
    let mut args: Vec<String> = ["deploy", "web", "--env", "dev", "--image"]
        .iter()
        .map(ToString::to_string)
        .collect();
    args.push(format!("{REPO}@{d}"));
    args.extend([
        "--repo".into(),
        url.to_owned(),
        "--data-dir".into(),
        data.path().display().to_string(),
    ]);
    args.extend(extra.iter().map(ToString::to_string));
    tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = gantry(&refs);
        (
            out.status.success(),
            format!("{}{}", text(&out.stdout), text(&out.stderr)),
        )
    })
    .await
    .expect("join")
}

async fn rollout_cli(args: &[&str]) -> (bool, String) {
    let mut all = vec!["rollout".to_owned()];
    all.extend(args.iter().map(ToString::to_string));
    tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        let out = gantry(&refs);
        (
            out.status.success(),
            format!("{}{}", text(&out.stdout), text(&out.stderr)),
        )
    })
    .await
    .expect("join")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn regression_issue_18_a_canary_is_promoted_or_rolled_back_in_git() {
    let _one = crate::harness::prometheus::one_at_a_time().await;
    let exporter = Exporter::start().await;
    exporter.set_error_ratio(0.001);
    let prometheus = Prometheus::start(exporter.port).await;
    prometheus
        .wait_for(
            "sum(rate(http_requests_total[3s]))",
            Duration::from_secs(30),
            |v| v > 50.0,
        )
        .await
        .expect("Prometheus has the exporter's rate");

    let remote = Remote::new();
    let work = remote.clone_work();
    work.write(
        "gantry.yaml",
        &config(
            &prometheus.url(),
            "      steps:\n        - setWeight: 20\n        - analysis: {templates: [{templateName: errors}]}\n        - setWeight: 50\n        - pause: {duration: 1s}",
            "        interval: 1s\n        count: 3\n        failureLimit: 1",
        ),
    );
    work.write("apps/web/overlays/dev/deployment.yaml", DEPLOYMENT);
    work.write(
        "apps/web/overlays/dev/kustomization.yaml",
        &format!(
            "resources:\n  - deployment.yaml\nimages:\n  - name: {REPO}\n    digest: {}\n",
            digest('a')
        ),
    );
    work.commit_all("web: first deploy");
    work.push();

    let cluster = Cluster::default();
    cluster.add_namespace("shop-dev");
    let data = TempDir::new().expect("data");
    let mut options = options_for(&remote.url(), data.path(), cluster.client());
    options.webhooks.harbor = Some(gantry::git::Secret::new(HARBOR_AUTH));
    let daemon = spawn(options).await;
    watch(&cluster, "first deploy", |c| {
        object(c, "deployments", "web").is_some()
    })
    .await;
    let first = image_and_replicas(&object(&cluster, "deployments", "web").expect("web"));
    assert_eq!(
        first,
        (format!("{REPO}@{}", digest('a')), 10),
        "a first deploy needs no canary"
    );

    // A healthy canary.
    let cli = TempDir::new().expect("cli data");
    let (ok, out) = cli_deploy(&remote.url(), &cli, &digest('b'), &[]).await;
    assert!(ok, "{out}");
    let promoted = |c: &Cluster| {
        object(c, "deployments", "web")
            .is_some_and(|d| image_and_replicas(&d) == (format!("{REPO}@{}", digest('b')), 10))
            && object(c, "deployments", "web-canary").is_none()
    };
    let seen = watch(&cluster, "promotion", promoted).await;
    assert!(
        seen.contains(&(8, 2)),
        "20 %: stable 8, canary 2; seen {seen:?}"
    );
    assert!(
        seen.contains(&(5, 5)),
        "50 %: stable 5, canary 5; seen {seen:?}"
    );

    // A bad canary: errors jump to 20 % once it runs.
    let (ok, out) = cli_deploy(&remote.url(), &cli, &digest('c'), &[]).await;
    assert!(ok, "{out}");
    watch(&cluster, "canary of c", |c| {
        object(c, "deployments", "web-canary").is_some()
    })
    .await;
    exporter.set_error_ratio(0.2);
    let rolled_back = |c: &Cluster| {
        object(c, "deployments", "web-canary").is_none()
            && object(c, "deployments", "web")
                .is_some_and(|d| image_and_replicas(&d) == (format!("{REPO}@{}", digest('b')), 10))
    };
    watch(&cluster, "rollback", rolled_back).await;
    // The rollback is in Git: the remote's last commit puts b back and rejects c.
    let started = Instant::now();
    let log = loop {
        crate::harness::git::git(&work.path, &["pull", "--quiet", "origin", "main"]);
        let log = work.log();
        if log[0].body.contains("Gantry-Action: rollback") {
            break log;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no rollback commit: {:?}",
            log[0]
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let body = &log[0].body;
    assert!(
        body.contains(&format!("Gantry-Image: {REPO}@{}", digest('b'))),
        "{body}"
    );
    assert!(
        body.contains(&format!("Gantry-Rejected: {REPO}@{}", digest('c'))),
        "{body}"
    );
    assert!(body.contains("Gantry-Evidence: success-rate=[["), "{body}");
    assert!(body.contains("failed(2)>failureLimit(1)"), "{body}");
    // The daemon syncs its own rollback commit: no poll reports a commit its mirror pushed.
    until(daemon.addr, "the rollback commit synced", |s| {
        dev(s)["revision"] == log[0].sha.as_str()
    })
    .await;

    let metrics = crate::daemon::metrics(daemon.addr).await;
    for line in [
        r#"gantry_rollouts_total{app="web",env="dev",result="promoted"} 1"#,
        r#"gantry_rollouts_total{app="web",env="dev",result="aborted"} 1"#,
    ] {
        assert!(metrics.contains(line), "{line} missing in:\n{metrics}");
    }
    let (ok, out) = cli_deploy(&remote.url(), &cli, &digest('c'), &[]).await;
    assert!(
        !ok && out.contains("was rejected in dev by rollback"),
        "{out}"
    );
    image_update_refused(&daemon, &work, &log[0].sha).await;

    // `gantry rollout status` shows the aborted canary and its measurements; `retry` deploys
    // the rejected digest again (forced) and, now healthy, it is promoted.
    let server = format!("http://{}", daemon.addr);
    let status = rollout_cli(&["status", "web", "--env", "dev", "--server", &server]).await;
    assert!(status.0, "{}", status.1);
    assert!(status.1.contains("web in dev: Aborted"), "{}", status.1);
    assert!(status.1.contains("success-rate: Failed"), "{}", status.1);
    assert!(
        status.1.contains("success if result[0] >= 0.99"),
        "{}",
        status.1
    );
    exporter.set_error_ratio(0.001);
    prometheus
        .wait_for(
            r#"sum(rate(http_requests_total{status!="500"}[10s])) / sum(rate(http_requests_total[10s]))"#,
            Duration::from_mins(1),
            |v| v >= 0.995,
        )
        .await
        .expect("the service recovered");
    let retried = rollout_cli(&["retry", "web", "--env", "dev", "--server", &server]).await;
    assert!(retried.0, "{}", retried.1);
    let promoted_c = |c: &Cluster| {
        object(c, "deployments", "web")
            .is_some_and(|d| image_and_replicas(&d) == (format!("{REPO}@{}", digest('c')), 10))
            && object(c, "deployments", "web-canary").is_none()
    };
    watch(&cluster, "retry promoted", promoted_c).await;
    crate::harness::git::git(&work.path, &["pull", "--quiet", "origin", "main"]);
    let retry_commit = work
        .log()
        .into_iter()
        .find(|e| e.body.contains("Gantry-Forced: rejected by rollback"))
        .expect("the retry's forced deploy");
    until(daemon.addr, "the retry commit synced", |s| {
        dev(s)["revision"] == retry_commit.sha.as_str()
    })
    .await;
    assert!(
        retry_commit
            .body
            .contains(&format!("Gantry-Image: {REPO}@{}", digest('c')))
    );
    let unknown = rollout_cli(&["promote", "api", "--env", "dev", "--server", &server]).await;
    assert!(
        !unknown.0 && unknown.1.contains("no rollout of api in dev"),
        "{}",
        unknown.1
    );

    daemon.shutdown.cancel();
    daemon.task.await.expect("daemon stopped");
}

/// Harbor reports the rejected digest pushed again under a new tag: the image update is
/// refused (counted, logged with the rollback), and nothing is committed.
async fn image_update_refused(
    daemon: &crate::daemon::Running,
    work: &crate::harness::git::Work,
    rollback: &str,
) {
    let reply = reqwest::Client::new()
        .post(format!("http://{}/hooks/harbor", daemon.addr))
        .header("authorization", HARBOR_AUTH)
        .header("content-type", "application/json")
        .body(harbor_push("v3", &digest('c')))
        .send()
        .await
        .expect("webhook");
    assert_eq!(reply.status(), 202);
    crate::daemon::counted(
        daemon.addr,
        r#"gantry_image_updates_total{app="web",env="dev",result="refused"} 1"#,
    )
    .await;
    crate::harness::git::git(&work.path, &["pull", "--quiet", "origin", "main"]);
    assert_eq!(
        work.log()[0].sha,
        rollback,
        "the refused image update committed nothing"
    );
}
