//! YAML documents → `serde_json::Value` (stage: ⑤ render).
//!
//! Input: the text of a manifest or patch file. Output: its documents as JSON values, typed the
//! way kustomize's YAML library (yaml.v3, YAML 1.2 core schema) types plain scalars: `yes` and
//! `on` stay strings, `true`/`false`, `null`/`~`, integers (incl. `0x`, `0o`, legacy `0755`) and
//! floats are typed. Anchors, aliases and `<<` merge keys resolve; a duplicate key is an error.
//! Built straight from yaml-rust2 events: typed configuration goes through serde-saphyr, but
//! for bulk manifests this is three times faster and has no document-count budget.

use std::collections::HashMap;

use serde_json::{Map, Number, Value};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use super::ManifestError;

struct Collector {
    events: Vec<(Event, Marker)>,
}

impl MarkedEventReceiver for Collector {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        self.events.push((ev, mark));
    }
}

struct Builder<'a> {
    file: &'a str,
    events: Vec<(Event, Marker)>,
    pos: usize,
    /// Each anchor's value and how many nodes it holds once expanded.
    anchors: HashMap<usize, (Value, usize)>,
    /// Nodes built so far, aliases counted at their expanded size.
    built: usize,
    /// How many nodes this file may expand to: a "billion laughs" file is a few hundred bytes
    /// that aliases expand to billions of nodes.
    max_nodes: usize,
}

/// Aliases may add this many nodes to a file beyond twice its own node count; go-yaml and
/// serde-saphyr bound alias expansion the same way.
const ALIAS_ALLOWANCE: usize = 100_000;

fn at(file: &str, mark: &Marker, message: impl Into<String>) -> ManifestError {
    ManifestError::At {
        file: file.to_owned(),
        line: u64::try_from(mark.line()).unwrap_or(0),
        column: u64::try_from(mark.col() + 1).unwrap_or(0),
        message: message.into(),
    }
}

/// Parses every document in `text`; empty documents come back as `Value::Null`.
pub fn documents(file: &str, text: &str) -> Result<Vec<Value>, ManifestError> {
    if let Some(docs) = super::load_fast::documents(text) {
        return Ok(docs);
    }
    documents_full(file, text)
}

/// The full YAML parser, used when the fast path declines.
pub(super) fn documents_full(file: &str, text: &str) -> Result<Vec<Value>, ManifestError> {
    let mut c = Collector { events: Vec::new() };
    if let Err(e) = Parser::new_from_str(text).load(&mut c, true) {
        return Err(
            better_error(file, text).unwrap_or_else(|| at(file, e.marker(), e.info().to_owned()))
        );
    }
    if !text.trim_end_matches([' ', '\t']).ends_with('\n') {
        drop_phantom_line_break(&mut c.events);
    }
    let max_nodes = c.events.len().saturating_mul(2) + ALIAS_ALLOWANCE;
    let mut b = Builder {
        file,
        events: c.events,
        pos: 0,
        anchors: HashMap::new(),
        built: 0,
        max_nodes,
    };
    let mut docs = Vec::new();
    while b.pos < b.events.len() {
        if matches!(b.events[b.pos].0, Event::DocumentStart) {
            b.pos += 1;
            if matches!(b.events.get(b.pos).map(|e| &e.0), Some(Event::DocumentEnd)) {
                docs.push(Value::Null);
            } else {
                docs.push(b.node()?);
            }
        }
        b.pos += 1;
    }
    Ok(docs)
}

/// A block scalar that ends the file without a final line break has no line break to keep;
/// yaml-rust2 adds one anyway, yaml.v3 does not (kustomize then writes `|-`).
fn drop_phantom_line_break(events: &mut [(Event, Marker)]) {
    let last = events.iter_mut().rev().find(|(e, _)| {
        !matches!(
            e,
            Event::MappingEnd
                | Event::SequenceEnd
                | Event::DocumentEnd
                | Event::StreamEnd
                | Event::Nothing
        )
    });
    if let Some((Event::Scalar(value, TScalarStyle::Literal | TScalarStyle::Folded, _, _), _)) =
        last
        && value.ends_with('\n')
    {
        value.pop();
    }
}

