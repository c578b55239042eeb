//! Health rules per kind, with status blocks as the API server reports them.

use gantry::cluster::{Health, HealthStatus, aggregate, health};
use serde_json::{Value, json};

use HealthStatus::{Degraded, Healthy, Missing, Progressing};

fn status_of(o: &Value) -> (HealthStatus, String) {
    let h = health(Some(o));
    (h.status, h.message)
}

fn deploy(replicas: i64, status: &Value) -> Value {
    json!({"kind": "Deployment", "metadata": {"generation": 3}, "spec": {"replicas": replicas}, "status": status})
}

#[test]
fn deployments_follow_rollout_status() {
    let cases = [
        (
            json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 3}),
            Progressing,
            "waiting for the controller to observe the new spec",
        ),
        (
            json!({"observedGeneration": 3, "replicas": 4, "updatedReplicas": 1, "availableReplicas": 3}),
            Progressing,
            "1 of 3 replicas updated",
        ),
        (
            json!({"observedGeneration": 3, "replicas": 4, "updatedReplicas": 3, "availableReplicas": 3}),
            Progressing,
            "1 old replicas pending termination",
        ),
        (
            json!({"observedGeneration": 3, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 2}),
            Progressing,
            "2 of 3 updated replicas available",
        ),
        (
            json!({"observedGeneration": 3, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 3}),
            Healthy,
            "",
        ),
        (
            json!({"observedGeneration": 3, "replicas": 3, "updatedReplicas": 1, "availableReplicas": 2, "conditions": [
                {"type": "Available", "status": "True"},
                {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "ReplicaSet \"web-7d4b9\" has timed out progressing."}
            ]}),
            Degraded,
            "ProgressDeadlineExceeded: ReplicaSet \"web-7d4b9\" has timed out progressing.",
        ),
    ];
    for (status, want, message) in cases {
        assert_eq!(
            status_of(&deploy(3, &status)),
            (want, message.to_string()),
            "{status}"
        );
    }
}

#[test]
fn statefulsets_daemonsets_and_jobs() {
    let sts = |status: Value| json!({"kind": "StatefulSet", "metadata": {"generation": 1}, "spec": {"replicas": 2}, "status": status});
    assert_eq!(
        status_of(&sts(json!({"observedGeneration": 1, "readyReplicas": 1}))).0,
        Progressing
    );
    assert_eq!(status_of(&sts(json!({"observedGeneration": 1, "readyReplicas": 2, "updatedReplicas": 2, "currentRevision": "a", "updateRevision": "a"}))).0, Healthy);
    assert_eq!(status_of(&sts(json!({"observedGeneration": 1, "readyReplicas": 2, "updatedReplicas": 2, "currentRevision": "a", "updateRevision": "b"}))).0, Progressing);

    let ds = |status: Value| json!({"kind": "DaemonSet", "metadata": {"generation": 1}, "status": status});
    assert_eq!(status_of(&ds(json!({"observedGeneration": 1, "desiredNumberScheduled": 3, "updatedNumberScheduled": 2, "numberAvailable": 3}))).0, Progressing);
    assert_eq!(status_of(&ds(json!({"observedGeneration": 1, "desiredNumberScheduled": 3, "updatedNumberScheduled": 3, "numberAvailable": 3}))).0, Healthy);

    let job = |conditions: Value| json!({"kind": "Job", "status": {"conditions": conditions}});
    assert_eq!(
        status_of(&job(json!([{"type": "Complete", "status": "True"}]))).0,
        Healthy
    );
    assert_eq!(
        status_of(&job(
            json!([{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}])
        )),
        (
            Degraded,
            "BackoffLimitExceeded: Job has reached the specified backoff limit".to_string()
        )
    );
    assert_eq!(status_of(&job(json!([]))).0, Progressing);
}

#[test]
fn claims_services_ingresses_crds_and_pods() {
    assert_eq!(
        status_of(&json!({"kind": "PersistentVolumeClaim", "status": {"phase": "Bound"}})).0,
        Healthy
    );
    assert_eq!(
        status_of(&json!({"kind": "PersistentVolumeClaim", "status": {"phase": "Pending"}})).0,
        Progressing
    );
    assert_eq!(
        status_of(&json!({"kind": "PersistentVolumeClaim", "status": {"phase": "Lost"}})).0,
        Degraded
    );

    assert_eq!(
        status_of(&json!({"kind": "Service", "spec": {"type": "ClusterIP"}})).0,
        Healthy
    );
    assert_eq!(status_of(&json!({"kind": "Service", "spec": {"type": "LoadBalancer"}, "status": {"loadBalancer": {}}})).0, Progressing);
    assert_eq!(status_of(&json!({"kind": "Service", "spec": {"type": "LoadBalancer"}, "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}]}}})).0, Healthy);
    assert_eq!(status_of(&json!({"kind": "Ingress", "status": {"loadBalancer": {"ingress": [{"hostname": "lb.example.com"}]}}})).0, Healthy);
    assert_eq!(
        status_of(&json!({"kind": "Ingress", "status": {"loadBalancer": {}}})).0,
        Progressing
    );

    let crd = |conditions: Value| json!({"kind": "CustomResourceDefinition", "status": {"conditions": conditions}});
    assert_eq!(status_of(&crd(json!([{"type": "NamesAccepted", "status": "True"}, {"type": "Established", "status": "True"}]))).0, Healthy);
    assert_eq!(
        status_of(&crd(json!([{"type": "NamesAccepted", "status": "True"}]))).0,
        Progressing
    );
    assert_eq!(status_of(&crd(json!([{"type": "NamesAccepted", "status": "False", "reason": "MultipleNameConflict", "message": "\"widgets\" is already in use"}]))).0, Degraded);

    let pod = |status: Value| json!({"kind": "Pod", "status": status});
    assert_eq!(
        status_of(&pod(
            json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]})
        ))
        .0,
        Healthy
    );
    assert_eq!(status_of(&pod(json!({"phase": "Pending"}))).0, Progressing);
    assert_eq!(
        status_of(&pod(
            json!({"phase": "Running", "containerStatuses": [{"name": "main", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]})
        )),
        (Degraded, "CrashLoopBackOff".to_string())
    );
    assert_eq!(status_of(&pod(json!({"phase": "Succeeded"}))).0, Healthy);
}

#[test]
fn an_app_is_as_healthy_as_its_worst_object() {
    let h = |s| Health {
        status: s,
        message: String::new(),
    };
    assert_eq!(health(None).status, Missing);
    assert_eq!(aggregate(&[h(Healthy), h(Healthy)]), Healthy);
    assert_eq!(aggregate(&[h(Healthy), h(Progressing)]), Progressing);
    assert_eq!(aggregate(&[h(Progressing), h(Missing)]), Missing);
    assert_eq!(aggregate(&[h(Missing), h(Degraded), h(Healthy)]), Degraded);
    assert_eq!(aggregate(&[]), Healthy);
}
