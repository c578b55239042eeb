//! Webhook endpoints: authenticate, parse, emit.
//!
//! Input: `POST /hooks/{github,gitlab,gitea,harbor,registry}` with the sender's signature or
//! token.
//! Output: [`TriggerEvent`]s on the channel, and an HTTP status the forge understands:
//! 202 accepted, 200 ping answered or delivery already accepted (a replay does no work), 204 event type ignored, 401 not authenticated (no detail),
//! 400 malformed JSON, 404 forge not configured, 413 body too large, 503 queue full.
//! Every secret comparison is constant-time; a forge with no secret configured is refused,
//! never accepted unauthenticated.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac::{Hmac, Mac as _};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use tokio::sync::mpsc;

use super::payload::{GitlabPush, HarborEvent, HubPush, RegistryEnvelope};
use super::{Forge, TriggerEvent};
use crate::git::{Secret, redact_url};

/// Forges deliver small JSON documents; GitHub caps its payloads at 25 MB, but a push of a
/// config repo is a few KiB. 1 MiB leaves room without inviting memory abuse.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// Secrets per forge; `None` disables that forge's endpoint.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    pub github: Option<Secret>,
    pub gitlab: Option<Secret>,
    pub gitea: Option<Secret>,
    /// The exact `Authorization` header value configured in Harbor's webhook ("Auth Header").
    pub harbor: Option<Secret>,
    /// The exact `Authorization` header value a distribution registry's notification endpoint
    /// sends (its `headers:`).
    pub registry: Option<Secret>,
    pub body_limit: usize,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            github: None,
            gitlab: None,
            gitea: None,
            harbor: None,
            registry: None,
            body_limit: DEFAULT_BODY_LIMIT,
        }
    }
}

#[derive(Clone)]
struct Hooks {
    config: std::sync::Arc<WebhookConfig>,
    tx: mpsc::Sender<TriggerEvent>,
    seen: std::sync::Arc<std::sync::Mutex<Deliveries>>,
}

/// How many delivery ids are remembered. Forges redeliver within minutes to hours; a replayed
/// delivery older than the last 4,096 accepted ones costs one idempotent fetch, nothing more.
const REMEMBERED_DELIVERIES: usize = 4096;

/// The ids of recently accepted deliveries (`X-GitHub-Delivery`, `X-Gitea-Delivery`,
/// `X-Gitlab-Event-UUID`), oldest first: a replay of one is answered 200 and does no work.
#[derive(Default)]
struct Deliveries {
    order: std::collections::VecDeque<String>,
    ids: std::collections::HashSet<String>,
}

impl Deliveries {
    fn contains(&self, id: &str) -> bool {
        self.ids.contains(id)
    }

    fn remember(&mut self, id: String) {
        if self.ids.insert(id.clone()) {
            self.order.push_back(id);
        }
        while self.order.len() > REMEMBERED_DELIVERIES {
            if let Some(old) = self.order.pop_front() {
                self.ids.remove(&old);
            }
        }
    }
}

const DUPLICATE: Reply = (StatusCode::OK, "duplicate delivery; already accepted");

/// The webhook routes, for the daemon to mount.
pub fn router(config: WebhookConfig, tx: mpsc::Sender<TriggerEvent>) -> Router {
    let limit = config.body_limit;
    let hooks = Hooks {
        config: std::sync::Arc::new(config),
        tx,
        seen: std::sync::Arc::default(),
    };
    Router::new()
        .route("/hooks/github", post(github))
        .route("/hooks/gitlab", post(gitlab))
        .route("/hooks/gitea", post(gitea))
        .route("/hooks/harbor", post(harbor))
        .route("/hooks/registry", post(registry))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(hooks)
}

