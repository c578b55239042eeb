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
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  name: web2\n",
            "apps/web/base/service.yaml:5:3: mapping key \"name\" already defined",
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
