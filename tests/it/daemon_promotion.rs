//! Issue 19 end to end in the daemon: a digest deployed to dev is promoted to staging by a
//! commit (`auto`), then proposed to prod by a pull request on the forge double once its soak
//! ends; the merge's webhook starts prod's sync (timed); `gantry envs` and `gantry promote`
//! reach the daemon's API. Real git, the request-level fake cluster.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use gantry::daemon::Options;
use serde_json::Value;
use tempfile::TempDir;

use crate::cli::text;
use crate::daemon::{options_for, spawn};
use crate::harness::forge::{Forge, TOKEN};
use crate::harness::git::{Remote, Work, git};

const D0: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const IMAGE: &str = "harbor.example.com/shop/web";

fn gantry_yaml(
    forge_url: &str,
    token_file: &std::path::Path,
    (prod_mode, soak): (&str, &str),
) -> String {
    format!(
        "apiVersion: gantry.dev/v1alpha1
kind: Config
environments:
  - name: dev
    cluster: in-cluster
    namespace: shop-dev
  - name: staging
    cluster: in-cluster
    namespace: shop-staging
    promoteFrom: dev
    promotion: auto
  - name: prod
    cluster: in-cluster
    namespace: shop
    promoteFrom: staging
    promotion: {prod_mode}
    soakTime: {soak}
{forge}apps:
  - name: web
    image: {IMAGE}
    environments: [dev, staging, prod]
",
        forge = if forge_url.is_empty() {
            String::new()
        } else {
            format!(
                "forge:\n  kind: github\n  url: {forge_url}\n  repository: shop/config\n  token: {{file: {}}}\n  labels: [promotion]\n",
                token_file.display()
            )
        }
    )
}

