//! Argo Rollouts' analysis semantics, case by case (`analysis/analysis_test.go` and
//! `utils/evaluate/evaluate_test.go` describe the same cases).

use std::time::Duration;

use super::*;
use crate::rollout::run::Run;

fn cond(s: &str) -> Condition {
    Condition::parse(s).expect("condition parses")
}

fn metric(success: &str, failure: &str) -> Metric {
    Metric {
        name: "success-rate".into(),
        address: "http://127.0.0.1:9090".into(),
        query: "q".into(),
        success: (!success.is_empty()).then(|| cond(success)),
        failure: (!failure.is_empty()).then(|| cond(failure)),
        interval: Some(Duration::from_mins(1)),
        count: Some(5),
        initial_delay: Duration::ZERO,
        failure_limit: 0,
        inconclusive_limit: 0,
        consecutive_error_limit: DEFAULT_CONSECUTIVE_ERROR_LIMIT,
        consecutive_success_limit: None,
        dry_run: false,
        min_samples: None,
    }
}

fn vector(values: &[f64]) -> Value {
    Value::List(values.iter().map(|v| Value::Float(*v)).collect())
}

fn at(phase: Phase, finished_at: Millis) -> Measurement {
    Measurement {
        phase,
        started_at: finished_at,
        finished_at,
        value: String::new(),
        message: None,
    }
}

#[test]
fn one_measurement_from_its_conditions() {
    let both = metric("result[0] >= 0.99", "result[0] < 0.95");
    let only_success = metric("result[0] >= 0.99", "");
    let only_failure = metric("", "result[0] < 0.95");
    let none = metric("", "");
    let table = [
        (&both, vector(&[0.999]), Phase::Successful),
        (&both, vector(&[0.9]), Phase::Failed),
        (&both, vector(&[0.97]), Phase::Inconclusive),
        (&only_success, vector(&[0.97]), Phase::Failed),
        (&only_failure, vector(&[0.97]), Phase::Successful),
        (&none, vector(&[0.0]), Phase::Successful),
        // NaN: failed with only a success condition, inconclusive with both.
        (&only_success, vector(&[f64::NAN]), Phase::Failed),
        (&both, vector(&[f64::NAN]), Phase::Inconclusive),
        // An empty vector is an error, never a failure.
        (&both, vector(&[]), Phase::Error),
        (&only_success, vector(&[]), Phase::Error),
    ];
    for (m, value, want) in table {
        assert_eq!(assess(m, &value).0, want, "{value} under {m:?}");
    }
    let (_, why) = assess(&only_success, &vector(&[]));
    assert!(why.expect("a message").contains("returned no data"));
    // Both conditions true: failure wins.
    assert_eq!(
        assess(&metric("true", "true"), &Value::Nil).0,
        Phase::Failed
    );
    // A condition that is not boolean is an error.
    assert_eq!(
        assess(&metric("result[0]", ""), &vector(&[1.0])).0,
        Phase::Error
    );
}

#[test]
fn below_min_samples_a_measurement_is_inconclusive() {
    let mut m = metric("result[0] >= 0.99", "");
    m.min_samples = Some(MinSamples {
        query: "sum(increase(http_requests_total[1m]))".into(),
        min: 50.0,
    });
    assert_eq!(
        with_samples(Phase::Successful, &m, 10.0).0,
        Phase::Inconclusive
    );
    assert_eq!(with_samples(Phase::Failed, &m, 0.0).0, Phase::Inconclusive);
    assert_eq!(
        with_samples(Phase::Successful, &m, f64::NAN).0,
        Phase::Inconclusive
    );
    assert_eq!(
        with_samples(Phase::Successful, &m, 50.0).0,
        Phase::Successful
    );
    assert_eq!(with_samples(Phase::Error, &m, 0.0).0, Phase::Error);
}

#[test]
fn counters_follow_argo_errors_do_not_count() {
    let mut r = MetricResult::new("m");
    for phase in [
        Phase::Successful,
        Phase::Error,
        Phase::Error,
        Phase::Failed,
        Phase::Successful,
    ] {
        r.record(at(phase, 0));
    }
    assert_eq!(
        (
            r.count,
            r.successful,
            r.failed,
            r.error,
            r.consecutive_error,
            r.consecutive_success
        ),
        (3, 2, 1, 2, 0, 1)
    );
    for _ in 0..20 {
        r.record(at(Phase::Successful, 0));
    }
    assert_eq!(r.measurements.len(), KEPT);
}

