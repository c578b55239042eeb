//! YAML source as a tree of nodes that know their byte spans (stage: ④ overlay edit).
//!
//! Input: YAML text. Output: one [`Node`] per document, each scalar carrying the exact byte
//! range of its token in the text, so an edit replaces those bytes and nothing else. Positions
//! come from yaml-rust2's markers as line (1-based) and column (0-based, in characters) —
//! its character index drifts after multi-byte text, so it is not used.

use std::ops::Range;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Plain,
    Single,
    Double,
    Block,
}

#[derive(Debug, Clone)]
pub enum Node {
    Scalar {
        value: String,
        style: Style,
        /// The token's bytes, quotes included; `None` for multi-line plain and block scalars,
        /// which gantry does not rewrite.
        span: Option<Range<usize>>,
        /// Where the token starts even when it cannot be edited.
        start: usize,
        /// One past its last byte (for block scalars, the end of their last content line).
        end: usize,
    },
    Alias {
        span: Range<usize>,
    },
    Map {
        entries: Vec<(Node, Node)>,
        /// `Some(range of "{…}")` for flow style.
        flow: Option<Range<usize>>,
    },
    Seq {
        items: Vec<Node>,
        flow: Option<Range<usize>>,
    },
}

impl Node {
    /// First byte of the node's own text.
    #[must_use]
    pub fn start(&self) -> usize {
        match self {
            Self::Scalar { start, .. } => *start,
            Self::Alias { span } => span.start,
            Self::Map { flow: Some(r), .. } | Self::Seq { flow: Some(r), .. } => r.start,
            Self::Map { entries, .. } => entries.first().map_or(0, |(k, _)| k.start()),
            Self::Seq { items, .. } => items.first().map_or(0, Node::start),
        }
    }

    /// One past the last byte of the node's text.
    #[must_use]
    pub fn end(&self) -> usize {
        match self {
            Self::Scalar { end, .. } => *end,
            Self::Alias { span } => span.end,
            Self::Map { flow: Some(r), .. } | Self::Seq { flow: Some(r), .. } => r.end,
            Self::Map { entries, .. } => entries.last().map_or(0, |(_, v)| v.end()),
            Self::Seq { items, .. } => items.last().map_or(0, Node::end),
        }
    }

    #[must_use]
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }

    /// The value under `key` in a mapping, with its index.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<(usize, &Node)> {
        match self {
            Self::Map { entries, .. } => entries
                .iter()
                .enumerate()
                .find(|(_, (k, _))| k.as_str() == Some(key))
                .map(|(i, (_, v))| (i, v)),
            _ => None,
        }
    }
}

struct Collector {
    events: Vec<(Event, Marker)>,
}

impl MarkedEventReceiver for Collector {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        self.events.push((ev, mark));
    }
}

/// Byte offsets of line starts, to turn (line, column-in-chars) into a byte offset.
pub struct Lines<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> Lines<'a> {
    #[must_use]
    pub fn new(text: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Self { text, starts }
    }

    #[must_use]
    pub fn offset(&self, m: &Marker) -> usize {
        let Some(&line_start) = self.starts.get(m.line().saturating_sub(1)) else {
            return self.text.len();
        };
        self.text[line_start..]
            .char_indices()
            .nth(m.col())
            .map_or(self.text.len(), |(i, _)| line_start + i)
    }

    /// Start of the line holding `offset`.
    #[must_use]
    pub fn line_start(&self, offset: usize) -> usize {
        self.text[..offset].rfind('\n').map_or(0, |i| i + 1)
    }

    /// One past the newline ending the line holding `offset` (or the text's end).
    #[must_use]
    pub fn line_end(&self, offset: usize) -> usize {
        self.text[offset..]
            .find('\n')
            .map_or(self.text.len(), |i| offset + i + 1)
    }
}

/// Parses every document of `text`.
pub fn parse(text: &str) -> Result<Vec<Node>, String> {
    let mut c = Collector { events: Vec::new() };
    Parser::new_from_str(text).load(&mut c, true).map_err(|e| {
        format!(
            "{}:{}: {}",
            e.marker().line(),
            e.marker().col() + 1,
            e.info()
        )
    })?;
    let lines = Lines::new(text);
    let mut pos = 0;
    let mut docs = Vec::new();
    while pos < c.events.len() {
        if matches!(c.events[pos].0, Event::DocumentStart) {
            pos += 1;
            if matches!(c.events.get(pos).map(|e| &e.0), Some(Event::DocumentEnd)) {
                docs.push(Node::Scalar {
                    value: String::new(),
                    style: Style::Plain,
                    span: None,
                    start: 0,
                    end: 0,
                });
            } else {
                docs.push(node(&c.events, &mut pos, text, &lines));
            }
        }
        pos += 1;
    }
    Ok(docs)
}

