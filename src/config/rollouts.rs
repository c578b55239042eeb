//! Validation of `rollouts:` in `gantry.yaml` (stage: config): Argo Rollouts' canary steps,
//! background analysis, traffic routing and `onFailure`, with every analysis reference
//! resolved against the templates and its conditions parsed with the arguments it passes.
//!
//! Input: raw rollouts, the validated templates (and their raw form, to point at a bad
//! condition). Output: [`RolloutStrategy`]s; problems go to the [`Sink`].

use serde_saphyr::Location;

use super::diag::Sink;
use super::model::{
    AnalysisRef, AnalysisTemplate, CanaryScale, CanaryStep, OnFailure, RolloutStrategy, Traffic,
    substitute,
};
use super::raw::{
    RawAnalysis, RawCanaryScale, RawOnFailure, RawRollout, RawStep, RawTemplate, RawTraffic, S,
};
use super::validate::{Names, duration};
use crate::core::expr::Condition;

/// The templates a reference may name.
pub(super) struct Templates<'a> {
    pub(super) all: &'a [AnalysisTemplate],
    pub(super) raw: &'a [S<RawTemplate>],
}

pub(super) fn rollouts(
    sink: &mut Sink,
    raw: &[S<RawRollout>],
    (names, envs): (&mut Names<'_>, &Names<'_>),
    templates: &Templates<'_>,
) -> Vec<RolloutStrategy> {
    let mut out = Vec::new();
    for (i, r) in raw.iter().enumerate() {
        let mut ok = names.check(sink, &r.value.name, &format!("rollouts[{i}].name"));
        let environments = r.value.environments.as_ref().map(|list| {
            for (j, e) in list.value.iter().enumerate() {
                if !envs.contains(&e.value) {
                    sink.error(
                        e.referenced,
                        format!("rollouts[{i}].environments[{j}]"),
                        format!("unknown environment \"{}\" ({})", e.value, envs.known()),
                    );
                    ok = false;
                }
            }
            list.value
                .iter()
                .map(|e| e.value.clone())
                .collect::<Vec<_>>()
        });
        let canary = &r.value.canary.value;
        let path = format!("rollouts[{i}].canary");
        let mut steps = Vec::new();
        for (j, step) in canary.steps.iter().enumerate() {
            match canary_step(sink, step, &format!("{path}.steps[{j}]"), templates) {
                Some(s) => steps.push(s),
                None => ok = false,
            }
        }
        let background = canary
            .analysis
            .as_ref()
            .map(|a| analysis_ref(sink, a, &format!("{path}.analysis"), templates));
        ok &= !matches!(background, Some(None));
        let starting = canary
            .analysis
            .as_ref()
            .and_then(|a| a.value.starting_step.as_ref());
        let background_from = starting.map_or(0, |s| s.value);
        if let Some(s) =
            starting.filter(|s| usize::try_from(s.value).unwrap_or(usize::MAX) > canary.steps.len())
        {
            sink.error(
                s.referenced,
                format!("{path}.analysis.startingStep"),
                format!(
                    "startingStep {} is past the last of {} steps",
                    s.value,
                    canary.steps.len()
                ),
            );
            ok = false;
        }
        let traffic = canary
            .traffic_routing
            .as_ref()
            .map_or(Some(Traffic::Replicas), |t| {
                traffic(sink, t, &format!("{path}.trafficRouting"))
            });
        ok &= traffic.is_some();
        if ok {
            out.push(RolloutStrategy {
                name: r.value.name.value.clone(),
                environments,
                steps,
                background: background.flatten(),
                background_from,
                traffic: traffic.unwrap_or_default(),
                on_failure: match canary.on_failure.as_ref().map(|o| o.value) {
                    Some(RawOnFailure::Pause) => OnFailure::Pause,
                    Some(RawOnFailure::Abort) | None => OnFailure::Abort,
                },
            });
        }
    }
    out
}

