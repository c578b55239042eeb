//! What one render may read (stage: ⑤ render): kustomize's load restrictor and the byte
//! budgets.
//!
//! Input: an [`Fs`] (from `core`) and [`Limits`]. Output: an [`Fs`] that refuses files past the
//! per-file and per-render budgets, and the root-only rule kustomize applies to files a
//! kustomization names.

use std::io;
use std::path::Path;

pub use crate::core::fs::{DiskFs, Fs, file_too_large, join, mib};

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
        max_file_bytes: crate::core::fs::MAX_FILE_BYTES,
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
