//! Debian's `docker-registry` (CNCF distribution v2) on 127.0.0.1 with temp storage.
//! Started per test, stopped on drop; its log is kept in the temp dir for failure messages.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tempfile::TempDir;

use super::{free_port, require_binary, stop, wait_ready};

const BINARY: &str = "/usr/bin/docker-registry";

pub struct Registry {
    child: Child,
    dir: TempDir,
    pub port: u16,
}

impl Registry {
    pub async fn start() -> Self {
        Self::start_with(|_| String::new()).await
    }

    /// Starts with extra configuration (e.g. an `auth:` section) written by `extra`, which gets
    /// the registry's temp dir for any files the section refers to.
    pub async fn start_with(extra: impl Fn(&std::path::Path) -> String) -> Self {
        require_binary(BINARY, "docker-registry");
        let mut last_error = String::new();
        // A free port can be taken between probing and binding: try a few.
        for _ in 0..3 {
            let dir = TempDir::new().expect("temp dir for registry");
            let port = free_port();
            let config = dir.path().join("config.yml");
            std::fs::write(
                &config,
                format!(
                    "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n{}",
                    dir.path().join("data").display(),
                    extra(dir.path()),
                ),
            )
            .expect("write registry config");
            let log =
                std::fs::File::create(dir.path().join("registry.log")).expect("registry log file");
            let mut child = Command::new(BINARY)
                .arg("serve")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("clone log handle"))
                .stderr(log)
                .spawn()
                .expect("spawn docker-registry");
            match wait_ready(
                &mut child,
                &format!("http://127.0.0.1:{port}/v2/"),
                Duration::from_secs(15),
            )
            .await
            {
                Ok(()) => return Self { child, dir, port },
                Err(e) => {
                    stop(&mut child);
                    let log = std::fs::read_to_string(dir.path().join("registry.log"))
                        .unwrap_or_default();
                    last_error = format!("{e}\n--- registry log ---\n{log}");
                }
            }
        }
        panic!("docker-registry did not start: {last_error}");
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("registry.log")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

#[tokio::test]
async fn push_then_pull_a_blob_through_the_real_registry() {
    let registry = Registry::start().await;
    let http = reqwest::Client::new();
    let blob = b"gantry harness blob\n".repeat(100);
    let digest = sha256_digest(&blob);

    // Monolithic upload as the OCI distribution spec defines it: open a session, then PUT the
    // whole blob with its digest.
    let session = http
        .post(format!("{}/v2/harness/test/blobs/uploads/", registry.url()))
        .send()
        .await
        .expect("open upload session");
    assert_eq!(
        session.status(),
        202,
        "log at {}",
        registry.log_path().display()
    );
    let location = session
        .headers()
        .get("Location")
        .and_then(|v| v.to_str().ok())
        .expect("upload session Location header")
        .to_owned();
    let location = if location.starts_with('/') {
        format!("{}{location}", registry.url())
    } else {
        location
    };
    let resp = http
        .put(location)
        .query(&[("digest", digest.as_str())])
        .header("Content-Type", "application/octet-stream")
        .body(blob.clone())
        .send()
        .await
        .expect("upload request");
    assert_eq!(
        resp.status(),
        201,
        "upload refused; log at {}",
        registry.log_path().display()
    );
    assert_eq!(
        resp.headers()
            .get("Docker-Content-Digest")
            .and_then(|v| v.to_str().ok()),
        Some(digest.as_str())
    );

    let pulled = http
        .get(format!("{}/v2/harness/test/blobs/{digest}", registry.url()))
        .send()
        .await
        .expect("pull request");
    assert_eq!(pulled.status(), 200);
    assert_eq!(
        pulled.bytes().await.expect("blob body").as_ref(),
        blob.as_slice()
    );

    let missing = http
        .head(format!(
            "{}/v2/harness/test/blobs/{}",
            registry.url(),
            sha256_digest(b"absent")
        ))
        .send()
        .await
        .expect("head request");
    assert_eq!(missing.status(), 404);
}
