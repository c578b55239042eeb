//! Smart HTTP for a bare remote: `git http-backend` (git's own CGI server side) behind an axum
//! server on 127.0.0.1 that demands one `Authorization` header value, as a forge demands a
//! token. Lets tests run fetches and pushes with credentials end to end, minus TLS.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use tokio::io::AsyncWriteExt as _;

#[derive(Clone)]
struct Backend {
    root: PathBuf,
    want: String,
}

/// A running server; stops when dropped.
pub struct HttpGit {
    pub port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl HttpGit {
    /// Serves the bare repos under `root` (e.g. `/remote.git`) to requests carrying exactly
    /// `authorization`.
    pub async fn start(root: &Path, authorization: &str) -> Self {
        let state = Backend {
            root: root.to_path_buf(),
            want: authorization.to_string(),
        };
        let app = axum::Router::new().fallback(cgi).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1");
        let port = listener.local_addr().expect("local addr").port();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve smart http");
        });
        Self { port, task }
    }

    pub fn url(&self, repo: &str) -> String {
        format!("http://127.0.0.1:{}/{repo}", self.port)
    }
}

impl Drop for HttpGit {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn cgi(State(b): State<Backend>, req: Request) -> Response {
    let given = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    if given != Some(b.want.as_str()) {
        return Response::builder()
            .status(StatusCode::UNAUTHORIZED)
            .header("www-authenticate", "Basic realm=\"git\"")
            .body(Body::empty())
            .expect("response");
    }
    let (parts, body) = req.into_parts();
    let body: Bytes = axum::body::to_bytes(body, 64 << 20)
        .await
        .expect("read body");
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let mut child = tokio::process::Command::new("git")
        .arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GIT_PROJECT_ROOT", &b.root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_COUNT", "1")
        .env("GIT_CONFIG_KEY_0", "http.receivepack")
        .env("GIT_CONFIG_VALUE_0", "true")
        .env("REQUEST_METHOD", parts.method.as_str())
        .env("PATH_INFO", parts.uri.path())
        .env("QUERY_STRING", parts.uri.query().unwrap_or(""))
        .env("CONTENT_TYPE", header("content-type"))
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("HTTP_CONTENT_ENCODING", header("content-encoding"))
        .env("GIT_PROTOCOL", header("git-protocol"))
        .env("REMOTE_USER", "gantry-test")
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run git http-backend");
    let mut stdin = child.stdin.take().expect("stdin");
    let feed = tokio::spawn(async move {
        let _ = stdin.write_all(&body).await;
    });
    let out = child.wait_with_output().await.expect("http-backend output");
    let _ = feed.await;
    parse_cgi(&out.stdout)
}

/// CGI output: headers (`Status:` among them), a blank line, the body.
fn parse_cgi(raw: &[u8]) -> Response {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)));
    let Some((end, sep)) = split else {
        return Response::builder()
            .status(StatusCode::BAD_GATEWAY)
            .body(Body::empty())
            .expect("response");
    };
    let mut resp = Response::builder().status(StatusCode::OK);
    for line in String::from_utf8_lossy(&raw[..end]).lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.trim();
        if k.eq_ignore_ascii_case("status") {
            let code = v
                .split(' ')
                .next()
                .and_then(|c| c.parse().ok())
                .unwrap_or(500);
            resp = resp
                .status(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
        } else if let Ok(value) = HeaderValue::from_str(v) {
            resp = resp.header(k, value);
        }
    }
    resp.body(Body::from(raw[end + sep..].to_vec()))
        .expect("response")
}