#[test]
fn a_metric_fails_past_its_failure_limit_and_errs_past_its_error_limit() {
    let mut m = metric("result[0] >= 0.99", "");
    m.failure_limit = 1;
    let mut r = MetricResult::new("m");
    r.record(at(Phase::Failed, 0));
    assert_eq!(
        assess_metric(&m, &r, false),
        Phase::Running,
        "1 failure allowed"
    );
    r.record(at(Phase::Failed, 0));
    assert_eq!(assess_metric(&m, &r, false), Phase::Failed);
    let (_, why) = broken_limit(&m, &r).expect("a limit");
    assert_eq!(why, "failed (2) > failureLimit (1)");

    m.failure_limit = -1;
    assert_eq!(assess_metric(&m, &r, false), Phase::Running, "-1 disables");

    let mut e = MetricResult::new("m");
    for _ in 0..4 {
        e.record(at(Phase::Error, 0));
    }
    assert_eq!(
        assess_metric(&m, &e, false),
        Phase::Running,
        "4 errors allowed"
    );
    e.record(at(Phase::Error, 0));
    assert_eq!(assess_metric(&m, &e, false), Phase::Error);

    let mut i = MetricResult::new("m");
    i.record(at(Phase::Inconclusive, 0));
    assert_eq!(assess_metric(&m, &i, false), Phase::Inconclusive);
}

#[test]
fn count_and_consecutive_success_limits() {
    let mut m = metric("result[0] >= 0.99", "");
    m.count = Some(2);
    let mut r = MetricResult::new("m");
    r.record(at(Phase::Successful, 0));
    assert_eq!(assess_metric(&m, &r, false), Phase::Running);
    r.record(at(Phase::Successful, 0));
    assert_eq!(assess_metric(&m, &r, false), Phase::Successful);

    m.count = Some(3);
    m.failure_limit = 2;
    m.consecutive_success_limit = Some(2);
    let mut r = MetricResult::new("m");
    for phase in [Phase::Successful, Phase::Failed, Phase::Successful] {
        r.record(at(phase, 0));
    }
    assert_eq!(
        assess_metric(&m, &r, false),
        Phase::Inconclusive,
        "count reached, neither limit"
    );
    r.record(at(Phase::Successful, 0));
    m.count = Some(10);
    assert_eq!(
        assess_metric(&m, &r, false),
        Phase::Successful,
        "2 successes in a row"
    );

    // No count and no interval: measured once.
    let mut once = metric("true", "");
    once.count = None;
    once.interval = None;
    assert_eq!(once.effective_count(), Some(1));
    once.interval = Some(Duration::from_secs(1));
    assert_eq!(once.effective_count(), None);
}

#[test]
fn a_run_is_due_by_interval_retries_errors_after_ten_seconds_and_waits_initial_delay() {
    let mut m = metric("result[0] >= 0.99", "");
    m.initial_delay = Duration::from_secs(30);
    let metrics = [m];
    let mut run = Run::new(&metrics, 1_000);
    assert!(run.due(&metrics, 1_000).is_empty());
    assert_eq!(run.next_due(&metrics), Some(31_000));
    assert_eq!(run.due(&metrics, 31_000), [0]);
    run.record(&metrics, 0, at(Phase::Successful, 31_500));
    assert_eq!(run.next_due(&metrics), Some(91_500), "the 60 s interval");
    run.record(&metrics, 0, at(Phase::Error, 91_600));
    assert_eq!(
        run.next_due(&metrics),
        Some(101_600),
        "an error retries after 10 s"
    );
    assert_eq!(run.phase(&metrics).0, Phase::Running);
}

#[test]
fn the_run_ends_at_its_worst_metric_and_dry_run_metrics_never_decide() {
    let mut fast = metric("result[0] >= 0.99", "");
    fast.name = "errors".into();
    let mut slow = metric("true", "");
    slow.name = "latency".into();
    let mut shadow = metric("true", "");
    shadow.name = "shadow".into();
    shadow.dry_run = true;
    let metrics = [fast, slow, shadow];
    let mut run = Run::new(&metrics, 0);
    run.record(&metrics, 2, at(Phase::Failed, 1));
    assert_eq!(
        run.phase(&metrics).0,
        Phase::Running,
        "a dry-run failure decides nothing"
    );
    run.record(&metrics, 1, at(Phase::Successful, 1));
    run.record(&metrics, 0, at(Phase::Failed, 2));
    let (phase, message) = run.phase(&metrics);
    assert_eq!(phase, Phase::Failed, "a failed metric ends the run at once");
    assert_eq!(
        message,
        "metric \"errors\" assessed Failed due to failed (1) > failureLimit (0)"
    );
    assert!(
        run.due(&metrics, 1_000_000).is_empty(),
        "a terminating run measures no more"
    );
    assert_eq!(
        run.results[1].phase,
        Phase::Successful,
        "the others end successful"
    );
}

#[test]
fn a_terminated_run_without_measurements_is_successful() {
    let metrics = [metric("true", "")];
    let mut run = Run::new(&metrics, 0);
    run.terminate(&metrics);
    assert_eq!(run.phase(&metrics).0, Phase::Successful);
}
