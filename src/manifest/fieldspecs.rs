//! Where kustomize's built-in transformers act, per kind (stage: ⑤ render).
//!
//! Input: none (tables). Output: field specs for labels, annotations, namespace, name prefix,
//! replicas, images, and the name-reference table (which fields of which kinds refer to a
//! ConfigMap, Secret, Service, …). Same coverage as kustomize's default configuration.

use std::borrow::Cow;

use super::resource::FieldSpec;

const fn spec(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    path: &'static str,
    create: bool,
) -> FieldSpec {
    FieldSpec::new(group, version, kind, path, create)
}

/// Pod-template label paths (kustomize's `templateLabels`, after `metadata/labels`).
const TEMPLATE_LABELS: &[FieldSpec] = &[
    spec(
        "",
        "v1",
        "ReplicationController",
        "spec/template/metadata/labels",
        true,
    ),
    spec("", "", "Deployment", "spec/template/metadata/labels", true),
    spec("", "", "ReplicaSet", "spec/template/metadata/labels", true),
    spec("", "", "DaemonSet", "spec/template/metadata/labels", true),
    spec(
        "apps",
        "",
        "StatefulSet",
        "spec/template/metadata/labels",
        true,
    ),
    spec(
        "apps",
        "",
        "StatefulSet",
        "spec/volumeClaimTemplates[]/metadata/labels",
        true,
    ),
    spec("batch", "", "Job", "spec/template/metadata/labels", true),
    spec(
        "batch",
        "",
        "CronJob",
        "spec/jobTemplate/metadata/labels",
        true,
    ),
    spec(
        "batch",
        "",
        "CronJob",
        "spec/jobTemplate/spec/template/metadata/labels",
        true,
    ),
];

const AFFINITY_SELECTORS: &[&str] = &[
    "spec/template/spec/affinity/podAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
    "spec/template/spec/affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
    "spec/template/spec/affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
    "spec/template/spec/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
    "spec/template/spec/topologySpreadConstraints/labelSelector/matchLabels",
];

/// Selector paths `commonLabels` (and `labels` with `includeSelectors`) also write.
const SELECTORS: &[FieldSpec] = &[
    spec("", "v1", "Service", "spec/selector", true),
    spec("", "v1", "ReplicationController", "spec/selector", true),
    spec("", "", "Deployment", "spec/selector/matchLabels", true),
    spec("", "", "ReplicaSet", "spec/selector/matchLabels", true),
    spec("", "", "DaemonSet", "spec/selector/matchLabels", true),
    spec("apps", "", "StatefulSet", "spec/selector/matchLabels", true),
    spec("batch", "", "Job", "spec/selector/matchLabels", false),
    spec(
        "batch",
        "",
        "CronJob",
        "spec/jobTemplate/spec/selector/matchLabels",
        false,
    ),
    spec(
        "policy",
        "",
        "PodDisruptionBudget",
        "spec/selector/matchLabels",
        false,
    ),
    spec(
        "networking.k8s.io",
        "",
        "NetworkPolicy",
        "spec/podSelector/matchLabels",
        false,
    ),
    spec(
        "networking.k8s.io",
        "",
        "NetworkPolicy",
        "spec/ingress/from/podSelector/matchLabels",
        false,
    ),
    spec(
        "networking.k8s.io",
        "",
        "NetworkPolicy",
        "spec/egress/to/podSelector/matchLabels",
        false,
    ),
];

#[must_use]
pub fn template_labels() -> Vec<FieldSpec> {
    let mut v = vec![FieldSpec::any("metadata/labels", true)];
    v.extend_from_slice(TEMPLATE_LABELS);
    v
}

#[must_use]
pub fn common_labels() -> Vec<FieldSpec> {
    let mut v = template_labels();
    v.extend_from_slice(SELECTORS);
    for kind in ["Deployment", "StatefulSet"] {
        for path in AFFINITY_SELECTORS {
            v.push(spec("apps", "", kind, path, false));
        }
    }
    v
}

#[must_use]
pub fn common_annotations() -> Vec<FieldSpec> {
    template_labels()
        .into_iter()
        .filter(|s| !s.path.contains("volumeClaimTemplates"))
        .map(|s| {
            let path = match s.path.as_ref() {
                "metadata/labels" => "metadata/annotations",
                "spec/template/metadata/labels" => "spec/template/metadata/annotations",
                "spec/jobTemplate/metadata/labels" => "spec/jobTemplate/metadata/annotations",
                _ => "spec/jobTemplate/spec/template/metadata/annotations",
            };
            FieldSpec {
                path: path.into(),
                // kustomize lists StatefulSet annotations without a group.
                group: if s.kind == "StatefulSet" {
                    "".into()
                } else {
                    s.group
                },
                ..s
            }
        })
        .collect()
}

/// Namespace paths beyond `metadata/namespace` (which is special-cased).
pub const NAMESPACE_EXTRA: &[FieldSpec] = &[
    spec(
        "apiregistration.k8s.io",
        "",
        "APIService",
        "spec/service/namespace",
        true,
    ),
    spec(
        "apiextensions.k8s.io",
        "",
        "CustomResourceDefinition",
        "spec/conversion/webhook/clientConfig/service/namespace",
        false,
    ),
];

/// Kinds whose names `namePrefix`/`nameSuffix` leave alone.
pub const NAME_PREFIX_SKIP: &[FieldSpec] = &[
    spec("", "", "CustomResourceDefinition", "metadata/name", false),
    spec("", "", "Namespace", "metadata/name", false),
    spec(
        "apiregistration.k8s.io",
        "",
        "APIService",
        "metadata/name",
        false,
    ),
];

pub const REPLICAS_KINDS: &[&str] = &[
    "Deployment",
    "ReplicationController",
    "ReplicaSet",
    "StatefulSet",
];

/// Image volumes (Kubernetes 1.31+) carry image references too.
pub const IMAGE_VOLUME_PATHS: &[&str] = &[
    "spec/volumes[]/image/reference",
    "spec/template/spec/volumes[]/image/reference",
];

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
