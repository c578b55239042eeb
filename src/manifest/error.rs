//! Errors of the manifest stage: every one names the file and, where there is one, the line,
//! column and field.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// A problem at a known place in a file.
    #[error("{file}:{line}:{column}: {message}")]
    At {
        file: String,
        line: u64,
        column: u64,
        message: String,
    },
    /// A problem with a file as a whole, or one found after parsing.
    #[error("{file}: {message}")]
    File { file: String, message: String },
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Writing an edited file failed; the original is untouched.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl ManifestError {
    pub(crate) fn file(file: impl Into<String>, message: impl Into<String>) -> Self {
        Self::File {
            file: file.into(),
            message: message.into(),
        }
    }

    pub(crate) fn from_diag(d: crate::core::diag::Diagnostic) -> Self {
        if d.line == 0 {
            return Self::File {
                file: d.file,
                message: if d.path.is_empty() {
                    d.message
                } else {
                    format!("{}: {}", d.path, d.message)
                },
            };
        }
        Self::At {
            file: d.file,
            line: d.line,
            column: d.column,
            message: if d.path.is_empty() {
                d.message
            } else {
                format!("{}: {}", d.path, d.message)
            },
        }
    }
}
