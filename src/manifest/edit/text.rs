//! Byte-level edits on the original text (stage: ④ overlay edit).
//!
//! Input: the original text and node positions. Output: the text with replacements and
//! insertions applied back to front, so earlier offsets stay valid. Only the bytes named by an
//! edit change.

use std::io::Write as _;
use std::ops::Range;
use std::path::Path;

use super::tree::{Lines, Node};
use crate::manifest::ManifestError;

pub struct Patches<'a> {
    text: &'a str,
    edits: Vec<(Range<usize>, String)>,
}

impl<'a> Patches<'a> {
    pub fn new(text: &'a str) -> Self {
        Self {
            text,
            edits: Vec::new(),
        }
    }

    pub fn insert(&mut self, at: usize, s: impl Into<String>) {
        self.edits.push((at..at, s.into()));
    }

    pub fn replace(&mut self, range: Range<usize>, s: impl Into<String>) {
        self.edits.push((range, s.into()));
    }

    /// Replaces a scalar or alias token; refuses nodes whose exact span is unknown.
    pub fn replace_node(&mut self, node: &Node, s: &str) -> Result<(), String> {
        let span = match node {
            Node::Scalar { span: Some(r), .. } | Node::Alias { span: r } => r.clone(),
            Node::Scalar { start, .. } => {
                let line = self.text[..*start].matches('\n').count() + 1;
                return Err(format!(
                    "line {line}: cannot rewrite a multi-line or block scalar in place"
                ));
            }
            _ => return Err("only scalars can be replaced".to_owned()),
        };
        self.replace(span, s);
        Ok(())
    }

    /// Replaces from `from` to the end of its line (newline kept).
    pub fn replace_line_tail(&mut self, lines: &Lines<'_>, from: usize, s: &str) {
        let end = lines.line_end(from);
        let end = if self.text[..end].ends_with('\n') {
            end - 1
        } else {
            end
        };
        self.replace(from..end, s);
    }

    /// Where a new line goes after `node`, and whether a newline must precede it.
    fn after_line_of(&self, lines: &Lines<'_>, offset: usize) -> (usize, &'static str) {
        let end = lines.line_end(offset);
        if end == self.text.len() && !self.text.ends_with('\n') {
            (end, "\n")
        } else {
            (end, "")
        }
    }

    /// Adds `key:` + `value_text` as the last entry of a block mapping, at its indentation.
    pub fn append_block_entry(
        &mut self,
        lines: &Lines<'_>,
        map: &Node,
        key: &str,
        value_text: &str,
    ) {
        let first_key = map.start();
        let indent = " ".repeat(first_key - lines.line_start(first_key));
        let (at, lead) = self.after_line_of(lines, map.end());
        let value_text = value_text.replace('\n', &format!("\n{indent}"));
        self.insert(at, format!("{lead}{indent}{key}:{value_text}\n"));
    }

    /// Adds an item (given as its lines) to the end of a block sequence, matching the dash
    /// column of the existing items.
    pub fn append_seq_item(&mut self, lines: &Lines<'_>, items: &[Node], item: &[String]) {
        let first = items.first().map_or(0, Node::start);
        let line = lines.line_start(first);
        let dash = self.text[line..first]
            .rfind('-')
            .map_or(first - line, |i| i);
        let indent = " ".repeat(dash);
        let (at, lead) = self.after_line_of(lines, items.last().map_or(first, Node::end));
        let mut s = String::from(lead);
        for (i, l) in item.iter().enumerate() {
            s.push_str(&indent);
            s.push_str(if i == 0 { "- " } else { "  " });
            s.push_str(l);
            s.push('\n');
        }
        self.insert(at, s);
    }

    /// Removes one `key: value` entry: its whole line(s) in block style, the entry and one
    /// separating comma in flow style.
    pub fn remove_entry(
        &mut self,
        lines: &Lines<'_>,
        entries: &[(Node, Node)],
        key: &Node,
        value: &Node,
        flow: Option<&Range<usize>>,
    ) {
        if flow.is_some() {
            let (start, end) = (key.start(), value.end());
            let after = &self.text[end..];
            let trailing = after.len() - after.trim_start_matches([',', ' ']).len();
            if after.starts_with(',') || after.trim_start().starts_with(',') {
                self.replace(start..end + trailing, "");
            } else {
                let before = &self.text[..start];
                let leading = before.len() - before.trim_end_matches([',', ' ']).len();
                self.replace(start - leading..end, "");
            }
            return;
        }
        let mut start = lines.line_start(key.start());
        // An entry on the dash line of a list item: remove only the entry, keep the dash.
        let is_first = entries
            .first()
            .is_some_and(|(k, _)| k.start() == key.start());
        if is_first && self.text[start..key.start()].contains('-') {
            start = key.start();
        }
        self.replace(start..lines.line_end(value.end()), "");
    }

    pub fn apply(mut self) -> String {
        self.edits
            .sort_by(|a, b| b.0.start.cmp(&a.0.start).then(b.0.end.cmp(&a.0.end)));
        let mut out = self.text.to_owned();
        for (range, s) in self.edits {
            out.replace_range(range, &s);
        }
        out
    }
}

/// Writes `bytes` to `path` through a temp file in the same directory and a rename, so
/// readers see the old file or the new one, never half of one. Permissions are kept.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), ManifestError> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.gantry-{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        if let Ok(meta) = std::fs::metadata(path) {
            std::fs::set_permissions(&tmp, meta.permissions())?;
        }
        std::fs::rename(&tmp, path)
    };
    write().map_err(|source| {
        let _ = std::fs::remove_file(&tmp);
        ManifestError::Write {
            path: path.to_path_buf(),
            source,
        }
    })
}
