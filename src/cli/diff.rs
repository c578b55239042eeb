//! `gantry diff DIR --context C`: what a sync would change, per object, as a unified diff of
//! the live object against a server-side dry-run apply. Exit 1 when anything differs, like
//! `kubectl diff`.

use std::io::{IsTerminal as _, Write as _};

use anyhow::Context as _;

use super::apply::{Prepared, Target, prepare};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub target: Target,
    /// Also show the objects a pruning sync would delete.
    #[arg(long)]
    pub prune: bool,
    /// Colour the diff even when stdout is not a terminal.
    #[arg(long)]
    pub color: bool,
}

/// Returned when the diff is not empty: exit 1 without an error message.
#[derive(Debug, thiserror::Error)]
#[error("differences found")]
pub struct Differences;

pub fn run(args: &Args) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let diffs = runtime.block_on(async {
        let Prepared {
            applier,
            rendered,
            live,
            ctx,
            ..
        } = prepare(&args.target, |ctx| {
            ctx.prune = args.prune;
            // A preview never refuses; the real sync applies the guard.
            ctx.allow_large_prune = true;
        })
        .await?;
        anyhow::Ok(crate::cluster::sync::diff(&applier, rendered, &live, &ctx).await?)
    })?;
    let color = args.color || std::io::stdout().is_terminal();
    let text: String = diffs.iter().filter_map(|d| d.unified(color)).collect();
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .context("cannot write to stdout")?;
    if text.is_empty() {
        Ok(())
    } else {
        Err(Differences.into())
    }
}
