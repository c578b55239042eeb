//! A commit's tree as the renderer's filesystem (stage ⑤, `gantry render --rev`).
//!
//! Input: a repository and a revision. Output: [`TreeFs`], every blob of the tree read from the
//! object database up front (no checkout), so reads are lock-free and the value is `Sync` for
//! the renderer's parallel parse. Config repos are small; a 1,000-file tree loads in a few ms.

use std::collections::{HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};

use gix::ObjectId;
use gix::objs::FindExt as _;
use gix::traverse::tree::Recorder;

use super::GitError;
use crate::core::fs::{Fs, file_too_large, join};

/// Files over this size are not loaded (the renderer's own limit per file is the same).
pub const MAX_BLOB_BYTES: u64 = crate::core::fs::MAX_FILE_BYTES;
/// All loaded files of one commit together.
pub const MAX_TREE_BYTES: u64 = 128 << 20;

/// The files of one commit. Symlinks are followed inside the tree and refused when they leave
/// it, as the disk filesystem's load restrictor does.
#[derive(Debug, Default, Clone)]
pub struct TreeFs {
    commit: Option<ObjectId>,
    files: HashMap<PathBuf, Vec<u8>>,
    /// Blobs too large to load, with their size: reading one is an error that names it, so a
    /// commit cannot make the daemon hold gigabytes.
    oversized: HashMap<PathBuf, u64>,
    links: HashMap<PathBuf, String>,
    dirs: HashSet<PathBuf>,
}

impl TreeFs {
    /// Reads the tree of `rev` (anything `git rev-parse` accepts) in `repo`.
    pub fn at(repo: &gix::Repository, rev: &str) -> Result<Self, GitError> {
        let shown = repo.path().display().to_string();
        let fail = |message: String| GitError::Revision {
            repo: shown.clone(),
            rev: rev.to_string(),
            message,
        };
        let commit = repo
            .rev_parse_single(rev)
            .map_err(|e| fail(e.to_string()))?
            .object()
            .map_err(|e| fail(e.to_string()))?
            .peel_to_commit()
            .map_err(|e| fail(e.to_string()))?;
        Self::of_commit(repo, commit.id)
    }

    /// Reads the tree of the commit `id`.
    pub fn of_commit(repo: &gix::Repository, id: ObjectId) -> Result<Self, GitError> {
        let fail = |what: String, e: &dyn std::fmt::Display| GitError::Read {
            repo: repo.path().display().to_string(),
            what,
            message: e.to_string(),
        };
        let tree = repo
            .find_commit(id)
            .and_then(|c| c.tree())
            .map_err(|e| fail(format!("the tree of {id}"), &e))?;
        let mut recorder = Recorder::default();
        tree.traverse()
            .breadthfirst(&mut recorder)
            .map_err(|e| fail(format!("the tree of {id}"), &e))?;
        let mut out = Self {
            commit: Some(id),
            ..Self::default()
        };
        out.dirs.insert(PathBuf::new());
        let mut buf = Vec::new();
        let mut loaded = 0u64;
        for entry in recorder.records {
            let path = PathBuf::from(entry.filepath.to_string());
            if entry.mode.is_tree() {
                out.dirs.insert(path);
            } else if entry.mode.is_blob() || entry.mode.is_link() {
                let size = repo
                    .find_header(entry.oid)
                    .map_err(|e| fail(path.display().to_string(), &e))?
                    .size();
                if size > MAX_BLOB_BYTES {
                    out.oversized.insert(path, size);
                    continue;
                }
                loaded += size;
                if loaded > MAX_TREE_BYTES {
                    return Err(fail(
                        format!("the tree of {id}"),
                        &format!(
                            "its files hold more than {} MiB; gantry reads config repos whole and refuses larger ones",
                            MAX_TREE_BYTES >> 20
                        ),
                    ));
                }
                let blob = repo
                    .objects
                    .find_blob(&entry.oid, &mut buf)
                    .map_err(|e| fail(path.display().to_string(), &e))?;
                if entry.mode.is_link() {
                    let target = String::from_utf8_lossy(blob.data).into_owned();
                    out.links.insert(path, target);
                } else {
                    out.files.insert(path, blob.data.to_vec());
                }
            }
            // Submodules (commit entries) carry no files of this repo.
        }
        Ok(out)
    }

    /// The commit these files belong to.
    #[must_use]
    pub fn commit(&self) -> Option<ObjectId> {
        self.commit
    }

    /// Number of regular files.
    #[must_use]
    pub fn len(&self) -> usize {
        self.files.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// All regular files, for callers that edit a tree.
    pub fn files(&self) -> impl Iterator<Item = (&Path, &[u8])> {
        self.files.iter().map(|(p, d)| (p.as_path(), d.as_slice()))
    }

    /// Follows symlinks (at most 40, as Linux does) and refuses those leaving the tree.
    fn resolve(&self, path: &Path) -> io::Result<PathBuf> {
        let mut cur = path.to_path_buf();
        for _ in 0..40 {
            // A link may sit at any component, not just the last.
            let hit = cur
                .ancestors()
                .find_map(|a| self.links.get(a).map(|t| (a.to_path_buf(), t)));
            let Some((link, target)) = hit else {
                return Ok(cur);
            };
            let rest = cur
                .strip_prefix(&link)
                .unwrap_or(Path::new(""))
                .to_path_buf();
            let parent = link.parent().unwrap_or(Path::new(""));
            let joined = join(parent, target).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    format!(
                        "{} is a symlink that leaves the repo root (load restrictor)",
                        link.display()
                    ),
                )
            })?;
            cur = joined.join(rest);
        }
        Err(io::Error::other(format!(
            "{}: too many levels of symbolic links",
            path.display()
        )))
    }
}

impl Fs for TreeFs {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let real = self.resolve(path)?;
        if let Some(size) = self.oversized.get(&real) {
            return Err(file_too_large(*size, MAX_BLOB_BYTES));
        }
        self.files.get(&real).cloned().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("{} is not a file in this commit", path.display()),
            )
        })
    }

    fn is_dir(&self, path: &Path) -> bool {
        self.resolve(path).is_ok_and(|p| self.dirs.contains(&p))
    }

    fn is_file(&self, path: &Path) -> bool {
        self.resolve(path)
            .is_ok_and(|p| self.files.contains_key(&p) || self.oversized.contains_key(&p))
    }
}
