//! Git layer benchmarks (`cargo bench --bench git`). Prints the figures the README records:
//! change detection against an unchanged remote over loopback (target ≤ 50 ms), reading a
//! 1,000-file tree at a commit from the object database (target ≤ 50 ms), and `deploy` of one
//! digest into a 300-app config repo, request → commit pushed to a local bare remote (target
//! ≤ 150 ms).
//!
//! Needs `git` (with git-daemon) on PATH, as the tests do.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use gantry::git::{Credentials, RepoCache, TreeFs};
use gantry::manifest::Fs as _;

mod common;
use common::{git, measure};

fn report(what: &str, times: &[Duration], target_ms: f64) {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let median = ms(times[times.len() / 2]);
    let p95 = ms(times[times.len() * 95 / 100]);
    let verdict = if median <= target_ms {
        "ok"
    } else {
        "OVER TARGET"
    };
    println!(
        "{what}: median {median:.2} ms, p95 {p95:.2} ms, min {:.2} ms over {} runs (target ≤ {target_ms} ms: {verdict})",
        ms(times[0]),
        times.len()
    );
}

/// A bare remote whose main holds `files` YAML files spread over 50 directories.
fn remote_with_files(root: &Path, files: usize) -> std::path::PathBuf {
    let bare = root.join("remote.git");
    std::fs::create_dir_all(&bare).expect("mkdir");
    git(
        &bare,
        &["init", "--bare", "--quiet", "--initial-branch=main"],
    );
    let work = root.join("work");
    std::fs::create_dir_all(&work).expect("mkdir");
    git(&work, &["init", "--quiet", "--initial-branch=main"]);
    for i in 0..files {
        let dir = work.join(format!("apps/app{}/overlays/env{}", i % 50, i % 3));
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(
            dir.join(format!("file{i}.yaml")),
            format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm{i}\ndata:\n  key: value-{i}\n"),
        )
        .expect("write");
    }
    git(&work, &["add", "--all"]);
    git(&work, &["commit", "--quiet", "-m", "1,000 files"]);
    git(
        &work,
        &["push", "--quiet", bare.to_str().expect("utf-8"), "main"],
    );
    bare
}

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(base: &Path) -> (Daemon, u16) {
    let exec = git(base, &["--exec-path"]);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let child = Command::new(Path::new(exec.trim()).join("git-daemon"))
        .args(["--reuseaddr", "--export-all", "--listen=127.0.0.1"])
        .arg(format!("--port={port}"))
        .arg(format!("--base-path={}", base.display()))
        .arg(base)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start git daemon");
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "git daemon did not start"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    (Daemon(child), port)
}

fn main() {
    let tmp = tempfile::TempDir::new().expect("temp dir");
    let bare = remote_with_files(tmp.path(), 1_000);
    let (_daemon, port) = serve(tmp.path());
    let never = AtomicBool::new(false);
    let watched = vec!["main".to_string()];

    for url in [
        format!("git://127.0.0.1:{port}/remote.git"),
        format!("file://{}", bare.display()),
    ] {
        let data = tempfile::TempDir::new().expect("data dir");
        let cache = RepoCache::new(data.path(), Duration::from_secs(30));
        let mirror = cache.mirror(&url, Credentials::Anonymous).expect("mirror");
        let first = mirror
            .changes_blocking(&watched, &never)
            .expect("first fetch");
        assert_eq!(first.len(), 1);
        let times = measure(50, || {
            let changes = mirror.changes_blocking(&watched, &never).expect("poll");
            assert!(changes.is_empty());
        });
        let scheme = url.split("://").next().unwrap_or_default();
        report(
            &format!("change detection, unchanged remote ({scheme}:// loopback)"),
            &times,
            50.0,
        );
    }

    let repo = gix::open(&bare).expect("open remote");
    let times = measure(50, || {
        let tree = TreeFs::at(&repo, "main").expect("tree");
        assert_eq!(tree.len(), 1_000);
        assert!(tree.is_file(Path::new("apps/app0/overlays/env0/file0.yaml")));
    });
    report("read a 1,000-file tree at a commit", &times, 50.0);

    deploy_into_many_apps(300);
}

