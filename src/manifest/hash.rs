//! Name suffixes from content (stage: ⑤ render): kustomize's hash of a generated ConfigMap
//! or Secret.
//!
//! Input: generated resources. Output: their names with `-<hash>` appended, the hash being
//! kustomize's (sha256 of a Go-JSON encoding of kind, empty name and data), so the names are
//! byte-identical to `kustomize build`'s and a changed ConfigMap rolls what mounts it.

use std::fmt::Write as _;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::resource::Resource;

/// Appends `-<hash>` to the names of generated resources that want it. A `HashTransformer`
/// in `transformers:` runs this too, and the final pass then hashes again, as kustomize does
/// (`c-4h2mbtbbt6-4h2mbtbbt6`).
pub fn add_hash_suffixes(ra: &mut [Resource]) {
    for r in ra.iter_mut() {
        if r.generated.as_ref().is_some_and(|g| g.hash_suffix) {
            let hash = content_hash(&r.obj);
            r.store_prev();
            let name = format!("{}-{hash}", r.name());
            r.set_name(&name);
        }
    }
}

/// kustomize's hasher: sha256 of a Go-JSON encoding of kind, (empty) name and data, first ten hex
/// digits with 0 1 3 a e swapped for g h k m t.
#[must_use]
pub fn content_hash(obj: &Value) -> String {
    let field = |name: &str| {
        obj.get(name)
            .cloned()
            .unwrap_or_else(|| Value::String(String::new()))
    };
    let mut m = Map::new();
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    m.insert("kind".into(), kind.into());
    // kustomize looks up "metadata/name" as a single field name, finds nothing and hashes "":
    // the name never takes part. Matching its hashes means matching that.
    m.insert("name".into(), Value::String(String::new()));
    m.insert("data".into(), field("data"));
    let extra = if kind == "Secret" {
        m.insert("type".into(), field("type"));
        "stringData"
    } else {
        "binaryData"
    };
    if let Some(v @ Value::Object(_)) = obj.get(extra) {
        m.insert(extra.into(), v.clone());
    }
    let mut json = String::new();
    go_json(&mut json, &Value::Object(m));
    let hex = format!("{:x}", Sha256::digest(json.as_bytes()));
    hex[..10]
        .chars()
        .map(|c| match c {
            '0' => 'g',
            '1' => 'h',
            '3' => 'k',
            'a' => 'm',
            'e' => 't',
            c => c,
        })
        .collect()
}

/// Go's `encoding/json` output: keys sorted by bytes, `<`, `>`, `&`, U+2028/9 escaped.
fn go_json(out: &mut String, v: &Value) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_json_string(out, k);
                out.push(':');
                go_json(out, &m[k]);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_json(out, x);
            }
            out.push(']');
        }
        Value::String(s) => go_json_string(out, s),
        other => out.push_str(&other.to_string()),
    }
}

fn go_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}