/// serde-saphyr locates syntax errors where the mistake is (an unclosed `[` at the bracket,
/// not at the end of the file); errors are rare, so the second parse costs nothing that matters.
fn better_error(file: &str, text: &str) -> Option<ManifestError> {
    // The default budget bounds alias replay: unbounded, a bomb with a syntax error at its end
    // would replay billions of events here. A budget breach is no syntax error: keep the
    // first parser's message then.
    let options = serde_saphyr::options! { with_snippet: false };
    let e =
        serde_saphyr::from_multiple_with_options::<serde::de::IgnoredAny>(text, options).err()?;
    if matches!(e.without_snippet(), serde_saphyr::Error::Budget { .. }) {
        return None;
    }
    let loc = e.location()?;
    let message =
        crate::core::diag::without_library_hints(&serde_saphyr::MessageFormatter::format_message(
            &serde_saphyr::DefaultMessageFormatter,
            e.without_snippet(),
        ));

    Some(ManifestError::At {
        file: file.to_owned(),
        line: loc.line(),
        column: loc.column(),
        message,
    })
}

impl Builder<'_> {
    fn node(&mut self) -> Result<Value, ManifestError> {
        let mark = self.events[self.pos].1;
        let ev = std::mem::replace(&mut self.events[self.pos].0, Event::Nothing);
        let start = self.built;
        self.built += 1;
        match ev {
            Event::Scalar(text, style, anchor, tag) => {
                let v = if style != TScalarStyle::Plain
                    || tag.as_ref().is_some_and(|t| t.suffix == "str")
                {
                    Value::String(text)
                } else {
                    resolve(text)
                };
                self.remember(anchor, &v, 1);
                Ok(v)
            }
            Event::Alias(id) => self.alias(id, &mark),
            Event::SequenceStart(anchor, _) => {
                let mut items = Vec::new();
                self.pos += 1;
                while !matches!(self.events[self.pos].0, Event::SequenceEnd) {
                    items.push(self.node()?);
                    self.pos += 1;
                }
                let v = Value::Array(items);
                self.remember(anchor, &v, self.built - start);
                Ok(v)
            }
            Event::MappingStart(anchor, _) => {
                let mut map = Map::new();
                let mut merged: Vec<Map<String, Value>> = Vec::new();
                self.pos += 1;
                while !matches!(self.events[self.pos].0, Event::MappingEnd) {
                    let key_mark = self.events[self.pos].1;
                    let is_merge = matches!(&self.events[self.pos].0, Event::Scalar(k, TScalarStyle::Plain, _, _) if k == "<<");
                    let key = self.node()?;
                    self.pos += 1;
                    let value = self.node()?;
                    self.pos += 1;
                    if is_merge {
                        match value {
                            Value::Object(m) => merged.push(m),
                            Value::Array(list) => {
                                merged.extend(list.into_iter().filter_map(|v| match v {
                                    Value::Object(m) => Some(m),
                                    _ => None,
                                }));
                            }
                            _ => {
                                return Err(at(
                                    self.file,
                                    &key_mark,
                                    "`<<` merges a mapping or a list of mappings",
                                ));
                            }
                        }
                        continue;
                    }
                    // kustomize v5 does not check duplicate keys; the last one wins.
                    map.insert(key_string(key), value);
                }
                // Explicit keys win over merged ones; earlier merges win over later ones.
                for m in merged {
                    for (k, v) in m {
                        map.entry(k).or_insert(v);
                    }
                }
                let v = Value::Object(map);
                self.remember(anchor, &v, self.built - start);
                Ok(v)
            }
            _ => Err(at(self.file, &mark, "unexpected YAML event")),
        }
    }

    /// An alias is a copy of its anchor's value: counted at its expanded size, and refused
    /// before the copy is made when the file would grow past its budget.
    fn alias(&mut self, id: usize, mark: &Marker) -> Result<Value, ManifestError> {
        let Some((value, nodes)) = self.anchors.get(&id) else {
            return Err(at(self.file, mark, "alias to an unknown anchor"));
        };
        self.built = self.built - 1 + nodes;
        if self.built > self.max_nodes {
            return Err(at(
                self.file,
                mark,
                format!(
                    "aliases expand this file to more than {} nodes; refusing it (a \"billion laughs\" YAML bomb expands a few lines into billions)",
                    self.max_nodes
                ),
            ));
        }
        Ok(value.clone())
    }

    fn remember(&mut self, anchor: usize, v: &Value, nodes: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, (v.clone(), nodes));
        }
    }
}

