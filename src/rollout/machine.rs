//! The canary state machine (stage ⑦, pure): strategy, state and time in → the next thing to
//! do out. It never performs anything: the controller measures what it asks for, sets the
//! traffic to [`State::weight`], promotes or rolls back, and stores the state after every
//! change, so a restarted daemon resumes at the same step without repeating a finished step
//! or a counted measurement.
//!
//! Input: a [`Strategy`] (steps with resolved analysis metrics, background analysis, what a
//! failure does), the stored [`State`], the time, and events (a measurement, `promote`,
//! `abort`, `retry`). Output: [`Action`]s — measure these metrics, wait until, wait for a
//! human, promote, abort with the measurements that failed.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::analysis::{Measurement, Metric, Millis, Phase};
use super::run::Run;

/// One canary step, analysis templates resolved into metrics.
#[derive(Debug, Clone)]
pub enum Step {
    SetWeight(u32),
    /// `None`: until `gantry rollout promote`.
    Pause(Option<Duration>),
    Analysis(Vec<Metric>),
    /// Canary replicas decoupled from the traffic weight (traffic routing only).
    SetCanaryScale(CanaryScale),
}

pub use crate::config::model::{CanaryScale, OnFailure};

#[derive(Debug, Clone, Default)]
pub struct Strategy {
    pub steps: Vec<Step>,
    /// Analysis that runs from `background_from` (a step index) until the rollout ends.
    pub background: Vec<Metric>,
    pub background_from: usize,
    pub on_failure: OnFailure,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum RolloutPhase {
    #[default]
    Progressing,
    /// Held for a human: an inconclusive analysis, `onFailure: pause`, or a pause without a
    /// duration.
    Paused,
    Promoted,
    Aborted,
}

/// Which analysis a measurement belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RunKind {
    Step,
    Background,
}

/// What a restarted daemon needs to resume (kept in the state store).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub step: usize,
    pub step_started: Millis,
    /// Share of traffic (percent) the canary should get now.
    pub weight: u32,
    /// Canary replicas apart from the weight (`setCanaryScale`); `None` follows the weight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<Scale>,
    pub phase: RolloutPhase,
    /// Why it is paused or aborted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// A human said go on past the current pause.
    #[serde(default)]
    pub resume: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_run: Option<Run>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background: Option<Run>,
}

/// `setCanaryScale` as stored: a replica count or a percentage of the spec's replicas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scale {
    Replicas(u32),
    Weight(u32),
}

/// What the controller does next.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Take these measurements now, then record them.
    Measure(RunKind, Vec<usize>),
    /// Nothing to do before this instant.
    WaitUntil(Millis),
    /// Nothing happens until `promote`, `abort` or `retry`.
    WaitForHuman(String),
    /// Every step passed: stable gets the canary's image, canary objects go.
    Promote,
    /// Traffic back to stable at once, canary removed, the previous digest committed back.
    Abort {
        reason: String,
        evidence: Vec<Evidence>,
    },
    /// Promoted or aborted earlier: nothing to do.
    Finished,
}

/// One failing metric, as the rollback commit's `Gantry-Evidence` states it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    pub metric: String,
    pub query: String,
    /// The conditions, e.g. `result[0] >= 0.99`.
    pub condition: String,
    /// The last measured values, oldest first.
    pub values: Vec<String>,
    pub phase: Phase,
    /// Which limit broke, e.g. `failed (2) > failureLimit (1)`.
    pub limit: String,
}

