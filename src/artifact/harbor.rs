//! Harbor's scan API (v2.0): trigger a scan, wait for it, fetch the report.
//!
//! Input: the Harbor base URL, robot-account credentials, and an artifact (project,
//! repository, digest or tag). Output: the normalised [`Report`]. Endpoints used, as
//! documented in Harbor's v2.0 swagger:
//! - `POST /api/v2.0/projects/{p}/repositories/{r}/artifacts/{ref}/scan` (202 accepted)
//! - `GET  /api/v2.0/projects/{p}/repositories/{r}/artifacts/{ref}?with_scan_overview=true`
//! - `GET  /api/v2.0/projects/{p}/repositories/{r}/artifacts/{ref}/additions/vulnerabilities`
//!
//! Repository names containing `/` are URL-encoded twice, as Harbor requires.

use std::time::Duration;

use serde_json::Value;

use super::ArtifactError;
use super::scan::Report;
use crate::git::Secret;

/// How often the scan overview is polled while the scan runs.
const POLL: Duration = Duration::from_millis(500);

pub struct Harbor {
    base: String,
    username: String,
    password: Secret,
    http: reqwest::Client,
    /// Longest wait for one scan.
    pub timeout: Duration,
}

/// One artifact in Harbor.
#[derive(Debug, Clone)]
pub struct Artifact {
    pub project: String,
    pub repository: String,
    /// `sha256:…` or a tag.
    pub reference: String,
}

impl Artifact {
    fn path(&self) -> String {
        let twice = |s: &str| s.replace('%', "%25").replace('/', "%252F");
        format!(
            "/api/v2.0/projects/{}/repositories/{}/artifacts/{}",
            self.project,
            twice(&self.repository),
            self.reference
        )
    }
}

impl Harbor {
    pub fn new(base: &str, username: &str, password: Secret) -> Result<Self, ArtifactError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| ArtifactError::Harbor {
                what: "client".into(),
                message: e.to_string(),
            })?;
        Ok(Self {
            base: base.trim_end_matches('/').to_string(),
            username: username.to_string(),
            password,
            http,
            timeout: Duration::from_mins(10),
        })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
    ) -> Result<reqwest::Response, ArtifactError> {
        self.http
            .request(method, format!("{}{path}", self.base))
            .basic_auth(&self.username, Some(self.password.expose()))
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| ArtifactError::Harbor {
                what: path.to_string(),
                message: e.without_url().to_string(),
            })
    }

    async fn check(
        &self,
        response: reqwest::Response,
        what: &str,
    ) -> Result<reqwest::Response, ArtifactError> {
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        // Harbor answers errors as {"errors":[{"code":"NOT_FOUND","message":"…"}]}.
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let message = body["errors"][0]["message"]
            .as_str()
            .unwrap_or("")
            .to_string();
        Err(ArtifactError::Harbor {
            what: what.to_string(),
            message: format!(
                "{status}{}{message}",
                if message.is_empty() { "" } else { ": " }
            ),
        })
    }

    /// Scans `artifact` (or reuses a scan already running) and returns its report.
    pub async fn scan(&self, artifact: &Artifact) -> Result<Report, ArtifactError> {
        let path = artifact.path();
        let shown = format!(
            "{}/{}@{}",
            artifact.project, artifact.repository, artifact.reference
        );
        let started = self
            .call(reqwest::Method::POST, &format!("{path}/scan"))
            .await?;
        // 409 would mean "a scan is already running": waiting for it is just as good.
        if started.status() != reqwest::StatusCode::CONFLICT {
            self.check(started, &shown).await?;
        }
        let deadline = tokio::time::Instant::now() + self.timeout;
        loop {
            let overview = self
                .check(
                    self.call(
                        reqwest::Method::GET,
                        &format!("{path}?with_scan_overview=true"),
                    )
                    .await?,
                    &shown,
                )
                .await?;
            let body: Value = overview.json().await.map_err(|e| ArtifactError::Harbor {
                what: shown.clone(),
                message: e.to_string(),
            })?;
            let status = body["scan_overview"]
                .as_object()
                .and_then(|m| m.values().next())
                .and_then(|o| o["scan_status"].as_str())
                .unwrap_or("Pending")
                .to_string();
            match status.as_str() {
                "Success" => break,
                "Error" | "Stopped" => {
                    return Err(ArtifactError::Harbor {
                        what: shown,
                        message: format!("the scan ended with status {status}"),
                    });
                }
                _ if tokio::time::Instant::now() >= deadline => {
                    return Err(ArtifactError::Harbor {
                        what: shown,
                        message: format!(
                            "the scan was still {status} after {} s",
                            self.timeout.as_secs()
                        ),
                    });
                }
                _ => tokio::time::sleep(POLL).await,
            }
        }
        let report = self
            .check(
                self.call(
                    reqwest::Method::GET,
                    &format!("{path}/additions/vulnerabilities"),
                )
                .await?,
                &shown,
            )
            .await?;
        let bytes = report.bytes().await.map_err(|e| ArtifactError::Harbor {
            what: shown.clone(),
            message: e.to_string(),
        })?;
        Report::parse(&shown, &bytes)
    }
}
