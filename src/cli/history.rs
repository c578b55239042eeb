//! `gantry history`: the audit trail as a table or JSON.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;

use super::OutputArg;
use crate::audit::{self, Entry, Filter};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Config repo (a clone or a bare repository).
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// Revision to read the log from.
    #[arg(long, default_value = "HEAD")]
    pub rev: String,
    #[arg(long)]
    pub app: Option<String>,
    #[arg(long)]
    pub env: Option<String>,
    #[arg(long, value_parser = ["deploy", "promote", "rollback"])]
    pub action: Option<String>,
    /// `YYYY-MM-DD`, an RFC 3339 time, or an age such as `7d` or `12h`.
    #[arg(long)]
    pub since: Option<String>,
    #[arg(long, value_enum, default_value_t = OutputArg::Table)]
    pub output: OutputArg,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let repo = gix::discover(&args.repo)
        .with_context(|| format!("{} is not a git repository", args.repo.display()))?;
    let filter = Filter {
        app: args.app.clone(),
        env: args.env.clone(),
        action: args.action.as_deref().map(str::parse).transpose()?,
        since: args
            .since
            .as_deref()
            .map(parse_since)
            .transpose()
            .map_err(|e| super::UsageError(format!("{e:#}")))?,
    };
    let entries = audit::history(&repo, &args.rev, &filter)?;
    let text = match args.output {
        OutputArg::Json => serde_json::to_string_pretty(&entries)? + "\n",
        OutputArg::Table => table(&entries),
    };
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .context("cannot write to stdout")
}

/// `YYYY-MM-DD` (midnight UTC), RFC 3339, or an age (`7d`, `12h`) before now.
fn parse_since(s: &str) -> anyhow::Result<i64> {
    if let Ok(date) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(date
            .and_hms_opt(0, 0, 0)
            .context("midnight exists")?
            .and_utc()
            .timestamp());
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp());
    }
    let age = humantime::parse_duration(s).with_context(|| {
        format!("--since {s:?}: expected YYYY-MM-DD, an RFC 3339 time or an age such as 7d")
    })?;
    let age = i64::try_from(age.as_secs()).context("--since: age too large")?;
    Ok(chrono::Utc::now().timestamp() - age)
}

/// Column-aligned text; digests shortened to 12 hex digits, full ones are in `--output json`.
fn table(entries: &[Entry]) -> String {
    let mut rows = vec![[
        "TIME (UTC)".to_string(),
        "ACTION".into(),
        "APP".into(),
        "ENV".into(),
        "IMAGE".into(),
        "COMMIT".into(),
        "AUTHOR".into(),
        "SUBJECT".into(),
    ]];
    for e in entries {
        rows.push([
            e.time.replace('T', " ").trim_end_matches('Z').to_string(),
            e.trailers.action.to_string(),
            e.trailers.app.clone(),
            e.trailers.env.clone(),
            e.trailers.image.as_deref().map_or("-".into(), short_image),
            e.commit.chars().take(8).collect(),
            e.author.split(" <").next().unwrap_or_default().to_string(),
            e.subject.clone(),
        ]);
    }
    let mut out = super::table::render(&rows);
    if entries.is_empty() {
        out.push_str("(no gantry commits match)\n");
    }
    out
}

fn short_image(image: &str) -> String {
    match image.split_once("@sha256:") {
        Some((repo, hex)) => format!("{repo}@sha256:{}", &hex[..hex.len().min(12)]),
        None => image.to_string(),
    }
}
