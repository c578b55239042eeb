//! Issue 19: promotion by pull request against each forge's documented endpoints (the forge
//! double in `harness::forge`), with real git for the branches and commits.

use std::sync::Arc;
use std::time::Duration;

use gantry::config::{Forge as ForgeConfig, ForgeKind, PromotionMode, SecretRef};
use gantry::core::ImageRef;
use gantry::core::secret::Secret;
use gantry::promotion::forge;
use gantry::promotion::gates::{Ask, decide, gates};
use gantry::promotion::{Check, Evidence, Facts, Outcome, Promotion, SourceHealth, promote};
use serde_json::json;
use tempfile::TempDir;

use crate::cli::{gantry, text};
use crate::git::quickstart_remote;
use crate::harness::forge::{Forge, TOKEN};
use crate::harness::git::{Remote, Work, git};

const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
const HEAD: &str = "gantry/promote/web/prod";

struct Repo {
    remote: Remote,
    work: Work,
    mirror: Arc<gantry::git::Mirror>,
    _data: TempDir,
}

fn repo() -> Repo {
    let (remote, work) = quickstart_remote();
    let data = TempDir::new().expect("data");
    let cache = gantry::git::RepoCache::new(data.path(), Duration::from_secs(30));
    let mirror = cache
        .mirror(&remote.url(), gantry::git::Credentials::Anonymous)
        .expect("mirror");
    Repo {
        remote,
        work,
        mirror,
        _data: data,
    }
}

fn facts() -> Facts {
    Facts {
        from: "staging".into(),
        to: "prod".into(),
        health: SourceHealth::Synced {
            health: "Healthy".into(),
        },
        analysis: Check::Passed("request-success-rate 0.999 >= 0.99".into()),
        soaked: Some(Duration::from_hours(3)),
        soak_time: Some(Duration::from_hours(2)),
        scan: Check::Passed("0 critical, 0 high".into()),
        signature: Check::Passed("verified with key 3f9a".into()),
        rejected: None,
        window_closed: None,
    }
}

fn promotion(digest: &str, mode: PromotionMode, facts: &Facts, ask: Ask) -> Promotion {
    let image = ImageRef::parse(&format!("harbor.example.com/shop/web@{digest}")).expect("ref");
    let all = gates(facts);
    let evidence = Evidence {
        app: "web".into(),
        from: "staging".into(),
        to: "prod".into(),
        image: image.clone(),
        gates: all.clone(),
        source_range: None,
        source_commits: Vec::new(),
        analysis: vec!["request-success-rate: 0.999 (result[0] >= 0.99): Successful".into()],
        windows: Vec::new(),
        forced: ask
            .force
            .then(|| gantry::promotion::gates::skipped(&all))
            .flatten(),
    };
    Promotion {
        request: gantry::deploy::DeployRequest {
            app: "web".into(),
            env: "prod".into(),
            image,
            action: gantry::audit::Action::Promote,
            source: None,
            run: Some("promotion-web-prod".into()),
            evidence: evidence.trailer(),
            rejects: None,
            skipped: evidence.forced.clone(),
            force: ask.force,
            body: None,
        },
        target: gantry::deploy::Target {
            branch: "main".into(),
            overlay: "apps/web/overlays/prod".into(),
            image_name: "harbor.example.com/shop/web".into(),
            identity: gantry::git::Identity::default(),
        },
        decision: decide(mode, &all, ask),
        evidence,
        labels: vec!["gantry".into(), "promotion".into()],
    }
}

fn client(double: &Forge, token: &str) -> Arc<dyn gantry::promotion::forge::Forge> {
    let kind = match double.kind {
        "github" => ForgeKind::Github,
        "gitlab" => ForgeKind::Gitlab,
        _ => ForgeKind::Gitea,
    };
    let config = ForgeConfig {
        kind,
        url: double.url.clone(),
        repository: "shop/config".into(),
        token: SecretRef::Env("UNUSED".into()),
        labels: Vec::new(),
    };
    forge::client(&config, Secret::new(token)).expect("client")
}

