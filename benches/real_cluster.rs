//! The first sync at scale against a real API server (`cargo bench --bench real_cluster`, with
//! `GANTRY_KUBE_ASSETS` naming etcd, kube-apiserver and kube-controller-manager; without it the
//! bench prints SKIP). Prints the figures the README records:
//! - wall time from `gantry daemon` starting until 1,000 apps × 1 environment (10 ConfigMaps
//!   each, 10,000 objects) are all synced; target ≤ 60 s (Flux's published benchmark: 4 m 16 s
//!   for 1,000 Kustomizations);
//! - the daemon process's peak RSS (`VmHWM`) over that run; target ≤ 150 MiB (Flux: 175 MiB);
//! - CPU seconds of the daemon, and LIST requests the API server answered (from its metrics).
//!
//! The daemon is the real binary in its own process, talking HTTPS to kube-apiserver on
//! 127.0.0.1, so its RSS and CPU are gantry's alone; etcd, the API server and the controllers
//! share the same 2 cores.

mod common;
#[path = "../tests/it/harness/envtest.rs"]
mod envtest;

/// A port nothing listens on now (the envtest harness asks its parent module for ports).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

use common::git;

use std::fmt::Write as _;
use std::process::Command;
use std::time::{Duration, Instant};

const APPS: usize = 1_000;
const OBJECTS: usize = 10;

/// A config repo with `APPS` apps in one environment, `OBJECTS` ConfigMaps each; returns the
/// temp dir and the remote's URL.
fn config_repo() -> (tempfile::TempDir, String) {
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
    let mut yaml = String::from(
        "apiVersion: gantry.dev/v1alpha1\nkind: Config\nenvironments:\n  - name: dev\n    namespace: bench\napps:\n",
    );
    for a in 0..APPS {
        let _ = write!(
            yaml,
            "  - name: app-{a:04}\n    image: registry.example.com/shop/app-{a:04}\n    environments: [dev]\n"
        );
        let overlay = work.join(format!("apps/app-{a:04}/overlays/dev"));
        std::fs::create_dir_all(&overlay).expect("mkdir overlay");
        std::fs::write(
            overlay.join("kustomization.yaml"),
            "resources:\n  - configmaps.yaml\n",
        )
        .expect("write kustomization");
        let docs: Vec<String> = (0..OBJECTS)
            .map(|o| {
                format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-{a:04}-{o}\ndata:\n  value: \"{o}\"\n")
            })
            .collect();
        std::fs::write(overlay.join("configmaps.yaml"), docs.join("---\n")).expect("write");
    }
    std::fs::write(work.join("gantry.yaml"), yaml).expect("write gantry.yaml");
    git(&work, &["add", "--all"]);
    git(&work, &["commit", "--quiet", "-m", "bench config"]);
    let url = format!("file://{}", remote.display());
    git(&work, &["push", "--quiet", &url, "HEAD:main"]);
    (dir, url)
}

/// A field of `/proc/<pid>/status` in MiB (`VmRSS`, `VmHWM`).
fn status_mib(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("field");
    kib / 1024.0
}

/// User + system CPU seconds of a process.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("proc stat");
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let ticks: f64 =
        fields[11].parse::<f64>().unwrap_or(0.0) + fields[12].parse::<f64>().unwrap_or(0.0);
    ticks / 100.0
}

/// LIST requests the API server has answered (`apiserver_request_total{verb="LIST"}`).
async fn lists(env: &envtest::Envtest) -> u64 {
    let text = env
        .client
        .request_text(
            http::Request::get("/metrics")
                .body(Vec::new())
                .expect("request"),
        )
        .await
        .expect("API server metrics");
    text.lines()
        .filter(|l| l.starts_with("apiserver_request_total{") && l.contains("verb=\"LIST\""))
        // Counters are printed as floats, but count whole requests.
        .filter_map(|l| l.rsplit(' ').next()?.split('.').next()?.parse::<u64>().ok())
        .sum()
}

async fn first_sync(parallel: usize) {
    let Some(env) = envtest::Envtest::start().await else {
        return;
    };
    assert!(
        env.has_controllers(),
        "the bench runs a cluster with its controllers: GANTRY_KUBE_ASSETS needs kube-controller-manager"
    );
    let (_dir, url) = config_repo();
    let data = tempfile::tempdir().expect("data dir");
    let kubeconfig = data.path().join("kubeconfig");
    std::fs::write(&kubeconfig, env.kubeconfig()).expect("kubeconfig");
    let port = free_port();
    let lists_before = lists(&env).await;
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_gantry"))
        .args(["daemon", "--config-repo", &url, "--context", "envtest"])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args([
            "--parallel",
            &parallel.to_string(),
            "--drift-interval",
            "1h",
        ])
        .arg("--data-dir")
        .arg(data.path())
        .env("KUBECONFIG", &kubeconfig)
        .env("MALLOC_ARENA_MAX", "2")
        .env("RUST_LOG", "warn")
        .spawn()
        .expect("start gantry daemon");
    let http = reqwest::Client::new();
    let deadline = started + Duration::from_mins(10);
    let mut synced = 0;
    while synced < APPS {
        assert!(
            Instant::now() < deadline,
            "only {synced} of {APPS} synced after 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
        let Ok(reply) = http
            .get(format!("http://127.0.0.1:{port}/api/v1/apps"))
            .send()
            .await
        else {
            continue;
        };
        let Ok(body) = reply.json::<serde_json::Value>().await else {
            continue;
        };
        let rows = body["apps"].as_array().cloned().unwrap_or_default();
        if let Some(failed) = rows.iter().find(|r| r["phase"] == "failed") {
            panic!("a sync failed: {failed}");
        }
        synced = rows.iter().filter(|r| r["phase"] == "synced").count();
    }
    let wall = started.elapsed();
    let pid = child.id();
    let (peak, cpu) = (status_mib(pid, "VmHWM:"), cpu_seconds(pid));
    let listed = lists(&env).await - lists_before;
    println!(
        "  first sync of {APPS} apps × 1 environment ({} objects), --parallel {parallel}: {:.1} s wall (target ≤ 60 s), daemon peak RSS {peak:.1} MiB (target ≤ 150 MiB), daemon CPU {cpu:.1} s, {listed} LISTs answered by the API server",
        APPS * OBJECTS,
        wall.as_secs_f64()
    );
    let _ = child.kill();
    let _ = child.wait();
}

fn main() {
    if std::env::var_os("GANTRY_KUBE_ASSETS").is_none() {
        println!(
            "SKIP: GANTRY_KUBE_ASSETS not set (a directory with etcd, kube-apiserver and kube-controller-manager runs this bench against a real API server)"
        );
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let parallel: Vec<usize> = std::env::var("BENCH_PARALLEL").ok().map_or_else(
        || vec![4],
        |v| v.split(',').filter_map(|p| p.trim().parse().ok()).collect(),
    );
    for p in parallel {
        runtime.block_on(first_sync(p));
    }
}