/// A bare remote holding a config repo of `n` apps with a `dev` overlay each.
fn config_repo(root: &Path, n: usize) -> std::path::PathBuf {
    let bare = root.join("config.git");
    std::fs::create_dir_all(&bare).expect("mkdir");
    git(
        &bare,
        &["init", "--bare", "--quiet", "--initial-branch=main"],
    );
    let work = root.join("config-work");
    std::fs::create_dir_all(&work).expect("mkdir");
    git(&work, &["init", "--quiet", "--initial-branch=main"]);
    let mut yaml = String::from(
        "apiVersion: gantry.dev/v1alpha1\nkind: Config\nenvironments:\n  - name: dev\n    cluster: in-cluster\n    namespace: dev\napps:\n",
    );
    for i in 0..n {
        let app = format!("app-{i}");
        let _ = write!(
            yaml,
            "  - name: {app}\n    image: r.example.com/{app}\n    environments: [dev]\n"
        );
        let app_base = work.join(format!("apps/{app}/base"));
        let dev = work.join(format!("apps/{app}/overlays/dev"));
        std::fs::create_dir_all(&app_base).expect("mkdir");
        std::fs::create_dir_all(&dev).expect("mkdir");
        std::fs::write(app_base.join("deployment.yaml"), format!("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {app}\nspec:\n  template:\n    spec:\n      containers:\n        - name: {app}\n          image: r.example.com/{app}:1\n")).expect("write");
        std::fs::write(
            app_base.join("kustomization.yaml"),
            "resources:\n  - deployment.yaml\n",
        )
        .expect("write");
        std::fs::write(dev.join("kustomization.yaml"), format!("resources:\n  - ../../base\nimages:\n  - name: r.example.com/{app}\n    newTag: \"1\"\n")).expect("write");
    }
    std::fs::write(work.join("gantry.yaml"), yaml).expect("write");
    git(&work, &["add", "--all"]);
    git(
        &work,
        &[
            "-c",
            "user.name=b",
            "-c",
            "user.email=b@b",
            "commit",
            "--quiet",
            "-m",
            "apps",
        ],
    );
    git(
        &work,
        &["push", "--quiet", bare.to_str().expect("utf-8"), "main"],
    );
    bare
}

/// One deploy (a new digest each run) into a config repo of `n` apps, through a warm mirror as
/// the daemon holds one: fetch, edit, render check, commit, push.
fn deploy_into_many_apps(n: usize) {
    let tmp = tempfile::TempDir::new().expect("tmp");
    let bare = config_repo(tmp.path(), n);
    let data = tempfile::TempDir::new().expect("data dir");
    let cache = RepoCache::new(data.path(), Duration::from_secs(30));
    let url = format!("file://{}", bare.display());
    let mirror = cache.mirror(&url, Credentials::Anonymous).expect("mirror");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let cancel = tokio_util::sync::CancellationToken::new();
    runtime
        .block_on(mirror.fetch(&cancel))
        .expect("first fetch");
    let target = gantry::deploy::Target {
        branch: "main".into(),
        overlay: "apps/app-7/overlays/dev".into(),
        image_name: "r.example.com/app-7".into(),
        identity: gantry::git::Identity::default(),
    };
    let mut run = 0u64;
    let times = measure(20, || {
        run += 1;
        let image =
            gantry::core::ImageRef::parse(&format!("r.example.com/app-7@sha256:{run:064x}"))
                .expect("ref");
        let request = gantry::deploy::DeployRequest {
            app: "app-7".into(),
            env: "dev".into(),
            image,
            action: gantry::audit::Action::Deploy,
            source: None,
            run: None,
            evidence: Vec::new(),
            rejects: None,
            skipped: None,
            force: false,
            body: None,
        };
        let outcome = runtime
            .block_on(gantry::deploy::deploy(
                &mirror, &target, &request, false, &cancel,
            ))
            .expect("deploy");
        assert!(matches!(outcome, gantry::deploy::Outcome::Committed { .. }));
    });
    report(
        &format!(
            "deploy one digest into a {n}-app config repo (request → commit pushed, file:// bare remote)"
        ),
        &times,
        150.0,
    );
}
