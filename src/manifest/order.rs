//! Output order (stage: ⑤ render): kustomize's `legacy` order or input order.
//!
//! Input: rendered resources. Output: the same, sorted. Legacy puts what others depend on first
//! (Namespaces, CRDs, service accounts, RBAC, config, Services) and webhooks last; within a
//! rank, by group/version/kind then namespace and name.

use std::cmp::Ordering;

use serde::Deserialize;

use super::ManifestError;
use super::resource::Resource;

const FIRST: &[&str] = &[
    "Namespace",
    "ResourceQuota",
    "StorageClass",
    "CustomResourceDefinition",
    "ServiceAccount",
    "PodSecurityPolicy",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "ConfigMap",
    "Secret",
    "Endpoints",
    "Service",
    "LimitRange",
    "PriorityClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
];
const LAST: &[&str] = &[
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reorder {
    /// kustomize's default `legacy` order.
    #[default]
    Legacy,
    /// The order resources were accumulated in.
    None,
}

/// Where `kind` goes in kustomize's legacy order: dependencies negative, webhooks positive, the rest 0.
#[must_use]
pub fn kind_rank(kind: &str) -> i64 {
    rank_in(kind, FIRST, LAST)
}

fn gvk_string(r: &Resource) -> String {
    let (g, v) = r.group_version();
    let or = |s: &str, d: &str| {
        if s.is_empty() {
            d.to_owned()
        } else {
            s.to_owned()
        }
    };
    format!("{}_{}_{}", or(g, "~G"), or(v, "~V"), or(r.kind(), "~K"))
}

/// `namespace|name` with kustomize's placeholders for missing parts (`~` sorts after letters).
fn id_string(r: &Resource) -> String {
    let or = |s: &str, d: &str| {
        if s.is_empty() {
            d.to_owned()
        } else {
            s.to_owned()
        }
    };
    format!("{}|{}", or(r.namespace(), "~X"), or(r.name(), "~N"))
}

/// Sort key of one resource: what `legacy` order compares, computed once.
struct Key {
    rank: i64,
    kind_is_namespace: bool,
    core_group: bool,
    gvk: String,
    id: String,
}

/// A kustomization's `sortOptions`; the top kustomization's win over `--reorder`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SortOptions {
    #[serde(default)]
    pub order: String,
    #[serde(default)]
    pub legacy_sort_options: Option<LegacySortOptions>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LegacySortOptions {
    #[serde(default)]
    pub order_first: Vec<String>,
    #[serde(default)]
    pub order_last: Vec<String>,
}

/// Checks `sortOptions` as kustomize's `SortOrderTransformer` does.
pub fn check(o: &SortOptions, file: &str, line: u64, column: u64) -> Result<(), ManifestError> {
    let at = |message: &str| ManifestError::At {
        file: file.to_owned(),
        line,
        column,
        message: format!("sortOptions: {message}"),
    };
    match (o.order.as_str(), &o.legacy_sort_options) {
        ("legacy", _) | ("fifo", None) => Ok(()),
        ("fifo", Some(_)) => Err(at(
            "the field 'sortOptions.legacySortOptions' is set but the selected sort order is 'fifo', not 'legacy'",
        )),
        _ => Err(at(
            "the field 'sortOptions.order' must be one of [fifo, legacy]",
        )),
    }
}

/// Sorts by the top kustomization's `sortOptions` when it has them, else by `how`.
pub fn sort_by_options(ra: &mut Vec<Resource>, how: Reorder, options: Option<&SortOptions>) {
    match options {
        None => sort(ra, how),
        Some(o) if o.order == "legacy" => match &o.legacy_sort_options {
            None => sort(ra, Reorder::Legacy),
            Some(l) => {
                let rank = |kind: &str| rank_in(kind, &l.order_first, &l.order_last);
                sort_legacy(ra, &rank);
            }
        },
        Some(_) => {}
    }
}

fn rank_in<S: AsRef<str>>(kind: &str, first: &[S], last: &[S]) -> i64 {
    let len = i64::try_from(first.len()).unwrap_or(i64::MAX);
    if let Some(i) = first.iter().position(|k| k.as_ref() == kind) {
        return -len + i64::try_from(i).unwrap_or(0);
    }
    last.iter()
        .position(|k| k.as_ref() == kind)
        .map_or(0, |i| 1 + i64::try_from(i).unwrap_or(0))
}

fn key(r: &Resource, rank: &dyn Fn(&str) -> i64) -> Key {
    Key {
        rank: rank(r.kind()),
        kind_is_namespace: r.kind() == "Namespace",
        core_group: r.group_version().0.is_empty(),
        gvk: gvk_string(r),
        id: id_string(r),
    }
}

fn legacy_cmp(a: &Key, b: &Key) -> Ordering {
    if a.gvk != b.gvk {
        let by_rank = a.rank.cmp(&b.rank);
        if by_rank != Ordering::Equal {
            return by_rank;
        }
        // Core Namespaces go before namespace-like kinds of other groups.
        let core_namespace =
            a.kind_is_namespace && b.kind_is_namespace && (a.core_group || b.core_group);
        return if core_namespace {
            b.gvk.cmp(&a.gvk)
        } else {
            a.gvk.cmp(&b.gvk)
        };
    }
    a.id.cmp(&b.id)
}

pub fn sort(ra: &mut Vec<Resource>, how: Reorder) {
    if how == Reorder::Legacy {
        sort_legacy(ra, &kind_rank);
    }
}

fn sort_legacy(ra: &mut Vec<Resource>, rank: &dyn Fn(&str) -> i64) {
    let mut keyed: Vec<(Key, Resource)> = ra.drain(..).map(|r| (key(&r, rank), r)).collect();
    keyed.sort_by(|a, b| legacy_cmp(&a.0, &b.0));
    ra.extend(keyed.into_iter().map(|(_, r)| r));
}
