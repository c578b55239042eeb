//! Where kustomize's built-in transformers act, per kind (stage: ⑤ render).
//!
//! Input: none (tables). Output: field specs for labels, annotations, namespace, name prefix,
//! replicas, images, and the name-reference table (which fields of which kinds refer to a
//! ConfigMap, Secret, Service, …). Same coverage as kustomize's default configuration.

mod refs;

pub use refs::{NameRef, name_refs};

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
