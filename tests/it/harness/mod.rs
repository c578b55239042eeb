//! Test harness with real components: git repos, Debian's docker-registry, Debian's Prometheus.
//! Every later area's tests build on these helpers; each helper has a test proving it works.

pub mod canary;
pub mod envtest;
pub mod forge;
pub mod git;
pub mod http_git;
pub mod logs;
pub mod prometheus;
pub mod registry;

use std::net::TcpListener;
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

/// A port on 127.0.0.1 that was free a moment ago. Servers that take an address on their
/// command line cannot be handed a bound socket, so callers retry when they lose the race.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral port on 127.0.0.1")
}

/// Fails with the Debian package to install when a binary a test needs is missing.
pub fn require_binary(path: &str, package: &str) {
    assert!(
        Path::new(path).exists(),
        "{path} is missing: install the Debian package `{package}` (apt-get install -y {package}); .ci/run does this"
    );
}

/// Polls `url` until it answers 2xx, the child exits, or `timeout` passes.
pub async fn wait_ready(child: &mut Child, url: &str, timeout: Duration) -> Result<(), String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .expect("build an HTTP client");
    let start = Instant::now();
    loop {
        // 401 counts as up: a server with authentication answers an anonymous probe so.
        if let Ok(resp) = client.get(url).send().await
            && (resp.status().is_success() || resp.status() == reqwest::StatusCode::UNAUTHORIZED)
        {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("exited with {status} before {url} answered"));
        }
        if start.elapsed() > timeout {
            return Err(format!("{url} did not answer 2xx within {timeout:?}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Kills a server child and reaps it; used by the harness guards' `Drop`.
pub fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}
