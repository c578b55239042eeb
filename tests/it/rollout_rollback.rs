//! Issue 18: an aborted canary's rollback commit, against a real bare remote — the stable
//! digest back in the overlay, `Gantry-Action: rollback` with the failing measurements, the
//! canary's digest rejected: `gantry deploy` refuses it without `--force`, says why, and with
//! `--force` deploys it and says what it overrode; a newer digest deploys as usual.

use std::sync::Arc;
use std::time::Duration;

use gantry::core::ImageRef;
use gantry::rollout::analysis::Phase;
use gantry::rollout::machine::Evidence;
use tempfile::TempDir;

use crate::cli::{gantry, text};
use crate::git::quickstart_remote;
use crate::harness::git::git;

const STABLE: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const CANARY: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
const NEWER: &str = "sha256:3333333333333333333333333333333333333333333333333333333333333333";

fn cli_deploy(
    remote: &str,
    data: &TempDir,
    digest: &str,
    extra: &[&str],
) -> (bool, String, String) {
    let data_dir = data.path().display().to_string();
    let image = format!("harbor.example.com/shop/web@{digest}");
    let mut args = vec![
        "deploy",
        "web",
        "--env",
        "dev",
        "--image",
        &image,
        "--repo",
        remote,
        "--data-dir",
        &data_dir,
    ];
    args.extend_from_slice(extra);
    let out = gantry(&args);
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_issue_18_the_rollback_is_committed_and_the_canary_digest_refused() {
    let (remote, work) = quickstart_remote();
    let url = remote.url();
    let data = TempDir::new().expect("data dir");
    let (u, d) = (url.clone(), data.path().to_path_buf());
    tokio::task::spawn_blocking(move || {
        let data = TempDir::new_in(&d).expect("cli data");
        assert!(cli_deploy(&u, &data, STABLE, &[]).0, "stable deployed");
        assert!(cli_deploy(&u, &data, CANARY, &[]).0, "canary deployed");
    })
    .await
    .expect("join");

    // The abort's rollback, as the rollout controller makes it.
    let cache = gantry::git::RepoCache::new(&data.path().join("git"), Duration::from_secs(30));
    let mirror = cache
        .mirror(&url, gantry::git::Credentials::Anonymous)
        .expect("mirror");
    let target = gantry::deploy::Target {
        branch: "main".into(),
        overlay: "apps/web/overlays/dev".into(),
        image_name: "harbor.example.com/shop/web".into(),
        identity: gantry::git::Identity::default(),
    };
    let stable = ImageRef::parse(&format!("harbor.example.com/shop/web@{STABLE}")).expect("stable");
    let canary = ImageRef::parse(&format!("harbor.example.com/shop/web@{CANARY}")).expect("canary");
    let evidence = [Evidence {
        metric: "success-rate".into(),
        query: r#"sum(rate(http_requests_total{status!="500"}[1m]))"#.into(),
        condition: "result[0] >= 0.99".into(),
        values: vec!["[0.81]".into(), "[0.8]".into()],
        phase: Phase::Failed,
        limit: "failed (2) > failureLimit (1)".into(),
    }];
    let request = gantry::rollout::rollback::request(
        ("web", "dev"),
        (&stable, &canary),
        "the analysis of step 3 failed",
        &evidence,
        Some("rollout-web-dev-1".into()),
    );
    let cancel = tokio_util::sync::CancellationToken::new();
    let pushing = std::time::Instant::now();
    let outcome = gantry::deploy::deploy(&Arc::clone(&mirror), &target, &request, false, &cancel)
        .await
        .expect("the rollback commits");
    let pushed = pushing.elapsed();
    println!(
        "rollback commit pushed to the bare remote in {} ms",
        pushed.as_millis()
    );
    assert!(pushed < Duration::from_secs(2), "{pushed:?}");
    assert!(
        matches!(outcome, gantry::deploy::Outcome::Committed { .. }),
        "{outcome:?}"
    );

    git(&work.path, &["pull", "--quiet", "origin", "main"]);
    let overlay =
        std::fs::read_to_string(work.path.join("apps/web/overlays/dev/kustomization.yaml"))
            .expect("overlay");
    assert!(
        overlay.contains(STABLE) && !overlay.contains(CANARY),
        "{overlay}"
    );
    let last = &work.log()[0];
    assert_eq!(last.subject, "web: rollback sha256:111111111111 to dev");
    for line in [
        "Gantry-Action: rollback".to_owned(),
        format!("Gantry-Image: harbor.example.com/shop/web@{STABLE}"),
        format!("Gantry-Rejected: harbor.example.com/shop/web@{CANARY}"),
        "Gantry-Run: rollout-web-dev-1".to_owned(),
        "Gantry-Evidence: success-rate=[[0.81],[0.8]] success-rate.condition=result[0]>=0.99 success-rate.limit=failed(2)>failureLimit(1)".to_owned(),
        "measured: [0.81], [0.8]".to_owned(),
    ] {
        assert!(last.body.contains(&line), "{line} missing in:\n{}", last.body);
    }
    let history = gantry(&[
        "history",
        "--repo",
        &work.path.display().to_string(),
        "--action",
        "rollback",
    ]);
    assert!(
        text(&history.stdout).contains("rollback"),
        "{}",
        text(&history.stdout)
    );

    let (u, d) = (url.clone(), data.path().to_path_buf());
    let commits_before = remote.log("main").len();
    let (refused, forced, newer) = tokio::task::spawn_blocking(move || {
        let data = TempDir::new_in(&d).expect("cli data");
        (
            cli_deploy(&u, &data, CANARY, &[]),
            cli_deploy(&u, &data, CANARY, &["--force"]),
            cli_deploy(&u, &data, NEWER, &[]),
        )
    })
    .await
    .expect("join");
    let (ok, _, err) = refused;
    assert!(!ok, "the rejected digest is refused");
    assert!(
        err.contains(&format!(
            "harbor.example.com/shop/web@{CANARY} was rejected in dev by rollback"
        )) && err.contains("success-rate=[[0.81],[0.8]]")
            && err.contains("--force"),
        "{err}"
    );
    assert!(forced.0, "{}", forced.2);
    git(&work.path, &["pull", "--quiet", "origin", "main"]);
    let forced_commit = &work.log()[1];
    assert!(
        forced_commit
            .body
            .contains("Gantry-Forced: rejected by rollback"),
        "{}",
        forced_commit.body
    );
    assert!(newer.0, "a newer digest deploys: {}", newer.2);
    assert_eq!(
        remote.log("main").len(),
        commits_before + 2,
        "nothing pushed by the refusal"
    );
}
