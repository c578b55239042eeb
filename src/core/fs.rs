//! Reading a repository tree (shared by every stage): the [`Fs`] trait and a checkout on disk.
//!
//! Input: repo-relative paths. Output: bytes, or whether a path is a file or directory. The
//! renderer, the config loader and signature verification read only through [`Fs`], so a git
//! tree can stand in for a checkout. Paths are resolved lexically inside the repo root: `..`
//! that leaves the root, absolute paths and symlinks pointing outside are refused.

use std::io;
use std::path::{Component, Path, PathBuf};

/// Files that make a directory a kustomize overlay, in kustomize's lookup order.
pub const KUSTOMIZATION_FILES: &[&str] =
    &["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// Files over this size are not read by any stage (kube-apiserver refuses objects over 3 MiB).
pub const MAX_FILE_BYTES: u64 = 4 << 20;

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
