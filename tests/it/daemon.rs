//! `gantry daemon` end to end in one process: a real git remote (served by `git daemon` on
//! 127.0.0.1 in the main scenario), the daemon polling it, and the
//! cluster at request level — kube's tower-test mock answering as an API server does (discovery,
//! label-selected LIST, server-side apply PATCH, DELETE) over an in-memory store. Commit →
//! applied with gantry's labels; change → updated; resource removed → pruned; broken YAML →
//! nothing pruned, last good revision stays, the error at `/api` with `file:line:col`; a daemon
//! stopped mid-sync and started again converges to the same state.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use gantry::daemon::{self, Clusters, Options, State};
use gantry::git::Credentials;
use gantry::trigger::WebhookConfig;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::harness::git::{Remote, Work};

/// ConfigMaps by (namespace, name), as etcd would hold them.
type Store = crate::fake_cluster::Store;

pub(crate) fn fake_cluster(store: Store) -> kube::Client {
    crate::fake_cluster::Cluster {
        store,
        ..crate::fake_cluster::Cluster::default()
    }
    .client()
}

pub(crate) const GANTRY_YAML: &str = "apiVersion: gantry.dev/v1alpha1
kind: Config
environments:
  - name: dev
    namespace: shop-dev
apps:
  - name: web
    image: registry.example.com/shop/web
    environments: [dev]
";

fn configmap(name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  value: \"{value}\"\n"
    )
}

pub(crate) fn overlay(work: &Work, names: &[&str]) {
    let resources: Vec<String> = names.iter().map(|n| format!("  - {n}.yaml")).collect();
    work.write(
        "apps/web/overlays/dev/kustomization.yaml",
        &format!("resources:\n{}\n", resources.join("\n")),
    );
}

/// A remote whose first commit deploys ConfigMaps `names` (value "1") for web in dev; returns
/// it, its working clone and the commit.
pub(crate) fn deployed(names: &[&str]) -> (Remote, Work, String) {
    let remote = Remote::new();
    let work = remote.clone_work();
    work.write("gantry.yaml", GANTRY_YAML);
    for n in names {
        work.write(
            &format!("apps/web/overlays/dev/{n}.yaml"),
            &configmap(n, "1"),
        );
    }
    overlay(&work, names);
    let first = work.commit_all("web: first deploy");
    work.push();
    (remote, work, first)
}

pub(crate) struct Running {
    pub(crate) addr: SocketAddr,
    pub(crate) shutdown: CancellationToken,
    abort: CancellationToken,
    pub(crate) task: tokio::task::JoinHandle<()>,
}

pub(crate) async fn start(url: &str, data: &std::path::Path, client: kube::Client) -> Running {
    start_with(url, data, client, None, None).await
}

async fn start_with(
    url: &str,
    data: &std::path::Path,
    client: kube::Client,
    leader: Option<gantry::daemon::Leader>,
    events: Option<gantry::daemon::Events>,
) -> Running {
    start_drifting(url, data, client, (leader, events), Duration::from_hours(1)).await
}

pub(crate) async fn start_drifting(
    url: &str,
    data: &std::path::Path,
    client: kube::Client,
    (leader, events): (
        Option<gantry::daemon::Leader>,
        Option<gantry::daemon::Events>,
    ),
    drift_interval: Duration,
) -> Running {
    let mut options = options_for(url, data, client);
    options.leader = leader;
    options.events = events;
    options.drift_interval = drift_interval;
    spawn(options).await
}

/// The daemon options the tests start from: a local state store, 200 ms polls, no drift pass.
pub(crate) fn options_for(url: &str, data: &std::path::Path, client: kube::Client) -> Options {
    let store =
        gantry::store::local::LocalStore::open(&data.join("state.redb")).expect("state store");
    Options {
        images: gantry::artifact::admission::ImageAccess::default(),
        store: Some(Arc::new(Arc::new(store))),
        leader: None,
        events: None,
        config_repo: url.to_owned(),
        branch: "main".into(),
        credentials: Credentials::Anonymous,
        data_dir: data.to_path_buf(),
        listen: "127.0.0.1:0".parse().expect("addr"),
        poll_interval: Duration::from_millis(200),
        drift_interval: Duration::from_hours(1),
        parallel: 2,
        clusters: Clusters::Fixed(client),
        webhooks: WebhookConfig::default(),
        git_timeout: Duration::from_secs(20),
    }
}