fn branch_tip(remote: &Remote, branch: &str) -> Option<String> {
    let out = std::process::Command::new("git")
        .arg("--git-dir")
        .arg(&remote.path)
        .args([
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("refs/heads/{branch}"),
        ])
        .output()
        .expect("git");
    out.status
        .success()
        .then(|| text(&out.stdout).trim().to_owned())
}

async fn run(
    repo: &Repo,
    forge: Option<&dyn gantry::promotion::forge::Forge>,
    p: &Promotion,
) -> Result<Outcome, gantry::promotion::PromotionError> {
    let cancel = tokio_util::sync::CancellationToken::new();
    promote(&repo.mirror, forge, p, false, &cancel).await
}

/// The create request, as each forge documents it.
fn assert_create_payload(double: &Forge) {
    let seen = double.seen();
    let create = seen
        .iter()
        .find(|s| {
            s.method == "POST"
                && (s.path.ends_with("/pulls") || s.path.ends_with("/merge_requests"))
        })
        .expect("a create request");
    let (path, head, base, body) = match double.kind {
        "github" => ("/api/v3/repos/shop/config/pulls", "head", "base", "body"),
        "gitlab" => (
            "/api/v4/projects/shop%2Fconfig/merge_requests",
            "source_branch",
            "target_branch",
            "description",
        ),
        _ => ("/api/v1/repos/shop/config/pulls", "head", "base", "body"),
    };
    assert_eq!(create.path, path);
    assert_eq!(create.body[head], HEAD);
    assert_eq!(create.body[base], "main");
    assert_eq!(
        create.body["title"],
        "Promote web to prod: sha256:111111111111"
    );
    let text = create.body[body].as_str().expect("body");
    assert!(
        text.contains(&format!("| Image | `harbor.example.com/shop/web@{D1}` |")),
        "{text}"
    );
    assert!(
        text.contains("| Soak | ✅ 3h in staging (soakTime 2h) |"),
        "{text}"
    );
    assert!(text.contains("request-success-rate: 0.999"), "{text}");
    let expected_auth = match double.kind {
        "github" => format!("Bearer {TOKEN}"),
        "gitlab" => TOKEN.to_owned(),
        _ => format!("token {TOKEN}"),
    };
    assert!(
        seen.iter()
            .all(|s| s.auth.as_deref() == Some(expected_auth.as_str())),
        "{seen:?}"
    );
    if double.kind == "github" {
        assert!(
            seen.iter()
                .any(|s| s.path == "/api/v3/repos/shop/config/issues/1/labels"
                    && s.body == json!({"labels": ["gantry", "promotion"]}))
        );
        let find = &seen[0];
        assert_eq!(
            (find.method.as_str(), find.query.as_str()),
            (
                "GET",
                "state=open&head=shop%3Agantry%2Fpromote%2Fweb%2Fprod&base=main"
            )
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_issue_19_one_pull_request_per_forge_updated_then_superseded_then_merged() {
    for kind in ["github", "gitlab", "gitea"] {
        let repo = repo();
        let double = Forge::start(kind, repo.remote.path.clone()).await;
        let forge = client(&double, TOKEN);
        let main_before = branch_tip(&repo.remote, "main").expect("main");
        let ask = Ask::default();

        let first = run(
            &repo,
            Some(&*forge),
            &promotion(D1, PromotionMode::Pr, &facts(), ask),
        )
        .await
        .expect("promote");
        let Outcome::PullRequest {
            number,
            created,
            ref superseded,
            ref branch,
            ..
        } = first
        else {
            panic!("{kind}: {first:?}");
        };
        assert!(
            created && superseded.is_none() && number == 1,
            "{kind}: {first:?}"
        );
        assert_eq!(branch, HEAD);
        assert_eq!(
            branch_tip(&repo.remote, "main").as_deref(),
            Some(main_before.as_str()),
            "main untouched"
        );
        let tip = branch_tip(&repo.remote, HEAD).expect("branch pushed");
        let message = git(&repo.remote.path, &["log", "-1", "--format=%B", &tip]);
        assert!(
            message.starts_with("web: promote sha256:111111111111 to prod"),
            "{message}"
        );
        for trailer in [
            "Gantry-Action: promote",
            "Gantry-Env: prod",
            &format!("Gantry-Image: harbor.example.com/shop/web@{D1}"),
            "Gantry-Evidence: from=staging health=passed analysis=passed soak=passed scan=passed signature=passed",
        ] {
            assert!(message.contains(trailer), "{kind}: {trailer} in {message}");
        }
        let parent = git(&repo.remote.path, &["rev-parse", &format!("{tip}^")]);
        assert_eq!(parent.trim(), main_before, "one commit on main");
        assert_create_payload(&double);
        let labels = &double.pulls()[0].labels;
        assert_eq!(labels, &["gantry", "promotion"], "{kind}");

        // Again, same digest: the open pull request is updated, not duplicated.
        let again = run(
            &repo,
            Some(&*forge),
            &promotion(D1, PromotionMode::Pr, &facts(), ask),
        )
        .await
        .expect("again");
        assert!(
            matches!(
                again,
                Outcome::PullRequest {
                    created: false,
                    superseded: None,
                    number: 1,
                    ..
                }
            ),
            "{kind}: {again:?}"
        );
        assert_eq!(double.pulls().len(), 1);
        assert!(double.pulls()[0].comments.is_empty());
        let edit = if kind == "gitlab" { "PUT" } else { "PATCH" };
        assert!(
            double.seen().iter().any(|s| s.method == edit),
            "{kind}: the body was edited"
        );

        // A newer digest: same pull request, a comment names the one it replaces.
        let newer = run(
            &repo,
            Some(&*forge),
            &promotion(D2, PromotionMode::Pr, &facts(), ask),
        )
        .await
        .expect("newer");
        assert!(
            matches!(&newer, Outcome::PullRequest { created: false, superseded: Some(old), .. } if old == D1),
            "{kind}: {newer:?}"
        );
        let pull = &double.pulls()[0];
        assert_eq!(double.pulls().len(), 1);
        assert_eq!(pull.title, "Promote web to prod: sha256:222222222222");
        assert_eq!(pull.comments.len(), 1);
        assert!(
            pull.comments[0].contains(D1) && pull.comments[0].contains(D2),
            "{:?}",
            pull.comments
        );

        // The merge: the target overlay holds the digest; history shows the promotion.
        double.merge(1);
        git(&repo.work.path, &["pull", "--quiet", "origin", "main"]);
        let overlay = std::fs::read_to_string(
            repo.work
                .path
                .join("apps/web/overlays/prod/kustomization.yaml"),
        )
        .expect("overlay");
        assert!(overlay.contains(&format!("digest: {D2}")), "{overlay}");
        let history = gantry(&[
            "history",
            "--repo",
            &repo.work.path.display().to_string(),
            "--app",
            "web",
            "--env",
            "prod",
        ]);
        let shown = text(&history.stdout);
        assert!(
            shown.contains("promote") && shown.contains("sha256:222222222222"),
            "{kind}: {shown}{}",
            text(&history.stderr)
        );
        let json = gantry(&[
            "history",
            "--repo",
            &repo.work.path.display().to_string(),
            "--action",
            "promote",
            "--output",
            "json",
        ]);
        let rows: serde_json::Value = serde_json::from_slice(&json.stdout).expect("history json");
        let newest = &rows.as_array().expect("rows")[0];
        assert_eq!(newest["env"], "prod", "{rows}");
        assert_eq!(
            newest["evidence"],
            "from=staging health=passed analysis=passed soak=passed scan=passed signature=passed",
            "the promotion's evidence is in history: {rows}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_issue_19_forge_errors_are_the_forges_words_and_leave_no_branch() {
    for (kind, said) in [
        ("github", "Bad credentials"),
        ("gitlab", "401 Unauthorized"),
        ("gitea", "token is required"),
    ] {
        let repo = repo();
        let double = Forge::start(kind, repo.remote.path.clone()).await;
        let wrong = client(&double, "not-the-token");
        let err = run(
            &repo,
            Some(&*wrong),
            &promotion(D1, PromotionMode::Pr, &facts(), Ask::default()),
        )
        .await
        .expect_err("401");
        let shown = err.to_string();
        assert!(
            shown.contains("401") && shown.contains(said) && shown.contains("nothing was pushed"),
            "{kind}: {shown}"
        );
        assert!(
            !shown.contains("not-the-token"),
            "the token is never shown: {shown}"
        );
        assert_eq!(err.metric_label(), "unauthorized");
        assert_eq!(
            branch_tip(&repo.remote, HEAD),
            None,
            "{kind}: nothing pushed"
        );

        let forge = client(&double, TOKEN);
        double.refuse_create(422, json!({"message": "Validation Failed", "errors": [{"resource": "PullRequest", "code": "custom", "message": "No commits between main and gantry/promote/web/prod"}]}));
        let err = run(
            &repo,
            Some(&*forge),
            &promotion(D1, PromotionMode::Pr, &facts(), Ask::default()),
        )
        .await
        .expect_err("422");
        let shown = err.to_string();
        assert!(
            shown.contains("422")
                && shown.contains("No commits between main")
                && shown.contains("deleted again"),
            "{kind}: {shown}"
        );
        assert_eq!(
            branch_tip(&repo.remote, HEAD),
            None,
            "{kind}: no dangling branch"
        );
        assert!(double.pulls().is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_issue_19_without_a_forge_the_branch_is_pushed_and_the_way_to_open_it_said() {
    let repo = repo();
    let out = run(
        &repo,
        None,
        &promotion(D1, PromotionMode::Pr, &facts(), Ask::default()),
    )
    .await
    .expect("pushed");
    let Outcome::BranchPushed { branch, how } = out else {
        panic!("{out:?}");
    };
    assert_eq!(branch, HEAD);
    assert!(
        how.contains("open a pull request from gantry/promote/web/prod into main"),
        "{how}"
    );
    assert!(branch_tip(&repo.remote, HEAD).is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_issue_19_auto_commits_directly_and_a_closed_gate_pushes_nothing() {
    let repo = repo();
    let mut closed = facts();
    closed.soaked = Some(Duration::from_mins(10));
    let blocked = run(
        &repo,
        None,
        &promotion(D1, PromotionMode::Auto, &closed, Ask::default()),
    )
    .await
    .expect("decided");
    let Outcome::Blocked { gates } = blocked else {
        panic!("{blocked:?}");
    };
    assert_eq!(gates.len(), 1);
    assert_eq!(gates[0].reason, "10m of 2h in staging; 1h 50m to go");
    assert_eq!(repo.remote.log("main").len(), 1, "nothing committed");

    let forced = promotion(
        D1,
        PromotionMode::Auto,
        &closed,
        Ask {
            explicit: true,
            force: true,
        },
    );
    let done = run(&repo, None, &forced).await.expect("forced");
    assert!(matches!(done, Outcome::Committed { .. }), "{done:?}");
    git(&repo.work.path, &["pull", "--quiet", "origin", "main"]);
    let last = &repo.work.log()[0];
    assert!(
        last.body.contains("Gantry-Action: promote"),
        "{}",
        last.body
    );
    assert!(
        last.body.contains("Gantry-Forced: gates soak"),
        "the skipped gate is said: {}",
        last.body
    );

    let done = run(
        &repo,
        None,
        &promotion(D2, PromotionMode::Auto, &facts(), Ask::default()),
    )
    .await
    .expect("auto");
    assert!(matches!(done, Outcome::Committed { .. }), "{done:?}");
    assert_eq!(repo.remote.log("main").len(), 3);
    let again = run(
        &repo,
        None,
        &promotion(D2, PromotionMode::Auto, &facts(), Ask::default()),
    )
    .await
    .expect("again");
    assert_eq!(again, Outcome::AlreadyThere);
    assert_eq!(repo.remote.log("main").len(), 3, "no empty commit");
}
