//! Daemon benchmarks (`cargo bench --bench daemon`). Prints the figures the README records:
//! - webhook → first apply request: a signed GitHub push webhook for a new commit of a real git
//!   remote, until the (request-level, in-process) API server sees the first PATCH; target p50
//!   ≤ 1 s;
//! - idle RSS with 100 apps × 3 environments (10 ConfigMaps each) synced and watched; target
//!   ≤ 50 MiB;
//! - CPU of a steady-state drift pass over those 3,000 objects, as a share of one core averaged
//!   over the default 5-minute drift interval; target ≤ 5%.
//!
//! The API server stand-in runs in this process, so RSS and CPU include it: upper bounds for
//! gantry's own. Needs `git` on PATH.

mod common;
#[path = "../tests/support/fake_cluster/mod.rs"]
#[allow(
    dead_code,
    reason = "shared with the tests; the bench needs only the plain cluster"
)]
mod fake_cluster;
use common::git;

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gantry::daemon::{self, Clusters, Options, State};
use gantry::git::{Credentials, Secret};
use gantry::trigger::WebhookConfig;
use hmac::{Hmac, Mac as _};
use tokio_util::sync::CancellationToken;

const SECRET: &str = "bench-webhook-secret";

/// A config repo with `apps` apps in dev, staging and prod, `objects` ConfigMaps each; returns
/// (temp dir, remote URL, working clone).
fn config_repo(apps: usize, objects: usize) -> (tempfile::TempDir, String, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let remote = dir.path().join("config.git");
    std::fs::create_dir_all(&remote).expect("mkdir");
    git(
        &remote,
        &["init", "--bare", "--quiet", "--initial-branch=main"],
    );
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).expect("mkdir");
    git(&work, &["init", "--quiet", "--initial-branch=main"]);
    let envs = ["dev", "staging", "prod"];
    let mut yaml = String::from("apiVersion: gantry.dev/v1alpha1\nkind: Config\nenvironments:\n");
    for e in envs {
        let _ = writeln!(yaml, "  - name: {e}");
    }
    yaml.push_str("apps:\n");
    for a in 0..apps {
        let _ = write!(
            yaml,
            "  - name: app-{a:03}\n    image: registry.example.com/shop/app-{a:03}\n    environments: [dev, staging, prod]\n"
        );
        for e in envs {
            let overlay = work.join(format!("apps/app-{a:03}/overlays/{e}"));
            std::fs::create_dir_all(&overlay).expect("mkdir overlay");
            std::fs::write(
                overlay.join("kustomization.yaml"),
                "resources:\n  - configmaps.yaml\n",
            )
            .expect("write kustomization");
            let docs: Vec<String> = (0..objects)
                .map(|o| format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-{a:03}-{o}\ndata:\n  value: \"0\"\n"))
                .collect();
            std::fs::write(overlay.join("configmaps.yaml"), docs.join("---\n"))
                .expect("write objects");
        }
    }
    std::fs::write(work.join("gantry.yaml"), yaml).expect("write gantry.yaml");
    git(&work, &["add", "--all"]);
    git(&work, &["commit", "--quiet", "-m", "bench config"]);
    let url = format!("file://{}", remote.display());
    git(&work, &["push", "--quiet", &url, "HEAD:main"]);
    (dir, url, work)
}

struct Running {
    addr: SocketAddr,
    state: Arc<State>,
    shutdown: CancellationToken,
}

async fn start(
    url: &str,
    data: &Path,
    client: kube::Client,
    poll: Duration,
    drift: Duration,
) -> Running {
    let options = Options {
        images: gantry::artifact::admission::ImageAccess::default(),
        leader: None,
        events: None,
        store: None,
        config_repo: url.to_owned(),
        branch: "main".into(),
        credentials: Credentials::Anonymous,
        data_dir: data.to_path_buf(),
        listen: "127.0.0.1:0".parse().expect("addr"),
        poll_interval: poll,
        drift_interval: drift,
        parallel: 4,
        clusters: Clusters::Fixed(client),
        webhooks: WebhookConfig {
            github: Some(Secret::new(SECRET)),
            ..WebhookConfig::default()
        },
        git_timeout: Duration::from_secs(30),
    };
    let state = Arc::new(State::default());
    let shutdown = CancellationToken::new();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let tokens = (shutdown.clone(), CancellationToken::new());
    let s = Arc::clone(&state);
    tokio::spawn(async move {
        daemon::run(options, s, tokens, Some(tx))
            .await
            .expect("daemon");
    });
    Running {
        addr: rx.await.expect("listening"),
        state,
        shutdown,
    }
}

