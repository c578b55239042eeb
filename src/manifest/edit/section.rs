//! Finding one top-level section of a YAML file without parsing all of it (stage: ④).
//!
//! Input: the text of a single-document file whose root is a block mapping. Output: the byte
//! range of the entry for one top-level key (its line through the line before the next
//! top-level key), or that the key is absent. A 10,000-line kustomization then costs a parse
//! of a few lines, not of the file. Whenever the file has a construct that could hide or fake a
//! top-level key — quoted or complex keys, merge keys, several documents, flow collections or
//! quoted scalars left open at the end of a top-level line — this answers `Unsure` and the
//! caller parses the whole file.

use std::ops::Range;

#[derive(Debug, PartialEq, Eq)]
pub enum Section {
    Found(Range<usize>),
    Absent,
    Unsure,
}

/// Locates the top-level entry `key` in `text`.
#[must_use]
pub fn find(text: &str, key: &str) -> Section {
    let mut found: Option<Range<usize>> = None;
    let mut open_from: Option<usize> = None;
    let mut offset = 0;
    let mut seen_content = false;
    for line in text.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let trimmed = line.trim_end_matches(['\n', '\r']);
        let Some(first) = trimmed.chars().next() else {
            continue;
        };
        if matches!(first, ' ' | '#') {
            continue;
        }
        if trimmed == "---" || trimmed.starts_with("--- ") || trimmed.starts_with("...") {
            if seen_content {
                return Section::Unsure;
            }
            continue;
        }
        if first == '-' {
            // A compact block sequence under the current top-level key.
            continue;
        }
        if first == '\t'
            || matches!(
                first,
                '"' | '\'' | '?' | '&' | '*' | '!' | '[' | '{' | '%' | '@' | '`' | '|' | '>'
            )
        {
            return Section::Unsure;
        }
        seen_content = true;
        // A new top-level key ends the section being collected.
        if let Some(from) = open_from.take() {
            found = Some(from..start);
        }
        let Some((name, rest)) = trimmed.split_once(':') else {
            return Section::Unsure;
        };
        if name == "<<" || !(rest.is_empty() || rest.starts_with(' ')) {
            return Section::Unsure;
        }
        if !closed_on_line(rest) {
            return Section::Unsure;
        }
        if name == key {
            if found.is_some() || open_from.is_some() {
                return Section::Unsure;
            }
            open_from = Some(start);
        }
    }
    if let Some(from) = open_from {
        found = Some(from..text.len());
    }
    match found {
        Some(range) => Section::Found(range),
        // No top-level key at all: the root may be a list or scalar, which a line scan
        // cannot append a key to.
        None if !seen_content => Section::Unsure,
        None => Section::Absent,
    }
}

/// Whether a value on a top-level line leaves no flow collection or quoted scalar open.
fn closed_on_line(rest: &str) -> bool {
    let v = rest.trim_start();
    let Some(first) = v.chars().next() else {
        return true;
    };
    match first {
        '[' | '{' => {
            let (mut depth, mut quote) = (0i32, None::<char>);
            for c in v.chars() {
                match (quote, c) {
                    (Some(q), c) if c == q => quote = None,
                    (None, '"' | '\'') => quote = Some(c),
                    (None, '[' | '{') => depth += 1,
                    (None, ']' | '}') => depth -= 1,
                    (None, '#') if depth == 0 => break,
                    _ => {}
                }
            }
            depth == 0 && quote.is_none()
        }
        '"' => v[1..].replace("\\\\", "").replace("\\\"", "").contains('"'),
        '\'' => v[1..].replace("''", "").contains('\''),
        '&' | '*' | '!' => false,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_section_between_top_level_keys() {
        let text =
            "resources:\n- a.yaml\nimages:\n- name: web\n  newTag: v1\n# trailing\nnamespace: x\n";
        let start = text.find("images").expect("present");
        let end = text.find("namespace").expect("present");
        assert_eq!(find(text, "images"), Section::Found(start..end));
        assert_eq!(find(text, "patches"), Section::Absent);
    }

    #[test]
    fn is_unsure_where_a_line_scan_could_be_wrong() {
        for text in [
            "\"images\":\n- name: web\n",
            "resources: [a,\nimages: b]\n",
            "a: 1\n---\nimages: []\n",
            "<<: *base\n",
            "images: []\nimages: []\n",
            "desc: \"open\nimages: x\"\n",
        ] {
            assert_eq!(find(text, "images"), Section::Unsure, "{text:?}");
        }
    }
}