fn node(events: &[(Event, Marker)], pos: &mut usize, text: &str, lines: &Lines<'_>) -> Node {
    let (ev, mark) = &events[*pos];
    let at = lines.offset(mark);
    match ev {
        Event::Scalar(value, style, _, _) => scalar(value, *style, at, text),
        Event::Alias(_) => {
            let len = text[at..]
                .find(|c: char| c.is_whitespace() || ",]}".contains(c))
                .unwrap_or(text.len() - at);
            Node::Alias { span: at..at + len }
        }
        Event::MappingStart(..) => {
            let flow = text[at..].starts_with('{');
            let mut entries = Vec::new();
            *pos += 1;
            while !matches!(events[*pos].0, Event::MappingEnd) {
                let k = node(events, pos, text, lines);
                *pos += 1;
                let v = node(events, pos, text, lines);
                *pos += 1;
                entries.push((k, v));
            }
            let close = lines.offset(&events[*pos].1);
            Node::Map {
                entries,
                flow: flow.then(|| at..close + 1),
            }
        }
        Event::SequenceStart(..) => {
            let flow = text[at..].starts_with('[');
            let mut items = Vec::new();
            *pos += 1;
            while !matches!(events[*pos].0, Event::SequenceEnd) {
                items.push(node(events, pos, text, lines));
                *pos += 1;
            }
            let close = lines.offset(&events[*pos].1);
            Node::Seq {
                items,
                flow: flow.then(|| at..close + 1),
            }
        }
        _ => Node::Scalar {
            value: String::new(),
            style: Style::Plain,
            span: None,
            start: at,
            end: at,
        },
    }
}

fn scalar(value: &str, style: TScalarStyle, at: usize, text: &str) -> Node {
    let rest = &text[at..];
    let (style, span) = match style {
        TScalarStyle::Plain => (
            Style::Plain,
            rest.starts_with(value).then(|| at..at + value.len()),
        ),
        TScalarStyle::SingleQuoted => (Style::Single, quoted_end(rest, '\'').map(|n| at..at + n)),
        TScalarStyle::DoubleQuoted => (Style::Double, quoted_end(rest, '"').map(|n| at..at + n)),
        _ => (Style::Block, None),
    };
    // A quoted scalar spanning lines is folded by YAML; rewriting it would change more than
    // the value, so such scalars are not editable.
    let span = span.filter(|r| !text[r.clone()].contains('\n'));
    let end = match (&span, style) {
        (Some(r), _) => r.end,
        (None, Style::Block) => block_end(text, at),
        // A multi-line plain or quoted scalar: at least its first line.
        (None, _) => text[at..].find('\n').map_or(text.len(), |i| at + i),
    };
    Node::Scalar {
        value: value.to_owned(),
        style,
        span,
        start: at,
        end,
    }
}

/// End of a block scalar whose content starts at `at`: its lines are blank or indented at
/// least as far as the first one.
fn block_end(text: &str, at: usize) -> usize {
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let indent = at - line_start;
    let mut end = text[at..].find('\n').map_or(text.len(), |i| at + i);
    let mut pos = end;
    while pos < text.len() {
        let next = pos + 1;
        let line_end = text[next..].find('\n').map_or(text.len(), |i| next + i);
        let line = &text[next..line_end];
        if line.trim().is_empty() {
            pos = line_end;
            continue;
        }
        if line.len() - line.trim_start_matches(' ').len() < indent {
            break;
        }
        end = line_end;
        pos = line_end;
    }
    end
}

/// Length of a quoted token starting at `rest[0] == quote`, closing quote included.
fn quoted_end(rest: &str, quote: char) -> Option<usize> {
    let mut chars = rest.char_indices().skip(1).peekable();
    while let Some((i, c)) = chars.next() {
        if quote == '"' && c == '\\' {
            chars.next();
        } else if c == quote {
            if quote == '\'' && chars.peek().is_some_and(|(_, n)| *n == '\'') {
                chars.next();
            } else {
                return Some(i + 1);
            }
        }
    }
    None
}