/// Waits until `n` app × environments are synced at the branch tip the daemon saw last.
async fn settled(state: &State, n: usize) {
    let deadline = Instant::now() + Duration::from_mins(10);
    loop {
        let seen = state.repo.read().expect("repo").seen.clone();
        let done = {
            let envs = state.envs.read().expect("envs");
            envs.len() == n
                && envs.values().all(|e| {
                    e.phase == gantry::daemon::state::Phase::Synced
                        && e.revision.as_deref() == seen.as_deref()
                })
        };
        if done {
            return;
        }
        assert!(Instant::now() < deadline, "not settled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn webhook_latency() {
    let (_dir, url, work) = config_repo(1, 2);
    let data = tempfile::tempdir().expect("data dir");
    let cluster = fake_cluster::Cluster::default();
    let patches = Arc::clone(&cluster.patches);
    let client = cluster.client();
    // Polling off (an hour): only the webhook can trigger the sync.
    let d = start(
        &url,
        data.path(),
        client,
        Duration::from_hours(1),
        Duration::from_hours(1),
    )
    .await;
    settled(&d.state, 3).await;
    let http = reqwest::Client::new();
    let mut times = Vec::new();
    for i in 1..=20 {
        let file = work.join("apps/app-000/overlays/dev/configmaps.yaml");
        let text = std::fs::read_to_string(&file).expect("read");
        std::fs::write(
            &file,
            text.replacen(
                &format!("value: \"{}\"", i - 1),
                &format!("value: \"{i}\""),
                1,
            ),
        )
        .expect("write");
        git(&work, &["commit", "--quiet", "-am", &format!("change {i}")]);
        git(&work, &["push", "--quiet", &url, "HEAD:main"]);
        let after = git(&work, &["rev-parse", "HEAD"]).trim().to_owned();
        let body = serde_json::json!({"ref": "refs/heads/main", "after": after, "repository": {"clone_url": url}}).to_string();
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).expect("key");
        mac.update(body.as_bytes());
        let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        let before = patches.lock().expect("patches").len();
        let sent = Instant::now();
        let resp = http
            .post(format!("http://{}/hooks/github", d.addr))
            .header("X-GitHub-Event", "push")
            .header("X-Hub-Signature-256", signature)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("webhook");
        assert_eq!(resp.status(), 202, "webhook accepted");
        let first = loop {
            if let Some(t) = patches.lock().expect("patches").get(before) {
                break *t;
            }
            assert!(
                sent.elapsed() < Duration::from_secs(30),
                "no apply after the webhook"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        times.push(first.duration_since(sent));
        settled(&d.state, 3).await;
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "webhook → first apply request, 20 commits: p50 {:.0} ms, p90 {:.0} ms, max {:.0} ms (target p50 ≤ 1000 ms)",
        ms(times[10]),
        ms(times[18]),
        ms(times[19])
    );
    d.shutdown.cancel();
}

/// `VmRSS` of `/proc/<pid>/status`, in MiB.
fn rss_mib(pid: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    kib / 1024.0
}

/// CPU seconds this process has used (user + system; Linux clock ticks of 1/100 s).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    let after_name = &stat[stat.rfind(')').expect("comm") + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: f64 =
        fields[11].parse::<f64>().expect("utime") + fields[12].parse::<f64>().expect("stime");
    ticks / 100.0
}

async fn scale() {
    let (_dir, url, _work) = config_repo(100, 10);
    let data = tempfile::tempdir().expect("data dir");
    let cluster = fake_cluster::Cluster::default();
    let (store, patches) = (Arc::clone(&cluster.store), Arc::clone(&cluster.patches));
    let client = cluster.client();
    let drift = Duration::from_secs(20);
    let started = Instant::now();
    let d = start(&url, data.path(), client, Duration::from_secs(30), drift).await;
    settled(&d.state, 300).await;
    assert_eq!(store.lock().expect("store").len(), 3000);
    println!(
        "100 apps × 3 environments × 10 ConfigMaps: first sync of 3,000 objects in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    println!(
        "  idle RSS after the first sync: {:.1} MiB (target ≤ 50 MiB; includes the in-process API server and its 3,000 objects)",
        rss_mib("self")
    );

    // One drift pass: every app × environment re-synced (3,000 server-side applies).
    let before = patches.lock().expect("patches").len();
    let wait_start = Instant::now();
    while patches.lock().expect("patches").len() == before {
        assert!(wait_start.elapsed() < drift * 2, "no drift pass");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    while patches.lock().expect("patches").len() < before + 3000 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    settled(&d.state, 300).await;
    let cpu = cpu_seconds() - cpu0;
    let wall = t0.elapsed().as_secs_f64();
    println!(
        "  drift pass over 3,000 objects: {wall:.1} s wall, {cpu:.2} CPU-s; averaged over the default 5 min interval {:.2}% of one core (target ≤ 5%)",
        cpu / 300.0 * 100.0
    );
    d.shutdown.cancel();
}

/// The real binary in its own process, plan-only (no cluster to stand in for), with the same
/// 300 app × environments: its RSS is gantry's alone. `arenas`: `MALLOC_ARENA_MAX`, as
/// `manifests/` sets it.
async fn process_rss(arenas: Option<&str>) {
    let (_dir, url, _work) = config_repo(100, 10);
    let data = tempfile::tempdir().expect("data dir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_gantry"));
    match arenas {
        Some(n) => command.env("MALLOC_ARENA_MAX", n),
        None => command.env_remove("MALLOC_ARENA_MAX"),
    };
    let mut child = command
        .args([
            "daemon",
            "--config-repo",
            &url,
            "--plan-only",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .arg("--data-dir")
        .arg(data.path())
        .env("RUST_LOG", "warn")
        .spawn()
        .expect("start gantry daemon");
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_mins(2);
    loop {
        let done = match http
            .get(format!("http://127.0.0.1:{port}/api/v1/apps"))
            .send()
            .await
        {
            Ok(r) => r
                .json::<serde_json::Value>()
                .await
                .ok()
                .and_then(|v| {
                    v["apps"]
                        .as_array()
                        .map(|a| a.len() == 300 && a.iter().all(|e| e["phase"] == "planned"))
                })
                .unwrap_or(false),
            Err(_) => false,
        };
        if done {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the daemon did not plan 300 app × environments"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mib = rss_mib(&child.id().to_string());
    let allocator = arenas.map_or_else(
        || "glibc defaults".to_owned(),
        |n| format!("MALLOC_ARENA_MAX={n} as in manifests/"),
    );
    println!(
        "  idle RSS of the gantry daemon process (plan-only, 300 app × environments, 3,000 objects planned; {allocator}): {mib:.1} MiB (target ≤ 50 MiB)"
    );
    let _ = child.kill();
    let _ = child.wait();
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(webhook_latency());
    runtime.block_on(scale());
    runtime.block_on(process_rss(None));
    runtime.block_on(process_rss(Some("2")));
}
