//! `gantry scan-gate REPORT`: a Trivy JSON report or Harbor vulnerability report against
//! `policies/vulnerabilities.yaml`. Exit 0 when the image passes, 1 when findings block it.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;

use crate::artifact::scan::{Report, Waiver, gate};
use crate::config::ConfigError;
use crate::config::policy::{self, PolicySpec};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The report file (Trivy `--format json`, or Harbor's `…/additions/vulnerabilities`).
    pub report: PathBuf,
    /// The vulnerability policy file.
    #[arg(long, default_value = "policies/vulnerabilities.yaml")]
    pub policy: PathBuf,
}

/// The gate said no: exit 1 after the table, without an `error:` line.
#[derive(Debug, thiserror::Error)]
#[error("blocked by the vulnerability policy")]
pub struct Blocked;

pub fn run(args: &Args) -> anyhow::Result<()> {
    let shown = args.policy.display().to_string();
    let text = std::fs::read_to_string(&args.policy).map_err(|source| ConfigError::Read {
        path: args.policy.clone(),
        source,
    })?;
    let PolicySpec::Vulnerabilities(policy) =
        policy::parse(&shown, &text, &[]).map_err(ConfigError::Invalid)?
    else {
        anyhow::bail!("{shown} is not a VulnerabilityPolicy");
    };
    let json = std::fs::read(&args.report)
        .with_context(|| format!("cannot read {}", args.report.display()))?;
    let report = Report::parse(&args.report.display().to_string(), &json)?;
    let verdict = gate(&report, &policy, chrono::Utc::now().date_naive());

    let mut out = String::new();
    for w in &verdict.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    let mut rows = vec![[
        "VERDICT".to_string(),
        "SEVERITY".into(),
        "ID".into(),
        "PACKAGE".into(),
        "INSTALLED".into(),
        "FIXED".into(),
        "WHY".into(),
    ]];
    let row = |verdict: &str, f: &crate::artifact::scan::Finding, why: String| {
        [
            verdict.to_string(),
            format!("{:?}", f.severity).to_lowercase(),
            f.id.clone(),
            f.package.clone(),
            f.installed.clone(),
            f.fixed.clone().unwrap_or_else(|| "-".into()),
            why,
        ]
    };
    for f in &verdict.blocking {
        let max = format!("{:?}", policy.max_severity).to_lowercase();
        rows.push(row("BLOCK", f, format!("above maxSeverity {max}")));
    }
    for (f, w) in &verdict.waived {
        let why = match w {
            Waiver::Allowed { reason, expires } => format!("allowlisted until {expires}: {reason}"),
            Waiver::Unfixed => "no fixed version (ignoreUnfixed)".into(),
        };
        rows.push(row("waived", f, why));
    }
    if rows.len() > 1 {
        out.push_str(&super::table::render(&rows));
    }
    let result = if verdict.passed() {
        "passed"
    } else {
        "BLOCKED"
    };
    let _ = writeln!(
        out,
        "{result}: {} findings ({}), {} blocking, {} waived",
        report.findings.len(),
        verdict.summary(),
        verdict.blocking.len(),
        verdict.waived.len()
    );
    std::io::stdout()
        .lock()
        .write_all(out.as_bytes())
        .context("cannot write to stdout")?;
    if verdict.passed() {
        Ok(())
    } else {
        Err(Blocked.into())
    }
}
