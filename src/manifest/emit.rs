//! YAML output byte-compatible with `kustomize build` (stage: ⑤ render).
//!
//! Input: documents as `serde_json::Value`. Output: YAML text. kustomize serialises each
//! resource to JSON and back through `sigs.k8s.io/yaml` (go-yaml v2), so its output has go-yaml
//! v2's shape: keys in v2's "natural" order, block style, sequences not indented under their
//! key, strings quoted only when YAML 1.1 would read them as something else or the emitter's
//! plain-scalar rules forbid it, multi-line strings as literal blocks. This module reproduces
//! those rules; the tests pin them against kustomize's own expected outputs.

use std::cmp::Ordering;
use std::fmt::Write as _;

use serde_json::{Map, Number, Value};

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

fn push_indent(out: &mut String, n: usize) {
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
    write_scalar(out, s, style, block_indent);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

/// go-yaml v2: the encoder asks for literal (has `\n`), plain (resolves as a string) or double
/// (would resolve as another type); the emitter then downgrades what its analysis forbids.
fn choose_style(s: &str, simple_key: bool) -> Style {
    let requested = if s.contains('\n') {
        Style::Literal
    } else if resolves_as_string(s) {
        Style::Plain
    } else {
        Style::Double
    };
    let a = analyze(s);
    let mut style = requested;
    if style == Style::Plain && (!a.block_plain_allowed || (s.is_empty() && simple_key)) {
        style = Style::Single;
    }
    if style == Style::Single && !a.single_quoted_allowed {
        style = Style::Double;
    }
    if style == Style::Literal && (!a.block_allowed || simple_key) {
        style = Style::Double;
    }
    style
}

fn write_scalar(out: &mut String, s: &str, style: Style, block_indent: usize) {
    match style {
        Style::Plain => out.push_str(s),
        Style::Single => {
            out.push('\'');
            out.push_str(&s.replace('\'', "''"));
            out.push('\'');
        }
        Style::Double => double_quoted(out, s),
        Style::Literal => literal(out, s, block_indent),
    }
}

fn literal(out: &mut String, s: &str, indent: usize) {
    out.push('|');
    if s.starts_with([' ', '\n']) {
        let _ = write!(out, "{}", 2);
    }
    // Chomping: no final break → strip; exactly one → clip; more (or only breaks) → keep.
    if !s.ends_with('\n') {
        out.push('-');
    } else if s == "\n" || s.ends_with("\n\n") {
        out.push('+');
    }
    let body = s.strip_suffix('\n').unwrap_or(s);
    for line in body.split('\n') {
        out.push('\n');
        if !line.is_empty() {
            push_indent(out, indent);
            out.push_str(line);
        }
    }
}

fn double_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\0' => out.push_str("\\0"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\x0b' => out.push_str("\\v"),
            '\x0c' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            '\x1b' => out.push_str("\\e"),
            '\u{85}' => out.push_str("\\N"),
            '\u{a0}' => out.push_str("\\_"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            c if is_printable(c) => out.push(c),
            c if (c as u32) <= 0xff => {
                let _ = write!(out, "\\x{:02X}", c as u32);
            }
            c if (c as u32) <= 0xffff => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08X}", c as u32);
            }
        }
    }
    out.push('"');
}

fn is_printable(c: char) -> bool {
    let u = c as u32;
    matches!(u, 0x0a | 0x20..=0x7e | 0x85 | 0xa0..=0xd7ff | 0x10000..=0x0010_ffff)
        || (matches!(u, 0xe000..=0xfffd) && u != 0xfeff)
}

#[derive(Debug, Default)]
#[allow(clippy::struct_excessive_bools)] // mirrors libyaml's scalar analysis flags
struct Analysis {
    block_plain_allowed: bool,
    single_quoted_allowed: bool,
    block_allowed: bool,
}

/// Port of libyaml's `yaml_emitter_analyze_scalar` for block context (no allocation: it runs
/// for every scalar of every rendered document).
fn analyze(s: &str) -> Analysis {
    if s.is_empty() {
        return Analysis {
            block_plain_allowed: true,
            single_quoted_allowed: true,
            block_allowed: false,
        };
    }
    let mut block_indicators = s.starts_with("---") || s.starts_with("...");
    let (mut special, mut line_breaks) = (false, false);
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) =
        (false, false, false, false);
    let (mut break_space, mut space_break) = (false, false);
    let (mut previous_space, mut previous_break) = (false, false);
    let mut preceded_by_ws = true;
    let blank = |c: char| {
        matches!(
            c,
            ' ' | '\t' | '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}'
        )
    };
    let is_break = |c: char| matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}');
    let mut chars = s.chars().peekable();
    let mut first = true;
    while let Some(c) = chars.next() {
        let next = chars.peek().copied();
        let followed_by_ws = next.is_none_or(blank);
        let last = next.is_none();
        if first {
            if "#,[]{}&*!|>'\"%@`".contains(c) || (matches!(c, '?' | ':' | '-') && followed_by_ws) {
                block_indicators = true;
            }
        } else if (c == ':' && followed_by_ws) || (c == '#' && preceded_by_ws) {
            block_indicators = true;
        }
        if !is_printable(c) {
            special = true;
        }
        if is_break(c) {
            line_breaks = true;
        }
        if c == ' ' {
            leading_space |= first;
            trailing_space |= last;
            break_space |= previous_break;
            previous_space = true;
            previous_break = false;
        } else if is_break(c) {
            leading_break |= first;
            trailing_break |= last;
            space_break |= previous_space;
            previous_break = true;
            previous_space = false;
        } else {
            previous_space = false;
            previous_break = false;
        }
        preceded_by_ws = blank(c);
        first = false;
    }
    let mut a = Analysis {
        block_plain_allowed: true,
        single_quoted_allowed: true,
        block_allowed: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.block_plain_allowed = false;
    }
    if trailing_space {
        a.block_allowed = false;
    }
    if break_space {
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
    }
    if space_break || special {
        a = Analysis::default();
    }
    if line_breaks || block_indicators {
        a.block_plain_allowed = false;
    }
    a
}