/// Starts a daemon with `options`; returns once it listens.
pub(crate) async fn spawn(options: Options) -> Running {
    let (shutdown, abort) = (CancellationToken::new(), CancellationToken::new());
    let (tx, rx) = tokio::sync::oneshot::channel();
    let tokens = (shutdown.clone(), abort.clone());
    let task = tokio::spawn(async move {
        daemon::run(options, Arc::new(State::default()), tokens, Some(tx))
            .await
            .expect("daemon");
    });
    let addr = rx.await.expect("daemon listening");
    Running {
        addr,
        shutdown,
        abort,
        task,
    }
}

async fn get(addr: SocketAddr, path: &str) -> Value {
    reqwest::get(format!("http://{addr}{path}"))
        .await
        .expect("GET")
        .json()
        .await
        .expect("json")
}

/// The daemon's `/metrics` text.
pub(crate) async fn metrics(addr: SocketAddr) -> String {
    reqwest::get(format!("http://{addr}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text")
}

/// Waits until the daemon's metrics hold `line` (at most 20 s).
pub(crate) async fn counted(addr: SocketAddr, line: &str) {
    let started = std::time::Instant::now();
    loop {
        let text = metrics(addr).await;
        if text.contains(line) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{line} missing in:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls the env's status until `done` holds (10 s at most).
/// Polls the status until `done`, for up to 30 s: under a loaded full-suite run a sync can take
/// several seconds (one failed at the former 10 s).
pub(crate) async fn until(addr: SocketAddr, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..300 {
        let status = get(addr, "/api/v1/apps").await;
        if done(&status) {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "timed out waiting for {what}: {}",
        get(addr, "/api/v1/apps").await
    );
}

pub(crate) fn dev(status: &Value) -> &Value {
    status["apps"]
        .as_array()
        .and_then(|a| a.iter().find(|r| r["env"] == "dev"))
        .unwrap_or(&Value::Null)
}

/// The objects not being deleted: a prune deletes in the foreground, so a pruned object stays
/// marked (`deletionTimestamp`) until the garbage collector removes it, as on a real cluster.
fn names(store: &Store) -> Vec<String> {
    store
        .lock()
        .expect("store")
        .iter()
        .filter(|(_, o)| o["metadata"]["deletionTimestamp"].is_null())
        .map(|((_, n), _)| n.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_change_prune_broken_commit_and_restart_converge() {
    let (remote, work, first) = deployed(&["a", "b"]);
    // The remote served over git:// on 127.0.0.1, the network path forges use minus TLS.
    let served = remote.serve();
    let store: Store = Arc::default();
    let data = tempfile::tempdir().expect("data dir");
    let d = start(&served.url(), data.path(), fake_cluster(Arc::clone(&store))).await;
    until(d.addr, "first sync", |s| {
        dev(s)["revision"] == first.as_str()
    })
    .await;
    assert_eq!(names(&store), ["a", "b"]);
    let a = store.lock().expect("store")[&("shop-dev".into(), "a".into())].clone();
    assert_eq!(
        a["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "gantry"
    );
    assert_eq!(a["metadata"]["labels"]["gantry.dev/app"], "web");
    assert_eq!(a["metadata"]["labels"]["gantry.dev/env"], "dev");
    assert_eq!(
        a["metadata"]["annotations"]["gantry.dev/tracking-id"],
        "web:dev:/ConfigMap:shop-dev/a"
    );
    let ready = reqwest::get(format!("http://{}/readyz", d.addr))
        .await
        .expect("readyz");
    assert_eq!(ready.status(), 200);

    // A change updates the object.
    work.write("apps/web/overlays/dev/a.yaml", &configmap("a", "2"));
    let second = work.commit_all("web: a=2");
    work.push();
    until(d.addr, "change", |s| dev(s)["revision"] == second.as_str()).await;
    assert_eq!(
        store.lock().expect("store")[&("shop-dev".into(), "a".into())]["data"]["value"],
        "2"
    );

    // Removing a resource prunes it.
    overlay(&work, &["a"]);
    let third = work.commit_all("web: drop b");
    work.push();
    let status = until(d.addr, "prune", |s| dev(s)["revision"] == third.as_str()).await;
    assert_eq!(names(&store), ["a"]);
    assert!(
        dev(&status)["objects"]
            .as_array()
            .expect("objects")
            .iter()
            .any(|o| o["action"] == "pruned"),
        "{status}"
    );

    broken_commits_change_nothing(d.addr, &work, &store, &third).await;

    restart_converges(d, &served.url(), data.path(), &store, &work).await;
}

/// Broken YAML in an overlay, then a broken gantry.yaml: the errors are reported with their
/// location; nothing is applied or pruned; the last good revision and config stay in force.
async fn broken_commits_change_nothing(addr: SocketAddr, work: &Work, store: &Store, good: &str) {
    // Broken YAML: the error is reported with its location; nothing is applied or pruned.
    work.write(
        "apps/web/overlays/dev/a.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata: [unclosed\n",
    );
    work.commit_all("web: broken");
    work.push();
    let status = until(addr, "render error", |s| dev(s)["phase"] == "failed").await;
    let error = dev(&status)["error"].as_str().expect("error").to_owned();
    assert!(
        error.contains("apps/web/overlays/dev/a.yaml:"),
        "file:line:col expected: {error}"
    );
    assert_eq!(
        dev(&status)["revision"],
        good,
        "the last good revision stays"
    );
    assert_eq!(names(store), ["a"], "nothing pruned");

    // A broken gantry.yaml: the last good config stays in force, its errors at /api.
    work.write(
        "gantry.yaml",
        &GANTRY_YAML.replace("namespace: shop-dev", "namespace: [shop"),
    );
    let broken = work.commit_all("config: broken");
    work.push();
    let status = until(addr, "config error", |s| {
        s["repo"]["seen"] == broken.as_str()
    })
    .await;
    assert!(
        status["repo"]["errors"][0]
            .as_str()
            .is_some_and(|e| e.starts_with("gantry.yaml:")),
        "{status}"
    );
    assert_ne!(status["repo"]["good"], broken.as_str());
    let metrics = metrics(addr).await;
    assert!(
        metrics.contains(r#"gantry_syncs_total{app="web",env="dev",result="success"} 3"#),
        "{metrics}"
    );
    assert!(metrics.contains("gantry_config_errors 1"), "{metrics}");
    // Issue 17: a failure says why (kube-rs controllers' `Error::metric_label`).
    assert!(
        metrics.contains(
            r#"gantry_syncs_total{app="web",env="dev",result="failure",reason="render"}"#
        ),
        "{metrics}"
    );
}

/// Fixes both, stops the daemon at once — likely mid-sync — and starts a new one on the same
/// data dir: it converges to the same state.
async fn restart_converges(
    d: Running,
    url: &str,
    data: &std::path::Path,
    store: &Store,
    work: &Work,
) {
    // Fix both, then stop the daemon at once — likely mid-sync — and start a new one.
    work.write("gantry.yaml", GANTRY_YAML)
        .write("apps/web/overlays/dev/a.yaml", &configmap("a", "3"))
        .write("apps/web/overlays/dev/c.yaml", &configmap("c", "1"));
    overlay(work, &["a", "c"]);
    let fixed = work.commit_all("web: a=3, add c");
    work.push();
    tokio::time::sleep(Duration::from_millis(250)).await;
    d.shutdown.cancel();
    d.abort.cancel();
    d.task.await.expect("daemon stopped");

    let again = start(url, data, fake_cluster(Arc::clone(store))).await;
    until(again.addr, "restart converges", |s| {
        dev(s)["revision"] == fixed.as_str()
    })
    .await;
    assert_eq!(names(store), ["a", "c"]);
    assert_eq!(
        store.lock().expect("store")[&("shop-dev".into(), "a".into())]["data"]["value"],
        "3"
    );
    again.shutdown.cancel();
    again.task.await.expect("daemon stopped");
    // The sync record outlives the process, in the data dir's redb file.
    let records = {
        use gantry::store::StateStore as _;
        let local = Arc::new(
            gantry::store::local::LocalStore::open(&data.join("state.redb")).expect("reopen"),
        );
        local.load().await.expect("load")
    };
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].spec.app, "web");
    assert_eq!(records[0].status.revision.as_deref(), Some(fixed.as_str()));
    assert_eq!(records[0].status.phase, "synced");
}

/// The harness's real Prometheus scrapes the daemon's `/metrics`; PromQL over gantry's own sync
/// counter returns the number of syncs. `gantry status` prints the matrix from the same daemon.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_sync_metrics_and_status_prints_the_matrix() {
    let (remote, work, _) = deployed(&["a"]);
    let store: Store = Arc::default();
    let data = tempfile::tempdir().expect("data dir");
    let d = start(&remote.url(), data.path(), fake_cluster(Arc::clone(&store))).await;
    until(d.addr, "first sync", |s| dev(s)["phase"] == "synced").await;
    work.write("apps/web/overlays/dev/a.yaml", &configmap("a", "2"));
    let second = work.commit_all("web: a=2");
    work.push();
    until(d.addr, "second sync", |s| {
        dev(s)["revision"] == second.as_str()
    })
    .await;

    let prometheus = crate::harness::prometheus::Prometheus::start(d.addr.port()).await;
    let syncs = prometheus
        .wait_for(
            r#"gantry_syncs_total{app="web",env="dev",result="success"}"#,
            Duration::from_secs(30),
            |v| v >= 2.0,
        )
        .await
        .expect("Prometheus scraped the sync counter");
    assert!((syncs - 2.0).abs() < f64::EPSILON, "two syncs, got {syncs}");
    let health = prometheus
        .query(r#"gantry_app_health{app="web",env="dev"}"#)
        .await;
    assert_eq!(health, Some(0.0), "healthy is 0");

    let server = format!("http://{}", d.addr);
    let out =
        tokio::task::spawn_blocking(move || crate::cli::gantry(&["status", "--server", &server]))
            .await
            .expect("join");
    let text = crate::cli::text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        crate::cli::text(&out.stderr)
    );
    let mut lines = text.lines();
    assert!(
        lines.next().is_some_and(|h| h.starts_with(
            "APP  ENV  DESIRED       APPLIED       HEALTH   PHASE   LAST SYNC             MESSAGE"
        )),
        "{text}"
    );
    let row = lines.next().expect("one row");
    assert!(
        row.starts_with(&format!(
            "web  dev  {}  {}  Healthy  synced",
            &second[..12],
            &second[..12]
        )),
        "{text}"
    );
    assert!(
        lines
            .next()
            .is_some_and(|l| l.starts_with("config repo file://") && l.ends_with(&second[..12])),
        "{text}"
    );
    d.shutdown.cancel();
    d.task.await.expect("daemon stopped");
}

/// A workload from a registry the registry policy does not allow is refused before anything is
/// applied, and the refusal names the object, its file, the container and the policy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_violation_refuses_the_sync_before_anything_applies() {
    let remote = Remote::new();
    let work = remote.clone_work();
    work.write("gantry.yaml", &format!("{GANTRY_YAML}policies: [policies/registries.yaml]\n"))
        .write(
            "policies/registries.yaml",
            "apiVersion: gantry.dev/v1alpha1\nkind: RegistryPolicy\nspec:\n  allowed: [\"registry.example.com/shop/**\"]\n",
        )
        .write("apps/web/overlays/dev/a.yaml", &configmap("a", "1"))
        .write(
            "apps/web/overlays/dev/pod.yaml",
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n    - name: app\n      image: docker.io/library/nginx:1.27\n",
        );
    overlay(&work, &["a", "pod"]);
    work.commit_all("web: an image from elsewhere");
    work.push();
    let store: Store = Arc::default();
    let data = tempfile::tempdir().expect("data dir");
    let d = start(&remote.url(), data.path(), fake_cluster(Arc::clone(&store))).await;
    let status = until(d.addr, "refusal", |s| dev(s)["phase"] == "failed").await;
    let error = dev(&status)["error"].as_str().expect("error");
    assert!(error.starts_with("refused by policy, nothing applied:\nPod shop-dev/web (apps/web/overlays/dev/pod.yaml): allowed registries: container \"app\" image \"docker.io/library/nginx:1.27\""), "{error}");
    assert!(error.ends_with("[policies/registries.yaml]"), "{error}");
    assert!(names(&store).is_empty(), "nothing applied");
    d.shutdown.cancel();
    d.task.await.expect("daemon stopped");
}

fn leader_for(
    cluster: &crate::fake_cluster::Cluster,
    identity: &str,
    duration: u64,
) -> gantry::daemon::Leader {
    gantry::daemon::Leader {
        client: cluster.client(),
        namespace: "gantry".into(),
        lease: "gantry".into(),
        identity: identity.into(),
        duration,
        grace: 1,
        pod: Some(identity.into()),
    }
}

/// The replicas' pods, as the Deployment would have made them.
fn pods(cluster: &crate::fake_cluster::Cluster, names: &[&str]) {
    cluster.add_namespace("gantry");
    for name in names {
        cluster.pods.lock().expect("pods").insert(
            ("gantry".into(), (*name).into()),
            serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "gantry", "labels": {"app.kubernetes.io/name": "gantry"}}}),
        );
    }
}

/// The leader label on a replica's pod.
fn label(cluster: &crate::fake_cluster::Cluster, pod: &str) -> Value {
    cluster.pods.lock().expect("pods")[&("gantry".into(), pod.into())]["metadata"]["labels"]
        ["gantry.dev/leader"]
        .clone()
}

async fn is_leader(addr: SocketAddr) -> bool {
    let metrics = metrics(addr).await;
    metrics.lines().any(|l| l == "gantry_leader 1")
}

/// Replica a (talking to the cluster through `client_a`) leads and syncs; then replica b
/// starts. Returns both and their data dirs.
async fn replicas(
    url: &str,
    cluster: &crate::fake_cluster::Cluster,
    client_a: kube::Client,
) -> (Running, Running, [tempfile::TempDir; 2]) {
    replicas_with(url, cluster, client_a, 2).await
}

async fn replicas_with(
    url: &str,
    cluster: &crate::fake_cluster::Cluster,
    client_a: kube::Client,
    lease_seconds: u64,
) -> (Running, Running, [tempfile::TempDir; 2]) {
    let dirs = [
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    ];
    let a = start_with(
        url,
        dirs[0].path(),
        client_a.clone(),
        Some(gantry::daemon::Leader {
            client: client_a,
            ..leader_for(cluster, "replica-a", lease_seconds)
        }),
        None,
    )
    .await;
    until(a.addr, "a leads and syncs", |s| dev(s)["phase"] == "synced").await;
    let b = start_with(
        url,
        dirs[1].path(),
        cluster.client(),
        Some(leader_for(cluster, "replica-b", lease_seconds)),
        None,
    )
    .await;
    (a, b, dirs)
}

/// The next commit (a=2) is synced by the new leader `b`, which is then stopped.
async fn syncs_next_commit(work: &Work, b: Running, cluster: &crate::fake_cluster::Cluster) {
    work.write("apps/web/overlays/dev/a.yaml", &configmap("a", "2"));
    let second = work.commit_all("web: a=2");
    work.push();
    until(b.addr, "the new leader syncs", |s| {
        dev(s)["revision"] == second.as_str()
    })
    .await;
    assert_eq!(
        cluster.store.lock().expect("store")[&("shop-dev".into(), "a".into())]["data"]["value"],
        "2"
    );
    b.shutdown.cancel();
    b.task.await.expect("b stopped");
}

/// Two replicas share a Lease: one leads and syncs, the other stays ready and writes nothing;
/// when the leader stops, the follower takes over within the lease duration and syncs the next
/// commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_leader_syncs_and_a_follower_takes_over_within_the_lease_duration() {
    let (remote, work, _) = deployed(&["a"]);
    let cluster = crate::fake_cluster::Cluster::default();
    pods(&cluster, &["replica-a", "replica-b"]);
    let (a, b, _dirs) = replicas(&remote.url(), &cluster, cluster.client()).await;
    for _ in 0..50 {
        let ready = reqwest::get(format!("http://{}/readyz", b.addr))
            .await
            .expect("readyz");
        if ready.status() == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ready = reqwest::get(format!("http://{}/readyz", b.addr))
        .await
        .expect("readyz");
    assert_eq!(ready.status(), 200, "the follower is ready");
    assert!(
        is_leader(a.addr).await && !is_leader(b.addr).await,
        "a leads, b follows"
    );
    // The Service selects the leader label: webhooks reach the replica that syncs.
    assert_eq!(
        (label(&cluster, "replica-a"), label(&cluster, "replica-b")),
        (Value::from("true"), Value::from("false"))
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        !is_leader(b.addr).await,
        "b stays a follower while a renews"
    );
    let b_status = get(b.addr, "/api/v1/apps").await;
    assert_eq!(
        b_status["apps"],
        serde_json::json!([]),
        "the follower never synced"
    );
    assert!(
        b_status["repo"]["good"].is_string(),
        "the follower read the config: {b_status}"
    );
    let patches_before = cluster.patches.lock().expect("patches").len();

    a.shutdown.cancel();
    a.task.await.expect("a stopped");
    let stopped = std::time::Instant::now();
    while !is_leader(b.addr).await {
        assert!(
            stopped.elapsed() < Duration::from_secs(3),
            "b did not take over within the 2 s lease (+1 s)"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!("takeover after {:?}", stopped.elapsed());
    assert_eq!(
        (label(&cluster, "replica-a"), label(&cluster, "replica-b")),
        (Value::from("false"), Value::from("true")),
        "a unlabelled itself on the way out; b labelled itself on taking over"
    );
    syncs_next_commit(&work, b, &cluster).await;
    assert!(cluster.patches.lock().expect("patches").len() > patches_before);
}

/// A gracefully stopped leader releases the Lease and waits until the release is sent; the
/// follower, which checks for a release twice a second, takes over at once — not when a long
/// lease expires (the old code dropped the release task and exited first).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_issue_14_a_stopped_leader_hands_over_long_before_its_lease_expires() {
    let (remote, work, _) = deployed(&["a"]);
    let cluster = crate::fake_cluster::Cluster::default();
    pods(&cluster, &["replica-a", "replica-b"]);
    let (a, b, _dirs) = replicas_with(&remote.url(), &cluster, cluster.client(), 30).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(!is_leader(b.addr).await, "b follows while a leads");
    a.shutdown.cancel();
    let stopped = std::time::Instant::now();
    a.task.await.expect("a stopped");
    while !is_leader(b.addr).await {
        assert!(
            stopped.elapsed() < Duration::from_secs(2),
            "b did not take over within 2 s of a's SIGTERM (lease: 30 s)"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!("hand-over after {:?}", stopped.elapsed());
    syncs_next_commit(&work, b, &cluster).await;
}

/// A leader that crashes releases nothing: its requests stop arriving. The follower takes over
/// once the Lease expires (within the lease duration after the last renewal) and syncs the
/// next commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_takes_over_from_a_crashed_leader_when_the_lease_expires() {
    let (remote, work, _) = deployed(&["a"]);
    let cluster = crate::fake_cluster::Cluster::default();
    pods(&cluster, &["replica-a", "replica-b"]);
    let (client_a, crash) = cluster.crashable_client();
    let (a, b, _dirs) = replicas(&remote.url(), &cluster, client_a).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!is_leader(b.addr).await, "b follows while a renews");

    crash.store(true, std::sync::atomic::Ordering::SeqCst);
    a.task.abort();
    let crashed = std::time::Instant::now();
    while !is_leader(b.addr).await {
        // a renewed 1 s before each expiry (grace 1 s), so at the crash its lease had 1–2 s
        // left; then kube-lease-manager waits a random 0.1–1 s before taking an expired lease.
        assert!(
            crashed.elapsed() < Duration::from_secs(4),
            "b did not take over within the 2 s lease (+1 s anti-collision wait, +1 s)"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let took = crashed.elapsed();
    println!("takeover after a crash: {took:?}");
    assert!(
        took >= Duration::from_millis(900),
        "b took over in {took:?}: before the crashed leader's lease could have expired"
    );
    let holder = cluster.leases.lock().expect("leases")[&("gantry".into(), "gantry".into())]
        .0["spec"]["holderIdentity"]
        .clone();
    assert_eq!(holder, "replica-b");
    // The crashed replica could not unlabel itself; its failing readiness probe takes it out
    // of the Service, and its restarted container labels itself a follower before electing.
    assert_eq!(label(&cluster, "replica-b"), "true");
    assert_eq!(label(&cluster, "replica-a"), "true");
    syncs_next_commit(&work, b, &cluster).await;
}

/// The same loop against the real API server of the envtest harness (SKIP without
/// `GANTRY_KUBE_ASSETS`): apply with labels, change, prune, broken YAML prunes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn against_the_envtest_api_server() {
    let Some(env) = crate::harness::envtest::Envtest::start().await else {
        return;
    };
    let cms: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
        kube::Api::namespaced(env.client.clone(), "shop-dev");
    let names = || async {
        let list = cms
            .list(&kube::api::ListParams::default().labels("gantry.dev/app=web,gantry.dev/env=dev"))
            .await
            .expect("list");
        let mut n: Vec<String> = list
            .items
            .into_iter()
            .filter_map(|c| c.metadata.name)
            .collect();
        n.sort();
        n
    };
    let remote = Remote::new();
    let work = remote.clone_work();
    work.write("gantry.yaml", GANTRY_YAML)
        .write(
            "apps/web/overlays/dev/ns.yaml",
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop-dev\n",
        )
        .write("apps/web/overlays/dev/a.yaml", &configmap("a", "1"))
        .write("apps/web/overlays/dev/b.yaml", &configmap("b", "1"));
    overlay(&work, &["ns", "a", "b"]);
    let first = work.commit_all("web: first deploy");
    work.push();
    let data = tempfile::tempdir().expect("data dir");
    let d = start(&remote.url(), data.path(), env.client.clone()).await;
    until(d.addr, "first sync", |s| {
        dev(s)["revision"] == first.as_str()
    })
    .await;
    assert_eq!(names().await, ["a", "b"]);
    let a = cms.get("a").await.expect("a");
    assert_eq!(
        a.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("app.kubernetes.io/managed-by"))
            .map(String::as_str),
        Some("gantry")
    );

    work.write("apps/web/overlays/dev/a.yaml", &configmap("a", "2"));
    overlay(&work, &["ns", "a"]);
    let second = work.commit_all("web: a=2, drop b");
    work.push();
    until(d.addr, "change and prune", |s| {
        dev(s)["revision"] == second.as_str()
    })
    .await;
    // The prune deletes in the foreground: the garbage collector removes b a moment later.
    let pruned = std::time::Instant::now();
    while names().await != ["a"] {
        assert!(
            pruned.elapsed() < Duration::from_secs(30),
            "b not deleted within 30 s: {:?}",
            names().await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        cms.get("a")
            .await
            .expect("a")
            .data
            .and_then(|d| d.get("value").cloned())
            .as_deref(),
        Some("2")
    );

    work.write("apps/web/overlays/dev/a.yaml", "data: [unclosed\n");
    work.commit_all("web: broken");
    work.push();
    until(d.addr, "render error", |s| dev(s)["phase"] == "failed").await;
    assert_eq!(names().await, ["a"], "nothing pruned");
    d.shutdown.cancel();
    d.task.await.expect("daemon stopped");
}

/// A broken gantry.yaml becomes a Warning Event regarding gantry's pod, with the errors located.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_error_is_published_as_a_kubernetes_event() {
    let remote = Remote::new();
    let work = remote.clone_work();
    work.write(
        "gantry.yaml",
        &GANTRY_YAML.replace("namespace: shop-dev", "namespace: [shop"),
    )
    .write("apps/web/overlays/dev/a.yaml", &configmap("a", "1"));
    overlay(&work, &["a"]);
    work.commit_all("config: broken from the start");
    work.push();
    let cluster = crate::fake_cluster::Cluster::default();
    cluster.add_namespace("gantry");
    let client = cluster.client();
    let events = pod_events(&client);
    let data = tempfile::tempdir().expect("data dir");
    let d = start_with(&remote.url(), data.path(), client, None, Some(events)).await;
    let mut published = None;
    for _ in 0..100 {
        published = cluster.events.lock().expect("events").first().cloned();
        if published.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let event = published.expect("an Event was posted");
    assert_eq!(event["reason"], "ConfigInvalid");
    assert_eq!(event["type"], "Warning");
    assert_eq!(event["regarding"]["name"], "gantry-0");
    let note = event["note"].as_str().expect("note");
    assert!(
        note.contains("does not load; nothing stays in force: gantry.yaml:"),
        "{note}"
    );
    d.shutdown.cancel();
    d.task.await.expect("daemon stopped");
}

/// Events published as gantry's pod `gantry-0` would publish them.
fn pod_events(client: &kube::Client) -> gantry::daemon::Events {
    gantry::daemon::Events {
        recorder: kube::runtime::events::Recorder::new(
            client.clone(),
            kube::runtime::events::Reporter {
                controller: "gantry".into(),
                instance: Some("gantry-0".into()),
            },
        ),
        regarding: k8s_openapi::api::core::v1::ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Pod".into()),
            name: Some("gantry-0".into()),
            namespace: Some("gantry".into()),
            ..Default::default()
        },
    }
}

/// Another manager changes a synced object; the next drift pass takes it back, counts it,
/// and publishes a `DriftCorrected` Event regarding it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drift_pass_takes_back_a_changed_object_and_counts_it() {
    let (remote, _work, _) = deployed(&["a", "b"]);
    let cluster = crate::fake_cluster::Cluster::default();
    let data = tempfile::tempdir().expect("data dir");
    let client = cluster.client();
    let d = start_drifting(
        &remote.url(),
        data.path(),
        client.clone(),
        (None, Some(pod_events(&client))),
        Duration::from_millis(700),
    )
    .await;
    until(d.addr, "first sync", |s| dev(s)["phase"] == "synced").await;
    cluster
        .store
        .lock()
        .expect("store")
        .get_mut(&("shop-dev".into(), "a".into()))
        .expect("a")["data"]["value"] = "edited by hand".into();
    let key = ("shop-dev".to_owned(), "a".to_owned());
    for _ in 0..100 {
        if cluster.store.lock().expect("store")[&key]["data"]["value"] == "1" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        cluster.store.lock().expect("store")[&key]["data"]["value"],
        "1",
        "the drift pass restored it"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let metrics = metrics(d.addr).await;
    assert!(
        metrics.contains(r#"gantry_drift_corrections_total{app="web",env="dev"} 1"#),
        "one object corrected, the untouched one and later passes not counted: {metrics}"
    );
    let events = cluster.events.lock().expect("events").clone();
    let drift: Vec<&Value> = events
        .iter()
        .filter(|e| e["reason"] == "DriftCorrected")
        .collect();
    assert_eq!(drift.len(), 1, "{events:?}");
    assert_eq!(drift[0]["regarding"]["kind"], "ConfigMap");
    assert_eq!(drift[0]["regarding"]["name"], "a");
    assert_eq!(drift[0]["regarding"]["namespace"], "shop-dev");
    assert!(
        drift[0]["note"]
            .as_str()
            .is_some_and(|n| n.starts_with("changed outside Git; the drift pass re-applied it")),
        "{}",
        drift[0]
    );
    d.shutdown.cancel();
    d.task.await.expect("daemon stopped");
}

/// Issue 17: a Harbor `PUSH_ARTIFACT` webhook reaches the daemon's loop and is logged and
/// counted (`gantry_images_pushed_total`), not dropped, until image updates act on it.
#[tokio::test]
async fn regression_issue_17_harbor_pushes_are_counted_not_dropped() {
    let (remote, _work, _) = deployed(&["a"]);
    let data = tempfile::TempDir::new().expect("data");
    let mut options = options_for(&remote.url(), data.path(), fake_cluster(Store::default()));
    options.webhooks = crate::webhook::config();
    let d = spawn(options).await;
    let body = crate::webhook::fixture("harbor-push-artifact.json");
    let reply = reqwest::Client::new()
        .post(format!("http://{}/hooks/harbor", d.addr))
        .header("authorization", crate::webhook::HARBOR_AUTH)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("post");
    assert_eq!(reply.status(), 202);
    let want = r#"gantry_images_pushed_total{repository="library/alpine"} 1"#;
    let mut seen = String::new();
    for _ in 0..100 {
        seen = metrics(d.addr).await;
        if seen.contains(want) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(seen.contains(want), "{seen}");
    d.shutdown.cancel();
    d.task.await.expect("daemon stopped");
}

/// Issue 17: a sync the API server fails (500) is retried with backoff — 1 s, then 2 s — and
/// succeeds without any new commit; the retries are counted.
#[tokio::test]
async fn regression_issue_17_a_failed_sync_is_retried_with_backoff_without_a_new_commit() {
    let (remote, _work, first) = deployed(&["a"]);
    let data = tempfile::TempDir::new().expect("data");
    let cluster = crate::fake_cluster::Cluster::default();
    cluster
        .failing_applies
        .store(2, std::sync::atomic::Ordering::SeqCst);
    let d = spawn(options_for(&remote.url(), data.path(), cluster.client())).await;
    let status = until(d.addr, "a retried sync succeeds", |s| {
        dev(s)["phase"] == "synced" && dev(s)["revision"] == first.as_str()
    })
    .await;
    assert_eq!(names(&cluster.store), ["a"], "{status}");
    let m = metrics(d.addr).await;
    assert!(
        m.contains(r#"gantry_sync_retries_total{app="web",env="dev"} 2"#),
        "{m}"
    );
    assert!(
        m.contains(r#"gantry_syncs_total{app="web",env="dev",result="failure",reason="api"} 2"#),
        "{m}"
    );
    d.shutdown.cancel();
    d.task.await.expect("daemon stopped");
}
