//! Command line (stage: none; the edge where users meet gantry).
//!
//! Input: arguments and environment (`RUST_LOG`). Output: text on stdout/stderr and an exit
//! code: 0 ok, 1 the operation failed, 2 usage or config error. The only module using anyhow.

mod apply;
mod daemon;
mod deploy;
mod diff;
mod edit;
mod example;
pub mod history;
mod image;
mod promote;
mod render;
mod rollout;
mod scan_gate;
#[cfg(feature = "sign")]
mod sign;
mod sync;
mod table;
mod up;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use tracing_subscriber::EnvFilter;

use crate::config::ConfigError;
use crate::manifest::ManifestError;

#[derive(Debug, Parser)]
#[command(
    name = "gantry",
    version,
    about = "GitOps from commit to production, and back out when the metrics say so"
)]
pub struct Cli {
    /// Log line format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "GANTRY_LOG_FORMAT")]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReorderArg {
    Legacy,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputArg {
    Table,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Render a kustomize-style overlay to a YAML stream, as `kustomize build` would.
    Render {
        /// Directory holding a kustomization.yaml.
        dir: PathBuf,
        /// Output order: kustomize's default kind order, or the order resources were read.
        #[arg(long, value_enum, default_value_t = ReorderArg::Legacy)]
        reorder: ReorderArg,
        /// Render the overlay as it was at this commit (any git revision), read from the
        /// repository's object database without a checkout.
        #[arg(long)]
        rev: Option<String>,
        /// kustomize's load restrictor: files a kustomization names must sit in its own
        /// directory tree (`LoadRestrictionsRootOnly`), or anywhere (`LoadRestrictionsNone`).
        #[arg(long, value_enum, default_value_t = LoadRestrictorArg::LoadRestrictionsRootOnly)]
        load_restrictor: LoadRestrictorArg,
    },
    /// Set an image in an overlay's kustomization.yaml, changing nothing else in the file.
    SetImage {
        /// Overlay directory holding kustomization.yaml.
        overlay_dir: PathBuf,
        /// `NAME=REPO[:TAG][@DIGEST]`, or `NAME[:TAG][@DIGEST]` to keep the repository.
        image: String,
    },
    /// Set a scalar at a dotted path in a YAML file (e.g. a Helm values file), changing
    /// nothing else in the file.
    SetValue {
        /// The YAML file to edit.
        file: PathBuf,
        /// `PATH=VALUE`, e.g. `image.tag=1.4.2`.
        assignment: String,
    },
    /// Who deployed, promoted or rolled back what, when and why: the config repo's log,
    /// filtered on gantry's commit trailers. Newest first.
    History(history::Args),
    /// Put an image digest into an app's environment overlay and push one commit with
    /// gantry's trailers (`--dry-run`: print the diff only).
    Deploy(deploy::Args),
    /// Sync an overlay to a cluster once: server-side apply (field manager `gantry`), optional
    /// prune, and a table of what happened with each object's health.
    Apply(apply::Args),
    /// Show what `apply` would change: per object, a unified diff of the live object against a
    /// server-side dry-run apply. Exits 1 when there are differences, like `kubectl diff`.
    Diff(diff::Args),
    /// Check a vulnerability report (Trivy JSON or Harbor's) against the vulnerability policy:
    /// exit 0 when the image passes, 1 when findings block it.
    ScanGate(scan_gate::Args),
    /// Build an image without a Docker daemon: the base image's layers plus one reproducible
    /// layer of DIR; push it and print `registry/repository@digest`.
    Pack(image::PackArgs),
    /// Copy an image (every platform of an index) to another repository or registry, mounting
    /// blobs within a registry; print the destination digest.
    Copy(image::CopyArgs),
    /// Sign an image's digest, cosign-compatibly (`sha256-<hex>.sig`), keeping earlier
    /// signatures.
    #[cfg(feature = "sign")]
    Sign(sign::SignArgs),
    /// Verify an image's signature against the signature policy (or one key): exit 0 when
    /// verified, 1 when refused, with the reason.
    #[cfg(feature = "sign")]
    Verify(sign::VerifyArgs),
    /// Write a new ECDSA P-256 key pair in cosign's format (PREFIX.key, PREFIX.pub).
    #[cfg(feature = "sign")]
    GenerateKeyPair(sign::KeyPairArgs),
    /// Run the GitOps loop: watch the config repo (poll and webhooks), sync every app ×
    /// environment whose render changed, re-sync on the drift interval, serve /healthz,
    /// /readyz, /metrics and /api.
    Daemon(daemon::DaemonArgs),
    /// The quickstart: a throwaway config repo from EXAMPLE, the daemon against it, one deploy
    /// of a new digest (the `gantry deploy` path), and the loop shown (plan, or the real sync
    /// with --context), then history and status.
    Up(up::UpArgs),
    /// Print a running daemon's app × environment matrix: revision, health, phase, last sync,
    /// error.
    Status(daemon::StatusArgs),
    /// Ask a running daemon to sync one app × environment now and wait for the outcome
    /// (approves a held prune with --allow-large-prune).
    Sync(sync::SyncArgs),
    /// A running daemon's canary rollout of one app × environment: `status`, and the commands
    /// `promote`, `abort` and `retry`.
    Rollout(rollout::Args),
    /// Promote the digest an app runs in the environment before ENV (its `promoteFrom`) to
    /// ENV through a running daemon: a commit, or a pull request, as gantry.yaml says; the
    /// closed gates when it may not go yet.
    Promote(promote::PromoteArgs),
    /// A running daemon's app × environment matrix for promotions: digest, health, age in the
    /// environment, open pull request, and the gate that blocks.
    Envs(promote::EnvsArgs),
    /// Print the custom resource definitions of group `gantry.dev` (as in `manifests/crds/`).
    Crds,
    /// Validate a config repo checkout and print its apps × environments.
    Validate {
        /// Config repo directory (holds gantry.yaml).
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
}

/// A command used wrongly (an unknown app, a bad value): exit 2, like clap's own errors.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Exit codes, as documented in README.
/// `--server`: where `gantry status` and `gantry sync` reach the daemon. Its URL may carry
/// credentials, so the environment value is never shown by `--help`.
#[derive(Debug, clap::Args)]
pub struct ServerArg {
    /// The daemon's HTTP address (manual syncs are accepted from loopback only: use `kubectl
    /// port-forward` for a daemon in a cluster).
    #[arg(
        long = "server",
        default_value = "http://127.0.0.1:8080",
        env = "GANTRY_SERVER",
        hide_env_values = true
    )]
    pub url: String,
}

