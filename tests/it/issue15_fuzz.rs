//! Issue 15: a mutation fuzzer over the YAML loader, the renderer and the webhook parsers,
//! seeded from the corpus checked in under `tests/fuzz/corpus/`. It runs for a bounded time
//! (`GANTRY_FUZZ_SECS`, 3 s per target by default) in a child process, so its peak memory is its
//! own, and fails on a panic, on one input taking over 2 s, or on a peak over 512 MiB. The seed
//! (`GANTRY_FUZZ_SEED`, printed) makes a failure reproducible; a failing input is kept under
//! `target/fuzz-failures/`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use gantry::manifest::{self, Fs, Reorder};
use tower::ServiceExt as _;

/// Fragments that YAML, kustomize and JSON parsers treat specially.
const TOKENS: &[&str] = &[
    "&a ",
    "*a",
    "<<: ",
    "- ",
    ": ",
    "? ",
    "---\n",
    "...\n",
    "|",
    ">-",
    "!!str ",
    "!!binary ",
    "%YAML 1.2\n",
    "{",
    "}",
    "[",
    "]",
    ",",
    "\"",
    "'",
    "\\u0000",
    "\t",
    "\r\n",
    "\u{feff}",
    "#",
    "\n  ",
    "\n    ",
    "0x",
    "1e999",
    "-.inf",
    ".nan",
    "~",
    "null",
    "resources:\n- ",
    "../",
    "/etc/passwd",
    "patches:\n- ",
    "images:\n- name: ",
    "digest: sha256:",
    "namePrefix: ",
    "kind: Namespace\n",
    "\"ref\":",
    "\"after\":",
    "\"repository\":",
    "\"commits\": [",
    "null,",
    "1e400",
    "\"\\ud800\"",
    "{\"a\":",
    "]]]]",
];

fn corpus(dir: &str) -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz/corpus")
        .join(dir);
    let mut out: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("read {}: {e}", root.display()))
        .map(|e| {
            let p = e.expect("corpus entry").path();
            let bytes = std::fs::read(&p).expect("read corpus file");
            (p, bytes)
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "empty corpus {}", root.display());
    out.into_iter().map(|(_, b)| b).collect()
}

fn mutate(rng: &mut fastrand::Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut data = seeds[rng.usize(..seeds.len())].clone();
    for _ in 0..rng.usize(1..6) {
        let at = rng.usize(..=data.len());
        match rng.u8(..6) {
            0 if !data.is_empty() => {
                let i = rng.usize(..data.len());
                data[i] ^= 1 << rng.u8(..8);
            }
            1 => {
                let t = TOKENS[rng.usize(..TOKENS.len())].as_bytes();
                data.splice(at..at, t.iter().copied());
            }
            2 if at < data.len() => {
                let end = (at + rng.usize(1..32)).min(data.len());
                data.drain(at..end);
            }
            3 if at < data.len() => {
                let end = (at + rng.usize(1..64)).min(data.len());
                let copy = data[at..end].to_vec();
                data.splice(at..at, copy);
            }
            4 => data.truncate(at),
            _ => {
                let other = &seeds[rng.usize(..seeds.len())];
                let from = rng.usize(..=other.len());
                let to = (from + rng.usize(..256)).min(other.len());
                data.splice(at..at, other[from..to].iter().copied());
            }
        }
    }
    data
}

/// A render's files in memory.
struct MemFs(HashMap<PathBuf, Vec<u8>>);

impl Fs for MemFs {
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        self.0
            .get(path)
            .cloned()
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))
    }
    fn is_dir(&self, path: &Path) -> bool {
        self.0.keys().any(|k| k.starts_with(path) && k != path)
    }
    fn is_file(&self, path: &Path) -> bool {
        self.0.contains_key(path)
    }
}

fn keep_failure(target: &str, input: &[u8]) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-failures");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let path = dir.join(format!("{target}-{:016x}", fastrand::u64(..)));
    std::fs::write(&path, input).expect("keep the failing input");
    path
}

/// Runs `one` on mutated inputs for `budget`; panics (with the kept input) on a panic or a slow
/// input. Returns how many inputs ran.
fn fuzz(
    target: &str,
    seeds: &[Vec<u8>],
    budget: Duration,
    rng: &mut fastrand::Rng,
    one: &dyn Fn(&[u8]),
) -> u64 {
    let started = Instant::now();
    let mut runs = 0;
    while started.elapsed() < budget {
        let input = mutate(rng, seeds);
        let t = Instant::now();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| one(&input)));
        let took = t.elapsed();
        if outcome.is_err() || took > Duration::from_secs(2) {
            let kept = keep_failure(target, &input);
            panic!(
                "{target}: {} on the input kept at {}",
                if outcome.is_err() {
                    "panic"
                } else {
                    "took over 2 s"
                },
                kept.display()
            );
        }
        runs += 1;
    }
    runs
}

fn yaml_target(input: &[u8]) {
    let text = String::from_utf8_lossy(input);
    let _ = manifest::documents("fuzz.yaml", &text);
}

