//! Credentials end to end over smart HTTP (git http-backend behind a token check), and the
//! rule that no secret ever reaches a log line or an error message.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use gantry::config::SecretRef;
use gantry::git::{CommitOutcome, CommitRequest, Credentials, Identity, RepoCache, Secret};
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;

use crate::git::quickstart_remote;
use crate::harness::git::git;
use crate::harness::http_git::HttpGit;

const TOKEN: &str = "glpat-Zq8vXw3TtestSECRET";
const OTHER: &str = "glpat-wrongWRONGwrong";

fn request() -> CommitRequest {
    CommitRequest {
        branch: "main".into(),
        message: "deploy web to dev".into(),
        trailers: vec![("Gantry-Action".into(), "deploy".into())],
        identity: Identity::default(),
    }
}

fn touch() -> Arc<gantry::git::write::EditFn> {
    Arc::new(|tree| {
        let mut text = tree.read(Path::new("deployed.txt")).unwrap_or_default();
        text.extend_from_slice(b"web\n");
        tree.write("deployed.txt", text);
        Ok(())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_and_basic_tokens_fetch_and_push_over_http() {
    let (remote, _work) = quickstart_remote();
    let root = remote.path.parent().expect("remote dir");
    let cancel = CancellationToken::new();
    for (username, header) in [
        (None, format!("Bearer {TOKEN}")),
        (
            Some("gantry-bot".to_string()),
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("gantry-bot:{TOKEN}"))
            ),
        ),
    ] {
        let server = HttpGit::start(root, &header).await;
        let data = TempDir::new().expect("data dir");
        let cache = RepoCache::new(data.path(), Duration::from_secs(20));
        let creds = Credentials::Token {
            username: username.clone(),
            token: Secret::new(TOKEN),
        };
        let mirror = cache
            .mirror(&server.url("remote.git"), creds)
            .expect("mirror");
        let changes = mirror
            .changes(vec!["main".into()], &cancel)
            .await
            .expect("fetch with token");
        assert_eq!(changes.len(), 1, "{username:?}");
        let outcome = mirror
            .commit(request(), touch(), &cancel)
            .await
            .expect("push with token");
        let CommitOutcome::Committed { id, .. } = outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!(
            git(&remote.path, &["rev-parse", "main"]).trim(),
            id.to_string()
        );
    }
}

/// The quickstart remote behind smart HTTP that demands `Bearer TOKEN`.
async fn bearer_remote() -> (
    crate::harness::git::Remote,
    crate::harness::git::Work,
    HttpGit,
) {
    let (remote, work) = quickstart_remote();
    let server = HttpGit::start(
        remote.path.parent().expect("dir"),
        &format!("Bearer {TOKEN}"),
    )
    .await;
    (remote, work, server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_fails_with_a_message_that_does_not_contain_it() {
    let (_remote, _work, server) = bearer_remote().await;
    let data = TempDir::new().expect("data dir");
    let cache = RepoCache::new(data.path(), Duration::from_secs(20));
    let creds = Credentials::Token {
        username: None,
        token: Secret::new(OTHER),
    };
    // A URL carrying user-info is shown redacted, too.
    let url = server
        .url("remote.git")
        .replace("http://", &format!("http://bot:{OTHER}@"));
    let mirror = cache.mirror(&url, creds).expect("mirror");
    let cancel = CancellationToken::new();
    let err = mirror
        .changes(vec!["main".into()], &cancel)
        .await
        .expect_err("401");
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(OTHER) && !shown.contains(TOKEN), "{shown}");
    assert!(shown.contains("http://***@127.0.0.1"), "{shown}");
    assert!(!mirror.path().display().to_string().contains(OTHER));

    let err = mirror
        .commit(request(), touch(), &cancel)
        .await
        .expect_err("401");
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(OTHER), "{shown}");
}

#[test]
fn tokens_come_from_files_and_environment_variables() {
    let dir = TempDir::new().expect("dir");
    let file = dir.path().join("token");
    std::fs::write(&file, format!("{TOKEN}\n")).expect("write token");
    let creds = Credentials::token_from("https://h/r", &SecretRef::File(file.clone()), None, false)
        .expect("file token");
    assert!(matches!(&creds, Credentials::Token { token, .. } if token.expose() == TOKEN));
    assert!(!format!("{creds:?}").contains(TOKEN));

    let err = Credentials::token_from(
        "https://h/r",
        &SecretRef::Env("GANTRY_TEST_UNSET_TOKEN_VAR".into()),
        None,
        false,
    )
    .expect_err("unset variable");
    assert_eq!(
        err.to_string(),
        "credentials for https://h/r: environment variable GANTRY_TEST_UNSET_TOKEN_VAR is not set"
    );
    std::fs::write(&file, "\n").expect("write empty token");
    let err = Credentials::token_from("https://h/r", &SecretRef::File(file), None, false)
        .expect_err("empty");
    assert!(err.to_string().ends_with("the token is empty"), "{err}");
}

/// Acceptance: the suite's captured logs (every test in this binary that ran before this one,
/// plus the scenarios here, which run last within this test) hold none of the test secrets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_issue_5_no_secret_in_any_captured_log() {
    crate::harness::logs::capture();
    // Make sure the secret-bearing paths have logged, whatever order the tests ran in.
    a_refused_token_fails_with_a_message_that_does_not_contain_it_inner().await;
    let logs = crate::harness::logs::text();
    assert!(
        logs.contains("webhook") || logs.contains("pushed") || logs.contains("fetched"),
        "the capture saw nothing"
    );
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("gantry-bot:{TOKEN}"));
    for secret in [
        TOKEN,
        OTHER,
        encoded.as_str(),
        crate::webhook::GITHUB_SECRET,
        crate::webhook::GITLAB_TOKEN,
        crate::webhook::GITEA_SECRET,
        crate::webhook::HARBOR_AUTH,
        "harbor-hook-auth-9c2",
    ] {
        assert!(
            !logs.contains(secret),
            "a secret appears in the logs: {}",
            logs.lines()
                .find(|l| l.contains(secret))
                .unwrap_or_default()
        );
    }
    println!(
        "grepped {} lines of captured logs for 8 secrets: none found",
        logs.lines().count()
    );
}

async fn a_refused_token_fails_with_a_message_that_does_not_contain_it_inner() {
    let (_remote, _work, server) = bearer_remote().await;
    let data = TempDir::new().expect("data dir");
    let cancel = CancellationToken::new();
    for (i, token) in [TOKEN, OTHER].into_iter().enumerate() {
        let cache = RepoCache::new(&data.path().join(i.to_string()), Duration::from_secs(20));
        let creds = Credentials::Token {
            username: Some("gantry-bot".into()),
            token: Secret::new(token),
        };
        let mirror = cache
            .mirror(&server.url("remote.git"), creds)
            .expect("mirror");
        let _ = mirror.changes(vec!["main".into()], &cancel).await;
        let _ = mirror.commit(request(), touch(), &cancel).await;
    }
    // Webhooks with the right and a wrong secret.
    let body = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/webhooks/github-push.json"),
    )
    .expect("fixture");
    for secret in [crate::webhook::GITHUB_SECRET, "wrong"] {
        let headers = crate::webhook::github_headers("push", &body, secret);
        let _ = crate::webhook::send(
            crate::webhook::config(),
            "/hooks/github",
            &headers,
            body.clone(),
        )
        .await;
    }
}
