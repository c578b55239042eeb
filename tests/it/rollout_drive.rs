//! Issue 18: a canary driven against the request-level API server and a real Prometheus (the
//! harness's, scraping an exporter the test controls): the canary Deployment follows the
//! weights (Argo's replica rounding), a healthy canary is promoted and its Deployment removed;
//! a canary whose errors jump to 20 % is aborted within (failureLimit + 1) intervals, its
//! Deployment removed at once, and the rollback request carries the measurements.

use std::time::{Duration, Instant};

use gantry::cluster::apply::{ApiTable, Applier};
use gantry::cluster::{self, SyncContext};
use gantry::rollout::analysis::{Metric, Phase};
use gantry::rollout::drive::{Canary, Outcome, reconcile};
use gantry::rollout::expr::Condition;
use gantry::rollout::machine::{State, Step, Strategy};
use serde_json::{Value, json};

use crate::fake_cluster::Cluster;
use crate::harness::prometheus::{Exporter, Prometheus};

const REPO: &str = "harbor.example.com/shop/web";

fn image(c: char) -> String {
    format!("{REPO}@sha256:{}", c.to_string().repeat(64))
}

fn now() -> u64 {
    u64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_millis(),
    )
    .expect("fits")
}

fn deployment() -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 10, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": image('a')}]}}}})
}

/// The stable Deployment as a sync applies it; returns the planned object (with gantry's
/// labels and tracking annotation), which the canary is copied from.
async fn stable(client: &kube::Client) -> (Applier, Value) {
    let table = ApiTable::discover(client).await.expect("discovery");
    let mut applier = Applier::new(client.clone(), table);
    applier
        .ensure_namespace("shop")
        .await
        .expect("namespace shop");
    let ctx = SyncContext::new("web", "dev", "shop", "0123abcd");
    let rendered = vec![(deployment(), "deployment.yaml".to_owned())];
    let plan = cluster::plan(rendered, &[], &applier.table.scopes(), &ctx).expect("plan");
    let planned = plan.objects().next().expect("one object").1.clone();
    applier
        .sync(&plan, &std::collections::HashMap::default())
        .await
        .expect("sync");
    (applier, planned)
}

fn strategy(address: &str) -> Strategy {
    let metric = Metric {
        name: "success-rate".into(),
        address: address.into(),
        query: r#"sum(rate(http_requests_total{status!="500"}[10s])) / sum(rate(http_requests_total[10s]))"#.into(),
        success: Some(Condition::parse("result[0] >= 0.99").expect("condition")),
        failure: None,
        interval: Some(Duration::from_secs(1)),
        count: Some(3),
        initial_delay: Duration::ZERO,
        failure_limit: 1,
        inconclusive_limit: 0,
        // A loaded CI machine may miss a scrape: an empty window is an error, tolerated.
        consecutive_error_limit: 10,
        consecutive_success_limit: None,
        dry_run: false,
        min_samples: None,
    };
    Strategy {
        steps: vec![
            Step::SetWeight(20),
            Step::Analysis(vec![metric]),
            Step::SetWeight(50),
            Step::Pause(Some(Duration::from_secs(1))),
        ],
        ..Strategy::default()
    }
}

/// The canary Deployment's replicas, `None` when it is gone (or being deleted).
async fn canary_replicas(client: &kube::Client) -> Option<u64> {
    let api: kube::Api<k8s_openapi::api::apps::v1::Deployment> =
        kube::Api::namespaced(client.clone(), "shop");
    let d = api.get_opt("web-canary").await.expect("GET the canary")?;
    if d.metadata.deletion_timestamp.is_some() {
        return None;
    }
    d.spec
        .and_then(|s| s.replicas)
        .and_then(|r| u64::try_from(r).ok())
}

fn new_canary() -> Canary {
    Canary {
        app: "web".into(),
        env: "dev".into(),
        namespace: "shop".into(),
        deployment: "web".into(),
        repository: REPO.into(),
        stable_image: image('a'),
        canary_image: image('b'),
        replicas: 10,
        traffic: gantry::config::Traffic::Replicas,
        routing: Vec::new(),
        state: State::start(now()),
        rollback: None,
    }
}