fn render_target(kustomization: &[u8], resource: &[u8]) {
    let mut files = HashMap::new();
    files.insert(
        PathBuf::from("o/kustomization.yaml"),
        kustomization.to_vec(),
    );
    files.insert(PathBuf::from("o/r.yaml"), resource.to_vec());
    let fs = MemFs(files);
    if let Ok(out) = manifest::render(&fs, Path::new("o"), Reorder::Legacy) {
        let _ = manifest::to_yaml(&out);
    }
}

/// The inner fuzz run; `regression_issue_15_fuzz_…` runs it in a child process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by regression_issue_15_fuzz_the_loader_renderer_and_webhooks in a child process, which measures its memory alone"]
async fn fuzz_child() {
    let secs: u64 = std::env::var("GANTRY_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let seed: u64 = std::env::var("GANTRY_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(15);
    let budget = Duration::from_secs(secs);
    let mut rng = fastrand::Rng::with_seed(seed);
    let yaml = corpus("yaml");
    let runs = fuzz("yaml", &yaml, budget, &mut rng, &yaml_target);
    println!("fuzz yaml: {runs} inputs in {secs} s (seed {seed})");

    let kust = corpus("kustomization");
    let mut pair_rng = fastrand::Rng::with_seed(seed ^ 1);
    let render = |k: &[u8]| {
        let mut local = fastrand::Rng::with_seed(k.len() as u64);
        let resource = mutate(&mut local, &yaml);
        render_target(k, &resource);
    };
    let runs = fuzz("render", &kust, budget, &mut pair_rng, &render);
    println!("fuzz render: {runs} inputs in {secs} s (seed {seed})");

    let hooks = corpus("webhooks");
    let (tx, mut rx) = tokio::sync::mpsc::channel(1 << 16);
    let app = gantry::trigger::router(crate::webhook::config(), tx);
    let started = Instant::now();
    let mut runs = 0u64;
    let mut rng = fastrand::Rng::with_seed(seed ^ 2);
    while started.elapsed() < budget {
        let body = mutate(&mut rng, &hooks);
        let signature = crate::webhook::sign(crate::webhook::GITHUB_SECRET, &body);
        let gitea = crate::webhook::sign(crate::webhook::GITEA_SECRET, &body);
        let requests = [
            (
                "/hooks/github",
                vec![
                    ("x-github-event", "push".to_owned()),
                    ("x-hub-signature-256", format!("sha256={signature}")),
                ],
            ),
            (
                "/hooks/gitea",
                vec![
                    ("x-gitea-event", "push".to_owned()),
                    ("x-gitea-signature", gitea),
                ],
            ),
            (
                "/hooks/gitlab",
                vec![
                    ("x-gitlab-event", "Push Hook".to_owned()),
                    ("x-gitlab-token", crate::webhook::GITLAB_TOKEN.to_owned()),
                ],
            ),
            (
                "/hooks/harbor",
                vec![("authorization", crate::webhook::HARBOR_AUTH.to_owned())],
            ),
            (
                "/hooks/registry",
                vec![("authorization", crate::webhook::REGISTRY_AUTH.to_owned())],
            ),
        ];
        for (path, headers) in requests {
            let mut req = Request::post(path).header("content-type", "application/json");
            for (k, v) in &headers {
                req = req.header(*k, v);
            }
            let status = app
                .clone()
                .oneshot(req.body(Body::from(body.clone())).expect("request"))
                .await
                .expect("router answers")
                .status();
            if ![
                StatusCode::ACCEPTED,
                StatusCode::NO_CONTENT,
                StatusCode::BAD_REQUEST,
                StatusCode::OK,
                StatusCode::PAYLOAD_TOO_LARGE,
            ]
            .contains(&status)
            {
                let kept = keep_failure("webhook", &body);
                panic!(
                    "{path} answered {status} to the body kept at {}",
                    kept.display()
                );
            }
        }
        // What the loop does with a pushed image first: make it one reference.
        while let Ok(event) = rx.try_recv() {
            let _ = event.pushed_image();
        }
        runs += 1;
    }
    println!("fuzz webhooks: {runs} bodies × 5 senders in {secs} s (seed {seed})");
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let peak = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .expect("VmHWM")
        .trim()
        .to_owned();
    println!("fuzz peak memory: {peak}");
}

#[test]
fn regression_issue_15_fuzz_the_loader_renderer_and_webhooks() {
    let out = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "issue15_fuzz::fuzz_child",
            "--include-ignored",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env_remove("RUST_LOG")
        .output()
        .expect("run the fuzz child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "the fuzz run failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("1 passed"),
        "the fuzz child did not run:\n{stdout}"
    );
    let kib: u64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("fuzz peak memory: "))
        .and_then(|v| v.trim_end_matches("kB").trim().parse().ok())
        .expect("the child reports its peak memory");
    assert!(kib < 512 * 1024, "fuzz peak memory {kib} KiB");
}
