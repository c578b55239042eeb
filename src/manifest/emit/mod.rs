//! YAML output byte-compatible with `kustomize build` (stage: ⑤ render).
//!
//! Input: documents as `serde_json::Value`. Output: YAML text. kustomize serialises each
//! resource to JSON and back through `sigs.k8s.io/yaml` (go-yaml v2), so its output has go-yaml
//! v2's shape: keys in v2's "natural" order, block style, sequences not indented under their
//! key, strings quoted only when YAML 1.1 would read them as something else or the emitter's
//! plain-scalar rules forbid it, multi-line strings as literal blocks. This module reproduces
//! those rules; the tests pin them against kustomize's own expected outputs.

use std::cmp::Ordering;

use serde_json::{Map, Number, Value};

mod keys;
mod scalar;

pub use keys::natural_cmp;
use scalar::{Style, choose_style, double_quoted, write_scalar};

/// Serialises documents as kustomize does: each one emitted, joined with `---\n`. Large
/// streams are emitted on all cores, each thread a contiguous run of documents.
#[must_use]
pub fn documents<'a>(docs: impl IntoIterator<Item = &'a Value>) -> String {
    let docs: Vec<&Value> = docs.into_iter().collect();
    let workers = if docs.len() < 256 {
        1
    } else {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    };
    let emit_run = |run: &[&Value]| {
        let mut out = String::new();
        for doc in run {
            document(&mut out, doc);
            out.push_str("---\n");
        }
        out
    };
    let mut out = if workers <= 1 {
        emit_run(&docs)
    } else {
        let chunk = docs.len().div_ceil(workers);
        std::thread::scope(|scope| {
            let parts: Vec<_> = docs
                .chunks(chunk)
                .map(|run| scope.spawn(move || emit_run(run)))
                .collect();
            parts
                .into_iter()
                .map(|h| h.join().unwrap_or_default())
                .collect::<String>()
        })
    };
    out.truncate(out.len().saturating_sub("---\n".len()));
    out
}

/// Serialises one document.
pub fn document(out: &mut String, doc: &Value) {
    match doc {
        Value::Object(m) if !m.is_empty() => mapping(out, m, 0),
        Value::Array(a) if !a.is_empty() => sequence(out, a, 0),
        other => {
            scalar_or_empty(out, other, 0);
            out.push('\n');
        }
    }
}

/// Keys in go-yaml v2's order. `Map` iterates in byte order, which is nearly always the same;
/// sort only when a neighbouring pair says otherwise.
fn sorted_keys(m: &Map<String, Value>) -> Vec<&String> {
    let mut keys: Vec<&String> = m.keys().collect();
    if keys
        .windows(2)
        .any(|w| natural_cmp(w[0], w[1]) == Ordering::Greater)
    {
        keys.sort_by(|a, b| natural_cmp(a, b));
    }
    keys
}

fn mapping(out: &mut String, m: &Map<String, Value>, indent: usize) {
    for key in sorted_keys(m) {
        push_indent(out, indent);
        key_scalar(out, key);
        out.push(':');
        value_after_indicator(out, &m[key], indent, true);
    }
}

fn sequence(out: &mut String, a: &[Value], indent: usize) {
    for item in a {
        push_indent(out, indent);
        out.push('-');
        match item {
            // A mapping inside a sequence starts on the dash's line.
            Value::Object(m) if !m.is_empty() => {
                out.push(' ');
                let mut first = true;
                for key in sorted_keys(m) {
                    if !first {
                        push_indent(out, indent + 2);
                    }
                    first = false;
                    key_scalar(out, key);
                    out.push(':');
                    value_after_indicator(out, &m[key], indent + 2, true);
                }
            }
            Value::Array(inner) if !inner.is_empty() => {
                out.push(' ');
                let mut nested = String::new();
                sequence(&mut nested, inner, indent + 2);
                out.push_str(nested.trim_start_matches(' '));
            }
            other => value_after_indicator(out, other, indent, false),
        }
    }
}

/// Emits what follows `key:` or `-`. `in_map` decides where a nested block sequence goes: under
/// a key, go-yaml v2 does not indent it.
fn value_after_indicator(out: &mut String, v: &Value, indent: usize, in_map: bool) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            mapping(out, m, indent + 2);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            sequence(out, a, if in_map { indent } else { indent + 2 });
        }
        other => {
            out.push(' ');
            scalar_or_empty(out, other, indent + 2);
            out.push('\n');
        }
    }
}

fn scalar_or_empty(out: &mut String, v: &Value, block_indent: usize) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&number(n)),
        Value::String(s) => string_value(out, s, block_indent),
        Value::Object(_) => out.push_str("{}"),
        Value::Array(_) => out.push_str("[]"),
    }
}

pub(super) fn push_indent(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

/// Numbers as they come back from Go's JSON encoder read by go-yaml v2.
fn number(n: &Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    let f = n.as_f64().unwrap_or(0.0);
    // Go's encoding/json writes whole floats without a fraction; go-yaml then reads an int.
    #[allow(clippy::cast_possible_truncation)]
    if f.fract() == 0.0 && f.abs() < 1e15 {
        return (f as i64).to_string();
    }
    go_float(f)
}

/// `strconv.FormatFloat(f, 'g', -1, 64)`: shortest round-trip digits, exponent when it is < -4
/// or ≥ 21 (Go's %g switch point for -1 precision is the digit count; this matches for values
/// JSON documents carry).
fn go_float(f: f64) -> String {
    let s = format!("{f:e}");
    let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits = mantissa.replace(['.', '-'], "").len();
    let digits = i32::try_from(digits).unwrap_or(i32::MAX);
    if exp < -4 || exp >= digits.max(21) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    } else {
        f.to_string()
    }
}

/// A single-line string as go-yaml v2 would write it as a mapping value: plain when that
/// reads back as the same string, quoted otherwise. The editor uses it for new values.
#[must_use]
pub fn inline_scalar(s: &str) -> String {
    let mut out = String::new();
    let style = match choose_style(s, false) {
        Style::Literal => Style::Double,
        other => other,
    };
    write_scalar(&mut out, s, style, 0);
    out
}

/// `s` in double quotes with YAML escapes.
#[must_use]
pub fn double_quoted_scalar(s: &str) -> String {
    let mut out = String::new();
    double_quoted(&mut out, s);
    out
}

fn key_scalar(out: &mut String, k: &str) {
    // Keys are emitted in simple-key context: never as literal blocks.
    let style = choose_style(k, true);
    write_scalar(out, k, style, 0);
}

fn string_value(out: &mut String, s: &str, block_indent: usize) {
    let style = choose_style(s, false);
    scalar::write_value(out, s, style, block_indent);
}