/// A config repo: web in dev, staging and prod, each overlay one ConfigMap and an `images:`
/// entry pinning D0.
fn config_repo(
    remote: &Remote,
    forge_url: &str,
    token_file: &std::path::Path,
    prod: (&str, &str),
) -> Work {
    let work = remote.clone_work();
    work.write("gantry.yaml", &gantry_yaml(forge_url, token_file, prod));
    for env in ["dev", "staging", "prod"] {
        work.write(
            &format!("apps/web/overlays/{env}/cm.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\ndata:\n  a: \"1\"\n",
        );
        work.write(
            &format!("apps/web/overlays/{env}/kustomization.yaml"),
            &format!("resources:\n  - cm.yaml\nimages:\n  - name: {IMAGE}\n    digest: {D0}\n"),
        );
    }
    work.commit_all("web everywhere at D0");
    work.push();
    work
}

/// What `gantry deploy` does: D1 into dev, with gantry's trailers.
async fn deploy_d1_to_dev(remote: &Remote, data: &std::path::Path, source: &str) {
    let cache = gantry::git::RepoCache::new(&data.join("deployer"), Duration::from_secs(30));
    let mirror = cache
        .mirror(&remote.url(), gantry::git::Credentials::Anonymous)
        .expect("mirror");
    let request = gantry::deploy::DeployRequest {
        app: "web".into(),
        env: "dev".into(),
        image: gantry::core::ImageRef::parse(&format!("{IMAGE}@{D1}")).expect("ref"),
        action: gantry::audit::Action::Deploy,
        source: Some(source.into()),
        run: Some("pipeline-9".into()),
        evidence: vec![("scan".into(), "0C/0H".into())],
        rejects: None,
        force: false,
        skipped: None,
        body: None,
    };
    let target = gantry::deploy::Target {
        branch: "main".into(),
        overlay: "apps/web/overlays/dev".into(),
        image_name: IMAGE.into(),
        identity: gantry::git::Identity::default(),
    };
    let cancel = tokio_util::sync::CancellationToken::new();
    gantry::deploy::deploy(&mirror, &target, &request, false, &cancel)
        .await
        .expect("deploy to dev");
}

async fn get(addr: SocketAddr, path: &str) -> Value {
    reqwest::get(format!("http://{addr}{path}"))
        .await
        .expect("get")
        .json()
        .await
        .expect("json")
}

async fn until<T>(what: &str, secs: u64, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "not within {secs} s: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn overlay(work: &Work, env: &str) -> String {
    git(&work.path, &["pull", "--quiet", "origin", "main"]);
    std::fs::read_to_string(
        work.path
            .join(format!("apps/web/overlays/{env}/kustomization.yaml")),
    )
    .expect("overlay")
}

fn options(remote: &Remote, data: &TempDir, poll: Duration) -> Options {
    let cluster = crate::fake_cluster::Cluster::default();
    let mut options = options_for(&remote.url(), data.path(), cluster.client());
    options.poll_interval = poll;
    options.webhooks = crate::webhook::config();
    options
}

/// A daemon polling every 200 ms, dev given D1 by `gantry deploy`, and staging (`auto`) given
/// it by the promotion's commit: where the `gantry promote` scenarios start.
async fn staged(remote: &Remote, work: &Work, data: &TempDir) -> (crate::daemon::Running, String) {
    let running = spawn(options(remote, data, Duration::from_millis(200))).await;
    let server = format!("http://{}", running.addr);
    deploy_d1_to_dev(
        remote,
        data.path(),
        "https://git.example.com/shop/web.git@abc1234",
    )
    .await;
    until("staging promoted by commit", 30, async || {
        overlay(work, "staging").contains(D1).then_some(())
    })
    .await;
    (running, server)
}

/// `gantry promote web --to prod EXTRA…` against `server`.
fn promote_prod(server: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["promote", "web", "--to", "prod", "--server", server];
    args.extend_from_slice(extra);
    crate::cli::gantry(&args)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn regression_issue_19_dev_to_staging_by_commit_to_prod_by_pull_request_merged_by_webhook() {
    crate::harness::logs::capture();
    let data = TempDir::new().expect("data");
    let token = data.path().join("forge-token");
    std::fs::write(&token, format!("{TOKEN}\n")).expect("token file");
    let remote = Remote::new();
    // The forge double hosts the config repo's remote.
    let forge = Forge::start("github", remote.path.clone()).await;
    let work = config_repo(&remote, &forge.url, &token, ("pr", "2s"));
    // Polls far apart: only the webhook can make the merge's sync start within a second.
    let running = spawn(options(&remote, &data, Duration::from_secs(3))).await;
    let addr = running.addr;
    until("the first pass", 20, async || {
        let apps = get(addr, "/api/v1/apps").await;
        (apps["apps"].as_array().map_or(0, Vec::len) == 3).then_some(())
    })
    .await;

    // The app's source repository: the pull request lists what the digest brings.
    let source = Remote::new();
    let src = source.clone_work();
    for subject in ["Add the cart", "Fix the checkout total"] {
        src.write("main.go", subject);
        src.commit_all(subject);
    }
    src.push();
    let built = git(&src.path, &["rev-parse", "HEAD"]).trim().to_owned();
    let built_from = format!("{}@{built}", source.url());
    deploy_d1_to_dev(&remote, data.path(), &built_from).await;
    // The poll finds the deploy; dev syncs; staging (auto) gets a promote commit.
    let staging = until("staging promoted by commit", 30, async || {
        let k = overlay(&work, "staging");
        k.contains(D1).then_some(k)
    })
    .await;
    assert!(staging.contains(&format!("digest: {D1}")), "{staging}");
    let last = &work.log()[0];
    assert!(
        last.subject
            .starts_with("web: promote sha256:111111111111 to staging"),
        "{}",
        last.subject
    );
    assert!(
        last.body.contains("Gantry-Action: promote")
            && last.body.contains(&format!("Gantry-Source: {built_from}")),
        "{}",
        last.body
    );

    // prod (pr): once staging runs it healthy and it soaked 2 s, one pull request.
    let pull = until("a pull request for prod", 40, async || {
        // Labelled: GitHub labels a pull request in a second request, after creating it.
        forge
            .pulls()
            .into_iter()
            .next()
            .filter(|p| !p.labels.is_empty())
    })
    .await;
    assert_eq!(pull.head, "gantry/promote/web/prod");
    assert_eq!(pull.labels, ["promotion"]);
    assert!(pull.body.contains("| Soak | ✅"), "{}", pull.body);
    assert!(
        pull.body.contains(&format!("| Source | `{built_from}` |")),
        "{}",
        pull.body
    );
    assert!(
        pull.body.contains("### Source commits")
            && pull.body.contains(" Fix the checkout total\n")
            && pull.body.contains(" Add the cart\n"),
        "the source commits with their subjects: {}",
        pull.body
    );
    assert!(
        !overlay(&work, "prod").contains(D1),
        "nothing lands on main before the merge"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(forge.pulls().len(), 1, "later passes do not open another");

    let envs = crate::cli::gantry(&["envs", "--server", &format!("http://{addr}")]);
    let shown = text(&envs.stdout);
    assert!(envs.status.success(), "{shown}{}", text(&envs.stderr));
    assert!(
        shown.contains("PULL REQUEST")
            && shown.contains("https://github.example.com/shop/config/pull/1"),
        "{shown}"
    );

    // The merge, and its push webhook: prod's sync starts within a second.
    forge.merge(1);
    let merged = git(&remote.path, &["rev-parse", "refs/heads/main"])
        .trim()
        .to_owned();
    // GitHub's push event for the merge, naming the config repo (as the forge hosting it would).
    let body = serde_json::to_vec(&serde_json::json!({
        "ref": "refs/heads/main",
        "before": "0000000000000000000000000000000000000000",
        "after": merged,
        "repository": {"full_name": "shop/config", "clone_url": remote.url(), "html_url": forge.url.clone() + "/shop/config"},
        "pusher": {"name": "forge"},
    }))
    .expect("json");
    let mut headers = crate::webhook::github_headers("push", &body, crate::webhook::GITHUB_SECRET);
    headers[1].1 = "merge-delivery-19".into();
    let client = reqwest::Client::new();
    let sent = Instant::now();
    let mut request = client
        .post(format!("http://{addr}/hooks/github"))
        .header("content-type", "application/json");
    for (k, v) in &headers {
        request = request.header(*k, v);
    }
    let reply = request.body(body).send().await.expect("webhook");
    assert!(reply.status().is_success(), "{}", reply.status());
    until("prod's sync of the merge started", 5, async || {
        let row = get(addr, "/api/v1/apps/web/envs/prod").await;
        (row["desired"].as_str() == Some(merged.as_str())).then_some(())
    })
    .await;
    let started = sent.elapsed();
    println!(
        "merge webhook → prod sync started in {} ms",
        started.as_millis()
    );
    assert!(started < Duration::from_secs(1), "{started:?}");

    assert!(
        overlay(&work, "prod").contains(&format!("digest: {D1}")),
        "merged"
    );
    let history = crate::cli::gantry(&[
        "history",
        "--repo",
        &work.path.display().to_string(),
        "--app",
        "web",
        "--env",
        "prod",
    ]);
    let shown = text(&history.stdout);
    assert!(
        shown.contains("promote") && shown.contains("sha256:111111111111"),
        "{shown}"
    );
    running.shutdown.cancel();
    let _ = running.task.await;
}

/// `manual` prod: the daemon only reports; `gantry promote` is refused with the closed gate
/// while the soak runs (exit 1), shows the diff with `--dry-run`, then commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn regression_issue_19_gantry_promote_says_the_gate_then_dry_runs_then_commits() {
    crate::harness::logs::capture();
    let data = TempDir::new().expect("data");
    let token = data.path().join("forge-token");
    std::fs::write(&token, TOKEN).expect("token file");
    let remote = Remote::new();
    let forge = Forge::start("github", remote.path.clone()).await;
    let work = config_repo(&remote, &forge.url, &token, ("manual", "6s"));
    let (running, server) = staged(&remote, &work, &data).await;
    let promote = |extra: &[&str]| promote_prod(&server, extra);
    let blocked = promote(&[]);
    let said = text(&blocked.stdout);
    assert_eq!(
        blocked.status.code(),
        Some(1),
        "{said}{}",
        text(&blocked.stderr)
    );
    assert!(
        said.contains("web cannot be promoted to prod yet")
            && said.contains("soak: ")
            && said.contains("of 6s in staging"),
        "{said}"
    );
    tokio::time::sleep(Duration::from_secs(6)).await;
    let planned = promote(&["--dry-run"]);
    let said = text(&planned.stdout);
    assert!(planned.status.success(), "{said}{}", text(&planned.stderr));
    assert!(
        said.contains(&format!("+    digest: {D1}")) && said.contains("dry run: nothing pushed"),
        "{said}"
    );
    assert!(!overlay(&work, "prod").contains(D1));

    let done = promote(&[]);
    let said = text(&done.stdout);
    assert!(done.status.success(), "{said}{}", text(&done.stderr));
    assert!(said.contains("promoted web to prod: committed"), "{said}");
    assert!(overlay(&work, "prod").contains(&format!("digest: {D1}")));
    let last = &work.log()[0];
    assert!(
        last.body.contains("Gantry-Action: promote") && last.body.contains("Gantry-Env: prod"),
        "{}",
        last.body
    );
    assert!(forge.pulls().is_empty(), "manual opens no pull request");
    running.shutdown.cancel();
    let _ = running.task.await;
}

/// `pr` without a forge: `gantry promote` pushes the branch and says how to open the pull
/// request; main is untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn regression_issue_19_without_a_forge_gantry_promote_pushes_the_branch_and_says_how() {
    crate::harness::logs::capture();
    let data = TempDir::new().expect("data");
    let remote = Remote::new();
    let work = config_repo(&remote, "", std::path::Path::new(""), ("pr", "1h"));
    let (running, server) = staged(&remote, &work, &data).await;
    let out = promote_prod(&server, &["--force"]);
    let said = text(&out.stdout);
    assert!(out.status.success(), "{said}{}", text(&out.stderr));
    assert!(
        said.contains("pushed branch gantry/promote/web/prod"),
        "{said}"
    );
    assert!(
        said.contains(
            "no forge in gantry.yaml: open a pull request from gantry/promote/web/prod into main"
        ),
        "{said}"
    );
    let branch = git(
        &remote.path,
        &["log", "-1", "--format=%B", "gantry/promote/web/prod"],
    );
    assert!(
        branch.contains("Gantry-Forced: gates soak") && branch.contains("Gantry-Action: promote"),
        "{branch}"
    );
    assert!(!overlay(&work, "prod").contains(D1), "main untouched");
    running.shutdown.cancel();
    let _ = running.task.await;
}

/// Issue 18's rejection seen from a promotion: a digest a rollback rejected in prod is not
/// promoted there (the `not-rejected` gate, exit 1) until a person forces it, which the commit
/// says (`Gantry-Forced` names the gate and the rollback).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn regression_issue_18_a_digest_rejected_in_prod_is_not_promoted_there_unless_forced() {
    crate::harness::logs::capture();
    let data = TempDir::new().expect("data");
    let remote = Remote::new();
    let work = config_repo(&remote, "", std::path::Path::new(""), ("manual", "0s"));
    // prod ran D1 as a canary, which failed: the rollback put D0 back and rejected D1.
    let cache = gantry::git::RepoCache::new(&data.path().join("roller"), Duration::from_secs(30));
    let mirror = cache
        .mirror(&remote.url(), gantry::git::Credentials::Anonymous)
        .expect("mirror");
    let image = |d: &str| gantry::core::ImageRef::parse(&format!("{IMAGE}@{d}")).expect("ref");
    let rollback = gantry::rollout::rollback::request(
        ("web", "prod"),
        (&image(D0), &image(D1)),
        "the analysis of step 3 failed",
        &[],
        None,
    );
    let target = gantry::deploy::Target {
        branch: "main".into(),
        overlay: "apps/web/overlays/prod".into(),
        image_name: IMAGE.into(),
        identity: gantry::git::Identity::default(),
    };
    let cancel = tokio_util::sync::CancellationToken::new();
    // prod pins D1 (the canary's digest) until the rollback puts D0 back.
    work.write(
        "apps/web/overlays/prod/kustomization.yaml",
        &format!("resources:\n  - cm.yaml\nimages:\n  - name: {IMAGE}\n    digest: {D1}\n"),
    );
    work.commit_all("prod runs D1 (the canary)");
    work.push();
    gantry::deploy::deploy(&mirror, &target, &rollback, false, &cancel)
        .await
        .expect("rollback committed");

    let (running, server) = staged(&remote, &work, &data).await;
    let promote = |extra: &[&str]| promote_prod(&server, extra);
    let refused = until("staging synced at D1", 30, async || {
        let out = promote(&[]);
        let said = text(&out.stdout);
        (!said.contains("health: ")).then_some((out.status.code(), said))
    })
    .await;
    assert_eq!(refused.0, Some(1), "{}", refused.1);
    assert!(
        refused
            .1
            .contains("not-rejected: rejected in prod by rollback "),
        "{}",
        refused.1
    );
    assert!(!overlay(&work, "prod").contains(&format!("digest: {D1}")));

    let forced = promote(&["--force"]);
    let said = text(&forced.stdout);
    assert!(forced.status.success(), "{said}{}", text(&forced.stderr));
    assert!(overlay(&work, "prod").contains(&format!("digest: {D1}")));
    let last = &work.log()[0];
    assert!(
        last.body
            .contains("Gantry-Forced: gates not-rejected; rejected by rollback "),
        "{}",
        last.body
    );
    running.shutdown.cancel();
    let _ = running.task.await;
}
