//! Validation of `analysisTemplates:` in `gantry.yaml` (stage: config), Argo Rollouts'
//! `AnalysisTemplate` spec with Prometheus as the provider.
//!
//! Input: the raw templates and gantry.yaml's default Prometheus address. Output: the
//! [`AnalysisTemplate`]s, the built-in ones after the user's; problems go to the [`Sink`].
//! Conditions are checked where a rollout references a template (its arguments are known
//! there): see `rollouts`.

use super::diag::Sink;
use super::model::{AnalysisTemplate, BUILTIN_ANALYSIS_TEMPLATES, MetricSpec, builtin_templates};
use super::raw::{RawArg, RawMetric, RawPrometheusDefault, RawTemplate, S};
use super::validate::{Names, duration};

pub(super) fn templates(
    sink: &mut Sink,
    raw: &[S<RawTemplate>],
    default: Option<&S<RawPrometheusDefault>>,
) -> Vec<AnalysisTemplate> {
    let address = default.map(|d| d.value.address.value.trim().to_owned());
    let mut names = Names::new("analysis template");
    let mut out = Vec::new();
    for (i, t) in raw.iter().enumerate() {
        let path = format!("analysisTemplates[{i}]");
        let mut ok = names.check(sink, &t.value.name, &format!("{path}.name"));
        if BUILTIN_ANALYSIS_TEMPLATES.contains(&t.value.name.value.as_str()) {
            sink.error(
                t.value.name.referenced,
                format!("{path}.name"),
                format!(
                    "\"{}\" is a built-in template; give yours another name",
                    t.value.name.value
                ),
            );
            ok = false;
        }
        let args = args(sink, &t.value.args, &format!("{path}.args"));
        ok &= args.is_some();
        if t.value.metrics.is_empty() {
            sink.error(
                t.referenced,
                format!("{path}.metrics"),
                "list at least one metric",
            );
            ok = false;
        }
        let mut metric_names = Names::new("metric");
        let mut metrics = Vec::new();
        for (j, m) in t.value.metrics.iter().enumerate() {
            let mp = format!("{path}.metrics[{j}]");
            ok &= metric_names.check(sink, &m.value.name, &format!("{mp}.name"));
            match metric(sink, m, &mp, address.as_deref()) {
                Some(m) => metrics.push(m),
                None => ok = false,
            }
        }
        if let (true, Some(args)) = (ok, args) {
            out.push(AnalysisTemplate {
                name: t.value.name.value.clone(),
                args,
                metrics,
                builtin: false,
            });
        }
    }
    out.extend(builtin_templates(address.as_deref().unwrap_or_default()));
    out
}

fn args(sink: &mut Sink, raw: &[S<RawArg>], path: &str) -> Option<Vec<(String, Option<String>)>> {
    let mut out: Vec<(String, Option<String>)> = Vec::new();
    let mut ok = true;
    for (k, a) in raw.iter().enumerate() {
        let name = &a.value.name;
        if out.iter().any(|(n, _)| *n == name.value) {
            sink.error(
                name.referenced,
                format!("{path}[{k}].name"),
                format!("argument \"{}\" is listed twice", name.value),
            );
            ok = false;
        }
        out.push((
            name.value.clone(),
            a.value.value.as_ref().map(|v| v.value.clone()),
        ));
    }
    ok.then_some(out)
}

fn metric(
    sink: &mut Sink,
    raw: &S<RawMetric>,
    path: &str,
    default: Option<&str>,
) -> Option<MetricSpec> {
    let m = &raw.value;
    let mut ok = true;
    let mut parse = |d: &Option<S<String>>, field: &str| match d {
        Some(d) => {
            let parsed = duration(sink, d, &format!("{path}.{field}"));
            ok &= parsed.is_some();
            parsed
        }
        None => None,
    };
    let interval = parse(&m.interval, "interval");
    let initial_delay = parse(&m.initial_delay, "initialDelay").unwrap_or_default();
    let prometheus = &m.provider.value.prometheus;
    let address = prometheus
        .value
        .address
        .as_ref()
        .map(|a| a.value.trim().to_owned())
        .or_else(|| default.map(str::to_owned))
        .filter(|a| !a.is_empty());
    if address.is_none() {
        sink.error(
            prometheus.referenced,
            format!("{path}.provider.prometheus.address"),
            "no Prometheus address: set it here or in gantry.yaml's prometheus.address",
        );
        ok = false;
    }
    if let Some(limit) = m.failure_limit.as_ref().filter(|l| l.value < -1) {
        sink.error(
            limit.referenced,
            format!("{path}.failureLimit"),
            format!(
                "failureLimit {} is below -1 (-1 disables the limit)",
                limit.value
            ),
        );
        ok = false;
    }
    if m.success_condition.is_none() && m.failure_condition.is_none() {
        sink.error(
            raw.referenced,
            path,
            "set successCondition, failureCondition or both: without either every measurement passes",
        );
        ok = false;
    }
    let number = |v: &Option<S<u32>>| v.as_ref().map(|v| v.value);
    Some(MetricSpec {
        name: m.name.value.clone(),
        address: address?,
        query: prometheus.value.query.value.clone(),
        success_condition: m.success_condition.as_ref().map(|c| c.value.clone()),
        failure_condition: m.failure_condition.as_ref().map(|c| c.value.clone()),
        interval,
        count: number(&m.count),
        initial_delay,
        failure_limit: m.failure_limit.as_ref().map_or(0, |l| l.value),
        inconclusive_limit: number(&m.inconclusive_limit).unwrap_or(0),
        consecutive_error_limit: number(&m.consecutive_error_limit).unwrap_or(4),
        consecutive_success_limit: number(&m.consecutive_success_limit),
        dry_run: m.dry_run.as_ref().is_some_and(|d| d.value),
        min_samples: m
            .min_samples
            .as_ref()
            .map(|s| (s.value.query.value.clone(), s.value.min.value)),
    })
    .filter(|_| ok)
}
