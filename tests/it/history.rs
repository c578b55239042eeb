//! `gantry history` over a scripted config repo: deploy, promote and rollback commits written
//! with git at fixed times, mixed with people's own commits.

use std::path::Path;
use std::process::Command;

use crate::cli::{gantry, text};
use crate::harness::git::Remote;

/// Commits (empty tree change) with a fixed author and time, like a recorded history.
fn commit_at(dir: &Path, when: &str, author: &str, message: &str) {
    let (name, email) = author.split_once(" <").expect("Name <email>");
    let email = email.trim_end_matches('>');
    let out = Command::new("git")
        .args([
            "commit",
            "--quiet",
            "--allow-empty",
            "--no-gpg-sign",
            "-m",
            message,
        ])
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", name)
        .env("GIT_AUTHOR_EMAIL", email)
        .env("GIT_COMMITTER_NAME", name)
        .env("GIT_COMMITTER_EMAIL", email)
        .env("GIT_AUTHOR_DATE", when)
        .env("GIT_COMMITTER_DATE", when)
        .output()
        .expect("run git commit");
    assert!(out.status.success(), "{}", text(&out.stderr));
}

const BOT: &str = "gantry <gantry@localhost>";
const WEB_1: &str = "registry.example.com/shop/web@sha256:1111111111111111111111111111111111111111111111111111111111111111";
const WEB_2: &str = "registry.example.com/shop/web@sha256:2222222222222222222222222222222222222222222222222222222222222222";
const API_1: &str = "registry.example.com/shop/api@sha256:3333333333333333333333333333333333333333333333333333333333333333";

fn scripted_repo() -> (Remote, crate::harness::git::Work) {
    let remote = Remote::new();
    let work = remote.clone_work();
    let d = &work.path;
    commit_at(
        d,
        "2026-11-01T10:00:00Z",
        "Ada Admin <ada@example.com>",
        "initial config",
    );
    commit_at(
        d,
        "2026-11-02T09:00:00Z",
        BOT,
        &format!(
            "deploy web to dev\n\nGantry-Action: deploy\nGantry-App: web\nGantry-Env: dev\nGantry-Image: {WEB_1}\nGantry-Source: https://git.example.com/shop/web@9f8e7d6\nGantry-Run: build-web-41\nGantry-Evidence: scan=0C/0H signed=yes\n"
        ),
    );
    commit_at(
        d,
        "2026-11-03T12:30:00Z",
        "Bob Builder <bob@example.com>",
        &format!(
            "promote web to staging\n\nMerged PR #12.\n\nGantry-Action: promote\nGantry-App: web\nGantry-Env: staging\nGantry-Image: {WEB_1}\n"
        ),
    );
    commit_at(
        d,
        "2026-11-03T15:00:00Z",
        "Ada Admin <ada@example.com>",
        "tune web replicas\n\nSigned-off-by: Ada Admin <ada@example.com>\n",
    );
    commit_at(
        d,
        "2026-11-04T08:15:00Z",
        BOT,
        &format!(
            "deploy api to dev\n\nGantry-Action: deploy\nGantry-App: api\nGantry-Env: dev\nGantry-Image: {API_1}\n"
        ),
    );
    commit_at(
        d,
        "2026-11-05T22:40:00Z",
        BOT,
        &format!(
            "rollback web in staging\n\ncanary failed analysis\n\nGantry-Action: rollback\nGantry-App: web\nGantry-Env: staging\nGantry-Image: {WEB_2}\nGantry-Run: rollout-web-staging-7\nGantry-Evidence: success-rate=0.91 p99=1840ms\n"
        ),
    );
    commit_at(
        d,
        "2026-11-06T07:05:00Z",
        "Bob Builder <bob@example.com>",
        &format!(
            "promote web to prod\n\nGantry-Action: promote\nGantry-App: web\nGantry-Env: prod\nGantry-Image: {WEB_1}\n"
        ),
    );
    (remote, work)
}

