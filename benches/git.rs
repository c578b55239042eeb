//! Git layer benchmarks (`cargo bench --bench git`). Prints the figures the README records:
//! change detection against an unchanged remote over loopback (target ≤ 50 ms) and reading a
//! 1,000-file tree at a commit from the object database (target ≤ 50 ms).
//!
//! Needs `git` (with git-daemon) on PATH, as the tests do.

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
}
