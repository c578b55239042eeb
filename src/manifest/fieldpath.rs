//! kustomize's dotted field paths (`spec.template.spec.containers.[name=web].image`), as
//! `replacements` and `vars` use them (stage: ⑤ render).
//!
//! Input: a path string and an object. Output: the value at the path (read), or every value
//! the path matches, changed in place (write, optionally creating what is missing). The rules
//! are kyaml's: `.` splits (`\.` escapes), `[a.b]` is one key, `[k=v]` selects list items whose
//! `k` matches the regular expression `v` (unanchored, as kyaml matches it), a number indexes a
//! list, `*` is every item of a list.

use regex::Regex;
use serde_json::{Map, Value};

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Field(String),
    Index(usize),
    /// `[field=value]`; an empty field matches scalar items.
    Item(String, String),
    Every,
}

/// Splits a dotted path the way kustomize's `SmarterPathSplitter` does.
#[must_use]
pub fn split(path: &str) -> Vec<Step> {
    let mut parts: Vec<String> = Vec::new();
    for piece in path.split('.') {
        match parts.last_mut() {
            Some(last) if last.ends_with('\\') => {
                last.pop();
                last.push('.');
                last.push_str(piece);
            }
            _ => parts.push(piece.to_owned()),
        }
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < parts.len() {
        let mut part = parts[i].clone();
        if part.starts_with('[') && !part.ends_with(']') {
            while i + 1 < parts.len() {
                i += 1;
                part.push('.');
                part.push_str(&parts[i]);
                if parts[i].ends_with(']') {
                    break;
                }
            }
        }
        // kyaml drops empty parts: kubebuilder writes `.metadata.name`.
        if !part.trim().is_empty() {
            out.push(step(part.trim()));
        }
        i += 1;
    }
    out
}

fn step(part: &str) -> Step {
    if let Some(inner) = part.strip_prefix('[').and_then(|p| p.strip_suffix(']')) {
        return match inner.split_once('=') {
            Some((k, v)) => Step::Item(k.to_owned(), v.to_owned()),
            None => Step::Field(inner.to_owned()),
        };
    }
    if part == "*" {
        return Step::Every;
    }
    match part.parse::<usize>() {
        Ok(n) if !part.starts_with('+') => Step::Index(n),
        _ => Step::Field(part.to_owned()),
    }
}

/// The text of a scalar as YAML holds it: strings raw, numbers and booleans as written.
#[must_use]
pub fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some(String::new()),
        Value::Array(_) | Value::Object(_) => None,
    }
}

/// Reads the value at `steps` (kyaml's `Lookup`: `[k=v]` is an exact match here).
#[must_use]
pub fn get<'v>(v: &'v Value, steps: &[Step]) -> Option<&'v Value> {
    let Some((head, rest)) = steps.split_first() else {
        return Some(v);
    };
    let next = match head {
        Step::Field(f) => v.as_object()?.get(f)?,
        Step::Index(i) => v.as_array()?.get(*i)?,
        Step::Item(k, want) => v.as_array()?.iter().find(|item| {
            let have = if k.is_empty() {
                scalar_text(item)
            } else {
                item.get(k).and_then(scalar_text)
            };
            have.as_deref() == Some(want.as_str())
        })?,
        Step::Every => return None,
    };
    get(next, rest)
}

/// What a missing field becomes when the path creates it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Create {
    No,
    /// Create; the last step gets an empty value of the kind of the value to be written.
    Like(Kind),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Scalar,
    Map,
    List,
}

impl Kind {
    #[must_use]
    pub fn of(v: &Value) -> Self {
        match v {
            Value::Object(_) => Self::Map,
            Value::Array(_) => Self::List,
            _ => Self::Scalar,
        }
    }

    fn empty(self) -> Value {
        match self {
            Self::Scalar => Value::Null,
            Self::Map => Value::Object(Map::new()),
            Self::List => Value::Array(Vec::new()),
        }
    }
}

fn kind_of_next(rest: &[Step], last: Kind) -> Kind {
    match rest.first() {
        None => last,
        Some(Step::Field(_)) => Kind::Map,
        Some(_) => Kind::List,
    }
}

/// The callback of [`each_mut`]: the matched value, and whether the path just created it.
pub type Visit<'f> = dyn FnMut(&mut Value, bool) -> Result<(), String> + 'f;

