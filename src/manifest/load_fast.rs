//! Fast path for plain block YAML (stage: ⑤ render).
//!
//! Input: the text of a manifest file. Output: its documents as JSON values — or `None` as soon
//! as the text uses anything outside a narrow subset, in which case the caller parses it with
//! the full YAML parser. The subset is what Kubernetes manifests are nearly always written in:
//! block mappings and sequences, plain and single-line quoted scalars without escapes, `|`
//! literal blocks, comments, `---` separators. Values are typed exactly as [`super::load`]
//! types them; a test checks both agree. It exists because parsing dominates large renders.

use serde_json::{Map, Value};

use super::load::{key_string, resolve};

struct Line<'a> {
    indent: usize,
    /// The line without its indentation (and without `\r`).
    text: &'a str,
}

/// Parses `text` if it is within the subset.
#[must_use]
pub fn documents(text: &str) -> Option<Vec<Value>> {
    if text.contains(['\t', '\r']) || text.starts_with('\u{feff}') {
        return None;
    }
    let lines: Vec<Line<'_>> = text
        .split('\n')
        .map(|l| {
            let indent = l.len() - l.trim_start_matches(' ').len();
            Line {
                indent,
                text: &l[indent..],
            }
        })
        .collect();
    let mut docs = Vec::new();
    let mut p = P {
        lines: &lines,
        i: 0,
    };
    loop {
        p.skip_insignificant();
        if p.i >= lines.len() {
            break;
        }
        let l = &lines[p.i];
        if l.indent == 0 && (l.text == "---" || l.text.starts_with("--- #")) {
            p.i += 1;
            p.skip_insignificant();
            if p.i >= lines.len() || is_doc_start(&lines[p.i]) {
                docs.push(Value::Null);
                continue;
            }
        }
        if l.text.starts_with('%') || l.text.starts_with("...") || l.text.starts_with("--- ") {
            return None;
        }
        let v = p.block(0, true)?;
        docs.push(v);
        p.skip_insignificant();
        if p.i < lines.len() && !is_doc_start(&lines[p.i]) {
            return None;
        }
    }
    Some(docs)
}

fn is_doc_start(l: &Line<'_>) -> bool {
    l.indent == 0 && (l.text == "---" || l.text.starts_with("--- #"))
}

struct P<'a, 'b> {
    lines: &'b [Line<'a>],
    i: usize,
}

