//! Name references (stage: ⑤ render): after prefixes, suffixes, hashes and namespaces renamed
//! resources, the fields that name them (volumes, env, envFrom, roleRef, subjects, …) follow.
//!
//! Input: all rendered resources, each knowing the names it had before. Output: the same
//! resources with references updated. A reference matches a renamed resource of the target kind
//! that once had that name and is reachable from the referrer's namespace.

use serde_json::Value;

use super::ManifestError;
use super::fieldspecs::{self, NameRef};
use super::resource::{Resource, path_segments, visit};

struct Candidate {
    kind: String,
    name: String,
    namespace: String,
    cluster_scoped: bool,
    /// Earlier names and the namespaces they lived in.
    previous: Vec<(String, String)>,
}

pub fn fix(ra: &mut [Resource]) -> Result<(), ManifestError> {
    let candidates: Vec<Candidate> = ra
        .iter()
        .filter(|r| !r.prev.is_empty())
        .map(|r| {
            let cur = r.cur_id();
            Candidate {
                kind: cur.kind.clone(),
                name: cur.name.clone(),
                namespace: cur.namespace.clone(),
                cluster_scoped: r.is_cluster_scoped(),
                previous: r
                    .prev
                    .iter()
                    .map(|p| (p.name.clone(), p.namespace.clone()))
                    .collect(),
            }
        })
        .collect();
    if candidates.is_empty() {
        return Ok(());
    }
    let table = fieldspecs::name_refs();
    for r in ra.iter_mut() {
        let (group, _) = r.group_version();
        let group = group.to_owned();
        let referrer_ns = r.cur_id().namespace;
        let referrer_cluster = r.is_cluster_scoped();
        let origin = r.origin.clone();
        let refs: Vec<&NameRef> = table
            .iter()
            .filter(|n| {
                n.referrer == r.kind() && (n.referrer_group.is_empty() || n.referrer_group == group)
            })
            .collect();
        for nr in refs {
            let reachable: Vec<&Candidate> = candidates
                .iter()
                .filter(|c| c.kind == nr.target)
                .filter(|c| {
                    c.cluster_scoped
                        || referrer_cluster
                        || c.namespace == referrer_ns
                        || nr.target == "ServiceAccount"
                })
                .collect();
            if reachable.is_empty() {
                continue;
            }
            visit(&mut r.obj, &path_segments(&nr.path), false, &mut |v| {
                update(v, &reachable, nr.target, &referrer_ns)
                    .map_err(|m| ManifestError::file(origin.clone(), m))
            })?;
        }
    }
    Ok(())
}

fn new_name<'a>(
    old: &str,
    namespace: Option<&str>,
    candidates: &[&'a Candidate],
) -> Result<Option<&'a Candidate>, String> {
    let matching: Vec<&&Candidate> = candidates
        .iter()
        .filter(|c| {
            c.previous.iter().any(|(n, ns)| {
                n == old && namespace.is_none_or(|want| c.cluster_scoped || ns == want)
            })
        })
        .collect();
    let mut names: Vec<&str> = matching.iter().map(|c| c.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    match names.len() {
        0 => Ok(None),
        1 => Ok(matching.first().map(|c| **c)),
        _ => Err(format!(
            "reference to \"{old}\" is ambiguous: it could mean {}",
            names.join(", ")
        )),
    }
}

fn update(
    v: &mut Value,
    candidates: &[&Candidate],
    target: &str,
    referrer_ns: &str,
) -> Result<(), String> {
    match v {
        Value::String(s) => {
            if let Some(c) = new_name(s, None, candidates)? {
                s.clone_from(&c.name);
            }
        }
        Value::Array(items) => {
            for item in items {
                update(item, candidates, target, referrer_ns)?;
            }
        }
        Value::Object(m) => {
            // `subjects` entries and webhook `service` blocks: {kind?, name, namespace?}.
            if m.get("kind")
                .and_then(Value::as_str)
                .is_some_and(|k| k != target)
            {
                return Ok(());
            }
            let Some(old) = m.get("name").and_then(Value::as_str).map(str::to_owned) else {
                return Ok(());
            };
            let ns = m
                .get("namespace")
                .and_then(Value::as_str)
                .map_or_else(|| referrer_ns.to_owned(), str::to_owned);
            if let Some(c) = new_name(&old, Some(&ns), candidates)? {
                m.insert("name".into(), c.name.clone().into());
                if m.contains_key("namespace") && !c.cluster_scoped {
                    m.insert("namespace".into(), c.namespace.clone().into());
                }
            }
        }
        _ => {}
    }
    Ok(())
}
