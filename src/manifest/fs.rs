//! The files a render reads (stage: ⑤ render).
//!
//! Input: repo-relative paths. Output: bytes, or whether a path is a directory. The renderer
//! reads only through [`Fs`], so a git tree can stand in for a checkout (`render --rev`).
//! Paths are resolved lexically inside the repo root, like kustomize's load restrictor: `..`
//! that leaves the root, absolute paths and symlinks pointing outside are refused.

use std::io;
use std::path::{Component, Path, PathBuf};

/// Read-only view of a repository tree; paths are relative to its root, already normalised.
pub trait Fs: Sync {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    fn is_dir(&self, path: &Path) -> bool;
    fn is_file(&self, path: &Path) -> bool;
    /// kustomize's `LoadRestrictionsRootOnly`: files a kustomization names must sit in its own
    /// directory tree (other kustomization directories may be anywhere).
    fn files_root_only(&self) -> bool {
        true
    }
}

/// kustomize's `--load-restrictor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadRestrictor {
    /// `LoadRestrictionsRootOnly` (the default): a file must be in or below the directory of
    /// the kustomization that names it.
    RootOnly,
    /// `LoadRestrictionsNone`: files may be anywhere the renderer's filesystem reaches.
    None,
}

/// Why the root-only rule refuses `given`, named in the kustomization's `field`.
#[must_use]
pub fn outside_kustomization(field: &str, given: &str) -> String {
    format!(
        "{field}: \"{given}\" is a file outside this kustomization's directory; kustomize's load restrictor (LoadRestrictionsRootOnly) refuses it: move it under the directory, make its directory a kustomization and list that, or render with --load-restrictor LoadRestrictionsNone"
    )
}

/// Whether `path` may be read by the kustomization in `dir` under the root-only rule.
#[must_use]
pub fn in_kustomization_dir(dir: &Path, path: &Path) -> bool {
    path.starts_with(dir)
}

/// A checkout on disk.
#[derive(Debug)]
pub struct DiskFs {
    root: PathBuf,
    /// Directories already resolved inside the root: a file in one of them needs one
    /// `lstat`, not a full `canonicalize`, unless it is itself a symlink.
    safe_dirs: std::sync::Mutex<std::collections::HashSet<PathBuf>>,
}

impl DiskFs {
    pub fn new(root: &Path) -> io::Result<Self> {
        Ok(Self {
            root: root.canonicalize()?,
            safe_dirs: std::sync::Mutex::default(),
        })
    }

    /// Follows symlinks, refusing targets outside the root.
    fn resolve(&self, path: &Path) -> io::Result<PathBuf> {
        let joined = self.root.join(path);
        if let Some(parent) = path.parent() {
            let known = self.safe_dirs.lock().is_ok_and(|s| s.contains(parent));
            if known && !std::fs::symlink_metadata(&joined)?.file_type().is_symlink() {
                return Ok(joined);
            }
        }
        let full = joined.canonicalize()?;
        if full.starts_with(&self.root) {
            // Only a path that is its own canonical form proves its directory has no links.
            if full == joined
                && let Some(parent) = path.parent()
                && let Ok(mut dirs) = self.safe_dirs.lock()
            {
                dirs.insert(parent.to_path_buf());
            }
            Ok(full)
        } else {
            Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "{} is a symlink that leaves the repo root (load restrictor)",
                    path.display()
                ),
            ))
        }
    }
}

impl Fs for DiskFs {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        std::fs::read(self.resolve(path)?)
    }

    fn is_dir(&self, path: &Path) -> bool {
        self.resolve(path).is_ok_and(|p| p.is_dir())
    }

    fn is_file(&self, path: &Path) -> bool {
        self.resolve(path).is_ok_and(|p| p.is_file())
    }
}

/// How much one render may read: a commit must not be able to exhaust the daemon's memory.
/// A render's working set is a small multiple of what it reads, so bounding the input bounds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest single file (manifest, patch or kustomization).
    pub max_file_bytes: u64,
    /// All files one render reads, together.
    pub max_render_bytes: u64,
    pub load_restrictor: LoadRestrictor,
}

impl Limits {
    /// 4 MiB a file (kube-apiserver refuses objects over 3 MiB), 8 MiB a render.
    pub const DEFAULT: Self = Self {
        max_file_bytes: 4 << 20,
        max_render_bytes: 8 << 20,
        load_restrictor: LoadRestrictor::RootOnly,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// An [`Fs`] that counts what a render reads and refuses to go past [`Limits`].
pub(crate) struct Budgeted<'a> {
    inner: &'a dyn Fs,
    limits: Limits,
    read: std::sync::atomic::AtomicU64,
}

impl<'a> Budgeted<'a> {
    pub(crate) fn new(inner: &'a dyn Fs, limits: Limits) -> Self {
        Self {
            inner,
            limits,
            read: std::sync::atomic::AtomicU64::new(0),
        }
    }
}

/// `bytes` in MiB with one decimal, for limit messages.
#[must_use]
pub fn mib(bytes: u64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let m = bytes as f64 / f64::from(1u32 << 20);
    format!("{m:.1} MiB")
}

/// The error for a file over the per-file limit.
#[must_use]
pub fn file_too_large(len: u64, limit: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::FileTooLarge,
        format!(
            "file is {}, over the limit of {} a file",
            mib(len),
            mib(limit)
        ),
    )
}

impl Fs for Budgeted<'_> {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let bytes = self.inner.read(path)?;
        let len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        if len > self.limits.max_file_bytes {
            return Err(file_too_large(len, self.limits.max_file_bytes));
        }
        let total = self
            .read
            .fetch_add(len, std::sync::atomic::Ordering::Relaxed)
            .saturating_add(len);
        if total > self.limits.max_render_bytes {
            return Err(io::Error::new(
                io::ErrorKind::FileTooLarge,
                format!(
                    "this render reads over {} of files with this one, over the limit of {} a render",
                    mib(total),
                    mib(self.limits.max_render_bytes)
                ),
            ));
        }
        Ok(bytes)
    }

    fn is_dir(&self, path: &Path) -> bool {
        self.inner.is_dir(path)
    }

    fn is_file(&self, path: &Path) -> bool {
        self.inner.is_file(path)
    }

    fn files_root_only(&self) -> bool {
        self.limits.load_restrictor == LoadRestrictor::RootOnly
    }
}

/// Joins `rel` onto the repo-relative directory `dir`, resolving `.` and `..` lexically.
/// `None` when the result would leave the repo root or `rel` is absolute.
#[must_use]
pub fn join(dir: &Path, rel: &str) -> Option<PathBuf> {
    let rel = Path::new(rel);
    if rel.is_absolute() {
        return None;
    }
    let mut out: Vec<&std::ffi::OsStr> = Vec::new();
    for c in dir.components().chain(rel.components()) {
        match c {
            Component::Normal(s) => out.push(s),
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop()?;
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out.iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_stays_inside_the_root() {
        assert_eq!(
            join(Path::new("apps/web/overlays/dev"), "../../base"),
            Some(PathBuf::from("apps/web/base"))
        );
        assert_eq!(
            join(Path::new("a"), "./b/../c.yaml"),
            Some(PathBuf::from("a/c.yaml"))
        );
        assert_eq!(join(Path::new("a"), "../../etc/passwd"), None);
        assert_eq!(join(Path::new("a"), "/etc/passwd"), None);
    }
}
