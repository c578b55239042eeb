//! Webhooks with the forges' documented payloads: valid → event; tampered body, wrong secret,
//! missing header, oversized body → refused, and nothing emitted.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use gantry::git::Secret;
use gantry::trigger::{Forge, TriggerEvent, WebhookConfig, router};
use hmac::{Hmac, Mac as _};
use sha2::Sha256;
use tokio::sync::mpsc;
use tower::ServiceExt as _;

pub const GITHUB_SECRET: &str = "It's a Secret to Everybody";
pub const GITLAB_TOKEN: &str = "gl-webhook-token-5b1e";
pub const GITEA_SECRET: &str = "gitea-hook-secret-77";
pub const HARBOR_AUTH: &str = "Bearer harbor-hook-auth-9c2";
pub const REGISTRY_AUTH: &str = "Bearer registry-notify-31f";

pub fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/webhooks")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

pub fn config() -> WebhookConfig {
    WebhookConfig {
        github: Some(Secret::new(GITHUB_SECRET)),
        gitlab: Some(Secret::new(GITLAB_TOKEN)),
        gitea: Some(Secret::new(GITEA_SECRET)),
        harbor: Some(Secret::new(HARBOR_AUTH)),
        registry: Some(Secret::new(REGISTRY_AUTH)),
        body_limit: 64 * 1024,
    }
}

