//! Harbor's scan flow against an in-test server implementing exactly the documented v2.0
//! endpoints: trigger, poll the overview while the scan runs, fetch the report; 404 and a
//! failed scan.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use gantry::artifact::harbor::{Artifact, Harbor};
use gantry::git::Secret;
use serde_json::{Value, json};

const AUTH: &str = "Basic cm9ib3Qkc2hvcCtnYW50cnk6czNjcjN0"; // robot$shop+gantry:s3cr3t

#[derive(Clone, Default)]
pub struct Fake {
    pub calls: Arc<Mutex<Vec<String>>>,
    polls: Arc<Mutex<u32>>,
}

fn error(status: StatusCode, code: &str, message: &str) -> (StatusCode, Json<Value>) {
    (
        status,
        Json(json!({"errors": [{"code": code, "message": message}]})),
    )
}

/// Checks the robot account's credentials, then records the call as `line`.
fn admit(f: &Fake, h: &HeaderMap, line: String) -> Result<(), (StatusCode, Json<Value>)> {
    if h.get("authorization").and_then(|v| v.to_str().ok()) != Some(AUTH) {
        return Err(error(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "unauthorized",
        ));
    }
    f.calls.lock().expect("calls").push(line);
    Ok(())
}

type Params = Path<(String, String, String)>;

async fn scan(
    State(f): State<Fake>,
    h: HeaderMap,
    Path((p, r, reference)): Params,
) -> (StatusCode, Json<Value>) {
    if let Err(refused) = admit(&f, &h, format!("POST scan {p} {r} {reference}")) {
        return refused;
    }
    if reference.ends_with("nope") {
        return error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            &format!("artifact {p}/{r}@{reference} not found"),
        );
    }
    (StatusCode::ACCEPTED, Json(Value::Null))
}

async fn artifact(
    State(f): State<Fake>,
    h: HeaderMap,
    Path((p, r, reference)): Params,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> (StatusCode, Json<Value>) {
    if let Err(refused) = admit(&f, &h, format!("GET overview {p} {r} {reference}")) {
        return refused;
    }
    assert_eq!(
        query.get("with_scan_overview").map(String::as_str),
        Some("true")
    );
    let mut polls = f.polls.lock().expect("polls");
    *polls += 1;
    let status = if reference.ends_with("broken") {
        "Error"
    } else if *polls < 3 {
        "Running"
    } else {
        "Success"
    };
    (
        StatusCode::OK,
        Json(
            json!({"digest": reference, "scan_overview": {"application/vnd.security.vulnerability.report; version=1.1": {
        "report_id": "f3a9", "scan_status": status, "severity": "Critical", "duration": 9, "summary": {"total": 3, "fixable": 1}}}}),
        ),
    )
}

async fn report(
    State(f): State<Fake>,
    h: HeaderMap,
    Path((p, r, reference)): Params,
) -> (StatusCode, Json<Value>) {
    if let Err(refused) = admit(&f, &h, format!("GET report {p} {r} {reference}")) {
        return refused;
    }
    let text = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scan/harbor.json"),
    )
    .expect("fixture");
    (
        StatusCode::OK,
        Json(serde_json::from_slice(&text).expect("json")),
    )
}

pub async fn serve() -> (String, Fake) {
    let fake = Fake::default();
    let base = "/api/v2.0/projects/{p}/repositories/{r}/artifacts/{reference}";
    let app = Router::new()
        .route(&format!("{base}/scan"), post(scan))
        .route(base, get(artifact))
        .route(&format!("{base}/additions/vulnerabilities"), get(report))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    (url, fake)
}

fn web(reference: &str) -> Artifact {
    Artifact {
        project: "shop".into(),
        repository: "team/web".into(),
        reference: reference.into(),
    }
}

#[tokio::test]
async fn a_scan_is_triggered_polled_until_done_and_its_report_normalised() {
    let (url, fake) = serve().await;
    let harbor = Harbor::new(&url, "robot$shop+gantry", Secret::new("s3cr3t")).expect("client");
    let report = harbor.scan(&web("sha256:abc")).await.expect("scan");
    assert_eq!(report.findings.len(), 3);
    assert_eq!(report.findings[0].id, "CVE-2024-6119");
    let calls = fake.calls.lock().expect("calls").clone();
    // The repository arrives encoded once more than a path segment needs: Harbor's rule for `/`.
    assert_eq!(
        calls,
        [
            "POST scan shop team%2Fweb sha256:abc",
            "GET overview shop team%2Fweb sha256:abc",
            "GET overview shop team%2Fweb sha256:abc",
            "GET overview shop team%2Fweb sha256:abc",
            "GET report shop team%2Fweb sha256:abc",
        ]
    );
}

#[tokio::test]
async fn not_found_failed_scans_timeouts_and_bad_credentials_are_errors() {
    let (url, _fake) = serve().await;
    let harbor = Harbor::new(&url, "robot$shop+gantry", Secret::new("s3cr3t")).expect("client");
    let err = harbor.scan(&web("sha256:nope")).await.expect_err("404");
    assert_eq!(
        err.to_string(),
        "Harbor, shop/team/web@sha256:nope: 404 Not Found: artifact shop/team%2Fweb@sha256:nope not found"
    );
    let err = harbor
        .scan(&web("sha256:broken"))
        .await
        .expect_err("failed scan");
    assert_eq!(
        err.to_string(),
        "Harbor, shop/team/web@sha256:broken: the scan ended with status Error"
    );

    let (url, _fake) = serve().await;
    let mut slow = Harbor::new(&url, "robot$shop+gantry", Secret::new("s3cr3t")).expect("client");
    slow.timeout = Duration::from_millis(100);
    let err = slow.scan(&web("sha256:abc")).await.expect_err("timeout");
    assert!(
        err.to_string()
            .ends_with("the scan was still Running after 0 s"),
        "{err}"
    );

    let wrong = Harbor::new(&url, "robot$shop+gantry", Secret::new("guess")).expect("client");
    let err = wrong.scan(&web("sha256:abc")).await.expect_err("401");
    assert_eq!(
        err.to_string(),
        "Harbor, shop/team/web@sha256:abc: 401 Unauthorized: unauthorized"
    );
    assert!(!err.to_string().contains("guess"));
}
