//! Issue 18: analysis measurements against a real Prometheus (Debian's, from the harness)
//! scraping an exporter whose error ratio the test sets: a healthy canary passes, 20 % errors
//! fail it, an empty result and a bad query are errors (not failures), traffic below
//! `minSamples` is inconclusive, and a stopped Prometheus errs until `consecutiveErrorLimit`
//! ends the run in error.

use std::time::{Duration, Instant};

use gantry::rollout::analysis::{
    DEFAULT_CONSECUTIVE_ERROR_LIMIT, Measurement, Metric, MinSamples, Phase,
};
use gantry::rollout::expr::Condition;
use gantry::rollout::prometheus::Prometheus;
use gantry::rollout::run::Run;

use crate::harness::prometheus::{Exporter, Prometheus as Server};

const SUCCESS_RATE: &str =
    r#"sum(rate(http_requests_total{status!="500"}[3s])) / sum(rate(http_requests_total[3s]))"#;

fn now() -> u64 {
    u64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_millis(),
    )
    .expect("fits")
}

fn metric(query: &str, success: &str) -> Metric {
    Metric {
        name: "success-rate".into(),
        address: "http://127.0.0.1:9090".into(),
        query: query.into(),
        success: Some(Condition::parse(success).expect("condition")),
        failure: None,
        interval: Some(Duration::from_secs(1)),
        count: None,
        initial_delay: Duration::ZERO,
        failure_limit: 0,
        inconclusive_limit: 0,
        consecutive_error_limit: DEFAULT_CONSECUTIVE_ERROR_LIMIT,
        consecutive_success_limit: None,
        dry_run: false,
        min_samples: None,
    }
}

/// Measures until a measurement has `phase`, at most 30 s; returns it.
async fn until_phase(client: &Prometheus, m: &Metric, phase: Phase) -> Measurement {
    let started = Instant::now();
    loop {
        let measured = client.measure(m, now).await;
        if measured.phase == phase {
            return measured;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no {phase} measurement within 30 s; last {measured:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_issue_18_measurements_against_a_real_prometheus() {
    let exporter = Exporter::start().await;
    exporter.set_error_ratio(0.001);
    let server = Server::start(exporter.port).await;
    let client = Prometheus::new(&server.url()).expect("client");
    let rate = metric(SUCCESS_RATE, "result[0] >= 0.99");

    let healthy = until_phase(&client, &rate, Phase::Successful).await;
    let value: f64 = healthy
        .value
        .trim_matches(['[', ']'])
        .parse()
        .expect("one value");
    assert!(value >= 0.99, "{healthy:?}");

    exporter.set_error_ratio(0.2);
    let bad = until_phase(&client, &rate, Phase::Failed).await;
    println!("healthy {} → bad {}", healthy.value, bad.value);

    let empty = client
        .measure(
            &metric(
                r#"sum(rate(http_requests_total{status="404"}[3s]))"#,
                "result[0] >= 0.99",
            ),
            now,
        )
        .await;
    assert_eq!(empty.phase, Phase::Error, "{empty:?}");
    assert_eq!(empty.value, "[]");
    assert!(
        empty
            .message
            .as_deref()
            .is_some_and(|m| m.contains("no data")),
        "{empty:?}"
    );

    let refused = client
        .measure(&metric("sum(rate(", "result[0] >= 0.99"), now)
        .await;
    assert_eq!(refused.phase, Phase::Error);
    assert!(
        refused
            .message
            .as_deref()
            .is_some_and(|m| m.contains("bad_data")),
        "{refused:?}"
    );

    // A canary that gets no traffic: the success condition holds on the stable's numbers, but
    // the canary's own request count is below the floor.
    exporter.set_error_ratio(0.0);
    let mut quiet = metric(SUCCESS_RATE, "result[0] >= 0.99");
    quiet.min_samples = Some(MinSamples {
        query: r#"sum(increase(http_requests_total{pod="canary"}[3s]))"#.into(),
        min: 50.0,
    });
    let inconclusive = until_phase(&client, &quiet, Phase::Inconclusive).await;
    assert!(
        inconclusive
            .message
            .as_deref()
            .is_some_and(|m| m.contains("fewer than minSamples 50")),
        "{inconclusive:?}"
    );
    let mut busy = quiet.clone();
    busy.min_samples = Some(MinSamples {
        query: "sum(increase(http_requests_total[3s]))".into(),
        min: 50.0,
    });
    until_phase(&client, &busy, Phase::Successful).await;

    // Prometheus stops: every measurement errs; the fifth error in a row (limit 4) ends the
    // run in error, without one failure counted.
    let url = server.url();
    drop(server);
    let metrics = [rate];
    let mut run = Run::new(&metrics, now());
    for n in 1..=5 {
        let m = client.measure(&metrics[0], now).await;
        assert_eq!(m.phase, Phase::Error, "{m:?}");
        assert!(
            m.message
                .as_deref()
                .is_some_and(|t| t.contains("cannot reach Prometheus")),
            "{m:?}"
        );
        assert!(
            !m.message.as_deref().unwrap_or_default().contains("?query"),
            "no URL with the query"
        );
        run.record(&metrics, 0, m);
        let want = if n <= 4 { Phase::Running } else { Phase::Error };
        assert_eq!(run.phase(&metrics).0, want, "after {n} errors");
    }
    assert_eq!(run.results[0].failed, 0);
    assert_eq!(
        run.phase(&metrics).1,
        "metric \"success-rate\" assessed Error due to consecutiveErrors (5) > consecutiveErrorLimit (4)"
    );
    println!("Prometheus at {url} stopped: run ended in error after 5 errors");
}
