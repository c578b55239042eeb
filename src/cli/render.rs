//! `gantry render DIR`: an overlay → the YAML stream `kustomize build` prints.

use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;

use super::ReorderArg;
use crate::git::TreeFs;
use crate::manifest::{self, DiskFs, Reorder};

pub fn run(dir: &Path, reorder: ReorderArg, rev: Option<&str>) -> anyhow::Result<()> {
    let how = match reorder {
        ReorderArg::Legacy => Reorder::Legacy,
        ReorderArg::None => Reorder::None,
    };
    let resources = match rev {
        Some(rev) => render_at(dir, rev, how)?,
        None => render_checkout(dir, how)?,
    };
    tracing::debug!(dir = %dir.display(), resources = resources.len(), "rendered");
    std::io::stdout()
        .lock()
        .write_all(manifest::to_yaml(&resources).as_bytes())
        .context("cannot write to stdout")?;
    Ok(())
}

/// Renders from the object database: `dir` names the overlay inside the repository that
/// contains it (it need not exist in the checkout any more).
fn render_at(dir: &Path, rev: &str, how: Reorder) -> anyhow::Result<Vec<manifest::Resource>> {
    let absolute =
        std::path::absolute(dir).with_context(|| format!("cannot resolve {}", dir.display()))?;
    let start = absolute
        .ancestors()
        .find(|a| a.is_dir())
        .unwrap_or(Path::new("."));
    let repo = gix::discover(start)
        .with_context(|| format!("{} is not inside a git repository", dir.display()))?;
    let top = repo
        .workdir()
        .unwrap_or_else(|| repo.path())
        .canonicalize()
        .context("cannot resolve the repository root")?;
    let canonical_start = start
        .canonicalize()
        .context("cannot resolve the directory")?;
    let rel = canonical_start
        .strip_prefix(&top)
        .unwrap_or(Path::new(""))
        .join(absolute.strip_prefix(start).unwrap_or(Path::new("")));
    let tree = TreeFs::at(&repo, rev)?;
    Ok(manifest::render(&tree, &rel, how)?)
}

pub(super) fn render_checkout(dir: &Path, how: Reorder) -> anyhow::Result<Vec<manifest::Resource>> {
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
    Ok(manifest::render(&fs, &rel, how)?)
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