/// Calls `f` on every value `steps` matches below `v` (kyaml's `PathMatcher`), creating
/// missing fields, list items and `[k=v]` items when `create` says so. Returns how many
/// values were visited; errors are kyaml's (an index past the end, `*` or `[k=v]` on a map).
pub fn each_mut(
    v: &mut Value,
    steps: &[Step],
    create: Create,
    f: &mut Visit<'_>,
) -> Result<usize, String> {
    walk(v, steps, create, false, f)
}

fn walk(
    v: &mut Value,
    steps: &[Step],
    create: Create,
    fresh: bool,
    f: &mut Visit<'_>,
) -> Result<usize, String> {
    let Some((head, rest)) = steps.split_first() else {
        f(v, fresh)?;
        return Ok(1);
    };
    let creating = match create {
        Create::No => None,
        Create::Like(kind) => Some(kind_of_next(rest, kind)),
    };
    match head {
        Step::Field(name) => {
            if v.is_null()
                && let Some(_) = creating
            {
                *v = Value::Object(Map::new());
            }
            let Value::Object(m) = v else {
                return Ok(0);
            };
            let fresh = !m.contains_key(name);
            if fresh {
                let Some(kind) = creating else {
                    return Ok(0);
                };
                m.insert(name.clone(), kind.empty());
            }
            let child = m.get_mut(name).expect("present or just inserted");
            walk(child, rest, create, fresh, f)
        }
        Step::Index(i) => {
            let items = list(v)?;
            let fresh = *i == items.len() && creating.is_some();
            if let (true, Some(kind)) = (fresh, creating) {
                items.push(kind.empty());
            }
            let len = items.len();
            let item = items
                .get_mut(*i)
                .ok_or_else(|| format!("index {i} specified but only {len} elements found"))?;
            walk(item, rest, create, fresh, f)
        }
        Step::Every => {
            let mut n = 0;
            for item in list(v)? {
                n += walk(item, rest, create, false, f)?;
            }
            Ok(n)
        }
        Step::Item(key, pattern) => each_item(v, key, pattern, rest, create, f),
    }
}

fn list(v: &mut Value) -> Result<&mut Vec<Value>, String> {
    match v {
        Value::Array(items) => Ok(items),
        Value::Object(_) => Err("wrong node kind: expected a list, found a map".to_owned()),
        _ => Err("wrong node kind: expected a list, found a scalar".to_owned()),
    }
}

fn each_item(
    v: &mut Value,
    key: &str,
    pattern: &str,
    rest: &[Step],
    create: Create,
    f: &mut Visit<'_>,
) -> Result<usize, String> {
    let re = Regex::new(pattern).map_err(|e| format!("[{key}={pattern}]: {e}"))?;
    let items = list(v)?;
    let hit = |item: &Value| {
        let text = if key.is_empty() {
            scalar_text(item)
        } else {
            item.get(key).and_then(scalar_text)
        };
        text.is_some_and(|t| re.is_match(t.trim()))
    };
    let mut matched = 0;
    let mut n = 0;
    for item in items.iter_mut() {
        if hit(item) {
            matched += 1;
            n += walk(item, rest, create, false, f)?;
        }
    }
    if matched > 0 || create == Create::No {
        return Ok(n);
    }
    // kyaml appends an item holding the matched field (or the scalar) and searches again.
    let value = super::load::resolve(pattern.to_owned());
    let item = if key.is_empty() {
        value
    } else {
        let mut m = Map::new();
        m.insert(key.to_owned(), value);
        Value::Object(m)
    };
    items.push(item);
    let last = items.last_mut().expect("just pushed");
    walk(last, rest, create, true, f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_kyaml() {
        assert_eq!(
            split("spec.containers.[name=a.b].image"),
            vec![
                Step::Field("spec".into()),
                Step::Field("containers".into()),
                Step::Item("name".into(), "a.b".into()),
                Step::Field("image".into()),
            ]
        );
        assert_eq!(
            split("metadata.annotations.[a.b/c]"),
            vec![
                Step::Field("metadata".into()),
                Step::Field("annotations".into()),
                Step::Field("a.b/c".into()),
            ]
        );
        assert_eq!(
            split(r"data.a\.b.0.*"),
            vec![
                Step::Field("data".into()),
                Step::Field("a.b".into()),
                Step::Index(0),
                Step::Every,
            ]
        );
    }
}
