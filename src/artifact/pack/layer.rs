//! The packed layer: one reproducible gzip tar of a directory.
//!
//! Input: a directory. Output: the compressed bytes, their digest, and the digest of the
//! uncompressed tar (the config's `diff_id`). Reproducible by construction: entries sorted by
//! path, one fixed mtime, uid/gid 0 with empty owner names, modes normalised to 0755 (directories
//! and executables) or 0644, symlinks stored as links, and a gzip header with no name or time.
//! Packing the same tree twice therefore yields the same digest on any machine.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use flate2::Compression;
use sha2::{Digest as _, Sha256};

use super::PackError;

#[derive(Debug, Clone)]
pub struct Layer {
    pub gzip: Vec<u8>,
    /// `sha256:…` of `gzip`: the blob digest.
    pub digest: String,
    /// `sha256:…` of the uncompressed tar: the config's `rootfs.diff_ids` entry.
    pub diff_id: String,
    pub files: usize,
    /// Uncompressed size of the regular files.
    pub bytes: u64,
}

/// Counts and hashes what passes through, so the tar is hashed and compressed in one pass.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

enum Entry {
    Dir,
    File { executable: bool, len: u64 },
    Symlink(PathBuf),
}

/// Packs `dir` so that its contents appear under `prefix` (`""` for the image root).
pub fn build(dir: &Path, prefix: &str, mtime: u64) -> Result<Layer, PackError> {
    let io_fail = |path: &Path, e: io::Error| PackError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let meta = std::fs::metadata(dir).map_err(|e| io_fail(dir, e))?;
    if !meta.is_dir() {
        return Err(PackError::Io {
            path: dir.to_path_buf(),
            message: "not a directory".into(),
        });
    }
    let mut entries = Vec::new();
    walk(dir, Path::new(""), &mut entries)?;
    // Byte order of the relative paths: independent of the file system's listing order.
    entries.sort_by(|a, b| a.0.as_os_str().cmp(b.0.as_os_str()));

    let gz = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(Vec::new(), Compression::default());
    let mut tar = tar::Builder::new(Hashing {
        inner: gz,
        hash: Sha256::new(),
    });
    let prefix = prefix.trim_matches('/');
    let (mut files, mut bytes) = (0, 0);
    for (rel, entry) in &entries {
        let name = if prefix.is_empty() {
            rel.clone()
        } else {
            Path::new(prefix).join(rel)
        };
        let mut header = tar::Header::new_gnu();
        header.set_mtime(mtime);
        header.set_uid(0);
        header.set_gid(0);
        header
            .set_username("")
            .and_then(|()| header.set_groupname(""))
            .map_err(|e| io_fail(rel, e))?;
        let source = dir.join(rel);
        match entry {
            Entry::Dir => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o755);
                header.set_size(0);
                tar.append_data(&mut header, &name, io::empty())
            }
            Entry::File { executable, len } => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(if *executable { 0o755 } else { 0o644 });
                header.set_size(*len);
                files += 1;
                bytes += len;
                let file = std::fs::File::open(&source).map_err(|e| io_fail(&source, e))?;
                tar.append_data(&mut header, &name, file)
            }
            Entry::Symlink(target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_mode(0o777);
                header.set_size(0);
                tar.append_link(&mut header, &name, target)
            }
        }
        .map_err(|e| io_fail(&source, e))?;
    }
    let hashing = tar.into_inner().map_err(|e| io_fail(dir, e))?;
    let diff_id = format!("sha256:{:x}", hashing.hash.finalize());
    let gzip = hashing.inner.finish().map_err(|e| io_fail(dir, e))?;
    Ok(Layer {
        digest: crate::core::sha256(&gzip),
        gzip,
        diff_id,
        files,
        bytes,
    })
}

fn walk(root: &Path, rel: &Path, out: &mut Vec<(PathBuf, Entry)>) -> Result<(), PackError> {
    let here = root.join(rel);
    let read = std::fs::read_dir(&here).map_err(|e| PackError::Io {
        path: here.clone(),
        message: e.to_string(),
    })?;
    for item in read {
        let item = item.map_err(|e| PackError::Io {
            path: here.clone(),
            message: e.to_string(),
        })?;
        let rel = rel.join(item.file_name());
        let path = root.join(&rel);
        let meta = std::fs::symlink_metadata(&path).map_err(|e| PackError::Io {
            path: path.clone(),
            message: e.to_string(),
        })?;
        let kind = meta.file_type();
        if kind.is_symlink() {
            let target = std::fs::read_link(&path).map_err(|e| PackError::Io {
                path: path.clone(),
                message: e.to_string(),
            })?;
            out.push((rel, Entry::Symlink(target)));
        } else if kind.is_dir() {
            out.push((rel.clone(), Entry::Dir));
            walk(root, &rel, out)?;
        } else if kind.is_file() {
            out.push((
                rel,
                Entry::File {
                    executable: is_executable(&meta),
                    len: meta.len(),
                },
            ));
        } else {
            return Err(PackError::Io {
                path,
                message: "not a regular file, directory or symlink; sockets, fifos and devices \
                          cannot be packed"
                    .into(),
            });
        }
    }
    Ok(())
}

#[cfg(unix)]
fn is_executable(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    meta.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_: &std::fs::Metadata) -> bool {
    false
}
