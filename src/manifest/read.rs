//! Reading resource files (stage: ⑤ render).
//!
//! Input: files named under `resources`, read through [`Fs`]. Output: their documents as
//! resources (`List` kinds expanded, each with its file as provenance), parsed on all cores
//! when there are many.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::ManifestError;
use super::build::{display, read_text};
use super::fs::Fs;
use super::resource::Resource;

/// Parses a file of YAML documents into resources; `List` kinds are expanded.
pub(crate) fn read_resources(fs: &dyn Fs, path: &Path) -> Result<Vec<Resource>, ManifestError> {
    let text = read_text(fs, path)?;
    let mut out = parse_documents(&display(path), &text)?;
    for r in &mut out {
        r.provenance = super::resource::Provenance::File(path.to_path_buf());
    }
    Ok(out)
}

pub(crate) fn parse_documents(file: &str, text: &str) -> Result<Vec<Resource>, ManifestError> {
    let docs = super::load::documents(file, text)?;
    let mut out = Vec::new();
    for (i, doc) in docs.into_iter().enumerate() {
        match doc {
            Value::Null => {}
            Value::Object(_) => {
                let is_list = doc
                    .get("kind")
                    .and_then(Value::as_str)
                    .is_some_and(|k| k.ends_with("List"))
                    && doc.get("items").is_some_and(Value::is_array);
                if is_list {
                    for item in doc["items"].as_array().into_iter().flatten() {
                        out.push(checked(file, i, item.clone())?);
                    }
                } else {
                    out.push(checked(file, i, doc)?);
                }
            }
            _ => {
                return Err(ManifestError::file(
                    file,
                    format!("document {} is not a mapping", i + 1),
                ));
            }
        }
    }
    Ok(out)
}

/// Reads and parses `files` on all cores; results keep no order, callers index by path.
pub(crate) fn parse_parallel<'p>(
    fs: &dyn Fs,
    files: &[&'p PathBuf],
) -> Result<Vec<(&'p PathBuf, Vec<Resource>)>, ManifestError> {
    let workers = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .min(files.len().max(1));
    if workers <= 1 || files.len() < 8 {
        return files
            .iter()
            .map(|p| Ok((*p, read_resources(fs, p)?)))
            .collect();
    }
    let chunk = files.len().div_ceil(workers);
    std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|p| Ok((*p, read_resources(fs, p)?)))
                        .collect::<Result<Vec<_>, ManifestError>>()
                })
            })
            .collect();
        let mut out = Vec::with_capacity(files.len());
        for h in handles {
            out.extend(
                h.join()
                    .map_err(|_| ManifestError::file("render", "a parser thread panicked"))??,
            );
        }
        Ok(out)
    })
}

fn checked(file: &str, index: usize, doc: Value) -> Result<Resource, ManifestError> {
    let r = Resource::new(doc, file);
    for (field, value) in [("kind", r.kind()), ("metadata.name", r.name())] {
        if value.is_empty() {
            return Err(ManifestError::file(
                file,
                format!("document {}: missing {field}", index + 1),
            ));
        }
    }
    Ok(r)
}
