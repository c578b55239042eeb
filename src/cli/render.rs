//! `gantry render DIR`: an overlay → the YAML stream `kustomize build` prints.

use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;

use super::ReorderArg;
use crate::manifest::{self, DiskFs, Reorder};

pub fn run(dir: &Path, reorder: ReorderArg) -> anyhow::Result<()> {
    if !dir.is_dir() {
        anyhow::bail!("{} is not a directory", dir.display());
    }
    // Files may come from anywhere inside the enclosing repo (overlays reach `../../base`),
    // never from outside it, as with kustomize's load restrictor.
    let root = find_repo_root(dir);
    let fs = DiskFs::new(&root).with_context(|| format!("cannot open {}", root.display()))?;
    let canonical = dir
        .canonicalize()
        .with_context(|| format!("cannot open {}", dir.display()))?;
    let rel = canonical
        .strip_prefix(&root)
        .unwrap_or(Path::new(""))
        .to_path_buf();
    let how = match reorder {
        ReorderArg::Legacy => Reorder::Legacy,
        ReorderArg::None => Reorder::None,
    };
    let resources = manifest::render(&fs, &rel, how)?;
    tracing::debug!(dir = %dir.display(), resources = resources.len(), "rendered");
    std::io::stdout()
        .lock()
        .write_all(manifest::to_yaml(&resources).as_bytes())
        .context("cannot write to stdout")?;
    Ok(())
}

/// The enclosing git work tree, or the directory itself: overlays may reach `../../base`
/// anywhere inside the repo, never outside it.
fn find_repo_root(dir: &Path) -> std::path::PathBuf {
    let start = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let mut cur = Some(start.as_path());
    while let Some(d) = cur {
        if d.join(".git").exists() || d.join("gantry.yaml").is_file() {
            return d.to_path_buf();
        }
        cur = d.parent();
    }
    start
}
