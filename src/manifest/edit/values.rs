//! `set-value` on a Helm-style values file (stage: ④ overlay edit): the scalar at a dotted
//! path becomes the given value, created with any missing parent mappings when absent.
//!
//! Input: the file's text, the path (`image.tag`, `list[0].v`) and the value. Output: new text
//! in which only that scalar (or the inserted entries) differs, re-parsed and checked before
//! it is returned.

use serde_json::Value;

use super::text::Patches;
use super::tree::{Lines, Node, Style};
use super::{ManifestError, err, parse_tree, render_like};
use crate::manifest::emit::inline_scalar;
use crate::manifest::load;

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
    let docs = load::documents(file, &out)
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
