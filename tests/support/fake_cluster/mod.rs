//! An in-memory stand-in for the Kubernetes API at request level, answering as an API server
//! with its controllers does for what gantry uses (see [`controllers`] for what happens beside
//! the request): discovery, label-selected LIST, GET, POST, server-side apply and
//! merge PATCH, DELETE for the kinds in [`objects::KINDS`]; coordination.k8s.io Leases with
//! server-side apply's conflict rule for `spec.holderIdentity` (an apply without force by
//! another field manager that would change it answers 409 Conflict), which is what leader
//! election relies on; Events are recorded. Clients made from one [`Cluster`] share its state,
//! as replicas share an API server: in-process through kube's tower-test mock
//! ([`Cluster::client`]), or over HTTP on 127.0.0.1 for a gantry process started with a
//! kubeconfig ([`Cluster::serve_http`]). Shared by the tests and the daemon bench
//! (`#[path]`-included).

pub mod controllers;
mod lease;
pub mod objects;
mod watch;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use http::{Request, Response};
use kube::client::Body;
use serde_json::{Value, json};

/// Objects of one kind by (namespace, name), as etcd would hold them; cluster-scoped objects
/// have namespace "".
pub type Store = Arc<Mutex<BTreeMap<(String, String), Value>>>;

/// When each object PATCH arrived, for latency measurements.
pub type Patches = Arc<Mutex<Vec<Instant>>>;

/// Leases by (namespace, name), with the field manager owning `spec.holderIdentity`.
pub type Leases = Arc<Mutex<BTreeMap<(String, String), (Value, Option<String>)>>>;

/// One API server's state; every client of it talks to the same objects.
#[derive(Clone, Default)]
pub struct Cluster {
    /// ConfigMaps.
    pub store: Store,
    /// Pods; no kubelet runs them, so they have no status.
    pub pods: Store,
    /// Every other kind, by plural resource name.
    pub others: Arc<Mutex<BTreeMap<String, Store>>>,
    pub leases: Leases,
    pub patches: Patches,
    /// Events created through `events.k8s.io/v1`, in order.
    pub events: Arc<Mutex<Vec<Value>>>,
    /// Requests answered so far: resourceVersions count up from it.
    pub rv: Arc<AtomicU64>,
    /// LIST requests of objects answered (watches not counted).
    pub lists: Arc<AtomicU64>,
    /// Writes answered, and the count the controllers last acted on: they act only after a
    /// write, so reads cost them nothing.
    pub writes: Arc<AtomicU64>,
    pub reconciled: Arc<AtomicU64>,
    /// Fault injection: this many next server-side applies (PATCH) are answered 500, as a
    /// real server does while etcd is unavailable.
    pub failing_applies: Arc<AtomicU64>,
}

impl Cluster {
    pub fn client(&self) -> kube::Client {
        let cluster = self.clone();
        streaming(Arc::default(), move |req| cluster.reply(req))
    }

