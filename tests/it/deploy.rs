//! Issue 17: `gantry deploy` against a real bare remote — one commit with gantry's trailers,
//! only the `images:` entry changed, idempotent, refused when the overlay stops rendering.

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
