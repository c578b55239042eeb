//! The promotion API (wiring): `GET /api/v1/promotions` — the app × environment matrix (digest,
//! health, age in the environment, open pull request, the gate that blocks) and each target's
//! gates — and `POST /api/v1/promotions/{app}/{env}` (`?dryRun=true`, `?force=true`) for
//! `gantry promote`, loopback callers only, as manual syncs.
//!
//! Input: the shared state and the promotion controller. Output: JSON; an explicit promotion
//! is assessed and performed by the controller.

use axum::extract::{ConnectInfo, Path, Query, State as Extract};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::state::Shared;
use crate::core::AppEnv;
use crate::promotion::{Ask, Outcome};

pub use super::promotions::Handle;

#[derive(Clone)]
struct Promotions {
    state: Shared,
    handle: Handle,
}

pub fn routes(state: Shared, handle: Handle) -> Router {
    Router::new()
        .route("/api/v1/promotions", get(list))
        .route("/api/v1/promotions/{app}/{env}", post(promote))
        .with_state(Promotions { state, handle })
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"error": message}))).into_response()
}

async fn list(Extract(p): Extract<Promotions>) -> Response {
    let Some(controller) = p.handle.get() else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the daemon is starting; try again",
        );
    };
    let rows: Vec<Value> = p
        .state
        .promotions
        .read()
        .expect("promotions lock")
        .values()
        .map(|r| serde_json::to_value(r).unwrap_or(Value::Null))
        .collect();
    match controller.reconciler().matrix() {
        Ok(matrix) => Json(json!({"matrix": matrix, "promotions": rows})).into_response(),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, &e),
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Flags {
    #[serde(default)]
    dry_run: bool,
    #[serde(default)]
    force: bool,
}

async fn promote(
    Extract(p): Extract<Promotions>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    Path((app, env)): Path<(String, String)>,
    Query(flags): Query<Flags>,
) -> Response {
    if !peer.ip().is_loopback() {
        return error(
            StatusCode::FORBIDDEN,
            "promotions are accepted from loopback only: run gantry promote on the daemon's host or through `kubectl port-forward`",
        );
    }
    let Some(controller) = p.handle.get() else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the daemon is starting; try again",
        );
    };
    if !p.state.leader.load(std::sync::atomic::Ordering::Relaxed) {
        return error(
            StatusCode::CONFLICT,
            "this replica is not the leader: the leader promotes",
        );
    }
    let key = AppEnv::new(app.as_str(), env.as_str());
    let ask = Ask {
        explicit: true,
        force: flags.force,
    };
    match controller
        .reconciler()
        .explicit(&key, ask, flags.dry_run)
        .await
    {
        Ok(outcome) => {
            let status = match outcome {
                Outcome::Blocked { .. } => StatusCode::CONFLICT,
                _ => StatusCode::OK,
            };
            // The next pass shows the new state; assess now so `gantry envs` agrees at once.
            controller.submit(key);
            (status, Json(json!({"outcome": outcome}))).into_response()
        }
        Err(e) => error(StatusCode::UNPROCESSABLE_ENTITY, &e),
    }
}
