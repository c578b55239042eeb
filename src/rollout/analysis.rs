//! Analysis runs (stage ⑦, pure), with Argo Rollouts' semantics (analysis/analysis.go,
//! utils/evaluate): one measurement's phase from its conditions, each metric's counters and
//! phase from its limits, the run's phase as the worst metric's, and when each metric is due.
//!
//! Input: [`Metric`] specs (conditions, interval, count, limits), measured values, the time.
//! Output: [`Measurement`]s with their phase, [`MetricResult`]s with counters and phase, the
//! run's [`Phase`] with the message that says why, and the next instant work is due.
//! Beyond Argo: `minSamples` — a measurement taken on fewer requests than that is inconclusive,
//! so a canary that gets no traffic never passes.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::expr::{Condition, Value};

/// An error is measured again after this long, whatever the interval (Argo's
/// `DefaultErrorRetryInterval`).
pub const ERROR_RETRY: Duration = Duration::from_secs(10);
/// Consecutive errors tolerated by default before the metric is in error.
pub const DEFAULT_CONSECUTIVE_ERROR_LIMIT: u32 = 4;

/// Milliseconds since the Unix epoch: what measurements are stamped with and state stores.
pub type Millis = u64;

/// The phase of a measurement, a metric or a run, best to worst (Argo's order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Default)]
pub enum Phase {
    Successful,
    Running,
    #[default]
    Pending,
    Inconclusive,
    Error,
    Failed,
}

impl Phase {
    #[must_use]
    pub fn completed(self) -> bool {
        !matches!(self, Self::Running | Self::Pending)
    }

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Successful => "Successful",
            Self::Running => "Running",
            Self::Pending => "Pending",
            Self::Inconclusive => "Inconclusive",
            Self::Error => "Error",
            Self::Failed => "Failed",
        }
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A traffic floor: the query counts requests, and a measurement on fewer is inconclusive.
#[derive(Debug, Clone, PartialEq)]
pub struct MinSamples {
    pub query: String,
    pub min: f64,
}

/// One metric of an analysis, its arguments already substituted.
#[derive(Debug, Clone)]
pub struct Metric {
    pub name: String,
    /// The Prometheus asked.
    pub address: String,
    pub query: String,
    pub success: Option<Condition>,
    pub failure: Option<Condition>,
    /// `None`: measured once (unless `count` says more).
    pub interval: Option<Duration>,
    pub count: Option<u32>,
    pub initial_delay: Duration,
    /// Failed measurements tolerated; negative disables the limit (default 0).
    pub failure_limit: i32,
    pub inconclusive_limit: u32,
    pub consecutive_error_limit: u32,
    pub consecutive_success_limit: Option<u32>,
    /// Measured and shown, but never decides the run.
    pub dry_run: bool,
    pub min_samples: Option<MinSamples>,
}

impl Metric {
    /// Argo's `EffectiveCount`: no count and no interval measures once; an interval without a
    /// count measures until the run ends.
    #[must_use]
    pub fn effective_count(&self) -> Option<u32> {
        match (self.count.filter(|c| *c > 0), self.interval) {
            (Some(c), _) => Some(c),
            (None, None) => Some(1),
            (None, Some(_)) => None,
        }
    }
}

/// One measurement, as kept in the run's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    pub phase: Phase,
    pub started_at: Millis,
    pub finished_at: Millis,
    /// The value as Prometheus gave it (`[0.997]`, `0.5`), empty on an error.
    pub value: String,
    /// Why it erred or was inconclusive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Argo's `EvaluateResult`: with both conditions, failure wins and neither true is
/// inconclusive; with only one, the other is its negation; with none, success. An
/// evaluation error (an empty vector indexed, a non-boolean condition) is an error, never a
/// failure.
#[must_use]
pub fn assess(metric: &Metric, result: &Value) -> (Phase, Option<String>) {
    let eval = |c: &Condition, which: &str| {
        c.eval(result).map_err(|e| {
            let empty =
                matches!(result, Value::Nil) || matches!(result, Value::List(l) if l.is_empty());
            if empty {
                format!(
                    "could not evaluate {which} \"{}\": the query returned no data",
                    c.source()
                )
            } else {
                format!("could not evaluate {which} \"{}\": {e}", c.source())
            }
        })
    };
    let success = metric.success.as_ref().map(|c| eval(c, "successCondition"));
    let failure = metric.failure.as_ref().map(|c| eval(c, "failureCondition"));
    let (success, failure) = match (success, failure) {
        (Some(Err(m)), _) | (_, Some(Err(m))) => return (Phase::Error, Some(m)),
        (None, None) => return (Phase::Successful, None),
        (Some(Ok(s)), None) => (s, !s),
        (None, Some(Ok(f))) => (!f, f),
        (Some(Ok(s)), Some(Ok(f))) => (s, f),
    };
    if failure {
        (Phase::Failed, None)
    } else if success {
        (Phase::Successful, None)
    } else {
        (
            Phase::Inconclusive,
            Some("neither successCondition nor failureCondition held".into()),
        )
    }
}

