//! Health of live objects, per kind, and per app (pure).
//!
//! Input: a live object as the API server returns it (`status` included), or nothing when it
//! is missing. Output: a [`Health`] with a reason a person can act on. The rules follow
//! `kubectl rollout status` for workloads and Argo CD's health checks for the rest.

use serde_json::Value;

/// Ordered from best to worst: an app is as healthy as its worst object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum HealthStatus {
    Healthy,
    Progressing,
    Missing,
    Degraded,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Health {
    pub status: HealthStatus,
    pub message: String,
}

impl Health {
    fn new(status: HealthStatus, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    fn healthy() -> Self {
        Self::new(HealthStatus::Healthy, "")
    }

    fn progressing(message: impl Into<String>) -> Self {
        Self::new(HealthStatus::Progressing, message)
    }

    fn degraded(message: impl Into<String>) -> Self {
        Self::new(HealthStatus::Degraded, message)
    }
}

/// The worst status among `objects`; `Healthy` for none.
#[must_use]
pub fn aggregate<'a>(objects: impl IntoIterator<Item = &'a Health>) -> HealthStatus {
    objects
        .into_iter()
        .map(|h| h.status)
        .max()
        .unwrap_or(HealthStatus::Healthy)
}

/// Health of one object; `None` means it does not exist.
#[must_use]
pub fn health(live: Option<&Value>) -> Health {
    let Some(obj) = live else {
        return Health::new(HealthStatus::Missing, "not found in the cluster");
    };
    let status = &obj["status"];
    match obj["kind"].as_str().unwrap_or_default() {
        "Deployment" => deployment(obj, status),
        "StatefulSet" => stateful_set(obj, status),
        "DaemonSet" => daemon_set(obj, status),
        "Job" => job(status),
        "PersistentVolumeClaim" => match status["phase"].as_str() {
            Some("Bound") => Health::healthy(),
            Some("Lost") => Health::degraded("the claim lost its volume"),
            _ => Health::progressing("waiting for the claim to be bound"),
        },
        "Service" if obj["spec"]["type"] == "LoadBalancer" => load_balanced(status),
        "Ingress" => load_balanced(status),
        "CustomResourceDefinition" => {
            if condition(status, "NamesAccepted") == Some("False") {
                Health::degraded(condition_message(status, "NamesAccepted"))
            } else if condition(status, "Established") == Some("True") {
                Health::healthy()
            } else {
                Health::progressing("waiting for the CRD to be Established")
            }
        }
        "Pod" => pod(status),
        _ => Health::healthy(),
    }
}

fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

fn condition<'a>(status: &'a Value, kind: &str) -> Option<&'a str> {
    status["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)?["status"]
        .as_str()
}

fn condition_message(status: &Value, kind: &str) -> String {
    status["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == kind))
        .map(|c| {
            format!(
                "{}: {}",
                c["reason"].as_str().unwrap_or(kind),
                c["message"].as_str().unwrap_or_default()
            )
        })
        .unwrap_or_default()
}

/// The controller has not seen the latest spec yet.
fn stale(obj: &Value, status: &Value) -> Option<Health> {
    let generation = int(&obj["metadata"]["generation"]);
    (int(&status["observedGeneration"]) < generation)
        .then(|| Health::progressing("waiting for the controller to observe the new spec"))
}

fn deployment(obj: &Value, status: &Value) -> Health {
    if let Some(h) = stale(obj, status) {
        return h;
    }
    let progressing = status["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Progressing"));
    if let Some(c) = progressing
        && c["reason"] == "ProgressDeadlineExceeded"
    {
        return Health::degraded(format!(
            "ProgressDeadlineExceeded: {}",
            c["message"].as_str().unwrap_or("the rollout stalled")
        ));
    }
    let want = obj["spec"]["replicas"].as_i64().unwrap_or(1);
    let (updated, total, available) = (
        int(&status["updatedReplicas"]),
        int(&status["replicas"]),
        int(&status["availableReplicas"]),
    );
    if updated < want {
        Health::progressing(format!("{updated} of {want} replicas updated"))
    } else if total > updated {
        Health::progressing(format!(
            "{} old replicas pending termination",
            total - updated
        ))
    } else if available < updated {
        Health::progressing(format!(
            "{available} of {updated} updated replicas available"
        ))
    } else {
        Health::healthy()
    }
}

fn stateful_set(obj: &Value, status: &Value) -> Health {
    if let Some(h) = stale(obj, status) {
        return h;
    }
    if obj["spec"]["updateStrategy"]["type"] == "OnDelete" {
        return Health::healthy();
    }
    let want = obj["spec"]["replicas"].as_i64().unwrap_or(1);
    let ready = int(&status["readyReplicas"]);
    let partition = int(&obj["spec"]["updateStrategy"]["rollingUpdate"]["partition"]);
    let updated = int(&status["updatedReplicas"]);
    if ready < want {
        Health::progressing(format!("{ready} of {want} pods ready"))
    } else if updated < want - partition {
        Health::progressing(format!("{updated} of {} pods updated", want - partition))
    } else if partition == 0 && status["updateRevision"] != status["currentRevision"] {
        Health::progressing("waiting for the rolling update to finish")
    } else {
        Health::healthy()
    }
}

fn daemon_set(obj: &Value, status: &Value) -> Health {
    if let Some(h) = stale(obj, status) {
        return h;
    }
    let want = int(&status["desiredNumberScheduled"]);
    let updated = int(&status["updatedNumberScheduled"]);
    let available = int(&status["numberAvailable"]);
    if updated < want {
        Health::progressing(format!("{updated} of {want} pods updated"))
    } else if available < want {
        Health::progressing(format!("{available} of {want} pods available"))
    } else {
        Health::healthy()
    }
}

fn job(status: &Value) -> Health {
    if condition(status, "Failed") == Some("True") {
        Health::degraded(condition_message(status, "Failed"))
    } else if condition(status, "Complete") == Some("True") {
        Health::healthy()
    } else {
        Health::progressing("job running")
    }
}

fn load_balanced(status: &Value) -> Health {
    let ingress = status["loadBalancer"]["ingress"].as_array();
    if ingress.is_some_and(|i| !i.is_empty()) {
        Health::healthy()
    } else {
        Health::progressing("waiting for a load balancer address")
    }
}

fn pod(status: &Value) -> Health {
    match status["phase"].as_str() {
        Some("Succeeded") => return Health::healthy(),
        Some("Failed") => {
            return Health::degraded(status["message"].as_str().unwrap_or("pod failed"));
        }
        _ => {}
    }
    let waiting = status["containerStatuses"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["state"]["waiting"]["reason"].as_str())
        .find(|r| {
            matches!(
                *r,
                "CrashLoopBackOff"
                    | "ImagePullBackOff"
                    | "ErrImagePull"
                    | "CreateContainerConfigError"
                    | "InvalidImageName"
            )
        });
    if let Some(reason) = waiting {
        return Health::degraded(reason);
    }
    if status["phase"] == "Running" && condition(status, "Ready") == Some("True") {
        Health::healthy()
    } else {
        Health::progressing("pod not ready")
    }
}