fn traffic(sink: &mut Sink, raw: &S<RawTraffic>, path: &str) -> Option<Traffic> {
    match (&raw.value.gateway_api, &raw.value.nginx) {
        (Some(_), Some(_)) => {
            sink.error(
                raw.referenced,
                path,
                "set one of gatewayAPI or nginx, not both",
            );
            None
        }
        (Some(g), None) => Some(Traffic::GatewayApi {
            http_route: g.value.http_route.value.clone(),
        }),
        (None, Some(n)) => Some(Traffic::Nginx {
            stable_ingress: n.value.stable_ingress.value.clone(),
        }),
        (None, None) => Some(Traffic::Replicas),
    }
}

fn canary_step(
    sink: &mut Sink,
    raw: &S<RawStep>,
    path: &str,
    templates: &Templates<'_>,
) -> Option<CanaryStep> {
    let s = &raw.value;
    let count = usize::from(s.set_weight.is_some())
        + usize::from(s.pause.is_some())
        + usize::from(s.analysis.is_some())
        + usize::from(s.set_canary_scale.is_some());
    if count != 1 {
        sink.error(
            raw.referenced,
            path,
            format!(
                "a canary step sets exactly one of setWeight, pause, analysis or setCanaryScale (found {count})"
            ),
        );
        return None;
    }
    if let Some(w) = &s.set_weight {
        return percent(sink, w, &format!("{path}.setWeight")).map(CanaryStep::SetWeight);
    }
    if let Some(p) = &s.pause {
        return match &p.value.duration {
            // Argo Rollouts reads a bare number as seconds.
            Some(d)
                if !d.value.trim().is_empty()
                    && d.value.trim().chars().all(|c| c.is_ascii_digit()) =>
            {
                let secs: u64 = d.value.trim().parse().ok()?;
                Some(CanaryStep::Pause(Some(std::time::Duration::from_secs(
                    secs,
                ))))
            }
            Some(d) => duration(sink, d, &format!("{path}.pause.duration"))
                .map(|d| CanaryStep::Pause(Some(d))),
            None => Some(CanaryStep::Pause(None)),
        };
    }
    if let Some(scale) = &s.set_canary_scale {
        return canary_scale(sink, scale, &format!("{path}.setCanaryScale"))
            .map(CanaryStep::SetCanaryScale);
    }
    let analysis = s.analysis.as_ref()?;
    analysis_ref(sink, analysis, &format!("{path}.analysis"), templates).map(CanaryStep::Analysis)
}

fn percent(sink: &mut Sink, w: &S<u32>, path: &str) -> Option<u32> {
    if w.value > 100 {
        sink.error(
            w.referenced,
            path,
            format!("weight {} is not a percentage (0 to 100)", w.value),
        );
        return None;
    }
    Some(w.value)
}

fn canary_scale(sink: &mut Sink, raw: &S<RawCanaryScale>, path: &str) -> Option<CanaryScale> {
    let c = &raw.value;
    match (&c.replicas, &c.weight, &c.match_traffic_weight) {
        (Some(r), None, None) => Some(CanaryScale::Replicas(r.value)),
        (None, Some(w), None) => {
            percent(sink, w, &format!("{path}.weight")).map(CanaryScale::Weight)
        }
        (None, None, Some(m)) if m.value => Some(CanaryScale::MatchTrafficWeight),
        _ => {
            sink.error(
                raw.referenced,
                path,
                "set exactly one of replicas, weight or matchTrafficWeight: true",
            );
            None
        }
    }
}

fn analysis_ref(
    sink: &mut Sink,
    raw: &S<RawAnalysis>,
    path: &str,
    templates: &Templates<'_>,
) -> Option<AnalysisRef> {
    let a = &raw.value;
    if a.templates.is_empty() {
        sink.error(
            raw.referenced,
            format!("{path}.templates"),
            "list at least one analysis template",
        );
        return None;
    }
    let args: Vec<(String, String)> = a
        .args
        .iter()
        .map(|g| {
            let value = g
                .value
                .value
                .as_ref()
                .map(|v| v.value.clone())
                .unwrap_or_default();
            (g.value.name.value.clone(), value)
        })
        .collect();
    let mut ok = true;
    let mut names = Vec::new();
    for (k, t) in a.templates.iter().enumerate() {
        let name = &t.value.template_name;
        let at = format!("{path}.templates[{k}].templateName");
        let Some(template) = templates.all.iter().find(|x| x.name == name.value) else {
            let known: Vec<&str> = templates.all.iter().map(|x| x.name.as_str()).collect();
            sink.error(
                name.referenced,
                at,
                format!(
                    "unknown analysis template \"{}\" (known: {})",
                    name.value,
                    known.join(", ")
                ),
            );
            ok = false;
            continue;
        };
        ok &= check(sink, (name.referenced, &at), template, &args, templates);
        names.push(name.value.clone());
    }
    ok.then_some(AnalysisRef {
        templates: names,
        args,
    })
}

