//! Every transition of the canary state machine, with plain data.

use std::time::Duration;

use super::*;
use crate::rollout::analysis::DEFAULT_CONSECUTIVE_ERROR_LIMIT;
use crate::rollout::expr::Condition;

fn metric(name: &str) -> Metric {
    Metric {
        name: name.into(),
        address: "http://127.0.0.1:9090".into(),
        query: format!("{name}_query"),
        success: Some(Condition::parse("result[0] >= 0.99").expect("condition")),
        failure: None,
        interval: Some(Duration::from_secs(10)),
        count: Some(3),
        initial_delay: Duration::ZERO,
        failure_limit: 1,
        inconclusive_limit: 0,
        consecutive_error_limit: DEFAULT_CONSECUTIVE_ERROR_LIMIT,
        consecutive_success_limit: None,
        dry_run: false,
        min_samples: None,
    }
}

fn measured(phase: Phase, value: &str, at: Millis) -> Measurement {
    Measurement {
        phase,
        started_at: at,
        finished_at: at,
        value: value.into(),
        message: None,
    }
}

fn canary() -> Strategy {
    Strategy {
        steps: vec![
            Step::SetWeight(20),
            Step::Pause(Some(Duration::from_mins(1))),
            Step::Analysis(vec![metric("success-rate")]),
            Step::SetWeight(50),
            Step::Pause(None),
        ],
        ..Strategy::default()
    }
}

