//! Policy files under `policies/` (stage: config).
//!
//! Input: the text of a policy file and the known environment names. Output: a typed [`Policy`]
//! or located diagnostics. Each file is `apiVersion: gantry.dev/v1alpha1`, a `kind` naming one of
//! the five policy kinds, and a `spec`. Enforcement lives with the stages that need it
//! (artifact, cluster, promotion); this module only guarantees the files mean something.

use std::path::PathBuf;

use chrono::NaiveDate;
use serde::Deserialize;
use serde::de::IgnoredAny;

use super::diag::{self, Diagnostic, Sink};
use super::model::SecretRef;
use super::raw::{RawSecretRef, S};
use super::validate::{API_VERSION, secret_ref};

pub const POLICY_KINDS: &[&str] = &[
    "SignaturePolicy",
    "VulnerabilityPolicy",
    "RegistryPolicy",
    "WorkloadPolicy",
    "PromotionPolicy",
];

#[derive(Debug, Clone)]
pub struct Policy {
    /// Repo-relative path of the file the policy came from.
    pub file: PathBuf,
    pub spec: PolicySpec,
}

#[derive(Debug, Clone)]
pub enum PolicySpec {
    Signatures(SignaturePolicy),
    Vulnerabilities(VulnerabilityPolicy),
    Registries(RegistryPolicy),
    Workloads(WorkloadPolicy),
    Promotion(PromotionPolicy),
}

impl PolicySpec {
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Signatures(_) => "SignaturePolicy",
            Self::Vulnerabilities(_) => "VulnerabilityPolicy",
            Self::Registries(_) => "RegistryPolicy",
            Self::Workloads(_) => "WorkloadPolicy",
            Self::Promotion(_) => "PromotionPolicy",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Refuse what breaks the policy.
    #[default]
    Enforce,
    /// Report what breaks the policy and go on.
    Warn,
}

#[derive(Debug, Clone)]
pub struct SignaturePolicy {
    pub mode: Mode,
    pub rules: Vec<SignatureRule>,
}

#[derive(Debug, Clone)]
pub struct SignatureRule {
    pub images: Vec<String>,
    pub keys: Vec<SecretRef>,
}

impl SignaturePolicy {
    /// The first rule with a glob matching `image` (`registry/repository`, no tag or digest).
    #[must_use]
    pub fn rule_for(&self, image: &str) -> Option<&SignatureRule> {
        self.rules.iter().find(|r| {
            r.images
                .iter()
                .any(|g| image_glob(g).is_ok_and(|m| m.is_match(image)))
        })
    }
}