/// A measurement's phase once its traffic is known: fewer than `minSamples` requests make a
/// success or a failure inconclusive (no evidence either way); an error stays an error.
#[must_use]
pub fn with_samples(phase: Phase, metric: &Metric, samples: f64) -> (Phase, Option<String>) {
    match &metric.min_samples {
        Some(floor)
            if matches!(phase, Phase::Successful | Phase::Failed)
                && samples
                    .partial_cmp(&floor.min)
                    .is_none_or(std::cmp::Ordering::is_lt) =>
        {
            (
                Phase::Inconclusive,
                Some(format!(
                    "{samples} requests measured, fewer than minSamples {}",
                    floor.min
                )),
            )
        }
        _ => (phase, None),
    }
}

/// A metric's measurements and counters (Argo's `MetricResult`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MetricResult {
    pub name: String,
    pub phase: Phase,
    pub measurements: Vec<Measurement>,
    pub count: u32,
    pub successful: u32,
    pub failed: u32,
    pub inconclusive: u32,
    pub error: u32,
    pub consecutive_error: u32,
    pub consecutive_success: u32,
}

/// Measurements kept per metric: enough to show and to explain an abort.
pub const KEPT: usize = 10;

impl MetricResult {
    #[must_use]
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            ..Self::default()
        }
    }

    /// Counts `m` as Argo does (an error does not count toward `count`) and keeps it.
    pub fn record(&mut self, m: Measurement) {
        match m.phase {
            Phase::Successful => {
                self.successful += 1;
                self.count += 1;
                self.consecutive_error = 0;
                self.consecutive_success += 1;
            }
            Phase::Failed | Phase::Inconclusive => {
                if m.phase == Phase::Failed {
                    self.failed += 1;
                } else {
                    self.inconclusive += 1;
                }
                self.count += 1;
                self.consecutive_error = 0;
                self.consecutive_success = 0;
            }
            Phase::Error => {
                self.error += 1;
                self.consecutive_error += 1;
                self.consecutive_success = 0;
            }
            Phase::Running | Phase::Pending => return,
        }
        self.measurements.push(m);
        if self.measurements.len() > KEPT {
            self.measurements.remove(0);
        }
    }

    #[must_use]
    pub fn last(&self) -> Option<&Measurement> {
        self.measurements.last()
    }
}

/// Argo's `assessMetricFailureInconclusiveOrError`: the limit a metric broke, if any (the
/// error limit wins over inconclusive, inconclusive over failed, as there).
#[must_use]
pub fn broken_limit(metric: &Metric, r: &MetricResult) -> Option<(Phase, String)> {
    let mut out = None;
    if metric.failure_limit >= 0 && i64::from(r.failed) > i64::from(metric.failure_limit) {
        out = Some((
            Phase::Failed,
            format!(
                "failed ({}) > failureLimit ({})",
                r.failed, metric.failure_limit
            ),
        ));
    }
    if r.inconclusive > metric.inconclusive_limit {
        out = Some((
            Phase::Inconclusive,
            format!(
                "inconclusive ({}) > inconclusiveLimit ({})",
                r.inconclusive, metric.inconclusive_limit
            ),
        ));
    }
    if r.consecutive_error > metric.consecutive_error_limit {
        out = Some((
            Phase::Error,
            format!(
                "consecutiveErrors ({}) > consecutiveErrorLimit ({})",
                r.consecutive_error, metric.consecutive_error_limit
            ),
        ));
    }
    out
}

/// Argo's `assessMetricStatus`: the metric's phase after its latest measurement.
#[must_use]
pub fn assess_metric(metric: &Metric, r: &MetricResult, terminating: bool) -> Phase {
    if r.phase.completed() {
        return r.phase;
    }
    if r.measurements.is_empty() {
        return if terminating {
            Phase::Successful
        } else {
            Phase::Pending
        };
    }
    if let Some((phase, _)) = broken_limit(metric, r) {
        return phase;
    }
    let success_limit = metric.consecutive_success_limit.filter(|l| *l > 0);
    if success_limit.is_some_and(|l| r.consecutive_success >= l) {
        return Phase::Successful;
    }
    if metric.effective_count().is_some_and(|c| r.count >= c) {
        return match (success_limit, metric.failure_limit >= 0) {
            // Neither limit decided within the count.
            (Some(_), true) => Phase::Inconclusive,
            (Some(_), false) => Phase::Failed,
            (None, _) => Phase::Successful,
        };
    }
    if terminating {
        Phase::Successful
    } else {
        Phase::Running
    }
}

#[cfg(test)]
#[path = "analysis_tests.rs"]
mod tests;
