//! Issue 15, false greens and rough edges of the CLI, against the real binary. Each test
//! failed on the code before the issue was fixed.

use crate::cli::{gantry, text};
use crate::validate::Repo;

fn validate(repo: &Repo) -> (Option<i32>, String, String) {
    let out = gantry(&["validate", repo.path().to_str().expect("utf-8 path")]);
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

fn write(repo: &Repo, rel: &str, contents: &str) {
    let path = repo.path().join(rel);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, contents).expect("write");
}

/// `gantry validate` said "ok" for overlays the daemon then failed to sync: it never rendered
/// them. Each broken overlay is now an error naming the app, environment, file and line.
#[test]
fn regression_issue_15_validate_renders_every_overlay() {
    let cases: [(&str, &str, &str); 4] = [
        (
            "apps/web/overlays/dev/kustomization.yaml",
            "resources:\n  - ../../base\npatches: [\n",
            "web in dev: apps/web/overlays/dev/kustomization.yaml:3:",
        ),
        (
            "apps/web/overlays/dev/kustomization.yaml",
            "resources:\n  - ../../../../../../etc\n",
            "web in dev: apps/web/overlays/dev/kustomization.yaml:2:5: resources: \"../../../../../../etc\" is outside the repo root",
        ),
        (
            "apps/web/overlays/dev/kustomization.yaml",
            "resources:\n  - ../staging\n",
            "cycle",
        ),
        (
            "apps/web/base/service.yaml",
            // (A duplicate key was the case here; kustomize v5 keeps the last, see issue 16.)
            "apiVersion: v1\nmetadata:\n  name: web\n",
            "apps/web/base/service.yaml: document 1: missing kind",
        ),
    ];
    for (file, contents, expected) in cases {
        let repo = Repo::quickstart();
        write(&repo, file, contents);
        if expected == "cycle" {
            write(
                &repo,
                "apps/web/overlays/staging/kustomization.yaml",
                "resources:\n  - ../dev\n",
            );
        }
        let (code, _, stderr) = validate(&repo);
        assert_eq!(code, Some(2), "{file}: {stderr}");
        assert!(stderr.contains(expected), "{expected:?} not in: {stderr}");
        assert!(stderr.ends_with(" in the config repo\n"), "{stderr}");
    }
}

/// An enforce policy that a rendered workload breaks fails `validate` as it fails the sync.
#[test]
fn regression_issue_15_validate_runs_the_policies_a_sync_runs() {
    let repo = Repo::quickstart();
    repo.replace(
        "apps/web/overlays/dev/kustomization.yaml",
        "name: harbor.example.com/shop/web",
        "name: harbor.example.com/shop/web\n    newName: docker.io/library/nginx",
    );
    let (code, _, stderr) = validate(&repo);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("web in dev: refused by policy:"),
        "{stderr}"
    );
    assert!(stderr.contains("docker.io/library/nginx"), "{stderr}");
}

