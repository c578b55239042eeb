//! The rollback commit of an aborted canary (stage ⑦ → ④): one `deploy` of the stable image
//! back into the environment's overlay, with `Gantry-Action: rollback`, the failing
//! measurements as `Gantry-Evidence` (values, the condition, the limit that broke; the queries
//! in the commit body), and `Gantry-Rejected` naming the canary's image, which `deploy` then
//! refuses in that environment until a deploy is forced.
//!
//! Input: the app, environment, stable and canary images, the abort's reason and evidence.
//! Output: the [`DeployRequest`]; the controller hands it to `deploy`.

use std::fmt::Write as _;

use crate::audit::Action;
use crate::core::ImageRef;
use crate::deploy::DeployRequest;

use super::machine::Evidence;

/// The rollback of `canary` to `stable` for `app` in `env`.
#[must_use]
pub fn request(
    (app, env): (&str, &str),
    (stable, canary): (&ImageRef, &ImageRef),
    reason: &str,
    evidence: &[Evidence],
    run: Option<String>,
) -> DeployRequest {
    DeployRequest {
        app: app.to_owned(),
        env: env.to_owned(),
        image: stable.clone(),
        action: Action::Rollback,
        source: None,
        run,
        evidence: evidence_pairs(evidence),
        rejects: Some(canary.clone()),
        skipped: None,
        force: true,
        body: Some(body(reason, canary, evidence)),
    }
}

/// `metric=[values]`, `metric.condition=…`, `metric.limit=…`: a trailer is one line, so
/// spaces inside a value become none (`failed(2)>failureLimit(1)`).
fn evidence_pairs(evidence: &[Evidence]) -> Vec<(String, String)> {
    let compact = |s: &str| s.split_whitespace().collect::<String>();
    let mut out = Vec::new();
    for e in evidence {
        out.push((e.metric.clone(), format!("[{}]", e.values.join(","))));
        if !e.condition.is_empty() {
            out.push((format!("{}.condition", e.metric), compact(&e.condition)));
        }
        if !e.limit.is_empty() {
            out.push((format!("{}.limit", e.metric), compact(&e.limit)));
        }
    }
    out
}

/// Why, and each failing metric's query, values and condition, for the commit message.
fn body(reason: &str, canary: &ImageRef, evidence: &[Evidence]) -> String {
    let mut out = format!("The canary {canary} was aborted: {reason}.\n");
    for e in evidence {
        let _ = write!(
            out,
            "\n{} ({}): {}\n  query: {}\n  condition: {}\n  measured: {}\n",
            e.metric,
            e.phase.as_str().to_lowercase(),
            e.limit,
            e.query,
            e.condition,
            e.values.join(", ")
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::analysis::Phase;

    #[test]
    fn the_rollback_request_carries_the_failing_measurements() {
        let digest = |c: char| format!("sha256:{}", c.to_string().repeat(64));
        let stable = ImageRef::parse(&format!("harbor.example.com/shop/web@{}", digest('a')))
            .expect("stable");
        let canary = ImageRef::parse(&format!("harbor.example.com/shop/web@{}", digest('b')))
            .expect("canary");
        let evidence = [Evidence {
            metric: "success-rate".into(),
            query: "sum(rate(x[1m]))".into(),
            condition: "result[0] >= 0.99".into(),
            values: vec!["[0.8]".into(), "[0.79]".into()],
            phase: Phase::Failed,
            limit: "failed (2) > failureLimit (1)".into(),
        }];
        let r = request(
            ("web", "prod"),
            (&stable, &canary),
            "analysis failed",
            &evidence,
            Some("rollout-7".into()),
        );
        assert_eq!(r.action, Action::Rollback);
        assert_eq!(r.image, stable);
        let t = r.trailers();
        assert_eq!(t.rejected.as_deref(), Some(canary.to_string().as_str()));
        assert_eq!(
            t.evidence.as_deref(),
            Some(
                "success-rate=[[0.8],[0.79]] success-rate.condition=result[0]>=0.99 success-rate.limit=failed(2)>failureLimit(1)"
            )
        );
        let body = r.body.expect("a body");
        assert!(body.contains("query: sum(rate(x[1m]))"), "{body}");
        assert!(body.contains("measured: [0.8], [0.79]"), "{body}");
    }
}
