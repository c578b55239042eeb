//! The rollout API (wiring): `GET /api/v1/rollouts` (every canary in progress, with its step,
//! weights and measurement history), `GET /api/v1/rollouts/{app}/{env}`, and
//! `POST /api/v1/rollouts/{app}/{env}/{promote|abort|retry}` — loopback callers only, as
//! manual syncs.
//!
//! Input: the shared state and the rollout controller. Output: JSON, and commands handed to
//! the controller.

use std::sync::{Arc, OnceLock};

use axum::extract::{ConnectInfo, Path, State as Extract};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use super::controller::Controller;
use super::rollouts::{Command, RolloutController};
use super::state::Shared;
use crate::core::AppEnv;

/// The controller, set once the daemon made it (after the HTTP server started listening).
pub type Handle = Arc<OnceLock<Controller<RolloutController>>>;

#[derive(Clone)]
struct Rollouts {
    state: Shared,
    handle: Handle,
}

pub fn routes(state: Shared, handle: Handle) -> Router {
    Router::new()
        .route("/api/v1/rollouts", get(list))
        .route("/api/v1/rollouts/{app}/{env}", get(one))
        .route("/api/v1/rollouts/{app}/{env}/{action}", post(act))
        .with_state(Rollouts { state, handle })
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"error": message}))).into_response()
}

async fn list(Extract(r): Extract<Rollouts>) -> Json<Value> {
    let config = r.state.config.read().expect("config lock").clone();
    let table = r.state.rollouts.lock().expect("rollouts lock");
    let mut rows: Vec<Value> = table
        .iter()
        .map(|(key, a)| super::rollouts::status(config.as_deref(), key, &a.canary))
        .collect();
    rows.sort_by_key(|v| (v["app"].to_string(), v["env"].to_string()));
    Json(json!({"rollouts": rows}))
}

async fn one(Extract(r): Extract<Rollouts>, Path((app, env)): Path<(String, String)>) -> Response {
    let config = r.state.config.read().expect("config lock").clone();
    let key = AppEnv::new(app.as_str(), env.as_str());
    let table = r.state.rollouts.lock().expect("rollouts lock");
    match table.get(&key) {
        Some(a) => {
            Json(super::rollouts::status(config.as_deref(), &key, &a.canary)).into_response()
        }
        None => error(
            StatusCode::NOT_FOUND,
            &format!("no rollout of {app} in {env}"),
        ),
    }
}

async fn act(
    Extract(r): Extract<Rollouts>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    Path((app, env, action)): Path<(String, String, String)>,
) -> Response {
    if !peer.ip().is_loopback() {
        return error(
            StatusCode::FORBIDDEN,
            "rollout commands are accepted from loopback only: run gantry rollout on the daemon's host or through `kubectl port-forward`",
        );
    }
    let command = match action.as_str() {
        "promote" => Command::Promote,
        "abort" => Command::Abort,
        "retry" => Command::Retry,
        other => {
            return error(
                StatusCode::NOT_FOUND,
                &format!("unknown rollout command {other:?}: promote, abort or retry"),
            );
        }
    };
    let Some(controller) = r.handle.get() else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the daemon is starting; try again",
        );
    };
    let key = AppEnv::new(app.as_str(), env.as_str());
    match controller.reconciler().command(&key, command).await {
        Ok(done) => {
            controller.submit(key);
            (StatusCode::ACCEPTED, Json(json!({"done": done}))).into_response()
        }
        Err(e) => error(StatusCode::CONFLICT, &e),
    }
}
