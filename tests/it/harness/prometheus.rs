//! Debian's `prometheus` on 127.0.0.1 (1 s scrape, temp TSDB) scraping an in-test exporter.
//!
//! The exporter simulates a service taking ~100 requests/s. The test sets the error ratio and
//! the latency while it runs; counters (`http_requests_total{status}`) and a histogram
//! (`http_request_duration_seconds`) follow, so PromQL over them returns what the test set.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use tempfile::TempDir;

use super::{free_port, require_binary, stop, wait_ready};

const BINARY: &str = "/usr/bin/prometheus";
/// Requests the exporter simulates per second.
pub const REQUESTS_PER_SECOND: u64 = 100;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: String,
}

struct ExporterState {
    /// Parts per million of requests answered 500.
    error_ppm: AtomicU64,
    latency_us: AtomicU64,
    registry: Mutex<prometheus_client::registry::Registry>,
    requests: Family<StatusLabel, Counter>,
    duration: Histogram,
}

/// The service whose health a rollout analysis would judge.
pub struct Exporter {
    state: Arc<ExporterState>,
    pub port: u16,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Exporter {
    pub async fn start() -> Self {
        let requests = Family::<StatusLabel, Counter>::default();
        let duration = Histogram::new([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0]);
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register("http_requests", "Requests by HTTP status", requests.clone());
        registry.register(
            "http_request_duration_seconds",
            "Request latency",
            duration.clone(),
        );
        let state = Arc::new(ExporterState {
            error_ppm: AtomicU64::new(0),
            latency_us: AtomicU64::new(50_000),
            registry: Mutex::new(registry),
            requests,
            duration,
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind exporter");
        let port = listener.local_addr().expect("exporter addr").port();
        let app = axum::Router::new()
            .route("/metrics", axum::routing::get(metrics))
            .with_state(state.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("exporter serves");
        });
        let traffic = tokio::spawn(simulate(state.clone()));
        Self {
            state,
            port,
            tasks: vec![server, traffic],
        }
    }

    /// Share of requests that fail from now on, 0.0 to 1.0.
    pub fn set_error_ratio(&self, ratio: f64) {
        assert!(
            (0.0..=1.0).contains(&ratio),
            "error ratio {ratio} is not within 0..=1"
        );
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        self.state
            .error_ppm
            .store((ratio * 1e6).round() as u64, Ordering::Relaxed);
    }

    /// Latency every request takes from now on.
    pub fn set_latency(&self, latency: Duration) {
        self.state.latency_us.store(
            u64::try_from(latency.as_micros()).expect("latency fits"),
            Ordering::Relaxed,
        );
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

async fn metrics(
    axum::extract::State(state): axum::extract::State<Arc<ExporterState>>,
) -> impl axum::response::IntoResponse {
    let mut body = String::new();
    prometheus_client::encoding::text::encode(
        &mut body,
        &state.registry.lock().expect("registry lock"),
    )
    .expect("encode metrics");
    (
        [(
            "content-type",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
}

/// Emits requests at a fixed rate. Errors are spread with an accumulator, not drawn at random,
/// so the observed ratio over any window is the configured one to within one request.
async fn simulate(state: Arc<ExporterState>) {
    let mut tick = tokio::time::interval(Duration::from_millis(1000 / REQUESTS_PER_SECOND));
    let mut credit_ppm = 0u64;
    loop {
        tick.tick().await;
        credit_ppm += state.error_ppm.load(Ordering::Relaxed);
        let status = if credit_ppm >= 1_000_000 {
            credit_ppm -= 1_000_000;
            "500"
        } else {
            "200"
        };
        state
            .requests
            .get_or_create(&StatusLabel {
                status: status.to_owned(),
            })
            .inc();
        #[allow(clippy::cast_precision_loss)]
        state
            .duration
            .observe(state.latency_us.load(Ordering::Relaxed) as f64 / 1e6);
    }
}

pub struct Prometheus {
    child: Child,
    _dir: TempDir,
    pub port: u16,
    http: reqwest::Client,
}

impl Prometheus {
    /// Starts Prometheus scraping `127.0.0.1:{target_port}/metrics` every second.
    pub async fn start(target_port: u16) -> Self {
        require_binary(BINARY, "prometheus");
        let mut last_error = String::new();
        for _ in 0..3 {
            let dir = TempDir::new().expect("temp dir for prometheus");
            let port = free_port();
            let config = dir.path().join("prometheus.yml");
            std::fs::write(
                &config,
                format!(
                    "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: exporter\n    static_configs:\n      - targets: ['127.0.0.1:{target_port}']\n"
                ),
            )
            .expect("write prometheus config");
            let log =
                std::fs::File::create(dir.path().join("prometheus.log")).expect("prometheus log");
            let mut child = Command::new(BINARY)
                .arg(format!("--config.file={}", config.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.path().join("tsdb").display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("clone log handle"))
                .stderr(log)
                .spawn()
                .expect("spawn prometheus");
            match wait_ready(
                &mut child,
                &format!("http://127.0.0.1:{port}/-/ready"),
                Duration::from_secs(30),
            )
            .await
            {
                Ok(()) => {
                    return Self {
                        child,
                        _dir: dir,
                        port,
                        http: reqwest::Client::new(),
                    };
                }
                Err(e) => {
                    stop(&mut child);
                    let log = std::fs::read_to_string(dir.path().join("prometheus.log"))
                        .unwrap_or_default();
                    last_error = format!("{e}\n--- prometheus log ---\n{log}");
                }
            }
        }
        panic!("prometheus did not start: {last_error}");
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// An instant query's single scalar result, or `None` when the result is empty.
    pub async fn query(&self, promql: &str) -> Option<f64> {
        let resp: serde_json::Value = self
            .http
            .get(format!("{}/api/v1/query", self.url()))
            .query(&[("query", promql)])
            .send()
            .await
            .expect("query prometheus")
            .json()
            .await
            .expect("prometheus answers JSON");
        assert_eq!(resp["status"], "success", "query {promql} failed: {resp}");
        let value = resp["data"]["result"].get(0)?["value"][1].as_str()?;
        value.parse().ok().filter(|v: &f64| v.is_finite())
    }

    /// Polls `promql` until its value satisfies `ok`; returns the last value seen.
    pub async fn wait_for(
        &self,
        promql: &str,
        timeout: Duration,
        ok: impl Fn(f64) -> bool,
    ) -> Result<f64, String> {
        let start = Instant::now();
        let mut last = None;
        while start.elapsed() < timeout {
            last = self.query(promql).await;
            if last.is_some_and(&ok) {
                return Ok(last.expect("checked above"));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        Err(format!(
            "{promql} never satisfied the condition within {timeout:?}; last value {last:?}"
        ))
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

const ERROR_RATIO: &str =
    r#"sum(rate(http_requests_total{status="500"}[3s])) / sum(rate(http_requests_total[3s]))"#;
const MEAN_LATENCY: &str = "sum(rate(http_request_duration_seconds_sum[3s])) / sum(rate(http_request_duration_seconds_count[3s]))";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promql_returns_the_rates_the_exporter_was_set_to() {
    let exporter = Exporter::start().await;
    exporter.set_error_ratio(0.1);
    exporter.set_latency(Duration::from_millis(200));
    let prometheus = Prometheus::start(exporter.port).await;

    let ratio = prometheus
        .wait_for(ERROR_RATIO, Duration::from_secs(30), |v| {
            (v - 0.1).abs() < 0.02
        })
        .await
        .expect("error ratio reaches 0.1");
    let latency = prometheus
        .wait_for(MEAN_LATENCY, Duration::from_secs(30), |v| {
            (v - 0.2).abs() < 0.001
        })
        .await
        .expect("mean latency reaches 200ms");
    println!("measured: error ratio {ratio:.4}, mean latency {latency:.4}s");

    // The test changes the service while Prometheus watches; the query follows.
    exporter.set_error_ratio(0.5);
    exporter.set_latency(Duration::from_millis(800));
    let ratio = prometheus
        .wait_for(ERROR_RATIO, Duration::from_secs(30), |v| {
            (v - 0.5).abs() < 0.02
        })
        .await
        .expect("error ratio follows to 0.5");
    let p99 = prometheus
        .wait_for(
            "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[3s])))",
            Duration::from_secs(30),
            |v| v > 0.5 && v <= 1.0,
        )
        .await
        .expect("p99 lands in the (0.5, 1] bucket");
    println!("measured after change: error ratio {ratio:.4}, p99 {p99:.4}s");
}

/// The canary scenarios each run a Prometheus, an exporter and a daemon against timing
/// conditions; on a 2-core CI machine several at once starve each other's scrapes. They take
/// this lock so that one runs at a time.
pub async fn one_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    static SCENARIOS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    SCENARIOS.lock().await
}
