//! Which kinds live outside namespaces (stage: ⑤ render): the namespace transformer, name
//! references and patch targets leave their namespace empty, as kustomize's built-in schema
//! says; the cluster module asks the same for objects discovery does not know yet.
//!
//! Input: a group and kind. Output: whether objects of it are cluster-scoped.

/// Kinds that live outside namespaces: the namespace transformer leaves them alone.
pub const CLUSTER_SCOPED: &[&str] = &[
    "APIService",
    "CSIDriver",
    "CSINode",
    "CertificateSigningRequest",
    "ClusterIssuer",
    "ClusterRole",
    "ClusterRoleBinding",
    "ComponentStatus",
    "CustomResourceDefinition",
    "IngressClass",
    "MutatingWebhookConfiguration",
    "Namespace",
    "Node",
    "PersistentVolume",
    "PodSecurityPolicy",
    "PriorityClass",
    "RuntimeClass",
    "SelfSubjectAccessReview",
    "SelfSubjectRulesReview",
    "StorageClass",
    "SubjectAccessReview",
    "TokenReview",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "ValidatingWebhookConfiguration",
    "VolumeAttachment",
];

/// Whether `kind` of API group `group` is a known cluster-scoped kind. A kind of the same name
/// in another group (an `example.com` `Namespace`) is unknown, hence namespaced, as kustomize
/// treats types its schema does not know.
#[must_use]
pub fn is_cluster_scoped_group_kind(group: &str, kind: &str) -> bool {
    if !is_cluster_scoped_kind(kind) {
        return false;
    }
    let known = match kind {
        "ComponentStatus" | "Namespace" | "Node" | "PersistentVolume" => "",
        "APIService" => "apiregistration.k8s.io",
        "CSIDriver" | "CSINode" | "StorageClass" | "VolumeAttachment" => "storage.k8s.io",
        "CertificateSigningRequest" => "certificates.k8s.io",
        "ClusterIssuer" => "cert-manager.io",
        "ClusterRole" | "ClusterRoleBinding" => "rbac.authorization.k8s.io",
        "CustomResourceDefinition" => "apiextensions.k8s.io",
        "IngressClass" => "networking.k8s.io",
        "PodSecurityPolicy" => return matches!(group, "policy" | "extensions"),
        "PriorityClass" => "scheduling.k8s.io",
        "RuntimeClass" => "node.k8s.io",
        "SelfSubjectAccessReview" | "SelfSubjectRulesReview" | "SubjectAccessReview" => {
            "authorization.k8s.io"
        }
        "TokenReview" => "authentication.k8s.io",
        _ => "admissionregistration.k8s.io",
    };
    group == known
}

/// Whether `kind` is in [`CLUSTER_SCOPED`]; a `match` because it runs for every id built.
#[must_use]
pub fn is_cluster_scoped_kind(kind: &str) -> bool {
    matches!(
        kind,
        "APIService"
            | "CSIDriver"
            | "CSINode"
            | "CertificateSigningRequest"
            | "ClusterIssuer"
            | "ClusterRole"
            | "ClusterRoleBinding"
            | "ComponentStatus"
            | "CustomResourceDefinition"
            | "IngressClass"
            | "MutatingWebhookConfiguration"
            | "Namespace"
            | "Node"
            | "PersistentVolume"
            | "PodSecurityPolicy"
            | "PriorityClass"
            | "RuntimeClass"
            | "SelfSubjectAccessReview"
            | "SelfSubjectRulesReview"
            | "StorageClass"
            | "SubjectAccessReview"
            | "TokenReview"
            | "ValidatingAdmissionPolicy"
            | "ValidatingAdmissionPolicyBinding"
            | "ValidatingWebhookConfiguration"
            | "VolumeAttachment"
    )
}