/// `digest: sha256:nothex` rendered and reached the cluster.
#[test]
fn regression_issue_15_an_invalid_digest_fails_render_and_validate() {
    let repo = Repo::quickstart();
    repo.replace(
        "apps/web/overlays/dev/kustomization.yaml",
        "newTag: 0.1.0",
        "digest: sha256:nothex",
    );
    let (code, _, stderr) = validate(&repo);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("web in dev: apps/web/base/deployment.yaml: Deployment web: spec.template.spec.containers[0].image: invalid image reference \"harbor.example.com/shop/web@sha256:nothex\""),
        "{stderr}"
    );
    let out = gantry(&[
        "render",
        repo.path()
            .join("apps/web/overlays/dev")
            .to_str()
            .expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(text(&out.stdout), "");
}

/// 20 `gantry set-image` runs at once on one overlay kept 3–6 of the 20 entries, and all 20
/// printed "updated" with exit 0. Every reported write now survives.
#[test]
fn regression_issue_15_concurrent_set_image_runs_lose_no_write() {
    let dir = tempfile::tempdir().expect("dir");
    let overlay = dir.path().join("overlay");
    std::fs::create_dir(&overlay).expect("mkdir");
    std::fs::write(
        overlay.join("kustomization.yaml"),
        "# the dev overlay\nresources:\n  - ../base\n",
    )
    .expect("write");
    let runs: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..20)
            .map(|i| {
                let overlay = &overlay;
                scope.spawn(move || {
                    std::process::Command::new(env!("CARGO_BIN_EXE_gantry"))
                        .arg("set-image")
                        .arg(overlay)
                        .arg(format!("registry.example.com/shop/svc{i}:2.{i}"))
                        .env_remove("RUST_LOG")
                        .output()
                        .expect("run gantry")
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    let text = std::fs::read_to_string(overlay.join("kustomization.yaml")).expect("read");
    for (i, out) in runs.iter().enumerate() {
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            crate::cli::text(&out.stderr)
        );
        assert!(crate::cli::text(&out.stdout).starts_with("updated "));
        assert!(
            text.contains(&format!(
                "- name: registry.example.com/shop/svc{i}\n  newTag: \"2.{i}\"\n"
            )),
            "svc{i} lost:\n{text}"
        );
    }
    assert!(
        text.starts_with("# the dev overlay\nresources:\n  - ../base\n"),
        "{text}"
    );
}

/// `set-image` accepted an uppercase repository no runtime can pull.
#[test]
fn regression_issue_15_set_image_refuses_an_uppercase_repository() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("kustomization.yaml"), "resources: []\n").expect("write");
    let out = gantry(&[
        "set-image",
        dir.path().to_str().expect("utf-8"),
        "registry.example.com/Shop/Web:1",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        "error: set-image: \"registry.example.com/Shop/Web:1\": invalid image reference \"registry.example.com/Shop/Web:1\": repository names must be lowercase\n"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("kustomization.yaml")).expect("read"),
        "resources: []\n"
    );
}

/// `set-value list[0].v=2` created a literal key `list[0]`; `[N]` now indexes a list.
#[test]
fn regression_issue_15_set_value_indexes_lists() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("values.yaml");
    std::fs::write(&file, "list:\n  - v: 1 # first\n    w: x\n  - v: 3\n").expect("write");
    let path = file.to_str().expect("utf-8");
    let out = gantry(&["set-value", path, "list[0].v=2"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        std::fs::read_to_string(&file).expect("read"),
        "list:\n  - v: 2 # first\n    w: x\n  - v: 3\n"
    );
    let out = gantry(&["set-value", path, "list[2].v=9"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("index [2] is past the end of a list of 2"),
        "{}",
        text(&out.stderr)
    );
    let out = gantry(&["set-value", path, "list[x].v=9"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("list index \"x\" is not a number"));
}

fn gantry_env(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_gantry"))
        .args(args)
        .envs(env.iter().copied())
        .env_remove("RUST_LOG")
        .output()
        .expect("run gantry")
}

/// A literal secret where a file or `env://` source belongs was echoed in the error, and
/// `GANTRY_SERVER` with credentials was printed by `status --help`.
#[test]
fn regression_issue_15_no_mistyped_secret_is_echoed() {
    let token = "ghp_LITERALTOKEN123";
    let mut runs = vec![
        (
            "--git-token",
            gantry_env(
                &[
                    "daemon",
                    "--plan-only",
                    "--config-repo",
                    "https://git.example.com/r.git",
                    "--git-token",
                    token,
                ],
                &[],
            ),
            token,
        ),
        (
            "--webhook-secret",
            gantry_env(
                &[
                    "daemon",
                    "--plan-only",
                    "--config-repo",
                    "file:///x",
                    "--webhook-secret",
                    "github=hunter2hunter2",
                ],
                &[],
            ),
            "hunter2hunter2",
        ),
        (
            "--registry-auth",
            gantry_env(
                &[
                    "copy",
                    "--registry-auth",
                    "127.0.0.1:1=robot:Pa55word",
                    "127.0.0.1:1/a/b:1",
                    "127.0.0.1:1/c/d:1",
                ],
                &[],
            ),
            "Pa55word",
        ),
        (
            "status --help",
            gantry_env(
                &["status", "--help"],
                &[("GANTRY_SERVER", "http://admin:topsecret@127.0.0.1:1")],
            ),
            "topsecret",
        ),
        (
            "status",
            gantry_env(
                &["status"],
                &[("GANTRY_SERVER", "http://admin:topsecret@127.0.0.1:1")],
            ),
            "topsecret",
        ),
    ];
    if cfg!(feature = "sign") {
        runs.push((
            "sign --key",
            gantry_env(
                &["sign", "--key", "S3cretPassw0rd!", "127.0.0.1:1/a/b@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"],
                &[],
            ),
            "S3cretPassw0rd!",
        ));
    }
    for (what, out, secret) in runs {
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(!all.contains(secret), "{what} printed the secret: {all}");
        if what != "status --help" {
            assert_ne!(out.status.code(), Some(0), "{what}: {all}");
        }
    }
}

/// A git token went as Bearer over plain http:// without a word.
#[test]
fn regression_issue_15_a_git_token_is_not_sent_over_plain_http() {
    let out = gantry_env(
        &[
            "daemon",
            "--plan-only",
            "--config-repo",
            "http://git.example.com/shop/config.git",
            "--git-token",
            "env://GANTRY_TEST_TOKEN",
        ],
        &[("GANTRY_TEST_TOKEN", "tok")],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "error: credentials for http://git.example.com/shop/config.git: refusing to send a token over plain http://, where anyone on the network path can read it; use https://, or pass --allow-insecure-git if this network is trusted\n"
    );
}

/// `generate-key-pair` without `COSIGN_PASSWORD` silently wrote a key with an empty password;
/// cosign asks. With no terminal to ask on, it now refuses unless `--no-password` is given.
#[cfg(feature = "sign")]
#[test]
fn regression_issue_15_generate_key_pair_never_silently_writes_an_open_key() {
    let dir = tempfile::tempdir().expect("dir");
    let run = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_gantry"))
            .arg("generate-key-pair")
            .args(extra)
            .current_dir(dir.path())
            .env_remove("COSIGN_PASSWORD")
            .env_remove("RUST_LOG")
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run gantry")
    };
    let refused = run(&[]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        text(&refused.stderr).contains("COSIGN_PASSWORD is not set and there is no terminal"),
        "{}",
        text(&refused.stderr)
    );
    assert!(!dir.path().join("cosign.key").exists(), "nothing written");
    let open = run(&["--no-password"]);
    assert_eq!(open.status.code(), Some(0), "{}", text(&open.stderr));
    assert!(text(&open.stderr).contains("warning: cosign.key has an empty password"));
    assert!(dir.path().join("cosign.key").exists());
}

/// `gantry up` worked only from the repo root (its default example path was relative), and the
/// daemon's log lines carried ANSI colour codes into files and pipes.
#[test]
fn regression_issue_15_up_runs_from_any_directory_without_colour_codes_in_pipes() {
    let elsewhere = tempfile::tempdir().expect("dir");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gantry"))
        .arg("up")
        .current_dir(elsewhere.path())
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR")
        .output()
        .expect("run gantry up");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        text(&out.stdout).contains("== gantry status"),
        "{}",
        text(&out.stdout)
    );
    assert!(stderr.contains(" INFO "), "the daemon logged: {stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "colour codes in a pipe: {stderr:?}"
    );
}

/// The YAML library's hint to its programmer reached users.
#[test]
fn regression_issue_15_no_library_hints_in_messages() {
    let repo = Repo::quickstart();
    repo.replace(
        "gantry.yaml",
        "kind: Config\n",
        "kind: Config\nkind: Config\n",
    );
    let (code, _, stderr) = validate(&repo);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("mapping key already defined: kind"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("DuplicateKeyPolicy") && !stderr.contains("Options"),
        "{stderr}"
    );
}

/// README promised what did not run, linked a design outside the repository, and its
/// quickstart left out the packages a fresh Debian needs.
#[test]
fn regression_issue_15_readme_is_true_and_self_contained() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README");
    assert!(
        !readme.contains("../shared"),
        "README links outside the repository"
    );
    assert!(root.join("docs/design.md").is_file());
    let intro = readme.split("## ").next().expect("intro");
    assert!(
        intro.contains("**Not yet running:**"),
        "the intro says what does not run yet"
    );
    let quickstart = readme
        .split("## Quickstart")
        .nth(1)
        .and_then(|q| q.split("```sh\n").nth(1))
        .and_then(|q| q.split("```").next())
        .expect("the quickstart's commands");
    let commands: Vec<&str> = quickstart.lines().collect();
    assert_eq!(commands.len(), 2, "{quickstart}");
    assert!(commands[0].starts_with("apt-get update && apt-get install -y build-essential git"));
    assert!(commands[1].starts_with("cargo run --release -- up "));
    let ci = std::fs::read_to_string(root.join(".ci/run")).expect(".ci/run");
    assert!(
        ci.contains("id -u") && ci.contains("sudo"),
        ".ci/run checks for root or sudo"
    );
    assert!(ci.contains("build-essential"));
}
