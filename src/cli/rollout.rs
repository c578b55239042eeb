//! `gantry rollout status|promote|abort|retry APP --env ENV`: a running daemon's canary of one
//! app × environment — its step, weights, images and last measurements with their values and
//! conditions — and the commands a person gives it.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::Context as _;
use serde_json::Value;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Sub,
}

#[derive(Debug, clap::Subcommand)]
pub enum Sub {
    /// Step, weights, images, message, and each analysis metric's last measurements.
    Status(Target),
    /// Go on past a pause or an inconclusive analysis.
    Promote(Target),
    /// Traffic back to stable, canary removed, the previous digest committed back.
    Abort(Target),
    /// After an abort: deploy the rejected image again and start over.
    Retry(Target),
}

#[derive(Debug, clap::Args)]
pub struct Target {
    pub app: String,
    #[arg(long)]
    pub env: String,
    #[command(flatten)]
    pub server: super::ServerArg,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let (target, action) = match &args.command {
        Sub::Status(t) => (t, None),
        Sub::Promote(t) => (t, Some("promote")),
        Sub::Abort(t) => (t, Some("abort")),
        Sub::Retry(t) => (t, Some("retry")),
    };
    let base = target.server.base();
    let shown = crate::git::redact_url(base);
    let url = format!("{base}/api/v1/rollouts/{}/{}", target.app, target.env);
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let http = reqwest::Client::new();
        let request = match action {
            Some(a) => http.post(format!("{url}/{a}")),
            None => http.get(&url),
        };
        let reply = request
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!("cannot reach the daemon at {shown}: {}", e.without_url())
            })?;
        let status = reply.status();
        let body: Value = reply.json().await.unwrap_or_default();
        anyhow::ensure!(
            status.is_success(),
            "{shown}: {}",
            body["error"].as_str().unwrap_or("no reason given")
        );
        match action {
            Some(a) => println!(
                "{a}: sent to the rollout of {} in {}",
                target.app, target.env
            ),
            None => print!("{}", render(&body)),
        }
        Ok(())
    })
}

/// The status as text.
fn render(r: &Value) -> String {
    let mut out = format!(
        "{} in {}: {} at step {}{} — canary {}% ({} replicas), stable {} replicas\n  stable: {}\n  canary: {}\n",
        r["app"].as_str().unwrap_or_default(),
        r["env"].as_str().unwrap_or_default(),
        r["phase"].as_str().unwrap_or_default(),
        r["step"],
        r["steps"]
            .as_u64()
            .map(|n| format!(" of {n}"))
            .unwrap_or_default(),
        r["weight"],
        r["canaryReplicas"],
        r["stableReplicas"],
        r["stableImage"].as_str().unwrap_or_default(),
        r["canaryImage"].as_str().unwrap_or_default(),
    );
    if let Some(m) = r["message"].as_str() {
        let _ = writeln!(out, "  {m}");
    }
    if let Some(left) = r["pauseLeftMs"].as_u64() {
        let left = humantime::format_duration(Duration::from_secs(left.div_ceil(1000)));
        let _ = writeln!(out, "  pausing: {left} left");
    }
    for run in r["analysis"].as_array().into_iter().flatten() {
        for m in run["metrics"].as_array().into_iter().flatten() {
            let values: Vec<&str> = m["measurements"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|x| {
                    x["value"]
                        .as_str()
                        .filter(|v| !v.is_empty())
                        .unwrap_or("error")
                })
                .collect();
            let _ = writeln!(
                out,
                "  {} analysis, {}: {} ({} measured, {} failed, {} inconclusive, {} errors; success if {}): {}",
                run["kind"].as_str().unwrap_or_default(),
                m["name"].as_str().unwrap_or_default(),
                m["phase"].as_str().unwrap_or_default(),
                m["count"],
                m["failed"],
                m["inconclusive"],
                m["error"],
                m["successCondition"].as_str().unwrap_or("-"),
                values.join(" ")
            );
        }
    }
    out
}
