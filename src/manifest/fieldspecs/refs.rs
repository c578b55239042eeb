//! kustomize's name-reference table (stage: ⑤ render): which fields of which kinds name a
//! ConfigMap, Secret, Service, service account, persistent volume claim, …, so that a renamed
//! (prefixed, suffixed, hashed) resource is renamed where it is referred to as well.
//!
//! Input: none (tables). Output: [`NameRef`]s, the same coverage as kustomize's default
//! `nameReference` configuration.

use std::borrow::Cow;

/// One way a resource of kind `referrer` names a resource of kind `target`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameRef {
    pub target: Cow<'static, str>,
    /// Empty: any kind (a custom `nameReference` field spec without a kind).
    pub referrer: Cow<'static, str>,
    pub referrer_group: Cow<'static, str>,
    pub path: String,
}

/// Where each workload kind keeps its pod spec.
const POD_SPECS: &[(&str, &str)] = &[
    ("Pod", "spec"),
    ("Deployment", "spec/template/spec"),
    ("ReplicaSet", "spec/template/spec"),
    ("DaemonSet", "spec/template/spec"),
    ("StatefulSet", "spec/template/spec"),
    ("Job", "spec/template/spec"),
    ("CronJob", "spec/jobTemplate/spec/template/spec"),
    ("ReplicationController", "spec/template/spec"),
];

/// Paths inside a pod spec that name a resource of the given kind, and which workload kinds
/// kustomize covers for it.
const POD_SPEC_REFS: &[(&str, &[&str], &[&str])] = &[
    (
        "ConfigMap",
        &[
            "Pod",
            "Deployment",
            "ReplicaSet",
            "DaemonSet",
            "StatefulSet",
            "Job",
            "CronJob",
        ],
        &[
            "volumes/configMap/name",
            "containers/env/valueFrom/configMapKeyRef/name",
            "initContainers/env/valueFrom/configMapKeyRef/name",
            "containers/envFrom/configMapRef/name",
            "initContainers/envFrom/configMapRef/name",
            "volumes/projected/sources/configMap/name",
        ],
    ),
    (
        "Secret",
        &[
            "Pod",
            "Deployment",
            "ReplicaSet",
            "DaemonSet",
            "StatefulSet",
            "Job",
            "CronJob",
        ],
        &[
            "volumes/secret/secretName",
            "containers/env/valueFrom/secretKeyRef/name",
            "initContainers/env/valueFrom/secretKeyRef/name",
            "containers/envFrom/secretRef/name",
            "initContainers/envFrom/secretRef/name",
            "imagePullSecrets/name",
            "volumes/projected/sources/secret/name",
        ],
    ),
    (
        "ServiceAccount",
        &[
            "Pod",
            "StatefulSet",
            "Deployment",
            "ReplicationController",
            "CronJob",
            "Job",
            "DaemonSet",
        ],
        &["serviceAccountName"],
    ),
    (
        "PersistentVolumeClaim",
        &[
            "Pod",
            "StatefulSet",
            "Deployment",
            "ReplicationController",
            "CronJob",
            "Job",
            "DaemonSet",
        ],
        &["volumes/persistentVolumeClaim/claimName"],
    ),
    (
        "PriorityClass",
        &[
            "Pod",
            "StatefulSet",
            "Deployment",
            "ReplicationController",
            "CronJob",
            "Job",
            "DaemonSet",
        ],
        &["priorityClassName"],
    ),
];

