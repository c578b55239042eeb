//! Format-preserving edits (stage: ④ overlay edit): `set-image` on a kustomization and
//! `set-value` on a Helm-style values file.
//!
//! Input: a file's text and the change. Output: new text in which only the changed scalars (or
//! the inserted or removed entries) differ; comments, key order, quoting, indentation, blank
//! lines and document markers stay byte-identical. Every edit is re-parsed and checked before
//! anything is written, and files are replaced atomically.

mod section;
mod text;
pub mod tree;
mod values;

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::ManifestError;
use super::emit::{double_quoted_scalar, inline_scalar};
use super::transform::split_image;
use crate::core::fs::KUSTOMIZATION_FILES;
use text::Patches;
use tree::{Lines, Node, Style};
pub use values::{set_value, value_path};

/// What `set-image` asks for: the entry for `name` gets exactly these fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSpec {
    pub name: String,
    pub new_name: Option<String>,
    pub new_tag: Option<String>,
    pub digest: Option<String>,
}

impl ImageSpec {
    /// Parses `NAME=REPO[:TAG][@DIGEST]`, or `NAME[:TAG][@DIGEST]` to keep the name.
    pub fn parse(arg: &str) -> Result<Self, String> {
        let (name, target) = match arg.split_once('=') {
            Some((n, t)) => (n.to_owned(), t),
            None => (split_image(arg).0, arg),
        };
        let (repo, tag, digest) = split_image(target);
        if name.is_empty() || repo.is_empty() {
            return Err(format!("\"{arg}\": expected NAME=REPO[:TAG][@DIGEST]"));
        }
        // What runtimes would refuse to pull (an uppercase repository, say) is refused here.
        if let Err(e) = crate::core::ImageRef::parse(target) {
            let path = repo.split_once('/').map_or(repo.as_str(), |(_, p)| p);
            let why = if path.chars().any(|c| c.is_ascii_uppercase()) {
                "repository names must be lowercase".to_owned()
            } else {
                e.message
            };
            return Err(format!(
                "\"{arg}\": invalid image reference \"{target}\": {why}"
            ));
        }
        if !tag.is_empty()
            && !tag
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        {
            return Err(format!("\"{arg}\": invalid tag \"{tag}\""));
        }
        if !digest.is_empty() {
            let ok = digest.split_once(':').is_some_and(|(alg, hex)| {
                !alg.is_empty()
                    && hex.len() >= 32
                    && hex
                        .chars()
                        .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
            });
            if !ok {
                return Err(format!(
                    "\"{arg}\": invalid digest \"{digest}\" (expected e.g. sha256:<64 hex digits>)"
                ));
            }
        }
        Ok(Self {
            new_name: (repo != name).then_some(repo),
            name,
            new_tag: (!tag.is_empty()).then_some(tag),
            digest: (!digest.is_empty()).then_some(digest),
        })
    }

    fn fields(&self) -> [(&'static str, Option<&str>); 3] {
        [
            ("newName", self.new_name.as_deref()),
            ("newTag", self.new_tag.as_deref()),
            ("digest", self.digest.as_deref()),
        ]
    }
}

/// Whether a file changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Changed,
    Unchanged,
}

fn err(file: &str, message: impl Into<String>) -> ManifestError {
    ManifestError::file(file, message)
}

fn parse_tree(file: &str, text: &str) -> Result<Vec<Node>, ManifestError> {
    tree::parse(text).map_err(|e| err(file, format!("cannot edit: YAML error at {e}")))
}

/// Renders `value` for a scalar that used `style`, keeping the quoting the author chose.
fn render_like(value: &str, style: Style) -> String {
    match style {
        Style::Single if !value.contains('\n') => format!("'{}'", value.replace('\'', "''")),
        Style::Double => double_quoted_scalar(value),
        _ => inline_scalar(value),
    }
}

/// `set-image` on the text of a kustomization file. Only the `images` section is parsed when
/// a line scan can isolate it with certainty; otherwise the whole file is.
pub fn set_image(file: &str, text: &str, spec: &ImageSpec) -> Result<String, ManifestError> {
    match section::find(text, "images") {
        section::Section::Found(range) => {
            if let Ok(new) = set_image_full(file, &text[range.clone()], spec) {
                return Ok(format!(
                    "{}{new}{}",
                    &text[..range.start],
                    &text[range.end..]
                ));
            }
        }
        section::Section::Absent => {
            let lead = if text.ends_with('\n') { "" } else { "\n" };
            let fragment = format!("images:{}\n", new_image_block(spec, ""));
            if verify_image(file, &fragment, spec).is_ok() {
                return Ok(format!("{text}{lead}{fragment}"));
            }
        }
        section::Section::Unsure => {}
    }
    set_image_full(file, text, spec)
}