fn history(repo: &Path, extra: &[&str]) -> String {
    let mut args = vec!["history", "--repo", repo.to_str().expect("utf-8 path")];
    args.extend_from_slice(extra);
    let out = gantry(&args);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    // Commit ids differ per run; the table shows 8 hex digits in the COMMIT column.
    let re = regex::Regex::new(r"\b[0-9a-f]{8}\b  ").expect("regex");
    re.replace_all(&text(&out.stdout), "<commit>  ")
        .into_owned()
}

#[test]
fn history_prints_the_exact_table_newest_first() {
    let (_remote, work) = scripted_repo();
    assert_eq!(
        history(&work.path, &[]),
        "\
TIME (UTC)           ACTION    APP  ENV      IMAGE                                              COMMIT    AUTHOR       SUBJECT
2026-11-06 07:05:00  promote   web  prod     registry.example.com/shop/web@sha256:111111111111  <commit>  Bob Builder  promote web to prod
2026-11-05 22:40:00  rollback  web  staging  registry.example.com/shop/web@sha256:222222222222  <commit>  gantry       rollback web in staging
2026-11-04 08:15:00  deploy    api  dev      registry.example.com/shop/api@sha256:333333333333  <commit>  gantry       deploy api to dev
2026-11-03 12:30:00  promote   web  staging  registry.example.com/shop/web@sha256:111111111111  <commit>  Bob Builder  promote web to staging
2026-11-02 09:00:00  deploy    web  dev      registry.example.com/shop/web@sha256:111111111111  <commit>  gantry       deploy web to dev
"
    );
}

#[test]
fn history_filters_by_app_env_action_and_time() {
    let (_remote, work) = scripted_repo();
    let rows = |extra: &[&str]| -> Vec<String> {
        history(&work.path, extra)
            .lines()
            .skip(1)
            .map(|l| {
                l.split("  ")
                    .filter(|c| !c.is_empty())
                    .last()
                    .unwrap_or_default()
                    .trim()
                    .to_string()
            })
            .collect()
    };
    assert_eq!(rows(&["--app", "api"]), ["deploy api to dev"]);
    assert_eq!(
        rows(&["--env", "staging"]),
        ["rollback web in staging", "promote web to staging"]
    );
    assert_eq!(
        rows(&["--action", "promote", "--app", "web"]),
        ["promote web to prod", "promote web to staging"]
    );
    assert_eq!(
        rows(&["--since", "2026-11-04"]),
        [
            "promote web to prod",
            "rollback web in staging",
            "deploy api to dev"
        ]
    );
    assert_eq!(
        rows(&["--since", "2026-11-05T23:00:00Z"]),
        ["promote web to prod"]
    );
    assert_eq!(rows(&["--app", "nope"]), ["(no gantry commits match)"]);
}

#[test]
fn history_json_carries_every_trailer_in_full() {
    let (_remote, work) = scripted_repo();
    let out = gantry(&[
        "history",
        "--repo",
        work.path.to_str().expect("utf-8"),
        "--action",
        "rollback",
        "--output",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let row = &rows[0];
    assert_eq!(rows.as_array().map(Vec::len), Some(1));
    assert_eq!(row["time"], "2026-11-05T22:40:00Z");
    assert_eq!(row["author"], "gantry <gantry@localhost>");
    assert_eq!(row["action"], "rollback");
    assert_eq!(row["image"], WEB_2);
    assert_eq!(row["run"], "rollout-web-staging-7");
    assert_eq!(row["evidence"], "success-rate=0.91 p99=1840ms");
    assert_eq!(row["commit"].as_str().map(str::len), Some(40));
}

#[test]
fn regression_issue_15_history_refuses_a_bad_since_with_exit_2_and_a_non_repository() {
    let (_remote, work) = scripted_repo();
    let out = gantry(&[
        "history",
        "--repo",
        work.path.to_str().expect("utf-8"),
        "--since",
        "last tuesday",
    ]);
    // A usage error (regression_issue_15: it exited 1 like an operation failure).
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--since \"last tuesday\""),
        "{}",
        text(&out.stderr)
    );
    let empty = tempfile::TempDir::new().expect("temp dir");
    let out = gantry(&["history", "--repo", empty.path().to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("is not a git repository"),
        "{}",
        text(&out.stderr)
    );
}
