//! `gantry promote APP --to ENV [--dry-run] [--force]` and `gantry envs`: a running daemon's
//! promotions — one performed now, or the app × environment matrix with the gate that blocks
//! each target.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::Context as _;
use serde_json::Value;

#[derive(Debug, clap::Args)]
pub struct PromoteArgs {
    pub app: String,
    /// The target environment; the digest comes from its `promoteFrom`.
    #[arg(long)]
    pub to: String,
    /// Show the overlay diff the promotion would make; push nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Promote although gates are closed; the commit names them in `Gantry-Forced`.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub server: super::ServerArg,
}

#[derive(Debug, clap::Args)]
pub struct EnvsArgs {
    #[command(flatten)]
    pub server: super::ServerArg,
    #[arg(long, value_enum, default_value_t = super::OutputArg::Table)]
    pub output: super::OutputArg,
}

/// The gates said no: exit 1 after printing them, without an `error:` line.
#[derive(Debug, thiserror::Error)]
#[error("promotion blocked")]
pub struct Blocked;

fn call(request: reqwest::RequestBuilder, shown: &str) -> anyhow::Result<(u16, Value)> {
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        // A forge or a Harbor scan may take a while; the daemon bounds each call itself.
        let reply = request
            .timeout(Duration::from_mins(11))
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!("cannot reach the daemon at {shown}: {}", e.without_url())
            })?;
        let status = reply.status().as_u16();
        Ok((status, reply.json().await.unwrap_or_default()))
    })
}

pub fn run_promote(args: &PromoteArgs) -> anyhow::Result<()> {
    let base = args.server.base();
    let shown = crate::git::redact_url(base);
    let url = format!(
        "{base}/api/v1/promotions/{}/{}?dryRun={}&force={}",
        args.app, args.to, args.dry_run, args.force
    );
    let (status, body) = call(reqwest::Client::new().post(url), &shown)?;
    let outcome = &body["outcome"];
    if outcome.is_null() {
        anyhow::bail!(
            "{shown}: {}",
            body["error"].as_str().unwrap_or("no reason given")
        );
    }
    print!("{}", describe(&args.app, &args.to, outcome));
    if status == 409 {
        return Err(Blocked.into());
    }
    Ok(())
}

/// An outcome as text.
fn describe(app: &str, to: &str, o: &Value) -> String {
    let s = |k: &str| o[k].as_str().unwrap_or_default().to_owned();
    let mut out = String::new();
    match o["result"].as_str().unwrap_or_default() {
        "committed" => {
            let _ = writeln!(out, "{}", s("diff").trim_end());
            let _ = writeln!(out, "promoted {app} to {to}: committed {}", s("commit"));
        }
        "already-there" => {
            let _ = writeln!(out, "unchanged: {to} already runs that digest");
        }
        "pull-request" => {
            let _ = writeln!(out, "{}", s("diff").trim_end());
            let verb = if o["created"].as_bool() == Some(true) {
                "opened"
            } else {
                "updated"
            };
            let _ = writeln!(out, "pull request #{} {verb}: {}", o["number"], s("url"));
            if let Some(old) = o["superseded"].as_str() {
                let _ = writeln!(out, "it proposed {old} before; a comment says so");
            }
            if let Some(w) = o["waits"].as_str() {
                let _ = writeln!(
                    out,
                    "after the merge the deploy waits for the sync window: {w}"
                );
            }
        }
        "branch-pushed" => {
            let _ = writeln!(out, "pushed branch {}", s("branch"));
            let _ = writeln!(out, "{}", s("how"));
        }
        "blocked" => {
            let _ = writeln!(
                out,
                "{app} cannot be promoted to {to} yet (--force skips these):"
            );
            for g in o["gates"].as_array().into_iter().flatten() {
                let _ = writeln!(
                    out,
                    "  {}: {}",
                    g["name"].as_str().unwrap_or_default(),
                    g["reason"].as_str().unwrap_or_default()
                );
            }
        }
        "possible" => {
            let _ = writeln!(
                out,
                "{to} is manual: every gate is open; run gantry promote to promote"
            );
        }
        "planned" => {
            let _ = writeln!(out, "{}", s("diff").trim_end());
            let _ = writeln!(out, "dry run: nothing pushed");
        }
        other => {
            let _ = writeln!(out, "{other}: {o}");
        }
    }
    out
}

pub fn run_envs(args: &EnvsArgs) -> anyhow::Result<()> {
    let base = args.server.base();
    let shown = crate::git::redact_url(base);
    let (status, body) = call(
        reqwest::Client::new().get(format!("{base}/api/v1/promotions")),
        &shown,
    )?;
    anyhow::ensure!(
        status == 200,
        "{shown}: {}",
        body["error"].as_str().unwrap_or("no reason given")
    );
    if args.output == super::OutputArg::Json {
        println!("{}", serde_json::to_string_pretty(&body)?);
        return Ok(());
    }
    print!("{}", matrix(&body));
    Ok(())
}

fn matrix(body: &Value) -> String {
    let mut rows = vec![[
        "APP".to_owned(),
        "ENV".into(),
        "DIGEST".into(),
        "HEALTH".into(),
        "AGE".into(),
        "PULL REQUEST".into(),
        "BLOCKED BY".into(),
    ]];
    for c in body["matrix"].as_array().into_iter().flatten() {
        let text = |k: &str| c[k].as_str().unwrap_or("-").to_owned();
        let digest = c["digest"]
            .as_str()
            .and_then(|d| d.split_once("@sha256:"))
            .map_or_else(
                || "-".to_owned(),
                |(_, h)| h.get(..12).unwrap_or(h).to_owned(),
            );
        let age = c["age_seconds"].as_u64().map_or_else(
            || "-".to_owned(),
            |s| crate::promotion::gates::human(Duration::from_secs(s)),
        );
        let health = c["health"]
            .as_str()
            .filter(|h| !h.is_empty())
            .unwrap_or("-")
            .to_owned();
        rows.push([
            text("app"),
            text("env"),
            digest,
            health,
            age,
            text("pull_request"),
            text("blocked_by"),
        ]);
    }
    super::table::render(&rows)
}
