//! From gantry.yaml to a canary [`Strategy`] (stage ⑦): each analysis reference becomes the
//! metrics of its templates, `{{args.NAME}}` substituted and conditions parsed.
//!
//! Input: the validated config and a rollout strategy of it. Output: the [`Strategy`] the state
//! machine runs, or why it cannot be built (config validation checks the same, so this fails
//! only on a config that skipped it).

use crate::config::model::{
    AnalysisRef, AnalysisTemplate, CanaryStep, Config, RolloutStrategy, substitute,
};
use crate::core::expr::Condition;

use super::analysis::{Metric, MinSamples};
use super::machine::{Step, Strategy};

/// Why a strategy cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rollout {rollout}: {message}")]
pub struct SpecError {
    pub rollout: String,
    pub message: String,
}

/// The strategy `rollout` describes.
///
/// # Errors
///
/// An unknown template, a missing argument or a condition that does not parse.
pub fn strategy(config: &Config, rollout: &RolloutStrategy) -> Result<Strategy, SpecError> {
    let fail = |message: String| SpecError {
        rollout: rollout.name.clone(),
        message,
    };
    let mut steps = Vec::new();
    for step in &rollout.steps {
        steps.push(match step {
            CanaryStep::SetWeight(w) => Step::SetWeight(*w),
            CanaryStep::Pause(d) => Step::Pause(*d),
            CanaryStep::Analysis(a) => Step::Analysis(metrics(config, a).map_err(fail)?),
            CanaryStep::SetCanaryScale(s) => Step::SetCanaryScale(*s),
        });
    }
    let background = match &rollout.background {
        Some(a) => metrics(config, a).map_err(fail)?,
        None => Vec::new(),
    };
    Ok(Strategy {
        steps,
        background,
        background_from: usize::try_from(rollout.background_from).unwrap_or(usize::MAX),
        on_failure: rollout.on_failure,
    })
}

/// The metrics of every template `a` names, with `a`'s arguments.
///
/// # Errors
///
/// An unknown template, a missing or undeclared argument, a condition that does not parse.
pub fn metrics(config: &Config, a: &AnalysisRef) -> Result<Vec<Metric>, String> {
    let mut out = Vec::new();
    for name in &a.templates {
        let template = config
            .analysis_templates
            .iter()
            .find(|t| &t.name == name)
            .ok_or_else(|| format!("unknown analysis template \"{name}\""))?;
        out.extend(resolve(template, &a.args)?);
    }
    Ok(out)
}

fn resolve(template: &AnalysisTemplate, given: &[(String, String)]) -> Result<Vec<Metric>, String> {
    let mut args = Vec::new();
    for (name, default) in &template.args {
        let value = given
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
            .or(default.as_ref())
            .ok_or_else(|| format!("template \"{}\" needs argument \"{name}\"", template.name))?;
        args.push((name.clone(), value.clone()));
    }
    let text = |t: &str| {
        substitute(t, &args).map_err(|name| {
            format!(
                "template \"{}\" uses undeclared argument \"{name}\"",
                template.name
            )
        })
    };
    let condition = |c: &Option<String>| -> Result<Option<Condition>, String> {
        c.as_deref()
            .map(|c| Condition::parse(&text(c)?).map_err(|e| format!("condition \"{c}\": {e}")))
            .transpose()
    };
    template
        .metrics
        .iter()
        .map(|m| {
            Ok(Metric {
                name: m.name.clone(),
                address: m.address.clone(),
                query: text(&m.query)?,
                success: condition(&m.success_condition)?,
                failure: condition(&m.failure_condition)?,
                interval: m.interval,
                count: m.count,
                initial_delay: m.initial_delay,
                failure_limit: m.failure_limit,
                inconclusive_limit: m.inconclusive_limit,
                consecutive_error_limit: m.consecutive_error_limit,
                consecutive_success_limit: m.consecutive_success_limit,
                dry_run: m.dry_run,
                min_samples: m
                    .min_samples
                    .as_ref()
                    .map(|(q, min)| {
                        Ok::<_, String>(MinSamples {
                            query: text(q)?,
                            min: *min,
                        })
                    })
                    .transpose()?,
            })
        })
        .collect()
}
