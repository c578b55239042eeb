//! The evidence of a promotion (stage ⑧, pure): what a reviewer reads in the pull request and
//! what the commit's `Gantry-Evidence` trailer keeps.
//!
//! Input: an [`Evidence`] (the digest, the gates with their reasons, the source commits, the
//! analysis measurements, the target's sync windows). Output: the pull request's title and
//! Markdown body — a table, the source commits with their subjects, and how to see the history
//! — with a hidden marker naming the app, environment and digest, so a later promotion finds
//! which digest an open pull request proposes.

use std::fmt::Write as _;

use super::gates::{Gate, GateName};
use crate::core::ImageRef;

/// A source commit: short id and subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceCommit {
    pub id: String,
    pub subject: String,
}

#[derive(Debug, Clone)]
pub struct Evidence {
    pub app: String,
    pub from: String,
    pub to: String,
    /// With its digest.
    pub image: ImageRef,
    pub gates: Vec<Gate>,
    /// `<repo>@<old>..<new>` of the source repo, when both ends are known.
    pub source_range: Option<String>,
    pub source_commits: Vec<SourceCommit>,
    /// One line per analysis metric: name, values, condition.
    pub analysis: Vec<String>,
    /// The target's sync windows, as configured.
    pub windows: Vec<String>,
    /// The gates a forced promotion skipped.
    pub forced: Option<String>,
}

const MARKER: &str = "<!-- gantry:promotion ";

impl Evidence {
    fn digest(&self) -> String {
        self.image
            .digest()
            .map(ToString::to_string)
            .unwrap_or_default()
    }

    /// `web → prod: sha256:0123456789ab`
    #[must_use]
    pub fn title(&self) -> String {
        let digest = self.digest();
        let short = digest.get(..19).unwrap_or(&digest);
        format!("Promote {} to {}: {short}", self.app, self.to)
    }

    /// The pull request's body (Markdown).
    #[must_use]
    pub fn body(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{MARKER}{}/{} {} -->",
            self.app,
            self.to,
            self.digest()
        );
        let _ = writeln!(
            out,
            "Promotes **{}** from **{}** to **{}**: the digest that ran in {} is the digest deployed; no tag is resolved again.\n",
            self.app, self.from, self.to, self.from
        );
        if let Some(forced) = &self.forced {
            let _ = writeln!(out, "> **Forced**: {forced} were closed and skipped.\n");
        }
        out.push_str("| | |\n|---|---|\n");
        let _ = writeln!(out, "| Image | `{}` |", self.image);
        for gate in &self.gates {
            let mark = if gate.open { "✅" } else { "❌" };
            let _ = writeln!(
                out,
                "| {} | {mark} {} |",
                label(gate.name),
                cell(&gate.reason)
            );
        }
        let windows = if self.windows.is_empty() {
            "none: syncs any time".to_owned()
        } else {
            self.windows.join("; ")
        };
        let _ = writeln!(out, "| Sync windows of {} | {} |", self.to, cell(&windows));
        if let Some(range) = &self.source_range {
            let _ = writeln!(out, "| Source | `{}` |", cell(range));
        }
        if !self.analysis.is_empty() {
            out.push_str("\n### Analysis in ");
            out.push_str(&self.from);
            out.push('\n');
            for line in &self.analysis {
                let _ = writeln!(out, "- {line}");
            }
        }
        if !self.source_commits.is_empty() {
            out.push_str("\n### Source commits\n");
            for c in &self.source_commits {
                let _ = writeln!(out, "- `{}` {}", c.id, c.subject);
            }
        }
        let _ = write!(
            out,
            "\n### History\n`gantry history --app {app} --env {from}` shows how the digest got to {from}; `gantry history --app {app} --env {to}` will show this promotion once merged.\n",
            app = self.app,
            from = self.from,
            to = self.to
        );
        out
    }

    /// `Gantry-Evidence` pairs: the open gates' short facts.
    #[must_use]
    pub fn trailer(&self) -> Vec<(String, String)> {
        let mut pairs = vec![("from".to_owned(), self.from.clone())];
        for gate in &self.gates {
            if gate.open && gate.name != GateName::NotRejected && gate.name != GateName::SyncWindow
            {
                pairs.push((gate.name.as_str().to_owned(), "passed".to_owned()));
            }
        }
        pairs
    }
}

fn label(name: GateName) -> &'static str {
    match name {
        GateName::Health => "Health",
        GateName::Analysis => "Canary analysis",
        GateName::Soak => "Soak",
        GateName::Scan => "Scan",
        GateName::Signature => "Signature",
        GateName::NotRejected => "Not rejected",
        GateName::SyncWindow => "Sync window now",
    }
}

/// Text safe inside a Markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// The `(app/env, digest)` an earlier body of gantry's proposes, from its hidden marker.
#[must_use]
pub fn proposed(body: &str) -> Option<(String, String)> {
    let rest = &body[body.find(MARKER)? + MARKER.len()..];
    let line = rest.split("-->").next()?.trim();
    let (pair, digest) = line.split_once(' ')?;
    Some((pair.to_owned(), digest.trim().to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn evidence() -> Evidence {
        Evidence {
            app: "web".into(),
            from: "staging".into(),
            to: "prod".into(),
            image: ImageRef::parse(&format!("harbor.example.com/shop/web@{D}")).expect("ref"),
            gates: vec![
                Gate {
                    name: GateName::Soak,
                    open: true,
                    reason: "3h in staging (soakTime 2h)".into(),
                },
                Gate {
                    name: GateName::Scan,
                    open: true,
                    reason: "0 critical | 0 high".into(),
                },
                Gate {
                    name: GateName::SyncWindow,
                    open: false,
                    reason: "prod: no allow window".into(),
                },
            ],
            source_range: Some("https://git.example.com/shop/web.git@1111111..2222222".into()),
            source_commits: vec![SourceCommit {
                id: "2222222".into(),
                subject: "Fix the cart".into(),
            }],
            analysis: vec![
                "request-success-rate: 0.999, 0.998 (result[0] >= 0.99): Successful".into(),
            ],
            windows: vec!["allow 0 8 * * 1-5 for 9h".into()],
            forced: None,
        }
    }

    #[test]
    fn the_body_is_an_evidence_table_with_a_marker() {
        let e = evidence();
        assert_eq!(e.title(), "Promote web to prod: sha256:0123456789ab");
        let body = e.body();
        assert!(
            body.contains(&format!("| Image | `harbor.example.com/shop/web@{D}` |")),
            "{body}"
        );
        assert!(
            body.contains("| Soak | ✅ 3h in staging (soakTime 2h) |"),
            "{body}"
        );
        assert!(
            body.contains("| Scan | ✅ 0 critical \\| 0 high |"),
            "a pipe is escaped: {body}"
        );
        assert!(
            body.contains("| Sync window now | ❌ prod: no allow window |"),
            "{body}"
        );
        assert!(body.contains("- `2222222` Fix the cart"), "{body}");
        assert!(
            body.contains("request-success-rate: 0.999, 0.998"),
            "{body}"
        );
        assert!(
            body.contains("gantry history --app web --env staging"),
            "{body}"
        );
        assert_eq!(proposed(&body), Some(("web/prod".into(), D.into())));
        assert_eq!(proposed("a body someone wrote"), None);
        assert_eq!(
            e.trailer(),
            vec![
                ("from".to_owned(), "staging".to_owned()),
                ("soak".to_owned(), "passed".to_owned()),
                ("scan".to_owned(), "passed".to_owned())
            ]
        );
    }
}
