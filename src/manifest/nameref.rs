//! Name references (stage: ⑤ render): after prefixes, suffixes, hashes and namespaces renamed
//! resources, the fields that name them (volumes, env, envFrom, roleRef, subjects, …) follow.
//!
//! Input: all rendered resources, each knowing the names it had before. Output: the same
//! resources with references updated. A reference matches a renamed resource of the target kind
//! that once had that name and is reachable from the referrer's namespace. Candidates are
//! indexed by (kind, earlier name), so a render stays linear in the number of references.

use std::collections::HashMap;

use serde_json::Value;

use super::ManifestError;
use super::fieldspecs::{self, NameRef};
use super::par;
use super::resource::{Resource, path_segments, visit};

struct Candidate {
    name: String,
    namespace: String,
    cluster_scoped: bool,
    prefixes: Vec<String>,
    suffixes: Vec<String>,
    /// Earlier names and the namespaces they lived in.
    previous: Vec<(String, String)>,
}

/// Renamed resources by (kind, any earlier name).
struct Index {
    candidates: Vec<Candidate>,
    /// kind → earlier name → candidates; nested so lookups borrow instead of allocating.
    by_old_name: HashMap<String, HashMap<String, Vec<usize>>>,
}

impl Index {
    fn new(ra: &[Resource]) -> Self {
        let mut candidates = Vec::new();
        let mut by_old_name: HashMap<String, HashMap<String, Vec<usize>>> = HashMap::new();
        for r in ra.iter().filter(|r| !r.prev.is_empty()) {
            let cur = r.cur_id();
            let i = candidates.len();
            let mut previous: Vec<(String, String)> = r
                .prev
                .iter()
                .map(|p| (p.name.clone(), p.namespace.clone()))
                .collect();
            previous.dedup();
            for (name, _) in &previous {
                let slot = by_old_name
                    .entry(cur.kind.clone())
                    .or_default()
                    .entry(name.clone())
                    .or_default();
                if slot.last() != Some(&i) {
                    slot.push(i);
                }
            }
            candidates.push(Candidate {
                name: cur.name,
                namespace: cur.namespace,
                cluster_scoped: r.is_cluster_scoped(),
                prefixes: r.prefixes.clone(),
                suffixes: r.suffixes.clone(),
                previous,
            });
        }
        Self {
            candidates,
            by_old_name,
        }
    }

    /// The renamed resource `old` now refers to, seen from `referrer_ns`.
    /// `namespace`: the one a `{name, namespace}` reference gives (`None`: a plain name, or a
    /// map without one). `map`: the reference is a map, so candidates are the same only when
    /// their names and namespaces are.
    fn lookup(
        &self,
        target: &str,
        old: &str,
        referrer: &Referrer,
        namespace: Option<&str>,
        map: bool,
    ) -> Result<Option<&Candidate>, String> {
        let Some(ids) = self.by_old_name.get(target).and_then(|m| m.get(old)) else {
            return Ok(None);
        };
        let matching: Vec<&Candidate> = ids
            .iter()
            .map(|&i| &self.candidates[i])
            .filter(|c| {
                c.cluster_scoped
                    || referrer.cluster_scoped
                    || c.namespace == referrer.namespace
                    || target == "ServiceAccount"
            })
            .filter(|c| {
                c.previous.iter().any(|(n, ns)| {
                    n == old && namespace.is_none_or(|want| c.cluster_scoped || ns == want)
                })
            })
            .collect();
        if matching.len() <= 1 {
            return Ok(matching.first().copied());
        }
        // Several: prefer those whose outer prefixes and suffixes are the referrer's.
        let mut sieved: Vec<&Candidate> = matching
            .into_iter()
            .filter(|c| affixes_match(c, referrer, true))
            .collect();
        if sieved.len() > 1 {
            sieved.retain(|c| affixes_match(c, referrer, false));
        }
        let mut names: Vec<String> = sieved
            .iter()
            .map(|c| match (map, c.namespace.as_str()) {
                (true, ns) if !ns.is_empty() => format!("{}/{}", ns, c.name),
                _ => c.name.clone(),
            })
            .collect();
        names.sort_unstable();
        names.dedup();
        match names.len() {
            0 => Ok(None),
            1 => Ok(sieved.first().copied()),
            _ => Err(format!(
                "reference to {target} \"{old}\" is ambiguous: it could mean {}",
                names.join(", ")
            )),
        }
    }
}

struct Referrer {
    namespace: String,
    cluster_scoped: bool,
    prefixes: Vec<String>,
    suffixes: Vec<String>,
}

