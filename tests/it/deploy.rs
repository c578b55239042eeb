//! Issue 17: `gantry deploy` against a real bare remote — one commit with gantry's trailers,
//! only the `images:` entry changed, idempotent, refused when the overlay stops rendering.

use std::fmt::Write as _;

use tempfile::TempDir;

use crate::cli::{gantry, text};
use crate::git::quickstart_remote;
use crate::harness::git::git;

const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
const OVERLAY: &str = "apps/web/overlays/dev/kustomization.yaml";

fn deploy(remote: &str, data: &TempDir, image: &str, extra: &[&str]) -> (bool, String, String) {
    let data_dir = data.path().display().to_string();
    let mut args = vec![
        "deploy",
        "web",
        "--env",
        "dev",
        "--image",
        image,
        "--repo",
        remote,
        "--data-dir",
        &data_dir,
    ];
    args.extend_from_slice(extra);
    let out = gantry(&args);
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

#[test]
fn regression_issue_17_deploy_commits_once_with_trailers_and_only_the_images_entry() {
    let (remote, work) = quickstart_remote();
    let data = TempDir::new().expect("data dir");
    let url = remote.url();
    let image = format!("harbor.example.com/shop/web:0.2.0@{D1}");
    let before = std::fs::read_to_string(work.path.join(OVERLAY)).expect("overlay");

    let (ok, out, err) = deploy(&url, &data, &image, &["--dry-run"]);
    assert!(ok, "{err}");
    assert!(out.contains("+    digest: sha256:1111"), "{out}");
    assert!(out.contains("dry run: nothing pushed"), "{out}");
    assert_eq!(remote.log("main").len(), 1, "a dry run pushes nothing");

    let (ok, out, err) = deploy(
        &url,
        &data,
        &image,
        &[
            "--evidence",
            "scan=0C/0H",
            "--evidence",
            "signed=yes",
            "--source",
            "shop@abc123",
            "--run",
            "pipeline-7",
        ],
    );
    assert!(ok, "{err}");
    assert!(out.contains("committed "), "{out}");
    assert_eq!(remote.log("main").len(), 2);

    git(&work.path, &["pull", "--quiet", "origin", "main"]);
    let after = std::fs::read_to_string(work.path.join(OVERLAY)).expect("overlay");
    assert_eq!(
        after,
        before.replace(
            "    newTag: 0.1.0\n",
            &format!("    newTag: 0.2.0\n    digest: {D1}\n")
        ),
        "only the images entry changes, comments and order kept"
    );
    let last = &work.log()[0];
    assert_eq!(last.subject, "web: deploy sha256:111111111111 to dev");
    for trailer in [
        "Gantry-Action: deploy".to_owned(),
        "Gantry-App: web".to_owned(),
        "Gantry-Env: dev".to_owned(),
        format!("Gantry-Image: {image}"),
        "Gantry-Source: shop@abc123".to_owned(),
        "Gantry-Run: pipeline-7".to_owned(),
        "Gantry-Evidence: scan=0C/0H signed=yes".to_owned(),
    ] {
        assert!(
            last.body.contains(&trailer),
            "{trailer} missing in:\n{}",
            last.body
        );
    }
    let history = gantry(&["history", "--repo", &work.path.display().to_string()]);
    let shown = text(&history.stdout);
    assert!(
        shown.contains("deploy") && shown.contains("sha256:1111"),
        "{shown}{}",
        text(&history.stderr)
    );

    // The same request again: unchanged, no commit.
    let (ok, out, err) = deploy(&url, &data, &image, &[]);
    assert!(ok, "{err}");
    assert!(out.starts_with("unchanged: web in dev is already"), "{out}");
    assert_eq!(remote.log("main").len(), 2);
}

#[test]
fn regression_issue_17_deploy_refuses_an_edit_whose_overlay_no_longer_renders() {
    let (remote, work) = quickstart_remote();
    // The overlay now holds a transformer that runs after `images:` and renders only while the
    // image is the current one (a JSON 6902 `test` op), so deploying a new digest breaks it.
    let k = std::fs::read_to_string(work.path.join(OVERLAY)).expect("overlay");
    work.write(
        OVERLAY,
        &format!(
            "{k}transformers:\n  - |-\n    apiVersion: builtin\n    kind: PatchJson6902Transformer\n    metadata: {{name: pin}}\n    target: {{kind: Deployment, name: web}}\n    jsonOp: '[{{\"op\": \"test\", \"path\": \"/spec/template/spec/containers/0/image\", \"value\": \"harbor.example.com/shop/web:0.1.0\"}}]'\n"
        ),
    );
    work.commit_all("a patch that tests the image");
    work.push();
    let overlay = work
        .path
        .join("apps/web/overlays/dev")
        .display()
        .to_string();
    let rendered = gantry(&["render", &overlay]);
    assert!(
        rendered.status.success(),
        "the overlay renders before the deploy: {}",
        text(&rendered.stderr)
    );
    let data = TempDir::new().expect("data dir");
    let (ok, _, err) = deploy(
        &remote.url(),
        &data,
        &format!("harbor.example.com/shop/web@{D2}"),
        &[],
    );
    assert!(!ok, "the deploy should be refused");
    assert!(
        err.contains("the edited overlay does not render, nothing was pushed"),
        "{err}"
    );
    assert_eq!(remote.log("main").len(), 2, "nothing pushed");
}

/// A config repo of `n` apps (`app-0` …), each with a Deployment base and a `dev` overlay.
pub fn many_apps(n: usize) -> Vec<(String, String)> {
    let mut files = Vec::new();
    let mut yaml = String::from(
        "apiVersion: gantry.dev/v1alpha1\nkind: Config\nenvironments:\n  - name: dev\n    cluster: in-cluster\n    namespace: shop-dev\napps:\n",
    );
    for i in 0..n {
        let app = format!("app-{i}");
        let _ = write!(
            yaml,
            "  - name: {app}\n    image: harbor.example.com/shop/{app}\n    environments: [dev]\n"
        );
        files.push((
            format!("apps/{app}/base/deployment.yaml"),
            format!("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {app}\nspec:\n  selector:\n    matchLabels: {{app: {app}}}\n  template:\n    metadata:\n      labels: {{app: {app}}}\n    spec:\n      containers:\n        - name: {app}\n          image: harbor.example.com/shop/{app}:0.1.0\n"),
        ));
        files.push((
            format!("apps/{app}/base/kustomization.yaml"),
            "resources:\n  - deployment.yaml\n".to_owned(),
        ));
        files.push((
            format!("apps/{app}/overlays/dev/kustomization.yaml"),
            format!("resources:\n  - ../../base\nimages:\n  - name: harbor.example.com/shop/{app}\n    newTag: 0.1.0\n"),
        ));
    }
    files.push(("gantry.yaml".to_owned(), yaml));
    files
}

fn digest(i: usize) -> String {
    format!("sha256:{:064x}", i + 1)
}

/// 50 deploys of 50 apps at once, each through its own mirror (as separate processes would
/// be): every one lands exactly once, none lost to the races on the branch.
#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn regression_issue_17_fifty_concurrent_deploys_make_fifty_commits() {
    let remote = crate::harness::git::Remote::new();
    let work = remote.clone_work();
    for (path, text) in many_apps(50) {
        work.write(&path, &text);
    }
    work.commit_all("50 apps");
    work.push();
    let data = TempDir::new().expect("data");
    let mut tasks = Vec::new();
    for i in 0..50 {
        let url = remote.url();
        let dir = data.path().join(format!("m{i}"));
        tasks.push(tokio::spawn(async move {
            let cache = gantry::git::RepoCache::new(&dir, std::time::Duration::from_mins(1));
            let mirror = cache
                .mirror(&url, gantry::git::Credentials::Anonymous)
                .expect("mirror");
            let app = format!("app-{i}");
            let target = gantry::deploy::Target {
                branch: "main".into(),
                overlay: format!("apps/{app}/overlays/dev").into(),
                image_name: format!("harbor.example.com/shop/{app}"),
                identity: gantry::git::Identity::default(),
            };
            let request = gantry::deploy::DeployRequest {
                app: app.clone(),
                env: "dev".into(),
                image: gantry::core::ImageRef::parse(&format!(
                    "harbor.example.com/shop/{app}@{}",
                    digest(i)
                ))
                .expect("ref"),
                action: gantry::audit::Action::Deploy,
                source: None,
                run: None,
                evidence: Vec::new(),
                rejects: None,
                skipped: None,
                force: false,
                body: None,
            };
            let cancel = tokio_util::sync::CancellationToken::new();
            gantry::deploy::deploy(&mirror, &target, &request, false, &cancel).await
        }));
    }
    for t in tasks {
        let outcome = t.await.expect("task").expect("deploy");
        assert!(
            matches!(outcome, gantry::deploy::Outcome::Committed { .. }),
            "{outcome:?}"
        );
    }
    assert_eq!(
        remote.log("main").len(),
        51,
        "one commit per deploy, none lost or doubled"
    );
    git(&work.path, &["pull", "--quiet", "origin", "main"]);
    for i in 0..50 {
        let k = std::fs::read_to_string(
            work.path
                .join(format!("apps/app-{i}/overlays/dev/kustomization.yaml")),
        )
        .expect("overlay");
        assert_eq!(k.matches(&digest(i)).count(), 1, "app-{i}: {k}");
    }
}