/// Compiles an image glob: `*` stays within one path segment, `**` spans segments.
pub fn image_glob(pattern: &str) -> Result<globset::GlobMatcher, String> {
    globset::GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| format!("invalid image glob {pattern:?}: {}", e.kind()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    None,
    Low,
    Medium,
    High,
    Critical,
}

#[derive(Debug, Clone)]
pub struct VulnerabilityPolicy {
    /// Highest severity an image may carry and still deploy.
    pub max_severity: Severity,
    pub ignore_unfixed: bool,
    pub allowlist: Vec<AllowedVulnerability>,
}

#[derive(Debug, Clone)]
pub struct AllowedVulnerability {
    pub id: String,
    pub reason: String,
    pub expires: NaiveDate,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RegistryPolicy {
    /// Image globs (`*` within a path segment, `**` across segments) that may be deployed.
    pub allowed: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
#[allow(clippy::struct_excessive_bools)] // each flag is one independent, documented rule
pub struct WorkloadPolicy {
    pub mode: Mode,
    pub run_as_non_root: bool,
    pub disallow_privileged: bool,
    pub disallow_privilege_escalation: bool,
    pub disallow_host_namespaces: bool,
    pub require_resources: bool,
    pub disallow_latest_tag: bool,
    pub read_only_root_filesystem: bool,
}

#[derive(Debug, Clone)]
pub struct PromotionPolicy {
    pub rules: Vec<PromotionRule>,
}

#[derive(Debug, Clone)]
pub struct PromotionRule {
    pub environment: String,
    pub require_approvals: u32,
    pub require_analysis: bool,
    pub require_signature: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawHeader {
    api_version: S<String>,
    kind: S<String>,
    #[allow(dead_code)] // read again, typed, once the kind is known
    spec: IgnoredAny,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawDoc<T> {
    #[allow(dead_code)]
    api_version: IgnoredAny,
    #[allow(dead_code)]
    kind: IgnoredAny,
    spec: S<T>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawSignaturePolicy {
    #[serde(default)]
    mode: Mode,
    rules: Vec<RawSignatureRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawSignatureRule {
    images: Vec<S<String>>,
    keys: Vec<S<RawSecretRef>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawVulnerabilityPolicy {
    max_severity: Severity,
    #[serde(default)]
    ignore_unfixed: bool,
    #[serde(default)]
    allowlist: Vec<RawAllowed>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawAllowed {
    id: S<String>,
    reason: S<String>,
    expires: S<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawPromotionPolicy {
    rules: Vec<RawPromotionRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawPromotionRule {
    environment: S<String>,
    #[serde(default)]
    require_approvals: u32,
    #[serde(default)]
    require_analysis: bool,
    #[serde(default)]
    require_signature: bool,
}

/// Parses and checks one policy file; `environments` are the names gantry.yaml defines.
pub fn parse(
    file: &str,
    text: &str,
    environments: &[String],
) -> Result<PolicySpec, Vec<Diagnostic>> {
    let header: RawHeader = diag::parse(file, text).map_err(|d| vec![d])?;
    let mut sink = Sink::new(file);
    if header.api_version.value != API_VERSION {
        sink.error(
            header.api_version.referenced,
            "apiVersion",
            format!(
                "unsupported apiVersion \"{}\" (expected \"{API_VERSION}\")",
                header.api_version.value
            ),
        );
    }
    let one = |d| vec![d];
    let spec = match header.kind.value.as_str() {
        "SignaturePolicy" => {
            let raw: RawDoc<RawSignaturePolicy> = diag::parse(file, text).map_err(one)?;
            signatures(&mut sink, raw.spec)
        }
        "VulnerabilityPolicy" => {
            let raw: RawDoc<RawVulnerabilityPolicy> = diag::parse(file, text).map_err(one)?;
            vulnerabilities(&mut sink, raw.spec)
        }
        "RegistryPolicy" => {
            let raw: RawDoc<RegistryPolicy> = diag::parse(file, text).map_err(one)?;
            PolicySpec::Registries(raw.spec.value)
        }
        "WorkloadPolicy" => {
            let raw: RawDoc<WorkloadPolicy> = diag::parse(file, text).map_err(one)?;
            PolicySpec::Workloads(raw.spec.value)
        }
        "PromotionPolicy" => {
            let raw: RawDoc<RawPromotionPolicy> = diag::parse(file, text).map_err(one)?;
            promotion(&mut sink, raw.spec, environments)
        }
        other => {
            sink.error(
                header.kind.referenced,
                "kind",
                format!(
                    "unknown policy kind \"{other}\" (known: {})",
                    POLICY_KINDS.join(", ")
                ),
            );
            return Err(sink.into_diagnostics());
        }
    };
    let diagnostics = sink.into_diagnostics();
    if diagnostics.is_empty() {
        Ok(spec)
    } else {
        Err(diagnostics)
    }
}

fn signatures(sink: &mut Sink, raw: S<RawSignaturePolicy>) -> PolicySpec {
    let mut rules = Vec::new();
    for (i, r) in raw.value.rules.into_iter().enumerate() {
        let keys = r
            .keys
            .iter()
            .enumerate()
            .filter_map(|(j, k)| secret_ref(sink, k, &format!("spec.rules[{i}].keys[{j}]")))
            .collect();
        for (j, glob) in r.images.iter().enumerate() {
            if let Err(e) = image_glob(&glob.value) {
                sink.error(glob.referenced, format!("spec.rules[{i}].images[{j}]"), e);
            }
        }
        rules.push(SignatureRule {
            images: r.images.into_iter().map(|g| g.value).collect(),
            keys,
        });
    }
    PolicySpec::Signatures(SignaturePolicy {
        mode: raw.value.mode,
        rules,
    })
}

fn vulnerabilities(sink: &mut Sink, raw: S<RawVulnerabilityPolicy>) -> PolicySpec {
    let mut allowlist = Vec::new();
    for (i, a) in raw.value.allowlist.into_iter().enumerate() {
        let p = |f: &str| format!("spec.allowlist[{i}].{f}");
        if a.reason.value.trim().is_empty() {
            sink.error(
                a.reason.referenced,
                p("reason"),
                "an allowlisted vulnerability needs a reason",
            );
        }
        match NaiveDate::parse_from_str(a.expires.value.trim(), "%Y-%m-%d") {
            Ok(expires) => allowlist.push(AllowedVulnerability {
                id: a.id.value,
                reason: a.reason.value,
                expires,
            }),
            Err(e) => sink.error(
                a.expires.referenced,
                p("expires"),
                format!(
                    "invalid date \"{}\": {e} (expected YYYY-MM-DD)",
                    a.expires.value
                ),
            ),
        }
    }
    PolicySpec::Vulnerabilities(VulnerabilityPolicy {
        max_severity: raw.value.max_severity,
        ignore_unfixed: raw.value.ignore_unfixed,
        allowlist,
    })
}

fn promotion(sink: &mut Sink, raw: S<RawPromotionPolicy>, environments: &[String]) -> PolicySpec {
    let mut rules = Vec::new();
    for (i, r) in raw.value.rules.into_iter().enumerate() {
        if !environments.contains(&r.environment.value) {
            sink.error(
                r.environment.referenced,
                format!("spec.rules[{i}].environment"),
                format!(
                    "unknown environment \"{}\" (known: {})",
                    r.environment.value,
                    environments.join(", ")
                ),
            );
            continue;
        }
        rules.push(PromotionRule {
            environment: r.environment.value,
            require_approvals: r.require_approvals,
            require_analysis: r.require_analysis,
            require_signature: r.require_signature,
        });
    }
    PolicySpec::Promotion(PromotionPolicy { rules })
}
