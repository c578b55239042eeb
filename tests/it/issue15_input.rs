//! Issue 15, hostile input against the real binary: a YAML bomb, an oversized render, half-sent
//! HTTP requests. Each test failed on the code before the issue was fixed.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::git::{Remote, Work};

/// The daemon tests' config with a second app, api, beside web.
fn two_apps_yaml() -> String {
    format!(
        "{}  - name: api\n    image: registry.example.com/shop/api\n    environments: [dev]\n",
        crate::daemon::GANTRY_YAML
    )
}

/// A config repo with apps web and api, each a ConfigMap in dev.
fn two_apps() -> (Remote, Work) {
    let remote = Remote::new();
    let work = remote.clone_work();
    work.write("gantry.yaml", &two_apps_yaml());
    for app in ["web", "api"] {
        work.write(
            &format!("apps/{app}/base/cm.yaml"),
            &format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {app}\ndata:\n  a: \"1\"\n"
            ),
        );
        work.write(
            &format!("apps/{app}/base/kustomization.yaml"),
            "resources:\n  - cm.yaml\n",
        );
        work.write(
            &format!("apps/{app}/overlays/dev/kustomization.yaml"),
            "resources:\n  - ../../base\n",
        );
    }
    work.commit_all("shop: web and api");
    work.push();
    (remote, work)
}

/// "Billion laughs": nine levels of nine aliases, 9^9 strings from 14 lines.
pub(crate) fn yaml_bomb() -> String {
    let mut s = String::from(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: lol\ndata:\n  a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    let mut prev = 'a';
    for c in 'b'..='i' {
        let refs = vec![format!("*{prev}"); 9].join(",");
        writeln!(s, "  {c}: &{c} [{refs}]").expect("write to a String");
        prev = c;
    }
    s
}

/// The real `gantry daemon`, plan-only, on `url`; killed on drop.
pub(crate) struct Daemon {
    pub child: Child,
    pub port: u16,
    _data: tempfile::TempDir,
}

impl Daemon {
    pub fn start(url: &str, extra: &[&str]) -> Self {
        let data = tempfile::tempdir().expect("data dir");
        let port = crate::harness::free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_gantry"))
            .args(["daemon", "--plan-only", "--poll-interval", "200ms"])
            .args(["--config-repo", url])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .arg("--data-dir")
            .arg(data.path())
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start gantry daemon");
        Self {
            child,
            port,
            _data: data,
        }
    }

    pub async fn apps(&self) -> Option<Value> {
        let reply = reqwest::get(format!("http://127.0.0.1:{}/api/v1/apps", self.port))
            .await
            .ok()?;
        reply.json().await.ok()
    }

    /// Polls `/api/v1/apps` until `done` holds; fails after `limit`, or when the daemon died.
    pub async fn until(&mut self, limit: Duration, done: impl Fn(&Value) -> bool) -> Value {
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the daemon exited with {status}");
            }
            if let Some(apps) = self.apps().await
                && done(&apps)
            {
                return apps;
            }
            assert!(
                started.elapsed() < limit,
                "not reached within {limit:?}: {:?}",
                self.apps().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The daemon's peak resident memory so far (`VmHWM`), in MiB.
    pub fn peak_mib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("read /proc/PID/status");
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM in /proc/PID/status");
        kib / 1024
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        crate::harness::stop(&mut self.child);
    }
}

pub(crate) fn row<'a>(apps: &'a Value, app: &str) -> &'a Value {
    apps["apps"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["app"] == app))
        .unwrap_or(&Value::Null)
}

fn synced_at(apps: &Value, app: &str, commit: &str) -> bool {
    let r = row(apps, app);
    r["desired"] == commit && r["phase"] != "Unknown"
}

/// A 14-line YAML bomb grew the daemon to 7.6 GB and aborted it, again on every restart. Now the
/// app that holds it fails with a located error, the other app syncs, and memory stays flat.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_issue_15_a_yaml_bomb_fails_its_app_only_and_the_daemon_stays_up() {
    let (remote, work) = two_apps();
    work.write("apps/web/base/bomb.yaml", &yaml_bomb());
    work.write(
        "apps/web/base/kustomization.yaml",
        "resources:\n  - cm.yaml\n  - bomb.yaml\n",
    );
    work.write(
        "apps/api/base/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: api\ndata:\n  a: \"2\"\n",
    );
    let bomb = work.commit_all("web: a billion laughs");
    work.push();
    let mut daemon = Daemon::start(&remote.url(), &[]);
    let apps = daemon
        .until(Duration::from_mins(1), |a| {
            synced_at(a, "web", &bomb) && synced_at(a, "api", &bomb)
        })
        .await;
    let web = row(&apps, "web");
    assert_eq!(web["phase"], "failed", "{web}");
    let error = web["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("apps/web/base/bomb.yaml:") && error.contains("billion laughs"),
        "{error}"
    );
    assert_eq!(row(&apps, "api")["error"], Value::Null, "{apps}");
    assert!(
        daemon.peak_mib() < 200,
        "peak RSS {} MiB",
        daemon.peak_mib()
    );
    // A restart reads the same commit and stays up.
    drop(daemon);
    let mut again = Daemon::start(&remote.url(), &[]);
    again
        .until(Duration::from_mins(1), |a| {
            row(a, "web")["phase"] == "failed" && synced_at(a, "api", &bomb)
        })
        .await;
}

