//! The vulnerability gate (pure): reports from Harbor or Trivy, one normalised form, one verdict.
//!
//! Input: report JSON and a [`VulnerabilityPolicy`]. Output: a [`Verdict`] with counts per
//! severity, the findings that block, the ones let through (allowlisted, unfixed) and warnings
//! for expired allowlist entries, which stop counting.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::Value;

use super::ArtifactError;
use crate::config::policy::{Severity, VulnerabilityPolicy};

/// One vulnerable package.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    pub id: String,
    pub package: String,
    pub installed: String,
    /// `None` when no fixed version exists yet.
    pub fixed: Option<String>,
    pub severity: Severity,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Report {
    pub findings: Vec<Finding>,
}

/// Trivy's and Harbor's words for severity. Unknown and negligible count as low: they block
/// only under `maxSeverity: none`, as an unrated finding should not pass a zero-tolerance gate.
fn severity(s: &str) -> Severity {
    match s.to_ascii_lowercase().as_str() {
        "critical" => Severity::Critical,
        "high" => Severity::High,
        "medium" => Severity::Medium,
        "none" => Severity::None,
        _ => Severity::Low,
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TrivyReport {
    #[serde(default)]
    results: Vec<TrivyResult>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TrivyResult {
    #[serde(default)]
    vulnerabilities: Option<Vec<TrivyVuln>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TrivyVuln {
    #[serde(rename = "VulnerabilityID")]
    vulnerability_id: String,
    pkg_name: String,
    installed_version: String,
    #[serde(default)]
    fixed_version: Option<String>,
    severity: String,
}

#[derive(Deserialize)]
struct HarborReport {
    #[serde(default)]
    vulnerabilities: Vec<HarborVuln>,
}

#[derive(Deserialize)]
struct HarborVuln {
    id: String,
    package: String,
    version: String,
    #[serde(default)]
    fix_version: Option<String>,
    severity: String,
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|v| !v.trim().is_empty())
}

impl Report {
    /// Reads a Trivy JSON report (`SchemaVersion` 2) or Harbor's vulnerability addition (keyed
    /// by the report MIME type), telling them apart by their shape.
    pub fn parse(source_name: &str, json: &[u8]) -> Result<Self, ArtifactError> {
        let value: Value =
            serde_json::from_slice(json).map_err(|e| ArtifactError::UnknownReport {
                source_name: source_name.to_string(),
                message: e.to_string(),
            })?;
        let bad = |format: &'static str, e: serde_json::Error| ArtifactError::BadReport {
            source_name: source_name.to_string(),
            format,
            message: e.to_string(),
        };
        if value.get("SchemaVersion").is_some() || value.get("Results").is_some() {
            let trivy: TrivyReport = serde_json::from_value(value).map_err(|e| bad("Trivy", e))?;
            let findings = trivy
                .results
                .into_iter()
                .flat_map(|r| r.vulnerabilities.unwrap_or_default())
                .map(|v| Finding {
                    id: v.vulnerability_id,
                    package: v.pkg_name,
                    installed: v.installed_version,
                    fixed: non_empty(v.fixed_version),
                    severity: severity(&v.severity),
                })
                .collect();
            return Ok(Self { findings });
        }
        let harbor = value
            .as_object()
            .and_then(|m| m.iter().find(|(k, _)| k.starts_with("application/vnd.security.vulnerability.report")))
            .map(|(_, v)| v.clone())
            .ok_or_else(|| ArtifactError::UnknownReport {
                source_name: source_name.to_string(),
                message: "expected Trivy's `Results` or a key `application/vnd.security.vulnerability.report; version=1.1`".into(),
            })?;
        let harbor: HarborReport = serde_json::from_value(harbor).map_err(|e| bad("Harbor", e))?;
        let findings = harbor
            .vulnerabilities
            .into_iter()
            .map(|v| Finding {
                id: v.id,
                package: v.package,
                installed: v.version,
                fixed: non_empty(v.fix_version),
                severity: severity(&v.severity),
            })
            .collect();
        Ok(Self { findings })
    }
}

/// Why a finding that exceeds the threshold did not block.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum Waiver {
    /// Allowlisted until the date, for the reason given.
    Allowed { reason: String, expires: NaiveDate },
    /// No fixed version exists and the policy ignores unfixed findings.
    Unfixed,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Verdict {
    /// All findings by severity, whatever the policy says of them.
    pub counts: BTreeMap<Severity, usize>,
    /// Findings above `maxSeverity` that nothing waives.
    pub blocking: Vec<Finding>,
    pub waived: Vec<(Finding, Waiver)>,
    /// Expired allowlist entries, one line each.
    pub warnings: Vec<String>,
}

impl Verdict {
    #[must_use]
    pub fn passed(&self) -> bool {
        self.blocking.is_empty()
    }

    /// `0C/1H/3M/7L`, for commit trailers and logs.
    #[must_use]
    pub fn summary(&self) -> String {
        let n = |s| self.counts.get(&s).copied().unwrap_or(0);
        format!(
            "{}C/{}H/{}M/{}L",
            n(Severity::Critical),
            n(Severity::High),
            n(Severity::Medium),
            n(Severity::Low)
        )
    }
}

/// Applies `policy` to `report` as of `today` (allowlist entries expire after their date).
#[must_use]
pub fn gate(report: &Report, policy: &VulnerabilityPolicy, today: NaiveDate) -> Verdict {
    let mut verdict = Verdict::default();
    for entry in &policy.allowlist {
        if entry.expires < today {
            verdict.warnings.push(format!(
                "allowlist entry {} expired on {}; it no longer waives anything ({})",
                entry.id, entry.expires, entry.reason
            ));
        }
    }
    for f in &report.findings {
        *verdict.counts.entry(f.severity).or_default() += 1;
        if f.severity <= policy.max_severity {
            continue;
        }
        let allowed = policy
            .allowlist
            .iter()
            .find(|a| a.id == f.id && a.expires >= today);
        if let Some(a) = allowed {
            let waiver = Waiver::Allowed {
                reason: a.reason.clone(),
                expires: a.expires,
            };
            verdict.waived.push((f.clone(), waiver));
        } else if policy.ignore_unfixed && f.fixed.is_none() {
            verdict.waived.push((f.clone(), Waiver::Unfixed));
        } else {
            verdict.blocking.push(f.clone());
        }
    }
    verdict
        .blocking
        .sort_by(|a, b| b.severity.cmp(&a.severity).then_with(|| a.id.cmp(&b.id)));
    verdict
}
