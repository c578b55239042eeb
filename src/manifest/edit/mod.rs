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

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::ManifestError;
use super::emit::{double_quoted_scalar, inline_scalar};
use super::transform::split_image;
use crate::core::fs::KUSTOMIZATION_FILES;
use text::Patches;
use tree::{Lines, Node, Style};

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

/// `set-value` on the text of a values file: the scalar at `path` becomes `value`, created
/// (with any missing parent mappings) when absent.
pub fn set_value(
    file: &str,
    text: &str,
    path: &[String],
    value: &str,
) -> Result<String, ManifestError> {
    if path.is_empty() || path.iter().any(String::is_empty) {
        return Err(err(file, "the path must be dotted keys, e.g. image.tag"));
    }
    let docs = parse_tree(file, text)?;
    let lines = Lines::new(text);
    let mut patches = Patches::new(text);
    let doc = docs
        .iter()
        .find(|d| lookup(d, path).is_some())
        .or(docs.first());
    match doc {
        None => patches.insert(text.len(), nested_block(path, value, "")),
        Some(doc) => set_in(&mut patches, &lines, doc, path, value, file)?,
    }
    let out = patches.apply();
    let docs = super::load::documents(file, &out)
        .map_err(|_| err(file, "edit refused: the result would not be valid YAML"))?;
    let reads_back = docs.iter().any(|d| {
        let got = path.iter().try_fold(d, |v, k| match index(k) {
            Some(i) => v.get(i),
            None => v.get(k),
        });
        got.is_some_and(|g| match g {
            Value::String(s) => s == value,
            other => value.parse::<Value>().ok().as_ref() == Some(other),
        })
    });
    if !reads_back {
        return Err(err(
            file,
            format!(
                "edit refused: {} would not read back as \"{value}\"",
                shown(path)
            ),
        ));
    }
    Ok(out)
}

fn lookup<'a>(node: &'a Node, path: &[String]) -> Option<&'a Node> {
    path.iter().try_fold(node, |n, k| match (index(k), n) {
        (Some(i), Node::Seq { items, .. }) => items.get(i),
        (Some(_), _) => None,
        (None, _) => n.get(k).map(|(_, v)| v),
    })
}

/// A `set-value` path as the user wrote it: `list[0].v`.
fn shown(path: &[String]) -> String {
    let mut out = String::new();
    for (n, k) in path.iter().enumerate() {
        if n > 0 && index(k).is_none() {
            out.push('.');
        }
        out.push_str(k);
    }
    out
}

/// `[N]`, a list index in a `set-value` path (`list[0].v` is `list`, `[0]`, `v`).
fn index(segment: &str) -> Option<usize> {
    segment.strip_prefix('[')?.strip_suffix(']')?.parse().ok()
}

/// Splits a dotted `set-value` path into keys and `[N]` list indexes.
pub fn value_path(path: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (key, mut rest) = part.split_once('[').map_or((part, ""), |(k, r)| (k, r));
        if !key.is_empty() || rest.is_empty() {
            out.push(key.to_owned());
        }
        while !rest.is_empty() {
            let (n, after) = rest
                .split_once(']')
                .ok_or_else(|| format!("\"{path}\": unclosed `[` in a list index"))?;
            if n.parse::<usize>().is_err() {
                return Err(format!("\"{path}\": list index \"{n}\" is not a number"));
            }
            out.push(format!("[{n}]"));
            rest = after.strip_prefix('[').unwrap_or(after);
            if !after.is_empty() && !after.starts_with('[') {
                return Err(format!("\"{path}\": expected `.` or `[` after `]`"));
            }
        }
    }
    Ok(out)
}