/// `gantry render` took 82 s and 7.9 GB before SIGABRT on the same file.
#[test]
fn regression_issue_15_render_refuses_a_yaml_bomb_in_milliseconds() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("bomb.yaml"), yaml_bomb()).expect("write");
    std::fs::write(
        dir.path().join("kustomization.yaml"),
        "resources:\n  - bomb.yaml\n",
    )
    .expect("write");
    let started = Instant::now();
    let out = crate::cli::gantry(&["render", dir.path().to_str().expect("utf-8")]);
    let stderr = crate::cli::text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("bomb.yaml:11:10: aliases expand"),
        "{stderr}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// One file of 12,866 ConfigMaps (50 MB) lifted the daemon to 1.7 GB. A file over 4 MiB is now
/// a located error for its app, and a render at the limits keeps the daemon well inside the
/// 256 MiB that `manifests/` gives it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_issue_15_an_oversized_render_is_refused_and_memory_stays_bounded() {
    let (remote, work) = two_apps();
    let configmap = |i: usize| {
        format!(
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big-{i}\n  labels:\n    app: web\ndata:\n  key: \"{}\"\n",
            "x".repeat(3_000)
        )
    };
    let file = |range: std::ops::Range<usize>| range.map(configmap).collect::<String>();
    // Just under the limits: two files of 3.9 MiB, 7.8 MiB in all.
    let per_file = (3_900 << 10) / configmap(0).len();
    let names: Vec<String> = (0..2).map(|f| format!("big{f}.yaml")).collect();
    for (f, name) in names.iter().enumerate() {
        work.write(
            &format!("apps/web/base/{name}"),
            &file(f * per_file..(f + 1) * per_file),
        );
    }
    work.write(
        "apps/web/base/kustomization.yaml",
        &format!("resources:\n  - cm.yaml\n  - {}\n", names.join("\n  - ")),
    );
    let at_limit = work.commit_all("web: a render at the limits");
    work.push();
    let mut daemon = Daemon::start(&remote.url(), &[]);
    let apps = daemon
        .until(Duration::from_secs(90), |a| synced_at(a, "web", &at_limit))
        .await;
    let peak = daemon.peak_mib();
    eprintln!("peak RSS after a 7.8 MiB render: {peak} MiB");
    assert_eq!(row(&apps, "web")["error"], Value::Null, "{apps}");
    assert!(peak < 256, "peak RSS {peak} MiB");

    // 50 MB in one file: refused, named, and the daemon stays up.
    work.write("apps/web/base/big0.yaml", &file(0..12_866 * 4 / 3));
    let over = work.commit_all("web: 50 MB of ConfigMaps");
    work.push();
    let apps = daemon
        .until(Duration::from_secs(90), |a| synced_at(a, "web", &over))
        .await;
    let error = row(&apps, "web")["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        error.contains("apps/web/base/big0.yaml")
            && error.contains("over the limit of 4.0 MiB a file"),
        "{error}"
    );
    let peak = daemon.peak_mib();
    eprintln!("peak RSS after refusing a 50 MB file: {peak} MiB");
    assert!(peak < 256, "peak RSS {peak} MiB");
}

/// Opens a connection and sends `head` (no blank line: the request never ends).
fn half_sent(port: u16, head: &str) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.write_all(head.as_bytes()).expect("send");
    s
}

/// True once the server closed `s` (EOF or reset, after any answer it sent).
fn closed_by_server(s: &mut TcpStream) -> bool {
    use std::io::Read as _;
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("read timeout");
    let mut buf = [0u8; 512];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) => {
                return !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                );
            }
        }
    }
}

/// 220 half-sent requests stayed open for minutes, and SIGTERM with one open never exited.
/// Now the server answers probes while they are open, closes them after its header and body
/// timeouts, and a SIGTERM ends the process within the drain even with a request half-sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_issue_15_half_sent_requests_are_cut_off_and_shutdown_ends() {
    let (remote, _work) = two_apps();
    let mut daemon = Daemon::start(&remote.url(), &[]);
    daemon
        .until(Duration::from_secs(30), |a| {
            a["apps"].as_array().is_some_and(|r| r.len() == 2)
        })
        .await;
    let port = daemon.port;
    let mut heads: Vec<TcpStream> = (0..220)
        .map(|_| {
            half_sent(
                port,
                "POST /webhooks/github HTTP/1.1\r\nHost: gantry\r\nX-Half: ",
            )
        })
        .collect();
    let mut body = half_sent(
        port,
        "POST /webhooks/github HTTP/1.1\r\nHost: gantry\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"ref\":",
    );
    let started = Instant::now();
    let probe = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .expect("client")
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .await
        .expect("/healthz answers while 221 requests hang");
    assert!(probe.status().is_success());
    tokio::time::sleep(Duration::from_secs(12)).await;
    let still_open = heads
        .iter_mut()
        .map(closed_by_server)
        .filter(|c| !c)
        .count();
    assert_eq!(
        still_open,
        0,
        "half-sent headers still open after {:?}",
        started.elapsed()
    );
    assert!(
        closed_by_server(&mut body),
        "a half-sent body still open after {:?}",
        started.elapsed()
    );

    let _hanging = half_sent(port, "GET /healthz HTTP/1.1\r\nHost: gantry\r\n");
    let status = Command::new("kill")
        .args(["-TERM", &daemon.child.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(status.success());
    let stopping = Instant::now();
    loop {
        if let Some(exit) = daemon.child.try_wait().expect("wait") {
            assert!(exit.success(), "{exit}");
            break;
        }
        assert!(
            stopping.elapsed() < Duration::from_secs(10),
            "still running 10 s after SIGTERM with a half-sent request open"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("stopped {:?} after SIGTERM", stopping.elapsed());
}