/// Sends one request; returns the status and the events emitted.
pub async fn send(
    config: WebhookConfig,
    path: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> (StatusCode, Vec<TriggerEvent>) {
    crate::harness::logs::capture();
    let (tx, mut rx) = mpsc::channel(8);
    let app = router(config, tx);
    let mut req = Request::post(path).header("content-type", "application/json");
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let resp = app
        .oneshot(req.body(Body::from(body)).expect("request"))
        .await
        .expect("router answers");
    let mut events = Vec::new();
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    (resp.status(), events)
}

pub fn github_headers(event: &str, body: &[u8], secret: &str) -> Vec<(&'static str, String)> {
    vec![
        ("x-github-event", event.to_string()),
        (
            "x-github-delivery",
            "72d3162e-cc78-11e3-81ab-4c9367dc0958".to_string(),
        ),
        (
            "x-hub-signature-256",
            format!("sha256={}", sign(secret, body)),
        ),
    ]
}

#[tokio::test]
async fn github_push_and_ping() {
    let body = fixture("github-push.json");
    let (status, events) = send(
        config(),
        "/hooks/github",
        &github_headers("push", &body, GITHUB_SECRET),
        body,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(
        events,
        vec![TriggerEvent::RepoChanged {
            from: Forge::Github,
            url: "https://github.com/Codertocat/Hello-World.git".into(),
            alt_urls: vec![
                "git@github.com:Codertocat/Hello-World.git".into(),
                "https://github.com/Codertocat/Hello-World".into()
            ],
            git_ref: "refs/heads/main".into(),
            after: "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c".into(),
        }]
    );
    assert!(events[0].is_about("git@github.com:codertocat/hello-world"));

    let ping = fixture("github-ping.json");
    let (status, events) = send(
        config(),
        "/hooks/github",
        &github_headers("ping", &ping, GITHUB_SECRET),
        ping,
    )
    .await;
    assert_eq!((status, events.len()), (StatusCode::OK, 0));

    let other = br#"{"action":"opened"}"#.to_vec();
    let (status, events) = send(
        config(),
        "/hooks/github",
        &github_headers("issues", &other, GITHUB_SECRET),
        other,
    )
    .await;
    assert_eq!((status, events.len()), (StatusCode::NO_CONTENT, 0));
}

/// Name, headers, body, expected status.
type Case = (
    &'static str,
    Vec<(&'static str, String)>,
    Vec<u8>,
    StatusCode,
);

#[tokio::test]
async fn github_refuses_tampered_wrong_secret_missing_and_oversized() {
    let body = fixture("github-push.json");
    let mut tampered = body.clone();
    let at = tampered
        .windows(4)
        .position(|w| w == b"main")
        .expect("fixture names main");
    tampered[at..at + 4].copy_from_slice(b"prod");
    let cases: Vec<Case> = vec![
        (
            "tampered body",
            github_headers("push", &body, GITHUB_SECRET),
            tampered,
            StatusCode::UNAUTHORIZED,
        ),
        (
            "wrong secret",
            github_headers("push", &body, "guess"),
            body.clone(),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "missing signature",
            vec![("x-github-event", "push".into())],
            body.clone(),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "sha1 only",
            vec![
                ("x-github-event", "push".into()),
                (
                    "x-hub-signature",
                    format!("sha1={}", sign(GITHUB_SECRET, &body)),
                ),
            ],
            body.clone(),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "not JSON",
            github_headers("push", b"{not json", GITHUB_SECRET),
            b"{not json".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (name, headers, payload, want) in cases {
        let (status, events) = send(config(), "/hooks/github", &headers, payload).await;
        assert_eq!(status, want, "{name}");
        assert!(events.is_empty(), "{name} emitted {events:?}");
    }
    let mut huge = body.clone();
    huge.extend(std::iter::repeat_n(b' ', 70 * 1024));
    let (status, events) = send(
        config(),
        "/hooks/github",
        &github_headers("push", &huge, GITHUB_SECRET),
        huge,
    )
    .await;
    assert_eq!((status, events.len()), (StatusCode::PAYLOAD_TOO_LARGE, 0));
}

#[tokio::test]
async fn gitlab_push_by_token() {
    let body = fixture("gitlab-push.json");
    let ok = vec![
        ("x-gitlab-event", "Push Hook".to_string()),
        ("x-gitlab-token", GITLAB_TOKEN.to_string()),
    ];
    let (status, events) = send(config(), "/hooks/gitlab", &ok, body.clone()).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(
        events,
        vec![TriggerEvent::RepoChanged {
            from: Forge::Gitlab,
            url: "http://example.com/mike/diaspora.git".into(),
            alt_urls: vec![
                "git@example.com:mike/diaspora.git".into(),
                "http://example.com/mike/diaspora".into()
            ],
            git_ref: "refs/heads/master".into(),
            after: "da1560886d4f094c3e6c9ef40349f7d38b5d27d7".into(),
        }]
    );
    for (name, headers) in [
        (
            "wrong token",
            vec![
                ("x-gitlab-event", "Push Hook".to_string()),
                ("x-gitlab-token", "gl-webhook-token-5b1f".to_string()),
            ],
        ),
        (
            "missing token",
            vec![("x-gitlab-event", "Push Hook".to_string())],
        ),
    ] {
        let (status, events) = send(config(), "/hooks/gitlab", &headers, body.clone()).await;
        assert_eq!(
            (status, events.len()),
            (StatusCode::UNAUTHORIZED, 0),
            "{name}"
        );
    }
    let tag = vec![
        ("x-gitlab-event", "Tag Push Hook".to_string()),
        ("x-gitlab-token", GITLAB_TOKEN.to_string()),
    ];
    let (status, events) = send(config(), "/hooks/gitlab", &tag, body).await;
    assert_eq!((status, events.len()), (StatusCode::NO_CONTENT, 0));
}

#[tokio::test]
async fn gitea_push_by_signature() {
    let body = fixture("gitea-push.json");
    let headers = |b: &[u8], secret: &str| {
        vec![
            ("x-gitea-event", "push".to_string()),
            ("x-gitea-signature", sign(secret, b)),
        ]
    };
    let (status, events) = send(
        config(),
        "/hooks/gitea",
        &headers(&body, GITEA_SECRET),
        body.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(
        events,
        vec![TriggerEvent::RepoChanged {
            from: Forge::Gitea,
            url: "http://localhost:3000/gitea/webhooks.git".into(),
            alt_urls: vec![
                "ssh://gitea@localhost:2222/gitea/webhooks.git".into(),
                "http://localhost:3000/gitea/webhooks".into()
            ],
            git_ref: "refs/heads/develop".into(),
            after: "bffeb74224043ba2feb48d137756c8a9331c449a".into(),
        }]
    );
    let mut tampered = body.clone();
    tampered.push(b'\n');
    for (name, h, b) in [
        ("tampered body", headers(&body, GITEA_SECRET), tampered),
        (
            "wrong secret",
            headers(&body, "gitea-hook-secret-78"),
            body.clone(),
        ),
        (
            "missing signature",
            vec![("x-gitea-event", "push".to_string())],
            body.clone(),
        ),
    ] {
        let (status, events) = send(config(), "/hooks/gitea", &h, b).await;
        assert_eq!(
            (status, events.len()),
            (StatusCode::UNAUTHORIZED, 0),
            "{name}"
        );
    }
}

#[tokio::test]
async fn harbor_push_artifact_by_auth_header() {
    let body = fixture("harbor-push-artifact.json");
    let (status, events) = send(
        config(),
        "/hooks/harbor",
        &[("authorization", HARBOR_AUTH.to_string())],
        body.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(
        events,
        vec![TriggerEvent::ImagePushed {
            from: Forge::Harbor,
            repository: "library/alpine".into(),
            resource_url: "harbor.example.com/library/alpine:3.17".into(),
            digest: "sha256:954b378c375d852eb3c63ab88978f640b4348b01c1b3456a024a81536dafbbf4"
                .into(),
            tag: Some("3.17".into()),
        }]
    );
    for (name, h) in [
        (
            "wrong auth",
            vec![("authorization", "Bearer harbor-hook-auth-9c3".to_string())],
        ),
        ("missing auth", vec![]),
    ] {
        let (status, events) = send(config(), "/hooks/harbor", &h, body.clone()).await;
        assert_eq!(
            (status, events.len()),
            (StatusCode::UNAUTHORIZED, 0),
            "{name}"
        );
    }
    let pull = String::from_utf8(body)
        .expect("utf-8")
        .replace("PUSH_ARTIFACT", "PULL_ARTIFACT");
    let (status, events) = send(
        config(),
        "/hooks/harbor",
        &[("authorization", HARBOR_AUTH.to_string())],
        pull.into_bytes(),
    )
    .await;
    assert_eq!((status, events.len()), (StatusCode::NO_CONTENT, 0));
}

/// The distribution registry's envelope: only the tagged manifest push is an image pushed;
/// the blob upload and the pull are not.
#[tokio::test]
async fn registry_notifications_by_auth_header() {
    let body = fixture("registry-notification.json");
    let auth = [("authorization", REGISTRY_AUTH.to_string())];
    let (status, events) = send(config(), "/hooks/registry", &auth, body.clone()).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let pushed = TriggerEvent::ImagePushed {
        from: Forge::Registry,
        repository: "shop/web".into(),
        resource_url: "registry.example.com:5000/shop/web:v1.4.2".into(),
        digest: "sha256:ab5c3b9b1b2e7c7f4b1e8f2b4f0d8b4b6b1a0f9c2e8d7c6b5a4f3e2d1c0b9a87".into(),
        tag: Some("v1.4.2".into()),
    };
    assert_eq!(events, vec![pushed.clone()]);
    assert_eq!(
        pushed.pushed_image().map(|i| i.to_string()).as_deref(),
        Some(
            "registry.example.com:5000/shop/web:v1.4.2@sha256:ab5c3b9b1b2e7c7f4b1e8f2b4f0d8b4b6b1a0f9c2e8d7c6b5a4f3e2d1c0b9a87"
        )
    );
    let wrong = [("authorization", "Bearer registry-notify-31e".to_string())];
    let (status, events) = send(config(), "/hooks/registry", &wrong, body.clone()).await;
    assert_eq!((status, events.len()), (StatusCode::UNAUTHORIZED, 0));
    let (status, events) = send(config(), "/hooks/registry", &[], body).await;
    assert_eq!((status, events.len()), (StatusCode::UNAUTHORIZED, 0));
    // Request: null (older registries, proxies): the host comes from the target's URL.
    let no_request = String::from_utf8(fixture("registry-notification.json"))
        .expect("utf-8")
        .replace(r#""host": "registry.example.com:5000","#, "");
    let (_, events) = send(config(), "/hooks/registry", &auth, no_request.into_bytes()).await;
    assert_eq!(events, vec![pushed]);
    let unconfigured = WebhookConfig {
        registry: None,
        ..config()
    };
    let (status, _) = send(unconfigured, "/hooks/registry", &auth, b"{}".to_vec()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_unconfigured_forge_is_refused_and_a_full_queue_says_so() {
    let body = fixture("github-push.json");
    let headers = github_headers("push", &body, GITHUB_SECRET);
    let none = WebhookConfig {
        github: None,
        ..config()
    };
    let (status, events) = send(none, "/hooks/github", &headers, body.clone()).await;
    assert_eq!((status, events.len()), (StatusCode::NOT_FOUND, 0));

    let (tx, _rx) = mpsc::channel(1);
    tx.try_send(TriggerEvent::ImagePushed {
        from: Forge::Harbor,
        repository: "x".into(),
        resource_url: "x".into(),
        digest: "x".into(),
        tag: None,
    })
    .expect("fill the queue");
    let app = router(config(), tx);
    let mut req = Request::post("/hooks/github");
    for (k, v) in &headers {
        req = req.header(*k, v);
    }
    let resp = app
        .oneshot(req.body(Body::from(body)).expect("request"))
        .await
        .expect("answer");
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
}
