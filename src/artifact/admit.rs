//! Admission before apply (stage ⑥, pure): rendered workloads against the registry and workload
//! policies.
//!
//! Input: rendered objects with their origin file, and the config's policies. Output: the
//! [`Violation`]s, each naming the object, the container, the policy file and the rule. The
//! caller refuses the sync when any violation comes from a policy in `enforce` mode.

use serde_json::Value;

use crate::config::policy::{Mode, Policy, PolicySpec, RegistryPolicy, WorkloadPolicy, image_glob};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// `Kind namespace/name`.
    pub object: String,
    /// The file the object was rendered from.
    pub origin: String,
    /// The policy file.
    pub policy: String,
    pub rule: &'static str,
    pub message: String,
    /// From a policy in `enforce` mode: the sync is refused.
    pub enforce: bool,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}): {}: {} [{}]",
            self.object, self.origin, self.rule, self.message, self.policy
        )
    }
}

fn containers(pod: &Value) -> impl Iterator<Item = &Value> {
    ["initContainers", "containers", "ephemeralContainers"]
        .into_iter()
        .filter_map(|k| pod[k].as_array())
        .flatten()
}

/// `registry/repository` of an image reference as written, without tag or digest, and as the
/// runtime resolves it (`busybox` → `docker.io/library/busybox`), so a policy can name either
/// and a short name cannot slip past a policy written for the full one.
fn repositories(image: &str) -> Vec<String> {
    let name = image.split('@').next().unwrap_or(image);
    let written = match name.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo,
        _ => name,
    };
    let mut out = vec![written.to_owned()];
    if let Ok(r) = crate::core::ImageRef::parse(image)
        && r.name() != written
    {
        out.push(r.name());
    }
    out
}

/// Checks every rendered object against every registry and workload policy.
#[must_use]
pub fn admit(objects: &[(Value, String)], policies: &[Policy], namespace: &str) -> Vec<Violation> {
    let mut out = Vec::new();
    for (o, origin) in objects {
        for pod in crate::manifest::workload::pod_specs(o) {
            admit_pod(o, pod, origin, policies, namespace, &mut out);
        }
    }
    out
}

fn admit_pod(
    o: &Value,
    pod: &Value,
    origin: &str,
    policies: &[Policy],
    namespace: &str,
    out: &mut Vec<Violation>,
) {
    let object = describe(o, namespace);
    for p in policies {
        let file = p.file.display().to_string();
        let mut report = |rule: &'static str, message: String, enforce: bool| {
            out.push(Violation {
                object: object.clone(),
                origin: origin.to_owned(),
                policy: file.clone(),
                rule,
                message,
                enforce,
            });
        };
        match &p.spec {
            PolicySpec::Registries(r) => registries(pod, r, &mut report),
            PolicySpec::Workloads(w) => workloads(pod, w, &mut report),
            _ => {}
        }
    }
}

/// A container image a rendered workload runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageUse {
    pub image: String,
    /// `Kind namespace/name` or `Kind name`.
    pub object: String,
    pub origin: String,
    pub container: String,
}

/// Every container image of every rendered workload, in render order.
#[must_use]
pub fn workload_images(objects: &[(Value, String)], namespace: &str) -> Vec<ImageUse> {
    let mut out = Vec::new();
    for (o, origin) in objects {
        for c in crate::manifest::workload::pod_specs(o)
            .into_iter()
            .flat_map(containers)
        {
            if let Some(image) = c["image"].as_str() {
                out.push(ImageUse {
                    image: image.to_owned(),
                    object: describe(o, namespace),
                    origin: origin.clone(),
                    container: c["name"].as_str().unwrap_or("?").to_owned(),
                });
            }
        }
    }
    out
}

/// `Kind namespace/name`; workloads are all namespaced, so one without a namespace gets the
/// environment's (`namespace`), as the apply will give it.
fn describe(o: &Value, namespace: &str) -> String {
    let kind = o["kind"].as_str().unwrap_or("?");
    let name = o["metadata"]["name"].as_str().unwrap_or("?");
    let ns = o["metadata"]["namespace"].as_str().unwrap_or(namespace);
    if ns.is_empty() {
        format!("{kind} {name}")
    } else {
        format!("{kind} {ns}/{name}")
    }
}