/// `gantry deploy` killed (SIGKILL) while its push is in flight, then run again: the remote
/// ends with exactly one deploy commit (the retry either finds it there and says unchanged,
/// or makes it once).
#[test]
fn regression_issue_17_a_deploy_killed_mid_push_and_retried_commits_once() {
    use std::os::unix::fs::PermissionsExt as _;
    let (remote, _work) = quickstart_remote();
    let marks = TempDir::new().expect("marks");
    let (started, done) = (marks.path().join("started"), marks.path().join("done"));
    let hook = remote.path.join("hooks/pre-receive");
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\ntouch {}\nsleep 2\ntouch {}\nexit 0\n",
            started.display(),
            done.display()
        ),
    )
    .expect("hook");
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let data = TempDir::new().expect("data dir");
    let data_dir = data.path().display().to_string();
    let image = format!("harbor.example.com/shop/web@{D1}");
    let url = remote.url();
    let args = [
        "deploy",
        "web",
        "--env",
        "dev",
        "--image",
        &image,
        "--repo",
        &url,
        "--data-dir",
        &data_dir,
    ];
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_gantry"))
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn gantry");
    let wait_for = |p: &std::path::Path| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !p.exists() {
            assert!(
                std::time::Instant::now() < deadline,
                "{} never appeared",
                p.display()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    };
    wait_for(&started);
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
    // Let the orphaned push finish (or not) before the retry.
    wait_for(&done);
    std::thread::sleep(std::time::Duration::from_millis(500));
    std::fs::remove_file(&hook).expect("remove hook");

    let (ok, out, err) = deploy(&url, &data, &image, &[]);
    assert!(ok, "{err}");
    assert!(
        out.starts_with("unchanged") || out.contains("committed "),
        "{out}"
    );
    let log = remote.log("main");
    assert_eq!(
        log.len(),
        2,
        "exactly one deploy commit on the remote: {log:?}"
    );
}
