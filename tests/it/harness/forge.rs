//! A forge double: the pull request endpoints gantry uses of GitHub (`/api/v3`), GitLab
//! (`/api/v4`) and Gitea (`/api/v1`), served on 127.0.0.1 over one real bare remote. No forge
//! can run in CI, so this one behaves as the real ones do where gantry depends on it: the
//! token in each forge's own header (401 with its own body otherwise), a pull request only
//! from a branch that exists in the git remote, one open pull request per head branch (422 /
//! 409 with the forge's words), Gitea labels by id. Every request is recorded for the test
//! to assert method, path, auth header and payload.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::git::git;

pub const TOKEN: &str = "forge-token-7f3a";

#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// Raw path, as sent (GitLab's `shop%2Fconfig` stays encoded).
    pub path: String,
    pub query: String,
    /// The credential header the forge reads, as sent.
    pub auth: Option<String>,
    pub body: Value,
}

#[derive(Debug, Clone)]
pub struct Pull {
    pub number: u64,
    pub head: String,
    pub base: String,
    pub title: String,
    pub body: String,
    pub labels: Vec<String>,
    pub comments: Vec<String>,
    pub open: bool,
}

#[derive(Default)]
struct State {
    pulls: Vec<Pull>,
    seen: Vec<Seen>,
    /// Answers every create with this status and body instead.
    refuse_create: Option<(u16, Value)>,
}

pub struct Forge {
    pub kind: &'static str,
    pub url: String,
    remote: PathBuf,
    state: Arc<Mutex<State>>,
    _server: tokio::task::JoinHandle<()>,
}

impl Forge {
    /// A `kind` forge (`github`, `gitlab`, `gitea`) hosting `shop/config` over `remote`.
    pub async fn start(kind: &'static str, remote: PathBuf) -> Self {
        let state = Arc::new(Mutex::new(State::default()));
        let (s, r) = (Arc::clone(&state), remote.clone());
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let (s, r) = (Arc::clone(&s), r.clone());
                async move { answer(kind, &s, &r, &method, &uri, &headers, &body) }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the forge double");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("forge double");
        });
        Self {
            kind,
            url,
            remote,
            state,
            _server: server,
        }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().expect("forge state").seen.clone()
    }

    pub fn pulls(&self) -> Vec<Pull> {
        self.state.lock().expect("forge state").pulls.clone()
    }

    pub fn refuse_create(&self, status: u16, body: Value) {
        self.state.lock().expect("forge state").refuse_create = Some((status, body));
    }

    /// Merges pull request `number` as the forge's merge button does: a merge commit of its
    /// head into its base on the remote; the pull request closes.
    pub fn merge(&self, number: u64) {
        let pull = {
            let mut s = self.state.lock().expect("forge state");
            let p = s
                .pulls
                .iter_mut()
                .find(|p| p.number == number)
                .expect("pull");
            p.open = false;
            p.clone()
        };
        let dir = tempfile::TempDir::new().expect("merge dir");
        let url = format!("file://{}", self.remote.display());
        git(dir.path(), &["clone", "--quiet", &url, "m"]);
        let m = dir.path().join("m");
        git(&m, &["checkout", "--quiet", &pull.base]);
        git(&m, &["fetch", "--quiet", "origin", &pull.head]);
        git(
            &m,
            &[
                "-c",
                "user.name=forge",
                "-c",
                "user.email=forge@example.com",
                "merge",
                "--no-ff",
                "--quiet",
                "-m",
                &format!("Merge pull request #{number} from {}", pull.head),
                "FETCH_HEAD",
            ],
        );
        git(&m, &["push", "--quiet", "origin", &pull.base]);
    }

    fn branch_exists(remote: &std::path::Path, branch: &str) -> bool {
        std::process::Command::new("git")
            .arg("--git-dir")
            .arg(remote)
            .args([
                "rev-parse",
                "--verify",
                "--quiet",
                &format!("refs/heads/{branch}"),
            ])
            .output()
            .is_ok_and(|o| o.status.success())
    }
}