/// References outside pod specs: (target, referrer kind, referrer group, path).
const OTHER_REFS: &[(&str, &str, &str, &str)] = &[
    (
        "Deployment",
        "HorizontalPodAutoscaler",
        "",
        "spec/scaleTargetRef/name",
    ),
    (
        "ReplicationController",
        "HorizontalPodAutoscaler",
        "",
        "spec/scaleTargetRef/name",
    ),
    (
        "ReplicaSet",
        "HorizontalPodAutoscaler",
        "",
        "spec/scaleTargetRef/name",
    ),
    (
        "StatefulSet",
        "HorizontalPodAutoscaler",
        "",
        "spec/scaleTargetRef/name",
    ),
    ("ConfigMap", "Node", "", "spec/configSource/configMap"),
    ("ConfigMap", "Role", "", "rules/resourceNames"),
    ("ConfigMap", "ClusterRole", "", "rules/resourceNames"),
    (
        "ConfigMap",
        "Ingress",
        "",
        "metadata/annotations/nginx.ingress.kubernetes.io\\/fastcgi-params-configmap",
    ),
    ("Secret", "Ingress", "", "spec/tls/secretName"),
    (
        "Secret",
        "Ingress",
        "",
        "metadata/annotations/ingress.kubernetes.io\\/auth-secret",
    ),
    (
        "Secret",
        "Ingress",
        "",
        "metadata/annotations/nginx.ingress.kubernetes.io\\/auth-secret",
    ),
    (
        "Secret",
        "Ingress",
        "",
        "metadata/annotations/nginx.ingress.kubernetes.io\\/auth-tls-secret",
    ),
    ("Secret", "ServiceAccount", "", "imagePullSecrets/name"),
    ("Secret", "StorageClass", "", "parameters/secretName"),
    ("Secret", "StorageClass", "", "parameters/adminSecretName"),
    ("Secret", "StorageClass", "", "parameters/userSecretName"),
    ("Secret", "StorageClass", "", "parameters/secretRef"),
    ("Secret", "Role", "", "rules/resourceNames"),
    ("Secret", "ClusterRole", "", "rules/resourceNames"),
    (
        "Secret",
        "PersistentVolume",
        "",
        "spec/azureFile/secretName",
    ),
    ("Service", "StatefulSet", "apps", "spec/serviceName"),
    (
        "Service",
        "Ingress",
        "",
        "spec/rules/http/paths/backend/serviceName",
    ),
    ("Service", "Ingress", "", "spec/backend/serviceName"),
    (
        "Service",
        "Ingress",
        "",
        "spec/rules/http/paths/backend/service/name",
    ),
    ("Service", "Ingress", "", "spec/defaultBackend/service/name"),
    (
        "Service",
        "APIService",
        "apiregistration.k8s.io",
        "spec/service/name",
    ),
    (
        "Service",
        "ValidatingWebhookConfiguration",
        "admissionregistration.k8s.io",
        "webhooks/clientConfig/service",
    ),
    (
        "Service",
        "MutatingWebhookConfiguration",
        "admissionregistration.k8s.io",
        "webhooks/clientConfig/service",
    ),
    (
        "Role",
        "RoleBinding",
        "rbac.authorization.k8s.io",
        "roleRef",
    ),
    (
        "ClusterRole",
        "RoleBinding",
        "rbac.authorization.k8s.io",
        "roleRef",
    ),
    (
        "ClusterRole",
        "ClusterRoleBinding",
        "rbac.authorization.k8s.io",
        "roleRef",
    ),
    (
        "ServiceAccount",
        "RoleBinding",
        "rbac.authorization.k8s.io",
        "subjects",
    ),
    (
        "ServiceAccount",
        "ClusterRoleBinding",
        "rbac.authorization.k8s.io",
        "subjects",
    ),
    (
        "PersistentVolume",
        "PersistentVolumeClaim",
        "",
        "spec/volumeName",
    ),
    ("PersistentVolume", "ClusterRole", "", "rules/resourceNames"),
    (
        "StorageClass",
        "PersistentVolume",
        "",
        "spec/storageClassName",
    ),
    (
        "StorageClass",
        "PersistentVolumeClaim",
        "",
        "spec/storageClassName",
    ),
    (
        "StorageClass",
        "StatefulSet",
        "",
        "spec/volumeClaimTemplates/spec/storageClassName",
    ),
    ("IngressClass", "Ingress", "", "spec/ingressClassName"),
    (
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "admissionregistration.k8s.io",
        "spec/policyName",
    ),
];

/// The whole name-reference table.
#[must_use]
pub fn name_refs() -> Vec<NameRef> {
    let mut out = Vec::new();
    for (target, kinds, paths) in POD_SPEC_REFS {
        for (kind, prefix) in POD_SPECS {
            if !kinds.contains(kind) {
                continue;
            }
            for p in *paths {
                out.push(NameRef {
                    target: Cow::Borrowed(target),
                    referrer: Cow::Borrowed(kind),
                    referrer_group: Cow::Borrowed(""),
                    path: format!("{prefix}/{p}"),
                });
            }
        }
    }
    for (target, referrer, group, path) in OTHER_REFS {
        out.push(NameRef {
            target: Cow::Borrowed(target),
            referrer: Cow::Borrowed(referrer),
            referrer_group: Cow::Borrowed(group),
            path: (*path).to_owned(),
        });
    }
    out
}
