//! Located diagnostics for YAML files (shared by every stage, no I/O).
//!
//! Input: a file's display name and its text. Output: typed raw values, or [`Diagnostic`]s that
//! name `file:line:col`, the field path and what is wrong. Serde stops at its first error, so a
//! file that does not deserialise yields one diagnostic; semantic checks later collect all.

use std::fmt::{self, Write as _};

use serde::de::DeserializeOwned;
use serde_saphyr::{Location, MessageFormatter};

/// One problem in one config file, pointing at the exact node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Path relative to the config repo root, as the user would type it.
    pub file: String,
    /// 1-based; 0 when the problem has no position (e.g. the file is missing).
    pub line: u64,
    /// 1-based, in characters.
    pub column: u64,
    /// Field path such as `apps[2].environments[1]`; empty for the whole file.
    pub path: String,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        if !self.path.is_empty() {
            write!(f, ": {}", self.path)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Collects diagnostics for one file so validators can report every problem in one run.
#[derive(Debug)]
pub struct Sink {
    file: String,
    pub(crate) diagnostics: Vec<Diagnostic>,
}

impl Sink {
    pub fn new(file: impl Into<String>) -> Self {
        Self {
            file: file.into(),
            diagnostics: Vec::new(),
        }
    }

    #[must_use]
    pub fn file(&self) -> &str {
        &self.file
    }

    /// Records a problem at `at`, the location serde-saphyr gave the offending node.
    pub fn error(&mut self, at: Location, path: impl Into<String>, message: impl Into<String>) {
        self.diagnostics.push(Diagnostic {
            file: self.file.clone(),
            line: at.line(),
            column: at.column(),
            path: path.into(),
            message: message.into(),
        });
    }

    /// Records a problem with the file as a whole.
    pub fn file_error(&mut self, message: impl Into<String>) {
        self.error(Location::UNKNOWN, "", message);
    }

    #[must_use]
    pub fn into_diagnostics(self) -> Vec<Diagnostic> {
        self.diagnostics
    }
}

/// Deserialises one YAML document, turning serde's error into a located diagnostic with the
/// field path at which it happened.
pub fn parse<T: DeserializeOwned>(file: &str, text: &str) -> Result<T, Diagnostic> {
    if text.trim().is_empty() {
        return Err(Diagnostic {
            file: file.to_owned(),
            line: 0,
            column: 0,
            path: String::new(),
            message: "file is empty".to_owned(),
        });
    }
    let options = serde_saphyr::options! { with_snippet: false };
    let mut path = String::new();
    serde_saphyr::with_deserializer_from_str_with_options(text, options, |de| {
        serde_path_to_error::deserialize(de).map_err(|e| {
            path = field_path(e.path());
            e.into_inner()
        })
    })
    .map_err(|e| {
        let at = e.location().unwrap_or(Location::UNKNOWN);
        Diagnostic {
            file: file.to_owned(),
            line: at.line(),
            column: at.column(),
            path,
            message: without_library_hints(
                &serde_saphyr::DefaultMessageFormatter.format_message(e.without_snippet()),
            ),
        }
    })
}

/// The YAML library's advice to its programmer ("set `DuplicateKeyPolicy` in Options if
/// acceptable") means nothing to someone editing gantry.yaml.
pub(crate) fn without_library_hints(message: &str) -> String {
    message
        .replace(", set DuplicateKeyPolicy in Options if acceptable", "")
        .replace("duplicate mapping key: ", "mapping key already defined: ")
        .replace("duplicate mapping key", "mapping key already defined")
}

/// Renders serde's path the way users write it, dropping the `value` field that `Spanned`
/// wrappers add (no gantry config key is called `value`).
fn field_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path {
        match segment {
            Segment::Seq { index } => {
                let _ = write!(out, "[{index}]");
            }
            Segment::Map { key } if key == "value" => {}
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Unknown => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_saphyr::Spanned;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Item {
        #[allow(dead_code)]
        name: Spanned<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Doc {
        #[allow(dead_code)]
        items: Vec<Spanned<Item>>,
    }

    #[test]
    fn unknown_field_is_located_with_its_path() {
        let err = parse::<Doc>("x.yaml", "items:\n  - name: a\n  - name: b\n    nme: c\n")
            .expect_err("nme is not a field");
        assert_eq!(
            err.to_string(),
            "x.yaml:4:5: items[1].nme: unknown field `nme`, expected one of name"
        );
    }

    #[test]
    fn empty_file_is_reported_without_position() {
        let err = parse::<Doc>("x.yaml", "\n  \n").expect_err("empty");
        assert_eq!(err.to_string(), "x.yaml: file is empty");
    }
}