fn registries(
    pod: &Value,
    policy: &RegistryPolicy,
    report: &mut impl FnMut(&'static str, String, bool),
) {
    for c in containers(pod) {
        let image = c["image"].as_str().unwrap_or_default();
        let repos = repositories(image);
        let allowed = policy
            .allowed
            .iter()
            .any(|g| image_glob(g).is_ok_and(|m| repos.iter().any(|r| m.is_match(r))));
        if !allowed {
            report(
                "allowed registries",
                format!(
                    "container {:?} image {image:?} is not in an allowed registry ({})",
                    c["name"].as_str().unwrap_or("?"),
                    policy.allowed.join(", ")
                ),
                true,
            );
        }
    }
}

fn workloads(
    pod: &Value,
    policy: &WorkloadPolicy,
    report: &mut impl FnMut(&'static str, String, bool),
) {
    let enforce = policy.mode == Mode::Enforce;
    let pod_ctx = &pod["securityContext"];
    if policy.disallow_host_namespaces {
        for key in ["hostNetwork", "hostPID", "hostIPC"] {
            if pod[key] == true {
                report(
                    "disallowHostNamespaces",
                    format!("spec.{key} is true"),
                    enforce,
                );
            }
        }
    }
    for c in containers(pod) {
        let name = c["name"].as_str().unwrap_or("?");
        let ctx = &c["securityContext"];
        let mut check = |on: bool, rule: &'static str, broken: bool, what: &str| {
            if on && broken {
                report(rule, format!("container {name:?}: {what}"), enforce);
            }
        };
        let non_root = ctx["runAsNonRoot"] == true
            || (ctx["runAsNonRoot"].is_null() && pod_ctx["runAsNonRoot"] == true);
        check(
            policy.run_as_non_root,
            "runAsNonRoot",
            !non_root,
            "securityContext.runAsNonRoot must be true",
        );
        check(
            policy.disallow_privileged,
            "disallowPrivileged",
            ctx["privileged"] == true,
            "securityContext.privileged is true",
        );
        check(
            policy.disallow_privilege_escalation,
            "disallowPrivilegeEscalation",
            ctx["allowPrivilegeEscalation"] != false,
            "securityContext.allowPrivilegeEscalation must be false",
        );
        check(
            policy.read_only_root_filesystem,
            "readOnlyRootFilesystem",
            ctx["readOnlyRootFilesystem"] != true,
            "securityContext.readOnlyRootFilesystem must be true",
        );
        let resources = &c["resources"];
        let missing = ["requests", "limits"].iter().any(|k| {
            resources[*k]
                .as_object()
                .is_none_or(serde_json::Map::is_empty)
        });
        check(
            policy.require_resources,
            "requireResources",
            missing,
            "resources.requests and resources.limits are required",
        );
        let image = c["image"].as_str().unwrap_or_default();
        let latest = crate::core::ImageRef::parse(image).map_or(true, |r| {
            r.digest().is_none() && r.tag().is_none_or(|t| t == "latest")
        });
        check(
            policy.disallow_latest_tag,
            "disallowLatestTag",
            latest,
            &format!("image {image:?} has no tag, or :latest, and no digest"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(spec: PolicySpec) -> Policy {
        Policy {
            file: "policies/p.yaml".into(),
            spec,
        }
    }

    #[test]
    fn registries_and_workload_rules_name_the_container_and_rule() {
        let deployment = json!({"kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"template": {"spec": {"containers": [
                {"name": "app", "image": "harbor.example.com/shop/web@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                 "securityContext": {"runAsNonRoot": true, "allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true},
                 "resources": {"requests": {"cpu": "1"}, "limits": {"memory": "1Gi"}}},
                {"name": "sidecar", "image": "docker.io/library/busybox:latest", "securityContext": {"privileged": true}}]}}}});
        let objects = vec![(deployment, "apps/web/base/deployment.yaml".to_owned())];
        let policies = vec![
            policy(PolicySpec::Registries(RegistryPolicy {
                allowed: vec!["harbor.example.com/shop/**".into()],
            })),
            policy(PolicySpec::Workloads(WorkloadPolicy {
                run_as_non_root: true,
                disallow_privileged: true,
                disallow_privilege_escalation: true,
                require_resources: true,
                disallow_latest_tag: true,
                read_only_root_filesystem: true,
                ..WorkloadPolicy::default()
            })),
        ];
        let found: Vec<(&str, bool)> = admit(&objects, &policies, "")
            .iter()
            .map(|v| {
                (
                    v.rule,
                    v.message.starts_with("container \"sidecar\"")
                        || v.rule == "allowed registries",
                )
            })
            .collect();
        assert_eq!(
            found,
            [
                ("allowed registries", true),
                ("runAsNonRoot", true),
                ("disallowPrivileged", true),
                ("disallowPrivilegeEscalation", true),
                ("readOnlyRootFilesystem", true),
                ("requireResources", true),
                ("disallowLatestTag", true),
            ],
            "only the sidecar breaks rules"
        );
        let v = &admit(&objects, &policies, "")[0];
        assert_eq!(
            v.to_string(),
            "Deployment shop/web (apps/web/base/deployment.yaml): allowed registries: container \"sidecar\" image \"docker.io/library/busybox:latest\" is not in an allowed registry (harbor.example.com/shop/**) [policies/p.yaml]"
        );
        assert!(
            admit(
                &[(json!({"kind": "ConfigMap"}), String::new())],
                &policies,
                ""
            )
            .is_empty()
        );
    }

    /// Issue 17: the walker finds the pod spec of a custom resource (an Argo `Rollout`), so it
    /// is admitted and refused exactly as a `Deployment` with the same pod spec is.
    #[test]
    fn regression_issue_17_a_rollout_is_admitted_like_a_deployment() {
        let pod = json!({"containers": [{"name": "app", "image": "docker.io/library/busybox",
            "securityContext": {"privileged": true}}], "hostNetwork": true});
        let as_kind = |api: &str, kind: &str| {
            json!({"apiVersion": api, "kind": kind, "metadata": {"name": "web", "namespace": "shop"},
                "spec": {"template": {"spec": pod.clone()}}})
        };
        let policies = vec![
            policy(PolicySpec::Registries(RegistryPolicy {
                allowed: vec!["harbor.example.com/**".into()],
            })),
            policy(PolicySpec::Workloads(WorkloadPolicy {
                disallow_privileged: true,
                disallow_host_namespaces: true,
                disallow_latest_tag: true,
                ..WorkloadPolicy::default()
            })),
        ];
        let rules = |o: Value| -> Vec<(&'static str, String)> {
            admit(&[(o, "f.yaml".to_owned())], &policies, "")
                .into_iter()
                .map(|v| (v.rule, v.message))
                .collect()
        };
        let deployment = rules(as_kind("apps/v1", "Deployment"));
        assert_eq!(deployment.len(), 4, "{deployment:?}");
        assert_eq!(
            rules(as_kind("argoproj.io/v1alpha1", "Rollout")),
            deployment
        );
        let images = workload_images(
            &[(as_kind("argoproj.io/v1alpha1", "Rollout"), String::new())],
            "",
        );
        assert_eq!(images.len(), 1);
        assert_eq!(images[0].object, "Rollout shop/web");
    }

    #[test]
    fn repositories_drop_tag_and_digest_but_keep_registry_ports() {
        let d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        assert_eq!(
            repositories(&format!("r.example:5000/a/b:1.2@{d}")),
            ["r.example:5000/a/b"]
        );
        assert_eq!(repositories("r.example:5000/a/b"), ["r.example:5000/a/b"]);
        assert_eq!(
            repositories("busybox"),
            ["busybox", "docker.io/library/busybox"]
        );
    }
}