/// Drives the machine, answering every measurement with `answer(now)`, until it asks for
/// something else than a measurement or a wait before `stop`. Returns that action.
fn drive(
    strategy: &Strategy,
    state: &mut State,
    now: &mut Millis,
    answer: impl Fn(Millis) -> (Phase, &'static str),
) -> Action {
    for _ in 0..1000 {
        match next(strategy, state, *now) {
            Action::Measure(kind, due) => {
                for i in due {
                    let (phase, value) = answer(*now);
                    state.record(strategy, kind, i, measured(phase, value, *now));
                }
            }
            Action::WaitUntil(at) => *now = at.max(*now + 1),
            other => return other,
        }
    }
    panic!("the machine did not settle in 1000 actions: {state:?}");
}

#[test]
fn a_healthy_canary_passes_every_step_and_is_promoted() {
    let strategy = canary();
    let mut state = State::start(0);
    let mut now = 0;
    assert_eq!(next(&strategy, &mut state, now), Action::WaitUntil(60_000));
    assert_eq!(
        (state.step, state.weight),
        (1, 20),
        "weight set, pausing 60 s"
    );
    now = 60_000;
    assert_eq!(
        next(&strategy, &mut state, now),
        Action::Measure(RunKind::Step, vec![0])
    );
    let waiting = drive(&strategy, &mut state, &mut now, |_| {
        (Phase::Successful, "[0.999]")
    });
    assert!(
        matches!(waiting, Action::WaitForHuman(ref m) if m.contains("step 5")),
        "{waiting:?}"
    );
    assert_eq!((state.step, state.weight), (4, 50));
    assert_eq!(now, 80_000, "three measurements 10 s apart");
    let run = state.step_run.clone();
    assert!(run.is_none(), "a passed analysis is left behind");
    state.promote();
    assert_eq!(next(&strategy, &mut state, now), Action::Promote);
    assert_eq!((state.phase, state.weight), (RolloutPhase::Promoted, 100));
    assert_eq!(next(&strategy, &mut state, now), Action::Finished);
}

#[test]
fn a_failing_analysis_aborts_within_failure_limit_plus_one_measurements() {
    let strategy = canary();
    let mut state = State::start(0);
    let mut now = 60_000;
    let _ = next(&strategy, &mut state, 0);
    let action = drive(&strategy, &mut state, &mut now, |_| {
        (Phase::Failed, "[0.8]")
    });
    let Action::Abort { reason, evidence } = action else {
        panic!("expected an abort, got {action:?}");
    };
    assert_eq!(
        now, 70_000,
        "failureLimit 1: the second failure, one interval later"
    );
    assert!(reason.contains("step 3"), "{reason}");
    assert_eq!(
        evidence,
        [Evidence {
            metric: "success-rate".into(),
            query: "success-rate_query".into(),
            condition: "result[0] >= 0.99".into(),
            values: vec!["[0.8]".into(), "[0.8]".into()],
            phase: Phase::Failed,
            limit: "failed (2) > failureLimit (1)".into(),
        }]
    );
    assert_eq!((state.phase, state.weight), (RolloutPhase::Aborted, 0));
    assert_eq!(next(&strategy, &mut state, now), Action::Finished);
    state.retry(now);
    assert_eq!((state.step, state.phase), (0, RolloutPhase::Progressing));
}

#[test]
fn errors_past_the_consecutive_error_limit_abort() {
    let strategy = canary();
    let mut state = State::start(0);
    let mut now = 60_000;
    let _ = next(&strategy, &mut state, 0);
    let action = drive(&strategy, &mut state, &mut now, |_| (Phase::Error, ""));
    assert!(
        matches!(&action, Action::Abort { reason, evidence } if reason.contains("consecutiveErrors (5)") && evidence[0].values.len() == 5),
        "{action:?}"
    );
    assert_eq!(now, 100_000, "errors are retried every 10 s");
}

#[test]
fn inconclusive_pauses_for_a_human_and_promote_goes_on() {
    let strategy = canary();
    let mut state = State::start(0);
    let mut now = 60_000;
    let _ = next(&strategy, &mut state, 0);
    let action = drive(&strategy, &mut state, &mut now, |_| {
        (Phase::Inconclusive, "[0.97]")
    });
    assert!(
        matches!(action, Action::WaitForHuman(ref m) if m.contains("inconclusive")),
        "{action:?}"
    );
    assert_eq!(state.phase, RolloutPhase::Paused);
    assert_eq!(
        state.weight, 20,
        "the canary keeps its traffic while paused"
    );
    assert!(matches!(
        next(&strategy, &mut state, now + 3_600_000),
        Action::WaitForHuman(_)
    ));
    state.promote();
    let _ = next(&strategy, &mut state, now);
    assert_eq!((state.step, state.weight), (4, 50), "past the analysis");
}

#[test]
fn on_failure_pause_holds_instead_of_aborting() {
    let strategy = Strategy {
        on_failure: OnFailure::Pause,
        ..canary()
    };
    let mut state = State::start(0);
    let mut now = 60_000;
    let _ = next(&strategy, &mut state, 0);
    let action = drive(&strategy, &mut state, &mut now, |_| {
        (Phase::Failed, "[0.5]")
    });
    assert!(
        matches!(action, Action::WaitForHuman(ref m) if m.contains("failed")),
        "{action:?}"
    );
    assert_eq!((state.phase, state.weight), (RolloutPhase::Paused, 20));
    state.abort("by hand");
    assert_eq!((state.phase, state.weight), (RolloutPhase::Aborted, 0));
    assert_eq!(state.message.as_deref(), Some("by hand"));
}

#[test]
fn background_analysis_runs_from_its_step_and_aborts_during_a_pause() {
    let mut bad = metric("errors");
    bad.count = None;
    let strategy = Strategy {
        steps: vec![
            Step::SetWeight(10),
            Step::Pause(Some(Duration::from_mins(10))),
        ],
        background: vec![bad],
        background_from: 1,
        on_failure: OnFailure::Abort,
    };
    let mut state = State::start(0);
    let mut now = 0;
    let action = drive(&strategy, &mut state, &mut now, |t| {
        if t < 30_000 {
            (Phase::Successful, "[1]")
        } else {
            (Phase::Failed, "[0.7]")
        }
    });
    assert!(
        matches!(&action, Action::Abort { reason, .. } if reason.contains("background")),
        "{action:?}"
    );
    assert_eq!(
        now, 40_000,
        "two failures from 30 s on, 10 s apart, well inside the pause"
    );
}

#[test]
fn a_dry_run_metric_never_aborts() {
    let mut shadow = metric("shadow");
    shadow.dry_run = true;
    let strategy = Strategy {
        steps: vec![Step::Analysis(vec![shadow])],
        ..Strategy::default()
    };
    let mut state = State::start(0);
    let mut now = 0;
    let action = drive(&strategy, &mut state, &mut now, |_| (Phase::Failed, "[0]"));
    assert_eq!(action, Action::Promote);
}

/// A daemon killed mid-analysis resumes from the stored state: the measurements taken count
/// once, and the next one is due one interval after the last, not at once.
#[test]
fn a_stored_state_resumes_without_repeating_a_measurement() {
    let strategy = canary();
    let mut state = State::start(0);
    let _ = next(&strategy, &mut state, 0);
    let now = 60_000;
    let Action::Measure(kind, due) = next(&strategy, &mut state, now) else {
        panic!("a measurement is due");
    };
    state.record(
        &strategy,
        kind,
        due[0],
        measured(Phase::Successful, "[1]", now),
    );
    let stored = serde_json::to_string(&state).expect("serialise");
    let mut restarted: State = serde_json::from_str(&stored).expect("deserialise");
    assert_eq!(restarted, state);
    assert_eq!(
        next(&strategy, &mut restarted, now + 5_000),
        Action::WaitUntil(70_000)
    );
    let run = restarted.step_run.as_ref().expect("the step's run");
    assert_eq!(run.results[0].count, 1);
    // Setting a weight again after a restart is a no-op: the step index moved past it.
    assert_eq!(restarted.step, 2);
}

#[test]
fn promote_during_a_timed_pause_skips_the_rest_of_it() {
    let strategy = canary();
    let mut state = State::start(0);
    let _ = next(&strategy, &mut state, 0);
    state.promote();
    assert_eq!(
        next(&strategy, &mut state, 1_000),
        Action::Measure(RunKind::Step, vec![0])
    );
    assert_eq!(state.step, 2);
}

#[test]
fn set_canary_scale_is_kept_apart_from_the_weight() {
    let strategy = Strategy {
        steps: vec![
            Step::SetCanaryScale(CanaryScale::Replicas(3)),
            Step::SetWeight(10),
            Step::SetCanaryScale(CanaryScale::Weight(150)),
            Step::Pause(None),
            Step::SetCanaryScale(CanaryScale::MatchTrafficWeight),
        ],
        ..Strategy::default()
    };
    let mut state = State::start(0);
    assert!(matches!(
        next(&strategy, &mut state, 0),
        Action::WaitForHuman(_)
    ));
    assert_eq!((state.weight, state.scale), (10, Some(Scale::Weight(100))));
    state.promote();
    assert_eq!(next(&strategy, &mut state, 0), Action::Promote);
    assert_eq!(
        state.scale, None,
        "matchTrafficWeight follows the weight again"
    );
}
