//! `gantry render DIR`: an overlay → the YAML stream `kustomize build` prints.

use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;

use super::{LoadRestrictorArg, ReorderArg};
use crate::git::TreeFs;
use crate::manifest::{self, DiskFs, Limits, LoadRestrictor, Reorder};

pub fn run(
    dir: &Path,
    reorder: ReorderArg,
    rev: Option<&str>,
    restrictor: LoadRestrictorArg,
) -> anyhow::Result<()> {
    let how = match reorder {
        ReorderArg::Legacy => Reorder::Legacy,
        ReorderArg::None => Reorder::None,
    };
    let limits = Limits {
        load_restrictor: match restrictor {
            LoadRestrictorArg::LoadRestrictionsRootOnly => LoadRestrictor::RootOnly,
            LoadRestrictorArg::LoadRestrictionsNone => LoadRestrictor::None,
        },
        ..Limits::DEFAULT
    };
    let resources = match rev {
        Some(rev) => render_at(dir, rev, how, limits)?,
        None => render_checkout_within(dir, how, limits)?,
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
fn render_at(
    dir: &Path,
    rev: &str,
    how: Reorder,
    limits: Limits,
) -> anyhow::Result<Vec<manifest::Resource>> {
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
    Ok(manifest::render_within(&tree, &rel, how, limits)?)
}

pub(super) fn render_checkout(dir: &Path, how: Reorder) -> anyhow::Result<Vec<manifest::Resource>> {
    render_checkout_within(dir, how, Limits::DEFAULT)
}

fn render_checkout_within(
    dir: &Path,
    how: Reorder,
    limits: Limits,
) -> anyhow::Result<Vec<manifest::Resource>> {
    if !dir.is_dir() {
        anyhow::bail!("{} is not a directory", dir.display());
    }
    // Inside a config repo everything a render reads stays inside it, as when the daemon renders
    // a commit's tree; outside one, kustomization directories may be anywhere, as with
    // kustomize (files still obey the load restrictor).
    let root = find_repo_root(dir);
    let fs = DiskFs::new(&root).with_context(|| format!("cannot open {}", root.display()))?;
    let canonical = dir
        .canonicalize()
        .with_context(|| format!("cannot open {}", dir.display()))?;
    let rel = canonical
        .strip_prefix(&root)
        .unwrap_or(Path::new(""))
        .to_path_buf();
    let rendered = manifest::render_within(&fs, &rel, how, limits);
    if root == Path::new("/") {
        // Rendered from the filesystem root: name files by their absolute paths.
        return Ok(rendered.map_err(absolute)?);
    }
    Ok(rendered?)
}

fn absolute(e: manifest::ManifestError) -> manifest::ManifestError {
    use manifest::ManifestError as E;
    let abs = |f: String| format!("/{}", f.trim_start_matches('/'));
    match e {
        E::At {
            file,
            line,
            column,
            message,
        } => E::At {
            file: abs(file),
            line,
            column,
            message,
        },
        E::File { file, message } => E::File {
            file: abs(file),
            message,
        },
        E::Read { path, source } => E::Read {
            path: Path::new("/").join(path),
            source,
        },
        other @ E::Write { .. } => other,
    }
}

/// The enclosing git work tree or config repo (a `gantry.yaml`), else the filesystem root.
fn find_repo_root(dir: &Path) -> std::path::PathBuf {
    let start = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let mut cur = Some(start.as_path());
    while let Some(d) = cur {
        if d.join(".git").exists() || d.join("gantry.yaml").is_file() {
            return d.to_path_buf();
        }
        cur = d.parent();
    }
    std::path::PathBuf::from("/")
}
