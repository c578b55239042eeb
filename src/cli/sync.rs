//! `gantry sync APP --env ENV`: ask a running daemon for a manual sync of one app ×
//! environment now — the way to approve a prune the guard held (`--allow-large-prune`) and to
//! sync inside a window with `manualSync: true` — and wait for its outcome.

use std::time::{Duration, Instant};

use anyhow::Context as _;

#[derive(Debug, clap::Args)]
pub struct SyncArgs {
    pub app: String,
    #[arg(long)]
    pub env: String,
    /// Approve pruning more than the guard's share in this one sync.
    #[arg(long)]
    pub allow_large_prune: bool,
    #[command(flatten)]
    pub server: super::ServerArg,
    /// How long to wait for the sync's outcome.
    #[arg(long, default_value = "2m", value_parser = humantime::parse_duration)]
    pub wait: Duration,
}

/// Queues the sync, then polls the app × environment until a sync newer than the request has
/// finished (or it waits for its window). Exit 0 when it synced, 1 otherwise.
pub fn run(args: &SyncArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let base = args.server.base();
    let row_url = format!("{base}/api/v1/apps/{}/envs/{}", args.app, args.env);
    let shown = crate::git::redact_url(base);
    let http = reqwest::Client::new();
    runtime.block_on(async {
        let before = get(&http, &row_url, &shown).await?;
        let reply = http
            .post(format!("{row_url}/sync"))
            .json(&serde_json::json!({"allowLargePrune": args.allow_large_prune}))
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!("cannot reach the daemon at {shown}: {}", e.without_url())
            })?;
        if !reply.status().is_success() {
            let status = reply.status();
            let body: serde_json::Value = reply.json().await.unwrap_or_default();
            anyhow::bail!(
                "{shown} refused the sync ({status}): {}",
                body["error"].as_str().unwrap_or("no reason given")
            );
        }
        println!("sync of {}/{} queued", args.app, args.env);
        let deadline = Instant::now() + args.wait;
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let row = get(&http, &row_url, &shown).await?;
            if row["attempts"].as_u64() > before["attempts"].as_u64() {
                return outcome(&row);
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "no outcome within {}: see `gantry status --app {}`",
                humantime::format_duration(args.wait),
                args.app
            );
        }
    })
}

async fn get(http: &reqwest::Client, url: &str, shown: &str) -> anyhow::Result<serde_json::Value> {
    let reply = http
        .get(url)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach the daemon at {shown}: {}", e.without_url()))?;
    if reply.status() == reqwest::StatusCode::NOT_FOUND {
        let body: serde_json::Value = reply.json().await.unwrap_or_default();
        return Err(super::UsageError(
            body["error"]
                .as_str()
                .unwrap_or("no such app × environment")
                .to_owned(),
        )
        .into());
    }
    reply
        .json()
        .await
        .map_err(|e| anyhow::anyhow!("{shown} did not answer JSON: {}", e.without_url()))
}

fn outcome(row: &serde_json::Value) -> anyhow::Result<()> {
    let text = |k: &str| row[k].as_str().unwrap_or("-").to_owned();
    println!(
        "{}/{}: {} at {} (health {})",
        text("app"),
        text("env"),
        text("phase"),
        text("revision").get(..12).unwrap_or("-"),
        text("health")
    );
    for line in row["note"].as_str().into_iter().flat_map(str::lines) {
        println!("  note: {line}");
    }
    match row["phase"].as_str() {
        Some("synced" | "planned") => Ok(()),
        _ => anyhow::bail!(
            "{}",
            row["error"]
                .as_str()
                .or_else(|| row["note"].as_str())
                .unwrap_or("the sync did not complete")
        ),
    }
}
