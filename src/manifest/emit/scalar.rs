//! Scalar styles as go-yaml v2 chooses them (stage: ⑤ render).
//!
//! Input: a string. Output: plain, single-quoted, double-quoted or literal-block text. The
//! encoder asks for a style from YAML 1.1 resolution (a string that would read as a number or
//! boolean is quoted); libyaml's scalar analysis then downgrades what block context forbids.

use std::fmt::Write as _;

use super::push_indent;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

/// go-yaml v2: the encoder asks for literal (has `\n`), plain (resolves as a string) or double
/// (would resolve as another type); the emitter then downgrades what its analysis forbids.
pub(super) fn choose_style(s: &str, simple_key: bool) -> Style {
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

/// libyaml's preferred line width: longer plain and quoted values are folded at a space.
const BEST_WIDTH: usize = 80;

pub(super) fn write_scalar(out: &mut String, s: &str, style: Style, block_indent: usize) {
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

/// [`write_scalar`] for a value in block context, folded as libyaml's emitter folds: at a
/// single space once the line is past 80 columns, continuing on the next line at `indent`
/// (objects read back the same; the bytes are what kustomize prints).
pub(super) fn write_value(out: &mut String, s: &str, style: Style, indent: usize) {
    let start = out.len();
    write_scalar(out, s, style, indent);
    let line_start = out[..start].rfind('\n').map_or(0, |i| i + 1);
    let column = out[line_start..start].chars().count();
    if style == Style::Literal || column + out.len() - start <= BEST_WIDTH || !s.contains(' ') {
        return;
    }
    out.truncate(start);
    match style {
        Style::Plain => fold(out, s, column, indent, FoldStyle::Plain),
        Style::Single => {
            out.push('\'');
            fold(out, s, column + 1, indent, FoldStyle::Single);
            out.push('\'');
        }
        _ => {
            out.push('"');
            fold(out, s, column + 1, indent, FoldStyle::Double);
            out.push('"');
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum FoldStyle {
    Plain,
    Single,
    Double,
}

/// The body of a scalar, folded at spaces (libyaml's `write_plain_scalar`,
/// `write_single_quoted` and `write_double_quoted`).
fn fold(out: &mut String, s: &str, mut column: usize, indent: usize, style: FoldStyle) {
    let chars: Vec<char> = s.chars().collect();
    let mut spaces = false;
    for (i, &c) in chars.iter().enumerate() {
        if c == ' ' {
            let next_is_space = chars.get(i + 1) == Some(&' ');
            let inner = i != 0 && i != chars.len() - 1;
            let may_break = match style {
                FoldStyle::Plain => !next_is_space,
                FoldStyle::Single => inner && !next_is_space,
                FoldStyle::Double => inner,
            };
            if may_break && !spaces && column > BEST_WIDTH {
                out.push('\n');
                push_indent(out, indent);
                column = indent;
                if style == FoldStyle::Double && next_is_space {
                    out.push('\\');
                    column += 1;
                }
            } else {
                out.push(' ');
                column += 1;
            }
            spaces = true;
            continue;
        }
        spaces = false;
        let before = out.len();
        match style {
            FoldStyle::Single if c == '\'' => out.push_str("''"),
            FoldStyle::Plain | FoldStyle::Single => out.push(c),
            FoldStyle::Double => {
                let mut one = String::new();
                double_quoted(&mut one, &c.to_string());
                out.push_str(&one[1..one.len() - 1]);
            }
        }
        column += out[before..].chars().count();
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

pub(super) fn double_quoted(out: &mut String, s: &str) {
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

/// What a scan of a scalar found, as libyaml's analysis records it.
#[expect(
    clippy::struct_excessive_bools,
    reason = "libyaml's analysis flags: one per property of the scalar"
)]
#[derive(Default)]
struct Flags {
    block_indicators: bool,
    special: bool,
    line_breaks: bool,
    leading_space: bool,
    leading_break: bool,
    trailing_space: bool,
    trailing_break: bool,
    break_space: bool,
    space_break: bool,
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
    let f = scan(s);
    let mut a = Analysis {
        block_plain_allowed: true,
        single_quoted_allowed: true,
        block_allowed: true,
    };
    if f.leading_space || f.leading_break || f.trailing_space || f.trailing_break {
        a.block_plain_allowed = false;
    }
    if f.trailing_space {
        a.block_allowed = false;
    }
    if f.break_space {
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
    }
    if f.space_break || f.special {
        a = Analysis::default();
    }
    if f.line_breaks || f.block_indicators {
        a.block_plain_allowed = false;
    }
    a
}

fn scan(s: &str) -> Flags {
    let mut f = Flags {
        block_indicators: s.starts_with("---") || s.starts_with("..."),
        ..Flags::default()
    };
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
                f.block_indicators = true;
            }
        } else if (c == ':' && followed_by_ws) || (c == '#' && preceded_by_ws) {
            f.block_indicators = true;
        }
        if !is_printable(c) {
            f.special = true;
        }
        if is_break(c) {
            f.line_breaks = true;
        }
        if c == ' ' {
            f.leading_space |= first;
            f.trailing_space |= last;
            f.break_space |= previous_break;
            previous_space = true;
            previous_break = false;
        } else if is_break(c) {
            f.leading_break |= first;
            f.trailing_break |= last;
            f.space_break |= previous_space;
            previous_break = true;
            previous_space = false;
        } else {
            previous_space = false;
            previous_break = false;
        }
        preceded_by_ws = blank(c);
        first = false;
    }
    f
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
    !(crate::manifest::load::parse_int(&plain).is_some()
        || crate::manifest::load::is_float(&plain)
        || is_base60_float(s))
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