    /// A watch (`?watch=true`) is answered with a stream of events; anything else as JSON.
    fn reply(&self, req: &Seen) -> Reply {
        let watching = req.method == "GET"
            && req
                .query
                .split('&')
                .any(|p| p == "watch=true" || p == "watch=1");
        if let Some(body) = watching.then(|| watch::stream(self, req)).flatten() {
            Reply::Stream(body)
        } else if req.method == "PATCH"
            && self
                .failing_applies
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
        {
            Reply::Json(
                500,
                json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                    "message": "etcdserver: request timed out", "reason": "InternalError", "code": 500}),
            )
        } else {
            let (status, value) = self.handle(req);
            Reply::Json(status, value)
        }
    }

    /// A client that goes silent when the flag is set: a replica that crashed without
    /// releasing anything.
    pub fn crashable_client(&self) -> (kube::Client, Arc<AtomicBool>) {
        let silent = Arc::new(AtomicBool::new(false));
        let cluster = self.clone();
        let client = streaming(Arc::clone(&silent), move |req| cluster.reply(req));
        (client, silent)
    }

    /// Creates Namespace `name`, as `kubectl create namespace` would: writes in a namespace
    /// that does not exist are refused (404), as a real server's `NamespaceLifecycle` does.
    pub fn add_namespace(&self, name: &str) {
        self.objects("namespaces").lock().expect("namespaces").insert(
            (String::new(), name.to_owned()),
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "uid": format!("uid-ns-{name}")}}),
        );
    }

    /// The objects of a kind other than ConfigMaps and Pods.
    pub fn objects(&self, resource: &str) -> Store {
        self.others
            .lock()
            .expect("stores")
            .entry(resource.to_owned())
            .or_default()
            .clone()
    }

    /// Serves this API over plain HTTP on 127.0.0.1 until the runtime ends; returns the URL.
    pub async fn serve_http(&self) -> String {
        let cluster = self.clone();
        let app = axum::Router::new().fallback(
            move |method: http::Method,
                  uri: http::Uri,
                  headers: http::HeaderMap,
                  body: axum::body::Bytes| {
                let cluster = cluster.clone();
                async move {
                    let seen = Seen::new(&method, &uri, &headers, &body);
                    into_response(cluster.reply(&seen))
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake API server");
        let addr = listener.local_addr().expect("address");
        tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
        format!("http://{addr}")
    }

    /// Answers one request: Events, Leases, or objects.
    fn handle(&self, req: &Seen) -> (u16, Value) {
        let rv = self.rv.fetch_add(1, Ordering::SeqCst) + 101;
        let lease_path: Vec<&str> = req
            .path
            .strip_prefix("/apis/coordination.k8s.io/v1/namespaces/")
            .map(|rest| rest.split('/').collect())
            .unwrap_or_default();
        let is_event = req.method == "POST"
            && req.path.starts_with("/apis/events.k8s.io/v1/namespaces/")
            && req.path.ends_with("/events");
        let namespace = req
            .path
            .split('/')
            .skip_while(|p| *p != "namespaces")
            .nth(1)
            .unwrap_or_default();
        let writes = matches!(req.method.as_str(), "POST" | "PATCH");
        if writes
            && (is_event || !lease_path.is_empty())
            && !objects::namespace_exists(self, namespace)
        {
            return (
                404,
                json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404,
                    "message": format!("namespaces \"{namespace}\" not found")}),
            );
        }
        if is_event {
            self.events.lock().expect("events").push(req.body.clone());
            (201, req.body.clone())
        } else if let [namespace, "leases", name @ ..] = lease_path.as_slice() {
            lease::lease(
                &self.leases,
                &lease::LeaseRequest {
                    method: &req.method,
                    namespace,
                    name: name.first().copied(),
                    query: &req.query,
                    content_type: &req.content_type,
                    body: &req.body,
                },
            )
        } else {
            if req.method == "PATCH" {
                self.patches.lock().expect("patches").push(Instant::now());
            }
            // The controllers act between requests, as they do a moment after a write.
            controllers::reconcile(self, &rv.to_string());
            let answered = objects::answer(self, rv, req);
            if matches!(req.method.as_str(), "POST" | "PATCH" | "PUT" | "DELETE") {
                self.writes.fetch_add(1, Ordering::SeqCst);
            }
            answered
        }
    }
}

fn not_found(what: &str) -> (u16, Value) {
    (
        404,
        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": what}),
    )
}

/// One request as the API server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: String,
    pub content_type: String,
    /// JSON (or YAML, for apply patches); `null` when empty.
    pub body: Value,
}

impl Seen {
    fn new(method: &http::Method, uri: &http::Uri, headers: &http::HeaderMap, body: &[u8]) -> Self {
        Self {
            method: method.to_string(),
            path: uri.path().to_owned(),
            query: uri.query().unwrap_or_default().to_owned(),
            content_type: headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned(),
            body: serde_json::from_slice(body)
                .or_else(|_| serde_saphyr::from_slice(body))
                .unwrap_or(Value::Null),
        }
    }
}

/// What the fake answers: a JSON body, or a stream of watch events.
pub enum Reply {
    Json(u16, Value),
    Stream(axum::body::Body),
}

fn into_response(reply: Reply) -> Response<axum::body::Body> {
    let (status, body) = match reply {
        Reply::Json(status, value) => (
            status,
            axum::body::Body::from(serde_json::to_vec(&value).expect("json")),
        ),
        Reply::Stream(body) => (200, body),
    };
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(body)
        .expect("response")
}

/// A client whose every request `answer` answers with (status, JSON body): the tower-test
/// loop every request-level test server here shares.
pub fn respond(answer: impl FnMut(&Seen) -> (u16, Value) + Send + 'static) -> kube::Client {
    respond_until(Arc::default(), answer)
}

/// As [`respond`], but once `silent` is set no request is answered any more, as when the
/// client's process froze or its network went away: requests hang, nothing reaches the state.
pub fn respond_until(
    silent: Arc<AtomicBool>,
    mut answer: impl FnMut(&Seen) -> (u16, Value) + Send + 'static,
) -> kube::Client {
    streaming(silent, move |req| {
        let (status, value) = answer(req);
        Reply::Json(status, value)
    })
}

fn streaming(
    silent: Arc<AtomicBool>,
    mut answer: impl FnMut(&Seen) -> Reply + Send + 'static,
) -> kube::Client {
    let (service, mut handle) =
        tower_test::mock::pair::<Request<Body>, Response<axum::body::Body>>();
    tokio::spawn(async move {
        let mut unanswered = Vec::new();
        while let Some((request, send)) = handle.next_request().await {
            if silent.load(Ordering::SeqCst) {
                unanswered.push(send);
                continue;
            }
            let (parts, body) = request.into_parts();
            let bytes = body.collect_bytes().await.expect("request body");
            let reply = answer(&Seen::new(
                &parts.method,
                &parts.uri,
                &parts.headers,
                &bytes,
            ));
            send.send_response(into_response(reply));
        }
    });
    kube::Client::new(service, "default")
}
