//! One analysis run (stage ⑦, pure): which metrics are due now and when next, measurements
//! recorded into their metric's result, and the run's phase — the worst phase of the metrics
//! that decide it, dry-run ones aside (Argo's `generateMetricTasks`, `assessRunStatus` and
//! `calculateNextReconcileTime`).
//!
//! Input: the run's metric specs, its stored [`Run`] and the time. Output: the indexes of the
//! metrics to measure, the next due instant, and the run's [`Phase`] with its message.

use serde::{Deserialize, Serialize};

use super::analysis::{
    ERROR_RETRY, Measurement, Metric, MetricResult, Millis, Phase, assess_metric, broken_limit,
};

/// What a restarted daemon needs to resume the run where it was.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub started_at: Millis,
    pub results: Vec<MetricResult>,
    /// Asked to stop (the rollout moved on or was aborted): no new measurements.
    #[serde(default)]
    pub terminating: bool,
}

fn millis(d: std::time::Duration) -> Millis {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Run {
    #[must_use]
    pub fn new(metrics: &[Metric], now: Millis) -> Self {
        Self {
            started_at: now,
            results: metrics.iter().map(|m| MetricResult::new(&m.name)).collect(),
            terminating: false,
        }
    }

    /// Argo's `IsTerminating`: asked to stop, or a metric that decides the run ended failed,
    /// in error or inconclusive — the run then ends, whatever its other metrics do.
    #[must_use]
    pub fn is_terminating(&self, metrics: &[Metric]) -> bool {
        self.terminating
            || metrics.iter().zip(&self.results).any(|(m, r)| {
                !m.dry_run && matches!(r.phase, Phase::Failed | Phase::Error | Phase::Inconclusive)
            })
    }

    /// When metric `i` is next due, `None` when it is done.
    fn due_at(&self, metrics: &[Metric], i: usize) -> Option<Millis> {
        let (metric, r) = (metrics.get(i)?, self.results.get(i)?);
        if r.phase.completed() || self.is_terminating(metrics) {
            return None;
        }
        let Some(last) = r.last() else {
            return Some(self.started_at.saturating_add(millis(metric.initial_delay)));
        };
        if metric.effective_count().is_some_and(|c| r.count >= c) {
            return None;
        }
        let interval = if last.phase == Phase::Error {
            ERROR_RETRY
        } else {
            metric.interval?
        };
        Some(last.finished_at.saturating_add(millis(interval)))
    }

    /// The metrics to measure now.
    #[must_use]
    pub fn due(&self, metrics: &[Metric], now: Millis) -> Vec<usize> {
        (0..metrics.len())
            .filter(|i| self.due_at(metrics, *i).is_some_and(|at| at <= now))
            .collect()
    }

    /// The earliest instant a metric is due, `None` when none will be.
    #[must_use]
    pub fn next_due(&self, metrics: &[Metric]) -> Option<Millis> {
        (0..metrics.len())
            .filter_map(|i| self.due_at(metrics, i))
            .min()
    }

    /// Records a measurement of metric `i` and reassesses the metric.
    pub fn record(&mut self, metrics: &[Metric], i: usize, m: Measurement) {
        let (Some(metric), Some(r)) = (metrics.get(i), self.results.get_mut(i)) else {
            return;
        };
        r.record(m);
        r.phase = assess_metric(metric, r, false);
        if self.is_terminating(metrics) {
            self.end(metrics);
        }
    }

    /// Ends every metric still running, as Argo's assessment does once the run terminates.
    fn end(&mut self, metrics: &[Metric]) {
        for (metric, r) in metrics.iter().zip(&mut self.results) {
            r.phase = assess_metric(metric, r, true);
        }
    }

    /// Stops the run: metrics that were running end, as Argo ends them on termination.
    pub fn terminate(&mut self, metrics: &[Metric]) {
        self.terminating = true;
        self.end(metrics);
    }

    /// The run's phase: running while any deciding metric is, else the worst of them; with
    /// the message that says which metric and which limit.
    #[must_use]
    pub fn phase(&self, metrics: &[Metric]) -> (Phase, String) {
        let terminating = self.is_terminating(metrics);
        let mut worst: Option<(Phase, String)> = None;
        let mut everything_completed = true;
        for (metric, r) in metrics.iter().zip(&self.results) {
            let phase = assess_metric(metric, r, terminating);
            if !phase.completed() {
                everything_completed = false;
                continue;
            }
            if metric.dry_run {
                continue;
            }
            if worst.as_ref().is_none_or(|(w, _)| phase > *w) {
                let why = broken_limit(metric, r).map(|(_, m)| m).unwrap_or_default();
                let message = if why.is_empty() {
                    String::new()
                } else {
                    format!("metric \"{}\" assessed {phase} due to {why}", metric.name)
                };
                worst = Some((phase, message));
            }
        }
        match worst {
            _ if terminating && worst.is_none() => (Phase::Successful, String::new()),
            Some(w) if everything_completed || terminating => w,
            _ if everything_completed && metrics.iter().all(|m| m.dry_run) => {
                (Phase::Successful, String::new())
            }
            _ => (Phase::Running, String::new()),
        }
    }
}