/// go-yaml v2's `resolve` (YAML 1.1 tags) returns `!!str` for `s`, and `s` is no base-60 float.
fn resolves_as_string(s: &str) -> bool {
    const NON_STRINGS: &[&str] = &[
        "", "~", "null", "Null", "NULL", "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO",
        "true", "True", "TRUE", "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF",
        ".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf",
        "-.Inf", "-.INF", "<<",
    ];
    if NON_STRINGS.contains(&s) {
        return false;
    }
    let Some(first) = s.chars().next() else {
        return false;
    };
    if !matches!(first, '+' | '-' | '.' | '0'..='9') {
        return true;
    }
    let plain = s.replace('_', "");
    !(is_go_int(&plain) || is_yaml_float(&plain) || is_base60_float(s))
}

/// `strconv.ParseInt(s, 0, 64)` / `ParseUint` succeed (decimal, 0x, 0o, 0b, leading-0 octal).
fn is_go_int(s: &str) -> bool {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
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
    !digits.is_empty()
        && u128::from_str_radix(digits, radix).is_ok_and(|v| v <= u128::from(u64::MAX))
}

/// go-yaml v2's `yamlStyleFloat`: `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn is_yaml_float(s: &str) -> bool {
    let b = s.strip_prefix(['+', '-']).unwrap_or(s).as_bytes();
    let mut i = 0;
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i > start
    };
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

/// `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`
fn is_base60_float(s: &str) -> bool {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (int_part, frac) = body.split_once('.').unwrap_or((body, ""));
    let mut parts = int_part.split(':');
    let head = parts.next().unwrap_or("");
    let head_ok = head.starts_with(|c: char| c.is_ascii_digit())
        && head.chars().all(|c| c.is_ascii_digit() || c == '_');
    let mut sexagesimal = 0;
    for p in parts {
        sexagesimal += 1;
        let ok = (1..=2).contains(&p.len())
            && p.chars().all(|c| c.is_ascii_digit())
            && (p.len() == 1 || p.as_bytes()[0] <= b'5');
        if !ok {
            return false;
        }
    }
    head_ok && sexagesimal > 0 && frac.chars().all(|c| c.is_ascii_digit() || c == '_')
}

/// go-yaml v2's `keyList.Less` for string keys: runs of digits compare as numbers, and a
/// non-letter sorts before a letter. Allocation-free for ASCII keys (nearly all of them).
#[must_use]
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    if a.is_ascii() && b.is_ascii() {
        return natural_cmp_units(a.as_bytes(), b.as_bytes(), u8::is_ascii_alphabetic, |c| {
            char::from(*c)
        });
    }
    let ar: Vec<char> = a.chars().collect();
    let br: Vec<char> = b.chars().collect();
    natural_cmp_units(&ar, &br, |c| c.is_alphabetic(), |c| *c)
}

fn natural_cmp_units<T: Copy + Ord>(
    ar: &[T],
    br: &[T],
    is_letter: impl Fn(&T) -> bool,
    ch: impl Fn(&T) -> char,
) -> Ordering {
    let digit = |c: &T| ch(c).is_ascii_digit();
    let value = |c: &T| i128::from(u32::from(ch(c)) - u32::from('0'));
    let mut i = 0;
    while i < ar.len() && i < br.len() {
        if ar[i] == br[i] {
            i += 1;
            continue;
        }
        let (al, bl) = (is_letter(&ar[i]), is_letter(&br[i]));
        if al && bl {
            return ar[i].cmp(&br[i]);
        }
        if al || bl {
            return if bl {
                Ordering::Less
            } else {
                Ordering::Greater
            };
        }
        let (mut an, mut bn) = (0i128, 0i128);
        if ch(&ar[i]) == '0' || ch(&br[i]) == '0' {
            let mut j = i;
            while j > 0 && digit(&ar[j - 1]) {
                j -= 1;
                if ch(&ar[j]) != '0' {
                    an = 1;
                    bn = 1;
                    break;
                }
            }
        }
        let mut ai = i;
        while ai < ar.len() && digit(&ar[ai]) {
            an = an.saturating_mul(10).saturating_add(value(&ar[ai]));
            ai += 1;
        }
        let mut bi = i;
        while bi < br.len() && digit(&br[bi]) {
            bn = bn.saturating_mul(10).saturating_add(value(&br[bi]));
            bi += 1;
        }
        if an != bn {
            return an.cmp(&bn);
        }
        if ai != bi {
            return ai.cmp(&bi);
        }
        return ar[i].cmp(&br[i]);
    }
    ar.len().cmp(&br.len())
}
