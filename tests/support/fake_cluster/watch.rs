//! Watches (`GET …?watch=true`): a stream of `ADDED`/`MODIFIED`/`DELETED` events, one JSON
//! object per line, as a real API server streams them. The stream compares the kind's objects
//! with what it last sent every 50 ms, so every way the fake changes an object (requests and
//! controllers alike) shows up without each write announcing itself; objects changed after the
//! watch's `resourceVersion` are sent first. The controllers also run on that tick, as a real
//! cluster's do while nobody writes. It ends when the client goes away or after
//! `timeoutSeconds`, after which kube's watcher watches again.

use std::collections::HashMap;
use std::convert::Infallible;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::objects::{kind_of, selector};
use super::{Cluster, Seen};

const TICK: Duration = Duration::from_millis(50);

/// The event stream for a watch request; `None` for an unknown resource.
pub fn stream(cluster: &Cluster, req: &Seen) -> Option<axum::body::Body> {
    let parts: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    let (gv, rest) = match parts.as_slice() {
        ["api", "v1", rest @ ..] => ("v1".to_owned(), rest),
        ["apis", group, version, rest @ ..] => (format!("{group}/{version}"), rest),
        _ => return None,
    };
    let (resource, namespace) = match rest {
        [resource] => (*resource, String::new()),
        ["namespaces", ns, resource] => (*resource, (*ns).to_owned()),
        _ => return None,
    };
    let (store, kind) = kind_of(cluster, &gv, resource)?;
    let param = |key: &str| super::lease::query_param(&req.query, key).map(str::to_owned);
    let since: u64 = param("resourceVersion")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let timeout = param("timeoutSeconds")
        .and_then(|v| v.parse().ok())
        .map_or(Duration::from_secs(290), Duration::from_secs);
    let wanted = selector(&req.query);
    let (tx, rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(64);
    let cluster = cluster.clone();
    tokio::spawn(async move {
        let started = Instant::now();
        let mut known = Known {
            objects: HashMap::new(),
            first: true,
            since,
        };
        while started.elapsed() < timeout {
            if !known.first {
                tokio::time::sleep(TICK).await;
                let rv = cluster.rv.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 101;
                super::controllers::reconcile(&cluster, &rv.to_string());
            }
            let events = {
                let objects = store.lock().expect("store");
                let matching = objects.iter().filter(|(key, o)| {
                    (namespace.is_empty() || key.0 == namespace)
                        && wanted
                            .iter()
                            .all(|(k, v)| o["metadata"]["labels"][k] == v.as_str())
                });
                known.tick(matching)
            };
            for (kind_of_event, mut object) in events {
                object["apiVersion"] = json!(gv);
                object["kind"] = json!(kind);
                let mut line =
                    serde_json::to_vec(&json!({"type": kind_of_event, "object": object}))
                        .expect("json");
                line.push(b'\n');
                if tx.send(line.into()).await.is_err() {
                    return;
                }
            }
        }
    });
    let events = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    });
    Some(axum::body::Body::from_stream(events))
}

fn rv_of(o: &Value) -> u64 {
    o["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// What a watch's client knows, by resourceVersion: every matching object at or before
/// `since`, then what was sent. Only objects whose version moved are cloned on a tick.
struct Known {
    objects: HashMap<(String, String), (String, Value)>,
    first: bool,
    since: u64,
}

impl Known {
    /// The events that bring the client from what it knows to `matching`.
    fn tick<'a>(
        &mut self,
        matching: impl Iterator<Item = (&'a (String, String), &'a Value)>,
    ) -> Vec<(&'static str, Value)> {
        let mut events = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (key, o) in matching {
            seen.insert(key.clone());
            let version = o["metadata"]["resourceVersion"]
                .as_str()
                .unwrap_or_default();
            match self.objects.get(key) {
                Some((v, _)) if v == version => {}
                None if self.first && rv_of(o) <= self.since => {
                    self.objects
                        .insert(key.clone(), (version.to_owned(), o.clone()));
                }
                before => {
                    let kind_of_event = if before.is_some() {
                        "MODIFIED"
                    } else {
                        "ADDED"
                    };
                    self.objects
                        .insert(key.clone(), (version.to_owned(), o.clone()));
                    events.push((kind_of_event, o.clone()));
                }
            }
        }
        self.first = false;
        let gone: Vec<(String, String)> = self
            .objects
            .keys()
            .filter(|k| !seen.contains(*k))
            .cloned()
            .collect();
        for key in gone {
            if let Some((_, o)) = self.objects.remove(&key) {
                events.push(("DELETED", o));
            }
        }
        events
    }
}