impl<'a> P<'a, '_> {
    fn skip_insignificant(&mut self) {
        while self.i < self.lines.len()
            && (self.lines[self.i].text.is_empty() || self.lines[self.i].text.starts_with('#'))
        {
            self.i += 1;
        }
    }

    /// A block node whose first line is the current one (indent ≥ `min`).
    fn block(&mut self, min: usize, top: bool) -> Option<Value> {
        self.skip_insignificant();
        let l = self.lines.get(self.i)?;
        if l.indent < min || (!top && l.indent == 0 && is_doc_start(l)) {
            return None;
        }
        let n = l.indent;
        if is_seq_item(l.text) {
            self.sequence(n)
        } else {
            let text = l.text;
            self.i += 1;
            self.mapping(n, text)
        }
    }

    fn sequence(&mut self, n: usize) -> Option<Value> {
        let mut items = Vec::new();
        loop {
            self.skip_insignificant();
            let Some(l) = self.lines.get(self.i) else {
                break;
            };
            if l.indent != n || !is_seq_item(l.text) || is_doc_start(l) {
                if l.indent > n {
                    return None;
                }
                break;
            }
            let rest = l.text[1..].trim_start_matches(' ');
            let col = n + (l.text.len() - rest.len());
            self.i += 1;
            if rest.is_empty() || rest.starts_with('#') {
                items.push(self.child(n)?);
            } else if is_seq_item(rest) {
                return None;
            } else if entry_split(rest).is_some() {
                items.push(self.mapping(col, rest)?);
            } else {
                items.push(self.scalar_value(rest, n)?);
            }
        }
        Some(Value::Array(items))
    }

    /// A mapping at indent `n` whose first entry's text is `first` (already consumed).
    fn mapping(&mut self, n: usize, first: &'a str) -> Option<Value> {
        let mut map = Map::new();
        let mut entry = first;
        loop {
            let (key, rest) = entry_split(entry)?;
            let key = plain_key(key)?;
            if map.contains_key(&key) || key == "<<" {
                return None;
            }
            let value = if rest.is_empty() || rest.starts_with('#') {
                // The value is on the following lines: more indented, or a sequence at `n`.
                self.skip_insignificant();
                match self.lines.get(self.i) {
                    Some(l) if l.indent > n => self.block(n + 1, false)?,
                    Some(l) if l.indent == n && is_seq_item(l.text) && !is_doc_start(l) => {
                        self.sequence(n)?
                    }
                    _ => Value::Null,
                }
            } else {
                self.scalar_value(rest, n)?
            };
            map.insert(key, value);
            self.skip_insignificant();
            match self.lines.get(self.i) {
                Some(l) if l.indent == n && !is_seq_item(l.text) && !is_doc_start(l) => {
                    entry = l.text;
                    self.i += 1;
                }
                Some(l) if l.indent > n => return None,
                _ => break,
            }
        }
        Some(Value::Object(map))
    }

    /// The value of an entry or item with no inline value: a nested block or null.
    fn child(&mut self, n: usize) -> Option<Value> {
        self.skip_insignificant();
        match self.lines.get(self.i) {
            Some(l) if l.indent > n => self.block(n + 1, false),
            _ => Some(Value::Null),
        }
    }

    /// An inline value (after `key: ` or `- `) of a node at indent `n`.
    fn scalar_value(&mut self, rest: &'a str, n: usize) -> Option<Value> {
        match rest.as_bytes()[0] {
            b'|' => self.literal(rest, n),
            b'\'' => single_quoted(rest).map(Value::String),
            b'"' => double_quoted(rest).map(Value::String),
            b'{' | b'[' => match strip_comment(rest) {
                "{}" => Some(Value::Object(Map::new())),
                "[]" => Some(Value::Array(Vec::new())),
                _ => None,
            },
            b'>' | b'&' | b'*' | b'!' | b'%' | b'@' | b'`' | b',' | b'?' | b':' => None,
            _ => {
                let v = strip_comment(rest);
                if v.contains(": ") || v.ends_with(':') || v.contains(" #") || v.starts_with("- ") {
                    return None;
                }
                // A plain scalar continued on the next line is out of the subset.
                if let Some(next) = self.lines.get(self.i)
                    && next.indent > n
                    && !next.text.is_empty()
                    && !next.text.starts_with('#')
                {
                    return None;
                }
                Some(resolve(v.to_owned()))
            }
        }
    }

    /// `|`, `|-`, `|+` literal block scalars, content indentation auto-detected.
    fn literal(&mut self, header: &str, n: usize) -> Option<Value> {
        let chomp = match strip_comment(header) {
            "|" => ' ',
            "|-" => '-',
            "|+" => '+',
            _ => return None,
        };
        let start = self.i;
        let mut end = start;
        while let Some(l) = self.lines.get(end) {
            if !l.text.is_empty() && l.indent <= n {
                break;
            }
            end += 1;
        }
        let content = &self.lines[start..end];
        let indent = content
            .iter()
            .find(|l| !l.text.is_empty())
            .map(|l| l.indent)?;
        // Blank lines before the first content line must not be more indented than it.
        if content
            .iter()
            .take_while(|l| l.text.is_empty())
            .any(|l| l.indent > indent)
        {
            return None;
        }
        let mut body: Vec<String> = Vec::with_capacity(content.len());
        for l in content {
            if l.text.is_empty() {
                body.push(" ".repeat(l.indent.saturating_sub(indent)));
            } else if l.indent < indent {
                return None;
            } else {
                body.push(format!("{}{}", " ".repeat(l.indent - indent), l.text));
            }
        }
        // The last line of the file has no newline after it; trailing blank lines are breaks.
        let trailing = body.iter().rev().take_while(|l| l.is_empty()).count();
        let kept = body.len() - trailing;
        let at_eof = end == self.lines.len();
        let mut s = body[..kept].join("\n");
        match chomp {
            '-' => {}
            '+' => {
                s.push('\n');
                let breaks = if at_eof {
                    trailing.saturating_sub(1)
                } else {
                    trailing
                };
                s.push_str(&"\n".repeat(breaks));
            }
            // Clip keeps the final line break, and there is none when the block ends the file
            // without one (yaml.v3 then gives no trailing newline; kustomize writes `|-`).
            _ if at_eof && trailing == 0 => {}
            _ => s.push('\n'),
        }
        if body[..kept]
            .iter()
            .any(|l| l.trim().is_empty() && !l.is_empty())
        {
            return None;
        }
        self.i = end;
        Some(Value::String(s))
    }
}

fn is_seq_item(text: &str) -> bool {
    text == "-" || text.starts_with("- ")
}

/// Splits `key: rest` (or `key:` at the end of the line).
fn entry_split(text: &str) -> Option<(&str, &str)> {
    let pos = text
        .find(": ")
        .or_else(|| text.strip_suffix(':').map(str::len))?;
    let key = &text[..pos];
    let rest = text.get(pos + 1..).unwrap_or("").trim_start_matches(' ');
    Some((key, rest))
}

fn plain_key(key: &str) -> Option<String> {
    let first = key.chars().next()?;
    if "-?:,[]{}#&*!|>'\"%@`".contains(first) || key.contains(" #") || key.ends_with(' ') {
        return None;
    }
    Some(key_string(resolve(key.to_owned())))
}

/// The value text before a `#` comment (which needs a space before it).
fn strip_comment(rest: &str) -> &str {
    let v = rest.find(" #").map_or(rest, |i| &rest[..i]);
    v.trim_end_matches(' ')
}

fn single_quoted(rest: &str) -> Option<String> {
    let body = &rest[1..];
    let mut out = String::new();
    let mut chars = body.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '\'' {
            if chars.peek().is_some_and(|(_, n)| *n == '\'') {
                out.push('\'');
                chars.next();
                continue;
            }
            let after = body[i + 1..].trim_start_matches(' ');
            return (after.is_empty() || after.starts_with('#')).then_some(out);
        }
        out.push(c);
    }
    None
}

fn double_quoted(rest: &str) -> Option<String> {
    let body = &rest[1..];
    let end = body.find('"')?;
    let inner = &body[..end];
    if inner.contains('\\') {
        return None;
    }
    let after = body[end + 1..].trim_start_matches(' ');
    (after.is_empty() || after.starts_with('#')).then(|| inner.to_owned())
}

#[cfg(test)]
#[path = "load_fast_tests.rs"]
mod tests;