/// Reconciles until `done` says so, at most 60 s; records the canary replicas seen.
async fn run_until(
    c: &mut Canary,
    strategy: &Strategy,
    (applier, planned, client): (&Applier, &Value, &kube::Client),
    seen: &mut Vec<u64>,
    done: impl Fn(&Outcome, Option<u64>) -> bool,
) -> (Outcome, Duration) {
    let started = Instant::now();
    loop {
        let call = Instant::now();
        let outcome = reconcile(c, strategy, planned, applier, now)
            .await
            .expect("reconcile");
        let took = call.elapsed();
        let replicas = canary_replicas(client).await;
        if let Some(r) = replicas
            && seen.last() != Some(&r)
        {
            seen.push(r);
        }
        if done(&outcome, replicas) {
            return (outcome, took);
        }
        assert!(
            started.elapsed() < Duration::from_mins(1),
            "stuck: {outcome:?} {:?}",
            c.state
        );
        if let Outcome::Waiting(d) = outcome {
            tokio::time::sleep(d.min(Duration::from_millis(200))).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_issue_18_a_healthy_canary_is_promoted_and_a_bad_one_aborted() {
    let cluster = Cluster::default();
    cluster.add_namespace("shop");
    scenario(&cluster.client()).await;
}

/// The same scenario against a real kube-apiserver (and controller-manager, whose Deployment
/// controller and garbage collector act on the canary) from `GANTRY_KUBE_ASSETS`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_issue_18_envtest_a_healthy_canary_is_promoted_and_a_bad_one_aborted() {
    let Some(env) = crate::harness::envtest::Envtest::start().await else {
        return;
    };
    scenario(&env.client).await;
}

async fn scenario(client: &kube::Client) {
    let _one = crate::harness::prometheus::one_at_a_time().await;
    let exporter = Exporter::start().await;
    exporter.set_error_ratio(0.001);
    let prometheus = Prometheus::start(exporter.port).await;
    prometheus
        .wait_for(
            "sum(rate(http_requests_total[3s]))",
            Duration::from_secs(30),
            |v| v > 50.0,
        )
        .await
        .expect("Prometheus has the exporter's rate");
    let (applier, planned) = stable(client).await;
    let strategy = strategy(&prometheus.url());

    let mut healthy = new_canary();
    let mut seen = Vec::new();
    let (outcome, _) = run_until(
        &mut healthy,
        &strategy,
        (&applier, &planned, client),
        &mut seen,
        |o, _| matches!(o, Outcome::Promoted),
    )
    .await;
    assert!(matches!(outcome, Outcome::Promoted));
    assert_eq!(seen, [2, 5], "20 % and 50 % of 10 replicas");
    assert_eq!(
        healthy.stable_view(),
        (image('b').as_str(), 10),
        "the stable takes the new image"
    );
    assert_eq!(
        canary_replicas(client).await,
        None,
        "the canary Deployment is gone"
    );
    let run = healthy.state.step_run.clone();
    assert!(run.is_none());

    // A bad canary: errors jump to 20 % once the analysis has started.
    let mut bad = new_canary();
    let mut seen = Vec::new();
    run_until(
        &mut bad,
        &strategy,
        (&applier, &planned, client),
        &mut seen,
        |_, replicas| replicas == Some(2),
    )
    .await;
    exporter.set_error_ratio(0.2);
    prometheus
        .wait_for(r#"sum(rate(http_requests_total{status="500"}[3s])) / sum(rate(http_requests_total[3s]))"#, Duration::from_secs(30), |v| v > 0.05)
        .await
        .expect("errors show");
    let switched = Instant::now();
    let (outcome, _) = run_until(
        &mut bad,
        &strategy,
        (&applier, &planned, client),
        &mut seen,
        |o, _| matches!(o, Outcome::Aborted(_)),
    )
    .await;
    let removed_at = now();
    let Outcome::Aborted(request) = outcome else {
        panic!("expected an abort");
    };
    let measured_at = bad
        .state
        .step_run
        .as_ref()
        .and_then(|r| r.results[0].measurements.last())
        .map(|m| m.finished_at)
        .expect("the failing measurement");
    let abort_took = Duration::from_millis(removed_at.saturating_sub(measured_at));
    let failed: Vec<_> = bad
        .state
        .step_run
        .as_ref()
        .map(|r| {
            r.results[0]
                .measurements
                .iter()
                .filter(|m| m.phase == Phase::Failed)
                .count()
        })
        .into_iter()
        .collect();
    assert_eq!(failed, [2], "failureLimit 1: the second failure aborts");
    assert!(
        switched.elapsed() < Duration::from_secs(10),
        "aborted within the (failureLimit + 1) intervals once errors show: {:?}",
        switched.elapsed()
    );
    assert_eq!(
        canary_replicas(client).await,
        None,
        "the canary is removed at once"
    );
    assert_eq!(
        bad.stable_view(),
        (image('a').as_str(), 10),
        "the stable runs everything"
    );
    let trailers = request.trailers();
    assert_eq!(trailers.rejected.as_deref(), Some(image('b').as_str()));
    assert!(
        trailers
            .evidence
            .as_deref()
            .is_some_and(|e| e.starts_with("success-rate=[[")),
        "{trailers:?}"
    );
    println!(
        "failing measurement → canary Deployment deleted (weight 0): {} ms",
        abort_took.as_millis()
    );
    assert!(abort_took < Duration::from_millis(500), "{abort_took:?}");
}