/// `set_in` for a `[N]` segment: lists are edited in place, never grown.
fn set_in_list(
    patches: &mut Patches<'_>,
    lines: &Lines<'_>,
    node: &Node,
    (i, rest): (usize, &[String]),
    value: &str,
    (path, file): (&[String], &str),
) -> Result<(), ManifestError> {
    let Node::Seq { items, .. } = node else {
        return Err(err(
            file,
            format!(
                "cannot set {}: [{i}] indexes a list, but this is not one",
                shown(path)
            ),
        ));
    };
    let Some(item) = items.get(i) else {
        return Err(err(
            file,
            format!(
                "cannot set {}: index [{i}] is past the end of a list of {} (set-value edits existing list items only)",
                shown(path),
                items.len()
            ),
        ));
    };
    if rest.is_empty() {
        return match item {
            Node::Scalar { .. } | Node::Alias { .. } => {
                let rendered = match item {
                    Node::Scalar { style, .. } => render_like(value, *style),
                    _ => inline_scalar(value),
                };
                patches
                    .replace_node(item, &rendered)
                    .map_err(|m| err(file, m))
            }
            _ => Err(err(
                file,
                format!(
                    "cannot set {}: it holds a mapping or list, not a scalar",
                    shown(path)
                ),
            )),
        };
    }
    set_in(patches, lines, item, rest, value, file)
}

fn set_in(
    patches: &mut Patches<'_>,
    lines: &Lines<'_>,
    node: &Node,
    path: &[String],
    value: &str,
    file: &str,
) -> Result<(), ManifestError> {
    let (key, rest) = path.split_first().expect("path checked non-empty");
    if let Some(i) = index(key) {
        return set_in_list(patches, lines, node, (i, rest), value, (path, file));
    }
    let Node::Map { flow, .. } = node else {
        return Err(err(
            file,
            format!("cannot set {}: a parent is not a mapping", shown(path)),
        ));
    };
    match (node.get(key), rest.is_empty()) {
        (Some((_, child)), false) => set_in(patches, lines, child, rest, value, file),
        (Some((_, leaf)), true) => match leaf {
            Node::Scalar {
                value: old, style, ..
            } => {
                if old != value {
                    let rendered = if *style == Style::Plain && same_plain_kind(old, value) {
                        value.to_owned()
                    } else {
                        render_like(value, *style)
                    };
                    patches
                        .replace_node(leaf, &rendered)
                        .map_err(|m| err(file, m))?;
                }
                Ok(())
            }
            Node::Alias { .. } => patches
                .replace_node(leaf, &inline_scalar(value))
                .map_err(|m| err(file, m)),
            _ => Err(err(
                file,
                format!(
                    "cannot set {}: it holds a mapping or list, not a scalar",
                    shown(path)
                ),
            )),
        },
        (None, _) => {
            if let Some(range) = flow {
                let inner = if rest.is_empty() {
                    inline_scalar(value)
                } else {
                    nested_flow(rest, value)
                };
                let sep = if node_is_empty(node) { "" } else { ", " };
                patches.insert(range.end - 1, format!("{sep}{key}: {inner}"));
            } else if rest.is_empty() {
                patches.append_block_entry(lines, node, key, &format!(" {}", inline_scalar(value)));
            } else {
                patches.append_block_entry(lines, node, key, &nested_block(rest, value, "  "));
            }
            Ok(())
        }
    }
}

fn node_is_empty(n: &Node) -> bool {
    matches!(n, Node::Map { entries, .. } if entries.is_empty())
}

fn nested_block(path: &[String], value: &str, indent: &str) -> String {
    let mut out = String::new();
    for (depth, key) in path.iter().enumerate() {
        out.push('\n');
        out.push_str(indent);
        out.push_str(&"  ".repeat(depth));
        out.push_str(key);
        out.push(':');
    }
    out.push(' ');
    out.push_str(&inline_scalar(value));
    if indent.is_empty() {
        out.push('\n');
        return out.trim_start_matches('\n').to_owned();
    }
    out
}

fn nested_flow(path: &[String], value: &str) -> String {
    path.iter()
        .rev()
        .fold(inline_scalar(value), |inner, k| format!("{{{k}: {inner}}}"))
}

/// Whether both strings read as the same kind of YAML 1.2 scalar (so `3` → `5` stays plain).
fn same_plain_kind(old: &str, new: &str) -> bool {
    fn kind(s: &str) -> u8 {
        match s {
            "" | "~" | "null" | "Null" | "NULL" => 0,
            "true" | "True" | "TRUE" | "false" | "False" | "FALSE" => 1,
            _ if s.parse::<i64>().is_ok() => 2,
            _ if s.parse::<f64>().is_ok() && s.chars().any(|c| c.is_ascii_digit()) => 3,
            _ => 4,
        }
    }
    kind(old) == kind(new) && (kind(new) != 4 || inline_scalar(new) == new)
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
