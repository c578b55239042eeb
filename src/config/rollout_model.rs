//! Validated rollout settings (stage: config): canary strategies and analysis templates, with
//! references known to resolve, durations parsed and conditions known to parse once the
//! referencing step's arguments are substituted.
//!
//! Input: nothing but what validation builds. Output: [`RolloutStrategy`] and
//! [`AnalysisTemplate`], and the built-in templates ([`builtin_templates`]).

use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub struct RolloutStrategy {
    pub name: String,
    /// The environments a canary runs in; `None`: every environment of the app. Elsewhere a
    /// new image is synced directly.
    pub environments: Option<Vec<String>>,
    pub steps: Vec<CanaryStep>,
    /// Analysis that runs from step `background_from` until the rollout ends.
    pub background: Option<AnalysisRef>,
    pub background_from: u32,
    pub traffic: Traffic,
    pub on_failure: OnFailure,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CanaryStep {
    SetWeight(u32),
    /// `None` pauses until a human resumes, as in Argo Rollouts.
    Pause(Option<Duration>),
    Analysis(AnalysisRef),
    SetCanaryScale(CanaryScale),
}

/// Templates and the arguments they are given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnalysisRef {
    pub templates: Vec<String>,
    pub args: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CanaryScale {
    Replicas(u32),
    Weight(u32),
    MatchTrafficWeight,
}

/// How traffic reaches the canary.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum Traffic {
    /// A `<name>-canary` Deployment behind the same Service; weights by replica counts.
    #[default]
    Replicas,
    /// Backend weights of this `HTTPRoute`.
    GatewayApi { http_route: String },
    /// NGINX Ingress canary annotations on a copy of this Ingress.
    Nginx { stable_ingress: String },
}

/// What a failed (or errored) analysis does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnFailure {
    /// Traffic back to stable, canary removed, the previous digest committed back.
    #[default]
    Abort,
    /// Hold the canary where it is until a human promotes or aborts.
    Pause,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AnalysisTemplate {
    pub name: String,
    /// Arguments with their defaults; one without must be given by every reference.
    pub args: Vec<(String, Option<String>)>,
    pub metrics: Vec<MetricSpec>,
    pub builtin: bool,
}

/// One metric of a template, `{{args.NAME}}` not yet substituted.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricSpec {
    pub name: String,
    /// The Prometheus to ask: the template's, else gantry.yaml's `prometheus.address`.
    pub address: String,
    pub query: String,
    pub success_condition: Option<String>,
    pub failure_condition: Option<String>,
    pub interval: Option<Duration>,
    pub count: Option<u32>,
    pub initial_delay: Duration,
    /// Negative disables the limit.
    pub failure_limit: i32,
    pub inconclusive_limit: u32,
    pub consecutive_error_limit: u32,
    pub consecutive_success_limit: Option<u32>,
    pub dry_run: bool,
    /// A query counting the canary's requests, and the fewest that make a measurement count.
    pub min_samples: Option<(String, f64)>,
}

/// Analysis templates gantry ships (Flagger's built-in names), over the conventional
/// `http_requests_total{status}` counter and `http_request_duration_seconds` histogram.
pub const BUILTIN_ANALYSIS_TEMPLATES: &[&str] = &["request-success-rate", "request-duration"];

fn builtin_metric(name: &str, address: &str, query: &str, success: &str) -> MetricSpec {
    MetricSpec {
        name: name.to_owned(),
        address: address.to_owned(),
        query: query.to_owned(),
        success_condition: Some(success.to_owned()),
        failure_condition: None,
        interval: Some(Duration::from_mins(1)),
        count: Some(5),
        initial_delay: Duration::ZERO,
        failure_limit: 1,
        inconclusive_limit: 1,
        consecutive_error_limit: 4,
        consecutive_success_limit: None,
        dry_run: false,
        min_samples: Some((
            "sum(increase(http_requests_total{ {{args.selector}} }[{{args.window}}]))".to_owned(),
            10.0,
        )),
    }
}

/// `request-success-rate` (percent of requests not answered 5xx, at least `threshold`,
/// default 99) and `request-duration` (p99 in milliseconds, at most `threshold`, default
/// 500); both take `selector` (label matchers of the canary's series) and `window`
/// (default `1m`), measure every minute, five times, and count only with 10 requests or more.
#[must_use]
pub fn builtin_templates(address: &str) -> Vec<AnalysisTemplate> {
    let args = |threshold: &str| {
        vec![
            ("selector".to_owned(), None),
            ("window".to_owned(), Some("1m".to_owned())),
            ("threshold".to_owned(), Some(threshold.to_owned())),
        ]
    };
    vec![
        AnalysisTemplate {
            name: "request-success-rate".into(),
            args: args("99"),
            metrics: vec![builtin_metric(
                "request-success-rate",
                address,
                "100 * sum(rate(http_requests_total{ {{args.selector}}, status!~\"5..\" }[{{args.window}}])) / sum(rate(http_requests_total{ {{args.selector}} }[{{args.window}}]))",
                "result[0] >= {{args.threshold}}",
            )],
            builtin: true,
        },
        AnalysisTemplate {
            name: "request-duration".into(),
            args: args("500"),
            metrics: vec![builtin_metric(
                "request-duration",
                address,
                "1000 * histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{ {{args.selector}} }[{{args.window}}])))",
                "result[0] <= {{args.threshold}}",
            )],
            builtin: true,
        },
    ]
}

/// `text` with every `{{args.NAME}}` replaced by its value.
///
/// # Errors
///
/// The name of an argument `text` uses that `args` does not give.
pub fn substitute(text: &str, args: &[(String, String)]) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let Some(len) = rest[start..].find("}}") else {
            out.push_str(&rest[start..]);
            return Ok(out);
        };
        let inner = rest[start + 2..start + len].trim();
        match inner.strip_prefix("args.") {
            Some(name) => match args.iter().find(|(n, _)| n == name) {
                Some((_, value)) => out.push_str(value),
                None => return Err(name.to_owned()),
            },
            None => out.push_str(&rest[start..start + len + 2]),
        }
        rest = &rest[start + len + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_substituted_and_unknown_ones_named() {
        let args = vec![("service".to_owned(), "web".to_owned())];
        assert_eq!(
            substitute("rate(x{svc=\"{{args.service}}\"}[1m]) {{ other }}", &args),
            Ok("rate(x{svc=\"web\"}[1m]) {{ other }}".to_owned())
        );
        assert_eq!(substitute("{{args.nope}}", &args), Err("nope".to_owned()));
    }
}