fn reply(status: u16, body: &Value) -> axum::response::Response {
    (
        StatusCode::from_u16(status).expect("status"),
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// The forge's 401 body when the token is wrong or missing.
fn unauthorized(kind: &str) -> Value {
    match kind {
        "github" => {
            json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest", "status": "401"})
        }
        "gitlab" => json!({"message": "401 Unauthorized"}),
        _ => {
            json!({"message": "token is required", "url": "https://gitea.example.com/api/swagger"})
        }
    }
}

fn answer(
    kind: &'static str,
    state: &Mutex<State>,
    remote: &std::path::Path,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> axum::response::Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let auth = if kind == "gitlab" {
        header("private-token")
    } else {
        header("authorization")
    };
    let payload: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let mut st = state.lock().expect("forge state");
    st.seen.push(Seen {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: uri.query().unwrap_or_default().to_owned(),
        auth: auth.clone(),
        body: payload.clone(),
    });
    let expected = match kind {
        "github" => format!("Bearer {TOKEN}"),
        "gitlab" => TOKEN.to_owned(),
        _ => format!("token {TOKEN}"),
    };
    if auth.as_deref() != Some(expected.as_str()) {
        return reply(401, &unauthorized(kind));
    }
    let prefix = match kind {
        "github" => "/api/v3/repos/shop/config",
        "gitlab" => "/api/v4/projects/shop%2Fconfig",
        _ => "/api/v1/repos/shop/config",
    };
    let Some(rest) = uri.path().strip_prefix(prefix) else {
        return reply(404, &json!({"message": "Not Found"}));
    };
    let parts: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
    route(
        kind,
        &mut st,
        remote,
        method.as_str(),
        &parts,
        uri.query(),
        &payload,
    )
}

fn route(
    kind: &str,
    st: &mut State,
    remote: &std::path::Path,
    method: &str,
    parts: &[&str],
    query: Option<&str>,
    payload: &Value,
) -> axum::response::Response {
    let pulls_word = if kind == "gitlab" {
        "merge_requests"
    } else {
        "pulls"
    };
    let number = |text: &str| text.parse::<u64>().ok();
    match (method, parts) {
        ("GET", [word]) if *word == pulls_word => list(kind, st, query),
        ("POST", [word]) if *word == pulls_word => create(kind, st, remote, payload),
        ("PATCH" | "PUT", [word, id]) if *word == pulls_word => edit(kind, st, number(id), payload),
        ("POST", [word, id, sub])
            if (*word == "issues" && *sub == "comments")
                || (*word == "merge_requests" && *sub == "notes") =>
        {
            let Some(pull) = st.pulls.iter_mut().find(|p| number(id) == Some(p.number)) else {
                return reply(404, &json!({"message": "Not Found"}));
            };
            let said = payload["body"].as_str().unwrap_or_default().to_owned();
            pull.comments.push(said);
            reply(201, &json!({"id": 1, "body": payload["body"]}))
        }
        ("POST", ["issues", id, "labels"]) => label(kind, st, number(id), payload),
        ("GET", ["labels"]) if kind == "gitea" => reply(
            200,
            &Value::from(
                GITEA_LABELS
                    .iter()
                    .map(|(id, name)| json!({"id": id, "name": name, "color": "00aabb"}))
                    .collect::<Vec<_>>(),
            ),
        ),
        _ => reply(404, &json!({"message": "Not Found"})),
    }
}

fn list(kind: &str, st: &State, query: Option<&str>) -> axum::response::Response {
    let pairs: Vec<(String, String)> = query
        .map(|q| {
            q.split('&')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.replace("%3A", ":").replace("%2F", "/")))
                .collect()
        })
        .unwrap_or_default();
    let param = |k: &str| {
        pairs
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    let head = match kind {
        "github" => param("head").and_then(|h| h.strip_prefix("shop:").map(str::to_owned)),
        "gitlab" => param("source_branch"),
        _ => None,
    };
    let open: Vec<Value> = st
        .pulls
        .iter()
        .filter(|p| p.open && head.as_ref().is_none_or(|h| *h == p.head))
        .map(|p| render(kind, p))
        .collect();
    reply(200, &Value::from(open))
}

fn edit(
    kind: &str,
    st: &mut State,
    number: Option<u64>,
    payload: &Value,
) -> axum::response::Response {
    let Some(pull) = st.pulls.iter_mut().find(|p| number == Some(p.number)) else {
        return reply(404, &json!({"message": "Not Found"}));
    };
    let body_key = if kind == "gitlab" {
        "description"
    } else {
        "body"
    };
    if let Some(title) = payload["title"].as_str() {
        title.clone_into(&mut pull.title);
    }
    if let Some(body) = payload[body_key].as_str() {
        body.clone_into(&mut pull.body);
    }
    let shown = render(kind, pull);
    reply(200, &shown)
}

fn label(
    kind: &str,
    st: &mut State,
    number: Option<u64>,
    payload: &Value,
) -> axum::response::Response {
    let Some(pull) = st.pulls.iter_mut().find(|p| number == Some(p.number)) else {
        return reply(404, &json!({"message": "Not Found"}));
    };
    for given in payload["labels"].as_array().into_iter().flatten() {
        let name = match (kind, given) {
            ("gitea", Value::Number(id)) => GITEA_LABELS
                .iter()
                .find(|(i, _)| Some(*i) == id.as_u64())
                .map_or_else(|| format!("#{id}"), |(_, n)| (*n).to_owned()),
            (_, Value::String(name)) => name.clone(),
            (_, other) => other.to_string(),
        };
        pull.labels.push(name);
    }
    reply(200, &json!([]))
}

/// The labels the Gitea double's repository has.
const GITEA_LABELS: [(u64, &str); 2] = [(11, "gantry"), (12, "promotion")];

fn create(
    kind: &str,
    st: &mut State,
    remote: &std::path::Path,
    json: &Value,
) -> axum::response::Response {
    if let Some((status, body)) = &st.refuse_create {
        return reply(*status, body);
    }
    let (head_key, base_key, body_key) = match kind {
        "gitlab" => ("source_branch", "target_branch", "description"),
        _ => ("head", "base", "body"),
    };
    let head = json[head_key].as_str().unwrap_or_default().to_owned();
    let base = json[base_key].as_str().unwrap_or_default().to_owned();
    if !Forge::branch_exists(remote, &head) {
        return match kind {
            "github" => reply(
                422,
                &json!({"message": "Validation Failed", "errors": [{"resource": "PullRequest", "field": "head", "code": "invalid"}], "documentation_url": "https://docs.github.com/rest/pulls/pulls#create-a-pull-request"}),
            ),
            "gitlab" => reply(
                422,
                &json!({"message": ["Source branch \"".to_owned() + &head + "\" does not exist"]}),
            ),
            _ => reply(
                404,
                &json!({"message": "The target couldn't be found.", "url": "https://gitea.example.com/api/swagger"}),
            ),
        };
    }
    if let Some(open) = st.pulls.iter().find(|p| p.open && p.head == head) {
        return match kind {
            "github" => reply(
                422,
                &json!({"message": "Validation Failed", "errors": [{"resource": "PullRequest", "code": "custom", "message": format!("A pull request already exists for shop:{head}.")}], "documentation_url": "https://docs.github.com/rest/pulls/pulls#create-a-pull-request"}),
            ),
            "gitlab" => reply(
                409,
                &json!({"message": [format!("Another open merge request already exists for this source branch: !{}", open.number)]}),
            ),
            _ => reply(
                409,
                &json!({"message": format!("pull request already exists for these targets [id: {0}, issue_id: {0}, head_repo_id: 1, base_repo_id: 1, head_branch: {head}, base_branch: {base}]", open.number), "url": "https://gitea.example.com/api/swagger"}),
            ),
        };
    }
    let number = u64::try_from(st.pulls.len()).expect("count") + 1;
    let labels = match (kind, &json["labels"]) {
        ("gitlab", Value::String(l)) => l.split(',').map(str::to_owned).collect(),
        _ => Vec::new(),
    };
    let pull = Pull {
        number,
        head,
        base,
        title: json["title"].as_str().unwrap_or_default().to_owned(),
        body: json[body_key].as_str().unwrap_or_default().to_owned(),
        labels,
        comments: Vec::new(),
        open: true,
    };
    let shown = render(kind, &pull);
    st.pulls.push(pull);
    reply(201, &shown)
}

fn render(kind: &str, p: &Pull) -> Value {
    match kind {
        "gitlab" => json!({
            "iid": p.number, "id": 1000 + p.number, "state": "opened",
            "web_url": format!("https://gitlab.example.com/shop/config/-/merge_requests/{}", p.number),
            "title": p.title, "description": p.body, "source_branch": p.head, "target_branch": p.base,
        }),
        _ => json!({
            "number": p.number, "id": 1000 + p.number, "state": "open",
            "html_url": format!("https://{kind}.example.com/shop/config/pull/{}", p.number),
            "title": p.title, "body": p.body,
            "head": {"ref": p.head}, "base": {"ref": p.base},
        }),
    }
}