type Reply = (StatusCode, &'static str);

const UNAUTHORIZED: Reply = (StatusCode::UNAUTHORIZED, "");
const NOT_CONFIGURED: Reply = (StatusCode::NOT_FOUND, "");
const IGNORED: Reply = (StatusCode::NO_CONTENT, "");

async fn github(State(h): State<Hooks>, headers: HeaderMap, body: Bytes) -> Reply {
    let Some(secret) = &h.config.github else {
        return NOT_CONFIGURED;
    };
    let signature = header(&headers, "x-hub-signature-256").and_then(|s| s.strip_prefix("sha256="));
    if !hmac_ok(secret, &body, signature) {
        return reject(Forge::Github, "bad or missing X-Hub-Signature-256");
    }
    match header(&headers, "x-github-event") {
        Some("ping") => (StatusCode::OK, "pong"),
        Some("push") => match serde_json::from_slice::<HubPush>(&body) {
            Ok(p) => once(
                &h,
                delivery(Forge::Github, &headers, "x-github-delivery"),
                || vec![p.into_event(Forge::Github)],
            ),
            Err(e) => malformed(Forge::Github, &e),
        },
        _ => IGNORED,
    }
}

async fn gitea(State(h): State<Hooks>, headers: HeaderMap, body: Bytes) -> Reply {
    let Some(secret) = &h.config.gitea else {
        return NOT_CONFIGURED;
    };
    if !hmac_ok(secret, &body, header(&headers, "x-gitea-signature")) {
        return reject(Forge::Gitea, "bad or missing X-Gitea-Signature");
    }
    match header(&headers, "x-gitea-event") {
        Some("push") => match serde_json::from_slice::<HubPush>(&body) {
            Ok(p) => once(
                &h,
                delivery(Forge::Gitea, &headers, "x-gitea-delivery"),
                || vec![p.into_event(Forge::Gitea)],
            ),
            Err(e) => malformed(Forge::Gitea, &e),
        },
        _ => IGNORED,
    }
}

async fn gitlab(State(h): State<Hooks>, headers: HeaderMap, body: Bytes) -> Reply {
    let Some(secret) = &h.config.gitlab else {
        return NOT_CONFIGURED;
    };
    if !token_ok(secret, header(&headers, "x-gitlab-token")) {
        return reject(Forge::Gitlab, "bad or missing X-Gitlab-Token");
    }
    match header(&headers, "x-gitlab-event") {
        Some("Push Hook") => match serde_json::from_slice::<GitlabPush>(&body) {
            Ok(p) => once(
                &h,
                delivery(Forge::Gitlab, &headers, "x-gitlab-event-uuid"),
                || p.into_event().into_iter().collect(),
            ),
            Err(e) => malformed(Forge::Gitlab, &e),
        },
        _ => IGNORED,
    }
}

async fn harbor(State(h): State<Hooks>, headers: HeaderMap, body: Bytes) -> Reply {
    let secret = h.config.harbor.clone();
    by_header(
        &h,
        (Forge::Harbor, secret.as_ref()),
        &headers,
        &body,
        HarborEvent::into_events,
    )
}

async fn registry(State(h): State<Hooks>, headers: HeaderMap, body: Bytes) -> Reply {
    let secret = h.config.registry.clone();
    by_header(
        &h,
        (Forge::Registry, secret.as_ref()),
        &headers,
        &body,
        RegistryEnvelope::into_events,
    )
}

/// A registry's delivery: `Authorization` must equal the configured value, then the JSON
/// body `T` gives the events.
fn by_header<T: serde::de::DeserializeOwned>(
    h: &Hooks,
    (from, secret): (Forge, Option<&Secret>),
    headers: &HeaderMap,
    body: &[u8],
    events: impl FnOnce(T) -> Vec<TriggerEvent>,
) -> Reply {
    let Some(secret) = secret else {
        return NOT_CONFIGURED;
    };
    if !token_ok(secret, header(headers, "authorization")) {
        return reject(from, "bad or missing Authorization");
    }
    match serde_json::from_slice::<T>(body) {
        Ok(payload) => emit(h, events(payload)),
        Err(e) => malformed(from, &e),
    }
}

/// `forge:id` of a delivery, when the forge sent an id.
fn delivery(forge: Forge, headers: &HeaderMap, name: &str) -> Option<String> {
    header(headers, name)
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(|id| format!("{forge}:{id}"))
}

/// Emits the events of an authenticated delivery unless it was accepted before.
fn once(h: &Hooks, id: Option<String>, events: impl FnOnce() -> Vec<TriggerEvent>) -> Reply {
    let seen = |id: &str| {
        h.seen
            .lock()
            .expect("delivery memory lock poisoned")
            .contains(id)
    };
    if let Some(id) = &id
        && seen(id)
    {
        tracing::info!(delivery = %id, "webhook: replayed delivery ignored");
        return DUPLICATE;
    }
    let reply = emit(h, events());
    // Only an accepted delivery is remembered: one refused for a full queue may come again.
    if reply.0 == StatusCode::ACCEPTED
        && let Some(id) = id
    {
        h.seen
            .lock()
            .expect("delivery memory lock poisoned")
            .remember(id);
    }
    reply
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// HMAC-SHA256 of the raw body, compared in constant time (`verify_slice`).
fn hmac_ok(secret: &Secret, body: &[u8], hex_signature: Option<&str>) -> bool {
    // Anyone can compute an HMAC with the empty key.
    if secret.expose().trim().is_empty() {
        return false;
    }
    let Some(given) = hex_signature.and_then(|s| hex::decode(s.trim()).ok()) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

/// Compares digests rather than the values, so neither content nor length leaks by timing.
fn token_ok(secret: &Secret, given: Option<&str>) -> bool {
    let Some(given) = given else {
        return false;
    };
    if secret.expose().trim().is_empty() {
        return false;
    }
    let want = Sha256::digest(secret.expose().as_bytes());
    let got = Sha256::digest(given.as_bytes());
    bool::from(want.ct_eq(&got))
}

fn reject(from: Forge, why: &'static str) -> Reply {
    tracing::warn!(forge = %from, reason = why, "webhook refused");
    UNAUTHORIZED
}

fn malformed(from: Forge, e: &serde_json::Error) -> Reply {
    tracing::warn!(forge = %from, error = %e, "webhook body is not the expected JSON");
    (StatusCode::BAD_REQUEST, "malformed JSON payload")
}

fn emit(h: &Hooks, events: Vec<TriggerEvent>) -> Reply {
    if events.is_empty() {
        return IGNORED;
    }
    for event in events {
        match &event {
            TriggerEvent::RepoChanged {
                from,
                url,
                git_ref,
                after,
                ..
            } => {
                tracing::info!(forge = %from, url = %redact_url(url), git_ref = %git_ref, after = %after, "webhook: repo changed");
            }
            TriggerEvent::ImagePushed {
                from, resource_url, ..
            } => {
                tracing::info!(forge = %from, image = %resource_url, "webhook: image pushed");
            }
            TriggerEvent::SyncRequested { app, env, .. } => {
                tracing::info!(%app, %env, "sync requested");
            }
        }
        // Never wait on a full queue inside a forge's request: the forge times out and
        // redelivers, and the poller catches anything missed.
        if h.tx.try_send(event).is_err() {
            tracing::warn!("webhook queue full or closed; event dropped, the poller will catch up");
            return (StatusCode::SERVICE_UNAVAILABLE, "queue full");
        }
    }
    (StatusCode::ACCEPTED, "accepted")
}
