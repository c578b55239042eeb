//! Issue 15, webhooks: replays of one delivery did work 300 times; an empty secret made an
//! HMAC with the empty key (and an empty GitLab token) authenticate. Each failed before.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use gantry::git::Secret;
use gantry::trigger::{WebhookConfig, router};
use tokio::sync::mpsc;
use tower::ServiceExt as _;

use crate::webhook::{GITEA_SECRET, GITHUB_SECRET, GITLAB_TOKEN, config, fixture, sign};

async fn post(
    app: &axum::Router,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> StatusCode {
    let mut req = Request::post(path).header("content-type", "application/json");
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    app.clone()
        .oneshot(req.body(Body::from(body.to_vec())).expect("request"))
        .await
        .expect("router answers")
        .status()
}

/// (path, headers with delivery id `id`, body) for one push of each forge that sends an id.
/// (path, headers, body) of one delivery.
type Delivery = (&'static str, Vec<(&'static str, String)>, Vec<u8>);

fn deliveries(id: &str) -> Vec<Delivery> {
    let github = fixture("github-push.json");
    let gitea = fixture("gitea-push.json");
    let gitlab = fixture("gitlab-push.json");
    vec![
        (
            "/hooks/github",
            vec![
                ("x-github-event", "push".into()),
                ("x-github-delivery", id.into()),
                (
                    "x-hub-signature-256",
                    format!("sha256={}", sign(GITHUB_SECRET, &github)),
                ),
            ],
            github,
        ),
        (
            "/hooks/gitea",
            vec![
                ("x-gitea-event", "push".into()),
                ("x-gitea-delivery", id.into()),
                ("x-gitea-signature", sign(GITEA_SECRET, &gitea)),
            ],
            gitea,
        ),
        (
            "/hooks/gitlab",
            vec![
                ("x-gitlab-event", "Push Hook".into()),
                ("x-gitlab-event-uuid", id.into()),
                ("x-gitlab-token", GITLAB_TOKEN.into()),
            ],
            gitlab,
        ),
    ]
}

#[tokio::test]
async fn regression_issue_15_a_replayed_delivery_is_answered_200_and_does_no_work() {
    let (tx, mut rx) = mpsc::channel(1024);
    let app = router(config(), tx);
    for (path, headers, body) in deliveries("9d2b3e4f-0000-4000-8000-000000000001") {
        let mut statuses = std::collections::BTreeMap::new();
        for _ in 0..300 {
            *statuses
                .entry(post(&app, path, &headers, &body).await)
                .or_insert(0) += 1;
        }
        assert_eq!(
            statuses,
            [(StatusCode::OK, 299), (StatusCode::ACCEPTED, 1)]
                .into_iter()
                .collect(),
            "{path}"
        );
        let mut events = 0;
        while rx.try_recv().is_ok() {
            events += 1;
        }
        assert_eq!(events, 1, "{path}: one delivery, one event");
    }
    // Another delivery of the same push (a new id) is new work.
    for (path, headers, body) in deliveries("9d2b3e4f-0000-4000-8000-000000000002") {
        assert_eq!(
            post(&app, path, &headers, &body).await,
            StatusCode::ACCEPTED,
            "{path}"
        );
    }
}

#[tokio::test]
async fn regression_issue_15_an_empty_secret_authenticates_nothing() {
    let empty = WebhookConfig {
        github: Some(Secret::new("")),
        gitlab: Some(Secret::new("  ")),
        gitea: Some(Secret::new("\n")),
        ..WebhookConfig::default()
    };
    let (tx, mut rx) = mpsc::channel(8);
    let app = router(empty, tx);
    let github = fixture("github-push.json");
    let signed_with_nothing = vec![
        ("x-github-event", "push".to_string()),
        (
            "x-hub-signature-256",
            format!("sha256={}", sign("", &github)),
        ),
    ];
    assert_eq!(
        post(&app, "/hooks/github", &signed_with_nothing, &github).await,
        StatusCode::UNAUTHORIZED
    );
    let gitea = fixture("gitea-push.json");
    let gitea_headers = vec![
        ("x-gitea-event", "push".to_string()),
        ("x-gitea-signature", sign("\n", &gitea)),
    ];
    assert_eq!(
        post(&app, "/hooks/gitea", &gitea_headers, &gitea).await,
        StatusCode::UNAUTHORIZED
    );
    let gitlab = vec![
        ("x-gitlab-event", "Push Hook".to_string()),
        ("x-gitlab-token", "  ".to_string()),
    ];
    assert_eq!(
        post(&app, "/hooks/gitlab", &gitlab, &fixture("gitlab-push.json")).await,
        StatusCode::UNAUTHORIZED
    );
    assert!(rx.try_recv().is_err(), "nothing emitted");

    // And the daemon refuses to start with one.
    let dir = tempfile::tempdir().expect("dir");
    let secret = dir.path().join("github-secret");
    std::fs::write(&secret, " \n").expect("write");
    let out = crate::cli::gantry(&[
        "daemon",
        "--plan-only",
        "--config-repo",
        "file:///nonexistent",
        "--webhook-secret",
        &format!("github={}", secret.display()),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        crate::cli::text(&out.stderr),
        "error: --webhook-secret github: the secret is empty; deliveries signed with an empty key would be accepted from anyone\n"
    );
}

/// A 403 from the git server read "Transport handshake failed": the status that says what is
/// wrong was dropped from the cause chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_issue_15_a_git_403_says_403() {
    let app = axum::Router::new()
        .fallback(|| async { (StatusCode::FORBIDDEN, "this token may not read shop/config") });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server = tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    let data = tempfile::tempdir().expect("data");
    let cache = gantry::git::RepoCache::new(data.path(), std::time::Duration::from_secs(20));
    let mirror = cache
        .mirror(
            &format!("http://127.0.0.1:{port}/shop/config.git"),
            gantry::git::Credentials::Anonymous,
        )
        .expect("mirror");
    let err = mirror
        .changes(
            vec!["main".into()],
            &tokio_util::sync::CancellationToken::new(),
        )
        .await
        .expect_err("forbidden");
    server.abort();
    let shown = err.to_string();
    eprintln!("{shown}");
    assert!(shown.contains("403"), "{shown}");
}