/// A mapping key as a JSON object key: plain keys are typed like values, then written back.
pub(super) fn key_string(v: Value) -> String {
    match v {
        Value::String(s) => s,
        Value::Null => "null".to_owned(),
        other => other.to_string(),
    }
}

/// yaml.v3's resolution of a plain scalar.
pub(super) fn resolve(s: String) -> Value {
    match s.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    let first = s.as_bytes()[0];
    if !(first.is_ascii_digit() || matches!(first, b'+' | b'-' | b'.')) {
        return Value::String(s);
    }
    let plain = s.replace('_', "");
    if let Some(n) = parse_int(&plain) {
        return Value::Number(n);
    }
    if is_float(&plain)
        && let Some(n) = plain.parse::<f64>().ok().and_then(Number::from_f64)
    {
        return Value::Number(n);
    }
    Value::String(s)
}

/// `strconv.ParseInt(s, 0, 64)` and `ParseUint`, plus YAML 1.2's `0o` octals.
pub(crate) fn parse_int(s: &str) -> Option<Number> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (digits, radix) =
        if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
            (h, 16)
        } else if let Some(o) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
            (o, 8)
        } else if let Some(b) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
            (b, 2)
        } else if body.len() > 1 && body.starts_with('0') {
            (&body[1..], 8)
        } else {
            (body, 10)
        };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = u64::from_str_radix(digits, radix).ok()?;
    if neg {
        let v = i64::try_from(magnitude).ok()?;
        Some(Number::from(-v))
    } else {
        Some(Number::from(magnitude))
    }
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`
pub(crate) fn is_float(s: &str) -> bool {
    let b = s.strip_prefix(['+', '-']).unwrap_or(s).as_bytes();
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i > start
    };
    let mut i = 0;
    if b.first() == Some(&b'.') {
        i = 1;
        if !digits(&mut i) {
            return false;
        }
    } else {
        if !digits(&mut i) {
            return false;
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            digits(&mut i);
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if !digits(&mut i) {
            return false;
        }
    }
    i == b.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scalars_are_typed_like_yaml_v3() {
        let docs = documents("t.yaml", "a: yes\nb: true\nc: 0755\nd: 0x1F\ne: 1.5\nf: ~\ng: '1'\nh: 1_000\ni: 1e3\nj: .5\nk: v1.2\n").expect("parses");
        assert_eq!(
            docs[0],
            json!({"a": "yes", "b": true, "c": 493, "d": 31, "e": 1.5, "f": null, "g": "1", "h": 1000, "i": 1000.0, "j": 0.5, "k": "v1.2"})
        );
    }

    #[test]
    fn anchors_aliases_and_merge_keys() {
        let text = "base: &b {x: 1, y: 2}\nuse:\n  <<: *b\n  y: 3\nlist: [&n 7, *n]\n";
        assert_eq!(
            documents("t.yaml", text).expect("parses")[0],
            json!({"base": {"x": 1, "y": 2}, "use": {"x": 1, "y": 3}, "list": [7, 7]})
        );
    }

    #[test]
    fn duplicate_keys_keep_the_last_and_syntax_errors_are_located() {
        let docs = documents("t.yaml", "a: 1\nb: 2\na: 3\n").expect("duplicate keys load");
        assert_eq!(docs[0], json!({"a": 3, "b": 2}));
        let e = documents("t.yaml", "a: [1\n").expect_err("syntax");
        assert_eq!(e.to_string(), "t.yaml:1:4: unclosed bracket '['");
    }

    #[test]
    fn more_than_a_thousand_documents() {
        let text = "---\nkind: A\n".repeat(1500);
        assert_eq!(documents("t.yaml", &text).expect("parses").len(), 1500);
    }
}
