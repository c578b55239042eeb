//! The daemon's regressions from issue 14 (real git remote, request-level API server).

use std::time::Duration;

use serde_json::{Value, json};

use crate::daemon::{deployed, dev, metrics, start, until};

/// An API server that fails every request, as one that is down or refuses gantry does.
fn failing_cluster() -> kube::Client {
    crate::fake_cluster::respond(|_| {
        (
            500,
            json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "InternalError", "code": 500, "message": "etcdserver: request timed out"}),
        )
    })
}

fn failures(metrics: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| {
            l.strip_prefix(r#"gantry_syncs_total{app="web",env="dev",result="failure"} "#)
        })
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// At start-up the first pass syncs the tip; the poller's first report of the same commit must
/// not sync it again (it did, 30 ms later, whenever the first sync failed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_issue_14_a_failed_sync_is_not_repeated_by_the_pollers_first_report() {
    let (remote, _work, _) = deployed(&["a"]);
    let data = tempfile::tempdir().expect("data dir");
    let d = start(&remote.url(), data.path(), failing_cluster()).await;
    until(d.addr, "the first sync fails", |s: &Value| {
        dev(s)["phase"] == "failed"
    })
    .await;
    // The test daemon polls every 200 ms: ten polls find the same commit.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        failures(&metrics(d.addr).await),
        1,
        "one sync for one commit"
    );
    d.shutdown.cancel();
    d.task.await.expect("daemon stopped");
}