fn millis(d: Duration) -> Millis {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl State {
    /// A rollout that starts now at its first step, canary at weight 0.
    #[must_use]
    pub fn start(now: Millis) -> Self {
        Self {
            step_started: now,
            ..Self::default()
        }
    }

    fn advance(&mut self, now: Millis) {
        self.step += 1;
        self.step_started = now;
        self.step_run = None;
        self.resume = false;
    }

    /// Records a measurement the controller took for `kind`'s metric `metric`.
    pub fn record(&mut self, strategy: &Strategy, kind: RunKind, metric: usize, m: Measurement) {
        match kind {
            RunKind::Step => {
                if let (Some(Step::Analysis(metrics)), Some(run)) =
                    (strategy.steps.get(self.step), self.step_run.as_mut())
                {
                    run.record(metrics, metric, m);
                }
            }
            RunKind::Background => {
                if let Some(run) = self.background.as_mut() {
                    run.record(&strategy.background, metric, m);
                }
            }
        }
    }

    /// `gantry rollout promote`: go on past a pause or an inconclusive analysis.
    pub fn promote(&mut self) {
        if matches!(self.phase, RolloutPhase::Progressing | RolloutPhase::Paused) {
            self.resume = true;
            self.phase = RolloutPhase::Progressing;
            self.message = None;
        }
    }

    /// `gantry rollout abort`.
    pub fn abort(&mut self, reason: &str) {
        if self.phase != RolloutPhase::Promoted {
            self.phase = RolloutPhase::Aborted;
            self.weight = 0;
            self.message = Some(reason.to_owned());
        }
    }

    /// `gantry rollout retry`: an aborted rollout starts over from its first step.
    pub fn retry(&mut self, now: Millis) {
        if self.phase == RolloutPhase::Aborted {
            *self = Self::start(now);
        }
    }
}

/// The next action for `state` at `now`; transitions that need no outside work (advancing past
/// a finished pause, a passed analysis, a weight) happen here, in `state`.
pub fn next(strategy: &Strategy, state: &mut State, now: Millis) -> Action {
    loop {
        match state.phase {
            RolloutPhase::Promoted | RolloutPhase::Aborted => return Action::Finished,
            RolloutPhase::Paused => {
                return Action::WaitForHuman(state.message.clone().unwrap_or_default());
            }
            RolloutPhase::Progressing => {}
        }
        if let Some(action) = background(strategy, state, now) {
            return action;
        }
        let Some(step) = strategy.steps.get(state.step) else {
            state.phase = RolloutPhase::Promoted;
            state.weight = 100;
            return Action::Promote;
        };
        match step {
            Step::SetWeight(w) => {
                state.weight = (*w).min(100);
                state.advance(now);
            }
            Step::SetCanaryScale(scale) => {
                state.scale = match scale {
                    CanaryScale::Replicas(n) => Some(Scale::Replicas(*n)),
                    CanaryScale::Weight(w) => Some(Scale::Weight((*w).min(100))),
                    CanaryScale::MatchTrafficWeight => None,
                };
                state.advance(now);
            }
            Step::Pause(_) if state.resume => state.advance(now),
            Step::Pause(None) => {
                return Action::WaitForHuman(format!(
                    "paused at step {} until `gantry rollout promote`",
                    state.step + 1
                ));
            }
            Step::Pause(Some(d)) => {
                let until = state.step_started.saturating_add(millis(*d));
                if now < until {
                    return Action::WaitUntil(until.min(soonest(strategy, state, until)));
                }
                state.advance(now);
            }
            Step::Analysis(metrics) => match analysis(strategy, state, metrics, now) {
                Some(action) => return action,
                None => state.advance(now),
            },
        }
    }
}

/// The background analysis: started at its step, its failures end the rollout like a step's.
fn background(strategy: &Strategy, state: &mut State, now: Millis) -> Option<Action> {
    let metrics = &strategy.background;
    if metrics.is_empty() || state.step < strategy.background_from {
        return None;
    }
    let run = state
        .background
        .get_or_insert_with(|| Run::new(metrics, now));
    let due = run.due(metrics, now);
    if !due.is_empty() {
        return Some(Action::Measure(RunKind::Background, due));
    }
    let (phase, message) = run.phase(metrics);
    verdict(
        strategy,
        state,
        metrics,
        RunKind::Background,
        phase,
        &message,
    )
}

/// `None` when the step's analysis passed; else what to do.
fn analysis(
    strategy: &Strategy,
    state: &mut State,
    metrics: &[Metric],
    now: Millis,
) -> Option<Action> {
    if state.resume {
        // A human promoted past this analysis.
        return None;
    }
    let run = state.step_run.get_or_insert_with(|| Run::new(metrics, now));
    let due = run.due(metrics, now);
    if !due.is_empty() {
        return Some(Action::Measure(RunKind::Step, due));
    }
    let (phase, message) = run.phase(metrics);
    let next = run.next_due(metrics).unwrap_or(now);
    if phase == Phase::Successful {
        return None;
    }
    if let Some(action) = verdict(strategy, state, metrics, RunKind::Step, phase, &message) {
        return Some(action);
    }
    Some(Action::WaitUntil(soonest(strategy, state, next)))
}

/// Aborts, pauses, or `None` to carry on, after a run's phase.
fn verdict(
    strategy: &Strategy,
    state: &mut State,
    metrics: &[Metric],
    kind: RunKind,
    phase: Phase,
    message: &str,
) -> Option<Action> {
    let which = match kind {
        RunKind::Step => format!("the analysis of step {}", state.step + 1),
        RunKind::Background => "the background analysis".to_owned(),
    };
    match phase {
        Phase::Failed | Phase::Error if strategy.on_failure == OnFailure::Abort => {
            let reason = format!("{which} {}: {message}", phase.as_str().to_lowercase());
            let run = match kind {
                RunKind::Step => state.step_run.as_ref(),
                RunKind::Background => state.background.as_ref(),
            };
            let evidence = run.map(|r| evidence(metrics, r)).unwrap_or_default();
            state.abort(&reason);
            Some(Action::Abort { reason, evidence })
        }
        Phase::Failed | Phase::Error | Phase::Inconclusive => {
            let reason = format!("{which} is {}: {message}", phase.as_str().to_lowercase());
            state.phase = RolloutPhase::Paused;
            state.message = Some(reason.clone());
            Some(Action::WaitForHuman(reason))
        }
        _ => None,
    }
}

/// The earlier of `until` and the background analysis's next measurement.
fn soonest(strategy: &Strategy, state: &State, until: Millis) -> Millis {
    state
        .background
        .as_ref()
        .and_then(|r| r.next_due(&strategy.background))
        .map_or(until, |b| b.min(until))
}

/// The metrics of `run` that failed or erred, with their last values and what they were held to.
fn evidence(metrics: &[Metric], run: &Run) -> Vec<Evidence> {
    metrics
        .iter()
        .zip(&run.results)
        .filter(|(m, r)| !m.dry_run && matches!(r.phase, Phase::Failed | Phase::Error))
        .map(|(m, r)| Evidence {
            metric: m.name.clone(),
            query: m.query.clone(),
            condition: [
                m.success.as_ref().map(|c| c.source().to_owned()),
                m.failure
                    .as_ref()
                    .map(|c| format!("fails if {}", c.source())),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("; "),
            values: r
                .measurements
                .iter()
                .map(|x| {
                    if x.value.is_empty() {
                        x.phase.as_str().to_lowercase()
                    } else {
                        x.value.clone()
                    }
                })
                .collect(),
            phase: r.phase,
            limit: super::analysis::broken_limit(m, r)
                .map(|(_, why)| why)
                .unwrap_or_default(),
        })
        .collect()
}

#[cfg(test)]
#[path = "machine_tests.rs"]
mod tests;
