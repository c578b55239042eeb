//! The vulnerability gate: Trivy and Harbor reports normalised to one form, and the policy's
//! rules as a table over plain findings.

use chrono::NaiveDate;
use gantry::artifact::scan::{Finding, Report, Waiver, gate};
use gantry::config::policy::{AllowedVulnerability, Severity, VulnerabilityPolicy};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/scan")
            .join(name),
    )
    .expect("fixture")
}

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
}

fn finding(id: &str, severity: Severity, fixed: Option<&str>) -> Finding {
    Finding {
        id: id.into(),
        package: format!("pkg-{id}"),
        installed: "1.0".into(),
        fixed: fixed.map(Into::into),
        severity,
    }
}

fn policy(max: Severity, ignore_unfixed: bool, allow: &[(&str, &str)]) -> VulnerabilityPolicy {
    VulnerabilityPolicy {
        max_severity: max,
        ignore_unfixed,
        allowlist: allow
            .iter()
            .map(|(id, exp)| AllowedVulnerability {
                id: (*id).into(),
                reason: format!("accepted: {id}"),
                expires: day(exp),
            })
            .collect(),
    }
}

#[test]
fn trivy_and_harbor_reports_normalise_to_the_same_findings() {
    let trivy = Report::parse("trivy.json", &fixture("trivy.json")).expect("trivy");
    assert_eq!(trivy.findings.len(), 5);
    assert_eq!(
        trivy.findings[0],
        Finding {
            id: "CVE-2024-6119".into(),
            package: "libssl3".into(),
            installed: "3.0.13-1~deb12u1".into(),
            fixed: Some("3.0.14-1~deb12u2".into()),
            severity: Severity::High
        }
    );
    assert_eq!(
        (
            trivy.findings[1].fixed.as_deref(),
            trivy.findings[1].severity
        ),
        (None, Severity::Critical)
    );

    let harbor = Report::parse("harbor.json", &fixture("harbor.json")).expect("harbor");
    assert_eq!(harbor.findings.len(), 3);
    // The same three OS findings, whichever scanner front end reported them.
    assert_eq!(harbor.findings[..2], trivy.findings[..2]);
    assert_eq!(
        (harbor.findings[2].id.as_str(), harbor.findings[2].severity),
        ("CVE-2011-3374", Severity::Low)
    );

    let err = Report::parse("junk.json", br#"{"hello": 1}"#).expect_err("unknown");
    assert!(
        err.to_string()
            .starts_with("junk.json: not a Trivy JSON report nor a Harbor vulnerability report"),
        "{err}"
    );
    let err = Report::parse(
        "bad.json",
        br#"{"SchemaVersion": 2, "Results": [{"Vulnerabilities": [{"VulnerabilityID": 5}]}]}"#,
    )
    .expect_err("bad");
    assert!(
        err.to_string()
            .starts_with("bad.json: invalid Trivy report"),
        "{err}"
    );
}

#[test]
fn the_gate_as_a_table() {
    let today = day("2026-11-23");
    let report = Report {
        findings: vec![
            finding("CVE-C-FIXED", Severity::Critical, Some("2.0")),
            finding("CVE-H-UNFIXED", Severity::High, None),
            finding("CVE-M-FIXED", Severity::Medium, Some("1.1")),
            finding("CVE-L", Severity::Low, Some("1.2")),
        ],
    };
    // (policy, blocking ids, waived count)
    let cases: Vec<(VulnerabilityPolicy, Vec<&str>, usize)> = vec![
        (policy(Severity::Critical, false, &[]), vec![], 0),
        (policy(Severity::High, false, &[]), vec!["CVE-C-FIXED"], 0),
        (
            policy(Severity::Medium, false, &[]),
            vec!["CVE-C-FIXED", "CVE-H-UNFIXED"],
            0,
        ),
        (policy(Severity::Medium, true, &[]), vec!["CVE-C-FIXED"], 1),
        (
            policy(Severity::Low, true, &[]),
            vec!["CVE-C-FIXED", "CVE-M-FIXED"],
            1,
        ),
        (
            policy(Severity::None, false, &[]),
            vec!["CVE-C-FIXED", "CVE-H-UNFIXED", "CVE-M-FIXED", "CVE-L"],
            0,
        ),
        (
            policy(Severity::Medium, true, &[("CVE-C-FIXED", "2027-01-01")]),
            vec![],
            2,
        ),
        // Expired yesterday: blocks again. Expiring today: still waives.
        (
            policy(Severity::Medium, true, &[("CVE-C-FIXED", "2026-11-22")]),
            vec!["CVE-C-FIXED"],
            1,
        ),
        (
            policy(Severity::Medium, true, &[("CVE-C-FIXED", "2026-11-23")]),
            vec![],
            2,
        ),
    ];
    for (i, (p, blocking, waived)) in cases.into_iter().enumerate() {
        let v = gate(&report, &p, today);
        let ids: Vec<&str> = v.blocking.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(ids, blocking, "case {i}");
        assert_eq!(v.waived.len(), waived, "case {i}");
        assert_eq!(v.passed(), blocking.is_empty(), "case {i}");
        assert_eq!(v.summary(), "1C/1H/1M/1L", "case {i}");
    }
}

#[test]
fn expired_allowlist_entries_warn_and_waivers_say_why() {
    let report = Report::parse("trivy.json", &fixture("trivy.json")).expect("trivy");
    let p = policy(
        Severity::Medium,
        true,
        &[
            ("CVE-2024-6119", "2026-12-31"),
            ("CVE-2020-0001", "2025-01-31"),
        ],
    );
    let v = gate(&report, &p, day("2026-11-23"));
    assert_eq!(
        v.blocking.iter().map(|f| f.id.as_str()).collect::<Vec<_>>(),
        ["CVE-2024-21538"]
    );
    assert_eq!(
        v.warnings,
        [
            "allowlist entry CVE-2020-0001 expired on 2025-01-31; it no longer waives anything (accepted: CVE-2020-0001)"
        ]
    );
    let why: Vec<(&str, &Waiver)> = v.waived.iter().map(|(f, w)| (f.id.as_str(), w)).collect();
    assert_eq!(
        why[0],
        (
            "CVE-2024-6119",
            &Waiver::Allowed {
                reason: "accepted: CVE-2024-6119".into(),
                expires: day("2026-12-31")
            }
        )
    );
    assert_eq!(why[1], ("CVE-2023-45853", &Waiver::Unfixed));
    assert_eq!(v.summary(), "1C/2H/1M/1L");
}