/// kustomize's `SameEndingSubSlice`: the shorter list ends the longer one (two empty lists
/// agree; an empty one agrees with no non-empty one).
fn same_ending(a: &[String], b: &[String]) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    long.ends_with(short) && (!short.is_empty() || long.is_empty())
}

/// kustomize's `PrefixesSuffixesEquals`; with `allow_empty`, no prefixes on either side match
/// any prefixes.
fn affixes_match(c: &Candidate, r: &Referrer, allow_empty: bool) -> bool {
    let ok = |x: &[String], y: &[String]| {
        (allow_empty && (x.is_empty() || y.is_empty())) || same_ending(x, y)
    };
    ok(&c.prefixes, &r.prefixes) && ok(&c.suffixes, &r.suffixes)
}

/// Updates every reference to a renamed resource; `extra` are the `nameReference` entries of
/// `configurations` files.
pub fn fix(ra: &mut [Resource], extra: &[NameRef]) -> Result<(), ManifestError> {
    ra.iter().try_for_each(blank_subject_namespace)?;
    let index = Index::new(ra);
    if index.candidates.is_empty() {
        return Ok(());
    }
    let mut table = fieldspecs::name_refs();
    for nr in extra {
        if !table.contains(nr) {
            table.push(nr.clone());
        }
    }
    let mut by_referrer: HashMap<&str, Vec<(&NameRef, Vec<String>)>> = HashMap::new();
    for nr in &table {
        by_referrer
            .entry(nr.referrer.as_ref())
            .or_default()
            .push((nr, path_segments(&nr.path)));
    }
    let no_refs = Vec::new();
    par::try_each(ra, |r| {
        let any_kind = by_referrer.get("").unwrap_or(&no_refs);
        let refs: Vec<&(&NameRef, Vec<String>)> = by_referrer
            .get(r.kind())
            .into_iter()
            .flatten()
            .chain(any_kind)
            .collect();
        if refs.is_empty() {
            return Ok(());
        }
        let group = r.group_version().0.to_owned();
        let referrer = Referrer {
            namespace: r.cur_id().namespace,
            cluster_scoped: r.is_cluster_scoped(),
            prefixes: r.prefixes.clone(),
            suffixes: r.suffixes.clone(),
        };
        let origin = r.origin.clone();
        for (nr, segments) in refs {
            if !nr.referrer_group.is_empty() && nr.referrer_group != group {
                continue;
            }
            visit(&mut r.obj, segments, false, &mut |v| {
                update(v, &index, &nr.target, &referrer)
                    .map_err(|m| ManifestError::file(origin.clone(), m))
            })?;
        }
        Ok(())
    })?;
    Ok(())
}

/// kustomize refuses a `RoleBinding` whose `ServiceAccount` subject has a `namespace:` that is
/// not a string (left blank), whatever else the build holds.
fn blank_subject_namespace(r: &Resource) -> Result<(), ManifestError> {
    if r.kind() != "RoleBinding" {
        return Ok(());
    }
    let subjects = r.obj.get("subjects").and_then(Value::as_array);
    for (i, s) in subjects.into_iter().flatten().enumerate() {
        let is_sa = s.get("kind").and_then(Value::as_str) == Some("ServiceAccount");
        let blank = s.get("namespace").is_some_and(|ns| !ns.is_string());
        if is_sa && blank {
            return Err(ManifestError::file(
                r.origin.clone(),
                format!(
                    "RoleBinding \"{}\": subjects[{i}].namespace is blank; name the \
                     ServiceAccount's namespace or remove the field (kustomize refuses it too)",
                    r.name()
                ),
            ));
        }
    }
    Ok(())
}

fn update(v: &mut Value, index: &Index, target: &str, referrer: &Referrer) -> Result<(), String> {
    match v {
        Value::String(s) => {
            if let Some(c) = index.lookup(target, s, referrer, None, false)? {
                s.clone_from(&c.name);
            }
        }
        Value::Array(items) => {
            for item in items {
                update(item, index, target, referrer)?;
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
            // A subject without a namespace in a cluster-scoped binding names a service
            // account in any namespace; kustomize then writes the one it found.
            let given = m
                .get("namespace")
                .and_then(Value::as_str)
                .map(str::to_owned);
            let any_namespace = given.is_none() && referrer.cluster_scoped;
            let ns = given.clone().unwrap_or_else(|| referrer.namespace.clone());
            let want = (!any_namespace).then_some(ns.as_str());
            if let Some(c) = index.lookup(target, &old, referrer, want, true)? {
                m.insert("name".into(), c.name.clone().into());
                if (given.is_some() || any_namespace)
                    && !c.cluster_scoped
                    && !c.namespace.is_empty()
                {
                    m.insert("namespace".into(), c.namespace.clone().into());
                }
            }
        }
        _ => {}
    }
    Ok(())
}
