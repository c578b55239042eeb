//! Tokens of a condition, with their columns for error messages.

use std::fmt;

use super::{ExprError, Value, fail};

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Token {
    Num(Value),
    Str(String),
    Ident(String),
    Punct(&'static str),
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Num(v) => write!(f, "{v}"),
            Self::Str(s) => write!(f, "{s:?}"),
            Self::Ident(i) => write!(f, "{i:?}"),
            Self::Punct(p) => write!(f, "{p:?}"),
        }
    }
}

const PUNCT: &[&str] = &[
    "||", "&&", "==", "!=", "<=", ">=", "<", ">", "+", "-", "*", "/", "%", "!", "(", ")", "[", "]",
    ",", "?", ":",
];

/// Tokens with their 1-based columns.
pub(super) fn lex(source: &str) -> Result<Vec<(usize, Token)>, ExprError> {
    let mut out = Vec::new();
    let chars: Vec<char> = source.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let col = i + 1;
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            let start = i;
            i = number_end(&chars, i);
            let text: String = chars[start..i].iter().filter(|c| **c != '_').collect();
            let value = match text.parse::<i64>() {
                Ok(n) => Value::Int(n),
                Err(_) => match text.parse::<f64>() {
                    Ok(x) => Value::Float(x),
                    Err(_) => return fail(format!("invalid number {text:?} at column {col}")),
                },
            };
            out.push((col, Token::Num(value)));
        } else if c.is_alphabetic() || c == '_' || c == '$' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '$')
            {
                i += 1;
            }
            out.push((col, Token::Ident(chars[start..i].iter().collect())));
        } else if c == '"' || c == '\'' {
            let (text, end) = string(&chars, i)?;
            out.push((col, Token::Str(text)));
            i = end;
        } else if let Some(p) = PUNCT.iter().find(|p| source_at(&chars, i, p)) {
            out.push((col, Token::Punct(p)));
            i += p.len();
        } else {
            return fail(format!("unexpected character {c:?} at column {col}"));
        }
    }
    Ok(out)
}

/// The index after the number starting at `start` (digits, `.`, `_`, an exponent).
fn number_end(chars: &[char], start: usize) -> usize {
    let mut i = start;
    while let Some(&c) = chars.get(i) {
        let exponent_sign =
            i > start && matches!(c, '+' | '-') && matches!(chars[i - 1], 'e' | 'E');
        if !(c.is_ascii_alphanumeric() || c == '.' || c == '_' || exponent_sign) {
            break;
        }
        i += 1;
    }
    i
}

fn source_at(chars: &[char], i: usize, p: &str) -> bool {
    p.chars()
        .enumerate()
        .all(|(k, pc)| chars.get(i + k) == Some(&pc))
}

/// A quoted string starting at `start`; returns it and the index after its closing quote.
fn string(chars: &[char], start: usize) -> Result<(String, usize), ExprError> {
    let quote = chars[start];
    let mut text = String::new();
    let mut i = start + 1;
    while i < chars.len() {
        match chars[i] {
            '\\' if i + 1 < chars.len() => {
                text.push(match chars[i + 1] {
                    'n' => '\n',
                    't' => '\t',
                    other => other,
                });
                i += 2;
            }
            c if c == quote => return Ok((text, i + 1)),
            c => {
                text.push(c);
                i += 1;
            }
        }
    }
    fail(format!("unterminated string at column {}", start + 1))
}