impl ServerArg {
    /// The URL without a trailing slash, to append API paths to.
    #[must_use]
    pub fn base(&self) -> &str {
        self.url.trim_end_matches('/')
    }
}

/// `--load-restrictor`, spelled as kustomize spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[value(rename_all = "verbatim")]
pub enum LoadRestrictorArg {
    LoadRestrictionsRootOnly,
    LoadRestrictionsNone,
}

pub mod exit {
    pub const OK: u8 = 0;
    pub const FAILED: u8 = 1;
    pub const USAGE: u8 = 2;
}

#[must_use]
pub fn run(cli: Cli) -> ExitCode {
    init_logging(cli.log_format);
    let result = match cli.command {
        Command::Validate { dir } => validate::run(&dir),
        Command::Render {
            dir,
            reorder,
            rev,
            load_restrictor,
        } => render::run(&dir, reorder, rev.as_deref(), load_restrictor),
        Command::History(args) => history::run(&args),
        Command::Deploy(args) => deploy::run(&args),
        Command::Apply(args) => apply::run(&args),
        Command::Diff(args) => diff::run(&args),
        Command::ScanGate(args) => scan_gate::run(&args),
        Command::Daemon(args) => daemon::run_daemon(&args),
        Command::Status(args) => daemon::run_status(&args),
        Command::Sync(args) => sync::run(&args),
        Command::Rollout(args) => rollout::run(&args),
        Command::Promote(args) => promote::run_promote(&args),
        Command::Envs(args) => promote::run_envs(&args),
        Command::Up(args) => up::run(&args),
        Command::Crds => {
            print!("{}", crate::store::crds_yaml());
            Ok(())
        }
        Command::Pack(args) => image::run_pack(&args),
        Command::Copy(args) => image::run_copy(&args),
        #[cfg(feature = "sign")]
        Command::Sign(args) => sign::run_sign(&args),
        #[cfg(feature = "sign")]
        Command::Verify(args) => sign::run_verify(&args),
        #[cfg(feature = "sign")]
        Command::GenerateKeyPair(args) => sign::run_generate_key_pair(&args),
        Command::SetImage { overlay_dir, image } => edit::set_image(&overlay_dir, &image),
        Command::SetValue { file, assignment } => edit::set_value(&file, &assignment),
    };
    match result {
        Ok(()) => ExitCode::from(exit::OK),
        Err(err) => {
            // Config problems are the user's to fix (2); anything else is an operation failure (1).
            if err.downcast_ref::<diff::Differences>().is_some()
                || err.downcast_ref::<scan_gate::Blocked>().is_some()
                || err.downcast_ref::<promote::Blocked>().is_some()
                || refused(&err)
            {
                ExitCode::from(exit::FAILED)
            } else if let Some(usage) = err.downcast_ref::<UsageError>() {
                eprintln!("error: {usage}");
                ExitCode::from(exit::USAGE)
            } else if let Some(invalid) = err.downcast_ref::<validate::Invalid>() {
                eprintln!("{invalid}");
                ExitCode::from(exit::USAGE)
            } else if let Some(config) = err.downcast_ref::<ConfigError>() {
                eprintln!("{config}");
                ExitCode::from(exit::USAGE)
            } else if let Some(e) = err.downcast_ref::<ManifestError>() {
                eprintln!("error: {e}");
                ExitCode::from(exit::USAGE)
            } else {
                eprintln!("error: {err:#}");
                ExitCode::from(exit::FAILED)
            }
        }
    }
}

/// One policy file, for the commands that need a single policy rather than a config repo;
/// invalid ones are config errors (exit 2) with located diagnostics.
fn read_policy(
    path: &std::path::Path,
) -> anyhow::Result<(String, crate::config::policy::PolicySpec)> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let spec = crate::config::policy::parse(&shown, &text, &[]).map_err(ConfigError::Invalid)?;
    Ok((shown, spec))
}

#[cfg(feature = "sign")]
fn refused(err: &anyhow::Error) -> bool {
    err.downcast_ref::<sign::Refused>().is_some()
}

#[cfg(not(feature = "sign"))]
fn refused(_: &anyhow::Error) -> bool {
    false
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colour codes only for a person at a terminal: in a file or a log collector they are noise.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    // A second init (tests calling run twice) is harmless: the first subscriber stays.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
