//! `gantry scan-gate REPORT|REF`: a Trivy JSON report, a Harbor vulnerability report, or an image
//! in Harbor (scanned there and its report fetched) against `policies/vulnerabilities.yaml`.
//! Exit 0 when the image passes, 1 when findings block it.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;

use crate::artifact::harbor::{Artifact, Harbor};
use crate::artifact::registry::{RegistryCredentials, is_loopback, parse_reference};
use crate::artifact::scan::{Report, Waiver, gate};
use crate::config::policy::PolicySpec;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A report file (Trivy `--format json`, or Harbor's `…/additions/vulnerabilities`), or an
    /// image in Harbor (`harbor.example.com/project/repo:tag`) to scan there.
    #[arg(value_name = "REPORT|REF")]
    pub report: String,
    /// The vulnerability policy file.
    #[arg(long, default_value = "policies/vulnerabilities.yaml")]
    pub policy: PathBuf,
    /// Harbor's base URL for an image reference; defaults to `https://REGISTRY` (`http` for loopback).
    /// Credentials are the registry's (`--registry-auth` or the Docker config).
    #[arg(long)]
    pub harbor: Option<String>,
    #[command(flatten)]
    pub registry: super::image::RegistryArgs,
}

/// The report file, or Harbor's report for the image reference.
fn load_report(args: &Args) -> anyhow::Result<Report> {
    let path = std::path::Path::new(&args.report);
    if path.exists() || !args.report.contains('/') {
        let json = std::fs::read(path).with_context(|| format!("cannot read {}", args.report))?;
        return Ok(Report::parse(&args.report, &json)?);
    }
    let image = parse_reference(&args.report).with_context(|| {
        format!(
            "{} is neither a report file nor an image reference",
            args.report
        )
    })?;
    let host = image.registry().to_owned();
    let base = args.harbor.clone().unwrap_or_else(|| {
        let scheme = if is_loopback(&host) { "http" } else { "https" };
        format!("{scheme}://{host}")
    });
    let Some(RegistryCredentials::Basic { username, password }) =
        args.registry.credentials(&[&image])?.remove(&host)
    else {
        anyhow::bail!(
            "scanning {image} in Harbor needs a user or robot account: pass --registry-auth \
             {host}=FILE (user:password) or log in with docker"
        );
    };
    let (project, repository) = image
        .repository()
        .split_once('/')
        .with_context(|| format!("{image}: Harbor repositories are PROJECT/REPOSITORY"))?;
    let artifact = Artifact {
        project: project.to_owned(),
        repository: repository.to_owned(),
        reference: image
            .digest()
            .or(image.tag())
            .unwrap_or("latest")
            .to_owned(),
    };
    let harbor = Harbor::new(&base, &username, password)?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    eprintln!("scanning {image} in Harbor at {base}");
    Ok(runtime.block_on(harbor.scan(&artifact))?)
}

/// The gate said no: exit 1 after the table, without an `error:` line.
#[derive(Debug, thiserror::Error)]
#[error("blocked by the vulnerability policy")]
pub struct Blocked;

pub fn run(args: &Args) -> anyhow::Result<()> {
    let (shown, spec) = super::read_policy(&args.policy)?;
    let PolicySpec::Vulnerabilities(policy) = spec else {
        anyhow::bail!("{shown} is not a VulnerabilityPolicy");
    };
    let report = load_report(args)?;
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