/// The template's arguments resolve with `given`, and its conditions parse with them.
fn check(
    sink: &mut Sink,
    (at, path): (Location, &str),
    template: &AnalysisTemplate,
    given: &[(String, String)],
    templates: &Templates<'_>,
) -> bool {
    let mut args: Vec<(String, String)> = Vec::new();
    for (name, default) in &template.args {
        let value = given.iter().find(|(n, _)| n == name).map(|(_, v)| v);
        let Some(value) = value.or(default.as_ref()) else {
            sink.error(
                at,
                path,
                format!(
                    "template \"{}\" needs argument \"{name}\": pass it in args",
                    template.name
                ),
            );
            return false;
        };
        args.push((name.clone(), value.clone()));
    }
    let mut ok = true;
    for (j, m) in template.metrics.iter().enumerate() {
        if template.builtin && m.address.is_empty() {
            sink.error(
                at,
                path,
                format!(
                    "the built-in template \"{}\" needs gantry.yaml's prometheus.address",
                    template.name
                ),
            );
            return false;
        }
        ok &= check_metric(sink, (at, path), template, j, &args, templates);
    }
    ok
}

/// Metric `j` of `template`: its conditions parse and its queries use only declared arguments.
fn check_metric(
    sink: &mut Sink,
    (at, path): (Location, &str),
    template: &AnalysisTemplate,
    j: usize,
    args: &[(String, String)],
    templates: &Templates<'_>,
) -> bool {
    let m = &template.metrics[j];
    let raw = templates
        .raw
        .iter()
        .find(|t| t.value.name.value == template.name)
        .and_then(|t| t.value.metrics.get(j));
    let fields = [
        (
            "successCondition",
            m.success_condition.as_ref(),
            raw.and_then(|r| r.value.success_condition.as_ref()),
        ),
        (
            "failureCondition",
            m.failure_condition.as_ref(),
            raw.and_then(|r| r.value.failure_condition.as_ref()),
        ),
    ];
    let mut ok = true;
    for (field, text, spanned) in fields {
        let Some(text) = text else { continue };
        let (loc, shown) = match spanned {
            Some(s) => (
                s.referenced,
                format!(
                    "analysisTemplates[{}].metrics[{j}].{field}",
                    index(templates, &template.name)
                ),
            ),
            None => (at, format!("{path} ({}: {field})", template.name)),
        };
        let problem = match substitute(text, args) {
            Err(name) => Some(format!("unknown argument \"{name}\" in \"{text}\"")),
            Ok(resolved) => Condition::parse(&resolved)
                .err()
                .map(|e| format!("\"{resolved}\": {e}")),
        };
        if let Some(problem) = problem {
            sink.error(loc, shown, problem);
            ok = false;
        }
    }
    let queries = [Some(&m.query), m.min_samples.as_ref().map(|(q, _)| q)];
    for text in queries.into_iter().flatten() {
        if let Err(name) = substitute(text, args) {
            sink.error(
                at,
                path,
                format!(
                    "template \"{}\" metric \"{}\" uses argument \"{name}\", which it does not declare",
                    template.name, m.name
                ),
            );
            ok = false;
        }
    }
    ok
}

fn index(templates: &Templates<'_>, name: &str) -> usize {
    templates
        .raw
        .iter()
        .position(|t| t.value.name.value == name)
        .unwrap_or_default()
}
