//! The daemon's HTTP face: webhooks, probes, metrics and the read API (`fn router`).
//!
//! Input: the shared [`State`](super::state::State), the webhook settings and the event queue.
//! Output: one axum [`Router`]. `/healthz` answers while the process serves; `/readyz` once the
//! first pass over the config repo is done; `/metrics` in the Prometheus text format;
//! `/api/v1/...` as JSON.

use crate::core::AppEnv;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::{Path, Query, State as Extract};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::mpsc;

use super::state::Shared;
use crate::git::Mirror;
use crate::trigger::{TriggerEvent, WebhookConfig};

#[derive(Clone)]
struct Api {
    state: Shared,
    mirror: Arc<Mirror>,
    branch: String,
    events: mpsc::Sender<TriggerEvent>,
}

pub fn router(
    state: Shared,
    mirror: Arc<Mirror>,
    branch: String,
    webhooks: WebhookConfig,
    events: mpsc::Sender<TriggerEvent>,
    (rollouts, promotions): (super::rollout_api::Handle, super::promotion_api::Handle),
) -> Router {
    let rollout_routes = super::rollout_api::routes(Arc::clone(&state), rollouts);
    let promotion_routes = super::promotion_api::routes(Arc::clone(&state), promotions);
    let api = Api {
        state,
        mirror,
        branch,
        events: events.clone(),
    };
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .route("/api/v1/apps", get(apps))
        .route("/api/v1/apps/{app}/envs/{env}", get(app_env))
        .route(
            "/api/v1/apps/{app}/envs/{env}/sync",
            axum::routing::post(sync_now),
        )
        .route("/api/v1/history", get(history))
        .with_state(api)
        .merge(rollout_routes)
        .merge(promotion_routes)
        .merge(crate::trigger::router(webhooks, events))
}

async fn ready(Extract(api): Extract<Api>) -> (StatusCode, &'static str) {
    if api.state.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "ready\n")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "first pass over the config repo not done\n",
        )
    }
}

async fn metrics(Extract(api): Extract<Api>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        api.state.metrics.encode(),
    )
        .into_response()
}

async fn apps(Extract(api): Extract<Api>) -> Json<serde_json::Value> {
    let repo = api
        .state
        .repo
        .read()
        .expect("repo status lock poisoned")
        .clone();
    let envs: Vec<_> = api
        .state
        .envs
        .read()
        .expect("status table lock poisoned")
        .values()
        .cloned()
        .collect();
    Json(json!({"repo": repo, "apps": envs}))
}

async fn app_env(Extract(api): Extract<Api>, Path((app, env)): Path<(String, String)>) -> Response {
    let envs = api.state.envs.read().expect("status table lock poisoned");
    match envs.get(&AppEnv::new(&app, &env)) {
        Some(row) => Json(row.clone()).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": format!("no app {app:?} in environment {env:?}")})),
        )
            .into_response(),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SyncRequest {
    #[serde(default)]
    allow_large_prune: bool,
}

/// `POST …/sync`: queue a manual sync (`gantry sync`). It can approve a large prune, so it is
/// taken from loopback callers only — on the daemon's host, or through `kubectl port-forward`
/// (which needs RBAC on the pod) — never from the network the Service exposes.
async fn sync_now(
    Extract(api): Extract<Api>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    Path((app, env)): Path<(String, String)>,
    body: Option<Json<SyncRequest>>,
) -> Response {
    if !peer.ip().is_loopback() {
        return (
            StatusCode::FORBIDDEN,
            Json(json!({"error": "manual syncs are accepted from loopback only: run gantry sync on the daemon's host or through `kubectl port-forward`"})),
        )
            .into_response();
    }
    let known = api
        .state
        .envs
        .read()
        .expect("status table lock poisoned")
        .contains_key(&AppEnv::new(&app, &env));
    if !known {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": format!("no app {app:?} in environment {env:?}")})),
        )
            .into_response();
    }
    let Json(request) = body.unwrap_or_default();
    let event = TriggerEvent::SyncRequested {
        app,
        env,
        allow_large_prune: request.allow_large_prune,
    };
    match api.events.try_send(event) {
        Ok(()) => (StatusCode::ACCEPTED, Json(json!({"queued": true}))).into_response(),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error": "the event queue is full; try again"})),
        )
            .into_response(),
    }
}

#[derive(Debug, Deserialize)]
struct HistoryQuery {
    app: Option<String>,
    env: Option<String>,
}

async fn history(Extract(api): Extract<Api>, Query(q): Query<HistoryQuery>) -> Response {
    let filter = crate::audit::Filter {
        app: q.app,
        env: q.env,
        ..crate::audit::Filter::default()
    };
    let rev = format!("refs/heads/{}", api.branch);
    let mirror = Arc::clone(&api.mirror);
    let result = tokio::task::spawn_blocking(move || {
        crate::audit::history(&mirror.repository(), &rev, &filter).map_err(|e| e.to_string())
    })
    .await
    .unwrap_or_else(|e| Err(format!("history task failed: {e}")));
    match result {
        Ok(entries) => Json(entries).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({"error": e}))).into_response(),
    }
}