/// `set-image` on a whole parsed file (the fallback when the section cannot be isolated).
fn set_image_full(file: &str, text: &str, spec: &ImageSpec) -> Result<String, ManifestError> {
    let docs = parse_tree(file, text)?;
    let root = docs
        .first()
        .ok_or_else(|| err(file, "file has no YAML document"))?;
    let lines = Lines::new(text);
    let mut patches = Patches::new(text);
    let Node::Map { .. } = root else {
        return Err(err(file, "a kustomization must be a mapping"));
    };
    match root.get("images") {
        None => patches.append_block_entry(&lines, root, "images", &new_image_block(spec, "")),
        Some((_, Node::Seq { items, flow })) => {
            let entry = items
                .iter()
                .find(|i| i.get("name").and_then(|(_, n)| n.as_str()) == Some(spec.name.as_str()));
            match (entry, flow) {
                (Some(item), _) => edit_image_entry(&mut patches, &lines, item, spec, file)?,
                (None, Some(range)) => {
                    let sep = if items.is_empty() { "" } else { ", " };
                    patches.insert(range.end - 1, format!("{sep}{}", new_image_flow(spec)));
                }
                (None, None) => patches.append_seq_item(&lines, items, &new_image_item(spec)),
            }
        }
        Some((i, Node::Scalar { value, .. }))
            if value.is_empty() || value == "~" || value == "null" =>
        {
            if let Node::Map { entries, .. } = root {
                let key = &entries[i].0;
                patches.replace_line_tail(
                    &lines,
                    key.end(),
                    &format!(":{}", new_image_block(spec, "")),
                );
            }
        }
        Some(_) => return Err(err(file, "`images` must be a list")),
    }
    let out = patches.apply();
    verify_image(file, &out, spec)?;
    Ok(out)
}

fn edit_image_entry(
    patches: &mut Patches<'_>,
    lines: &Lines<'_>,
    item: &Node,
    spec: &ImageSpec,
    file: &str,
) -> Result<(), ManifestError> {
    let Node::Map { entries, flow } = item else {
        return Err(err(file, "images entries must be mappings"));
    };
    for (field, want) in spec.fields() {
        let existing = entries.iter().find(|(k, _)| k.as_str() == Some(field));
        match (existing, want) {
            (Some((_, v)), Some(want)) => {
                if v.as_str() != Some(want) {
                    let style = match v {
                        Node::Scalar { style, .. } => *style,
                        _ => Style::Plain,
                    };
                    patches
                        .replace_node(v, &render_like(want, style))
                        .map_err(|m| err(file, m))?;
                }
            }
            (Some((k, v)), None) => patches.remove_entry(lines, entries, k, v, flow.as_ref()),
            (None, Some(want)) => match flow {
                Some(range) => {
                    patches.insert(range.end - 1, format!(", {field}: {}", inline_scalar(want)));
                }
                None => patches.append_block_entry(
                    lines,
                    item,
                    field,
                    &format!(" {}", inline_scalar(want)),
                ),
            },
            (None, None) => {}
        }
    }
    Ok(())
}

fn new_image_item(spec: &ImageSpec) -> Vec<String> {
    let mut lines = vec![format!("name: {}", inline_scalar(&spec.name))];
    for (field, value) in spec.fields() {
        if let Some(v) = value {
            lines.push(format!("{field}: {}", inline_scalar(v)));
        }
    }
    lines
}

fn new_image_block(spec: &ImageSpec, indent: &str) -> String {
    let mut out = String::new();
    for (i, line) in new_image_item(spec).iter().enumerate() {
        out.push('\n');
        out.push_str(indent);
        out.push_str(if i == 0 { "- " } else { "  " });
        out.push_str(line);
    }
    out
}

fn new_image_flow(spec: &ImageSpec) -> String {
    format!("{{{}}}", new_image_item(spec).join(", "))
}

fn verify_image(file: &str, text: &str, spec: &ImageSpec) -> Result<(), ManifestError> {
    let doc: Value = super::load::documents(file, text)
        .ok()
        .and_then(|d| d.into_iter().next())
        .ok_or_else(|| err(file, "edit refused: the result would not be valid YAML"))?;
    let entry = doc["images"]
        .as_array()
        .and_then(|a| {
            a.iter()
                .find(|i| i["name"].as_str() == Some(spec.name.as_str()))
        })
        .ok_or_else(|| {
            err(
                file,
                "edit refused: the images entry did not come out as intended",
            )
        })?;
    for (field, want) in spec.fields() {
        if entry.get(field).and_then(Value::as_str) != want {
            return Err(err(
                file,
                format!("edit refused: {field} would not read back as intended"),
            ));
        }
    }
    Ok(())
}

/// The kustomization file of an overlay directory.
pub fn kustomization_file(dir: &Path) -> Result<PathBuf, ManifestError> {
    KUSTOMIZATION_FILES
        .iter()
        .map(|f| dir.join(f))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            err(
                &dir.display().to_string(),
                format!(
                    "no kustomization file (looked for {})",
                    KUSTOMIZATION_FILES.join(", ")
                ),
            )
        })
}

/// Edits a file in place: read, transform, write atomically (temp file + rename) if changed.
///
/// Read, edit and replace happen under an exclusive lock on the file's directory, so edits of
/// one file by several processes at once are applied one after the other: none is lost. (The
/// file itself cannot carry the lock: it is replaced by a rename, and a lock on the old inode
/// would not stop the next writer. A lock file beside it would end up committed.)
pub fn edit_file(
    path: &Path,
    f: impl FnOnce(&str, &str) -> Result<String, ManifestError>,
) -> Result<Outcome, ManifestError> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let lock_failed = |source| ManifestError::Write {
        path: path.to_path_buf(),
        source,
    };
    let guard = std::fs::File::open(dir).map_err(lock_failed)?;
    guard.lock().map_err(lock_failed)?;
    let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let new = f(&path.display().to_string(), &text)?;
    if new == text {
        return Ok(Outcome::Unchanged);
    }
    text::write_atomically(path, new.as_bytes())?;
    Ok(Outcome::Changed)
}
