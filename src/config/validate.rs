//! Validation of `gantry.yaml`: raw types → settings (stage: config).
//!
//! Input: [`RawConfig`] and the config repo root (to check that referenced files exist).
//! Output: [`Config`] pieces, with every problem recorded in the [`Sink`] instead of stopping at
//! the first, so a user fixes a file in one round trip.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use croner::parser::{CronParser, Seconds, Year};
use serde_saphyr::Location;

use crate::core::fs::Fs;

use super::diag::Sink;
use super::model::{
    Cluster, CommitAuthor, Environment, PromotionMode, Registry, SecretRef, SyncWindow, WindowKind,
};
use super::raw::{
    RawCommitAuthor, RawConfig, RawEnvironment, RawPromotionMode, RawRegistry, RawSecretRef,
    RawWindowKind, S,
};

pub const API_VERSION: &str = "gantry.dev/v1alpha1";
pub const CONFIG_KIND: &str = "Config";
/// Value of `environments[].cluster` that selects the in-cluster service account.
pub const IN_CLUSTER: &str = "in-cluster";

pub(super) fn header(sink: &mut Sink, raw: &RawConfig, kind: &str) {
    if raw.api_version.value != API_VERSION {
        sink.error(
            raw.api_version.referenced,
            "apiVersion",
            format!(
                "unsupported apiVersion \"{}\" (expected \"{API_VERSION}\")",
                raw.api_version.value
            ),
        );
    }
    if raw.kind.value != kind {
        sink.error(
            raw.kind.referenced,
            "kind",
            format!("kind must be \"{kind}\", found \"{}\"", raw.kind.value),
        );
    }
}

/// Remembers the first place each name was defined, to report duplicates against it.
pub(super) struct Names<'a> {
    what: &'a str,
    seen: HashMap<String, Location>,
}

impl<'a> Names<'a> {
    pub(super) fn new(what: &'a str) -> Self {
        Self {
            what,
            seen: HashMap::new(),
        }
    }

    /// Checks `name` is a DNS-1123 label (it ends up in Kubernetes labels) and not a duplicate.
    pub(super) fn check(&mut self, sink: &mut Sink, name: &S<String>, path: &str) -> bool {
        if !is_dns_label(&name.value) {
            sink.error(
                name.referenced,
                path,
                format!(
                    "invalid {} name \"{}\": use lowercase letters, digits and '-', at most 63 characters, starting and ending with a letter or digit",
                    self.what, name.value
                ),
            );
            return false;
        }
        if let Some(first) = self.seen.get(&name.value) {
            sink.error(
                name.referenced,
                path,
                format!(
                    "duplicate {} name \"{}\" (first defined at {}:{}:{})",
                    self.what,
                    name.value,
                    sink.file(),
                    first.line(),
                    first.column()
                ),
            );
            return false;
        }
        self.seen.insert(name.value.clone(), name.referenced);
        true
    }

    pub(super) fn contains(&self, name: &str) -> bool {
        self.seen.contains_key(name)
    }

    /// Known names in definition order, for "known: …" hints.
    pub(super) fn known(&self) -> String {
        let mut names: Vec<(&String, &Location)> = self.seen.iter().collect();
        names.sort_by_key(|(_, at)| (at.line(), at.column()));
        let names: Vec<&str> = names.into_iter().map(|(n, _)| n.as_str()).collect();
        if names.is_empty() {
            "none defined".to_owned()
        } else {
            format!("known: {}", names.join(", "))
        }
    }
}

pub(super) fn is_dns_label(s: &str) -> bool {
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-'
}

pub(super) fn duration(sink: &mut Sink, raw: &S<String>, path: &str) -> Option<Duration> {
    match humantime::parse_duration(raw.value.trim()) {
        Ok(d) => Some(d),
        Err(e) => {
            sink.error(
                raw.referenced,
                path,
                format!("invalid duration \"{}\": {e}", raw.value),
            );
            None
        }
    }
}

fn cron(sink: &mut Sink, raw: &S<String>, path: &str) -> Option<croner::Cron> {
    // Standard 5-field Unix cron only: a seconds field would silently shift every schedule.
    let parser = CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build();
    match parser.parse(raw.value.trim()) {
        Ok(c) => Some(c),
        Err(e) => {
            sink.error(
                raw.referenced,
                path,
                format!(
                    "invalid cron expression \"{}\": {e} (expected 5 fields: minute hour day-of-month month day-of-week)",
                    raw.value
                ),
            );
            None
        }
    }
}

/// Resolves a repo-relative path, refusing absolute paths and paths that leave the repo.
pub(super) fn repo_path(sink: &mut Sink, raw: &S<String>, path: &str) -> Option<PathBuf> {
    let p = Path::new(raw.value.trim());
    let escapes = p.is_absolute()
        || p.components()
            .any(|c| matches!(c, Component::ParentDir | Component::Prefix(_)));
    if raw.value.trim().is_empty() || escapes {
        sink.error(
            raw.referenced,
            path,
            format!(
                "path \"{}\" must be relative to the config repo and stay inside it",
                raw.value
            ),
        );
        return None;
    }
    Some(p.to_path_buf())
}

/// Checks that a repo-relative file exists, reporting `what` when it does not.
pub(super) fn existing_file(
    sink: &mut Sink,
    fs: &dyn Fs,
    raw: &S<String>,
    path: &str,
    what: &str,
) -> Option<PathBuf> {
    let rel = repo_path(sink, raw, path)?;
    if fs.is_file(&rel) {
        Some(rel)
    } else {
        sink.error(
            raw.referenced,
            path,
            format!("{what} file \"{}\" does not exist", rel.display()),
        );
        None
    }
}

pub(super) fn secret_ref(sink: &mut Sink, raw: &S<RawSecretRef>, path: &str) -> Option<SecretRef> {
    let r = &raw.value;
    let set: Vec<SecretRef> = [
        r.secret
            .as_ref()
            .map(|s| SecretRef::Secret(s.value.clone())),
        r.file
            .as_ref()
            .map(|s| SecretRef::File(PathBuf::from(&s.value))),
        r.env.as_ref().map(|s| SecretRef::Env(s.value.clone())),
    ]
    .into_iter()
    .flatten()
    .collect();
    if set.len() == 1 {
        set.into_iter().next()
    } else {
        sink.error(
            raw.referenced,
            path,
            format!(
                "set exactly one of secret, file or env (found {}); the secret itself never goes in a config file",
                set.len()
            ),
        );
        None
    }
}

/// A git identity: no angle brackets or line breaks (they would break the commit header), and
/// an email with an `@`.
pub(super) fn commit_author(sink: &mut Sink, raw: &S<RawCommitAuthor>) -> Option<CommitAuthor> {
    let (name, email) = (&raw.value.name, &raw.value.email);
    let bad = |s: &str| s.trim().is_empty() || s.contains(['<', '>', '\n', '\r']);
    let mut ok = true;
    if bad(&name.value) {
        sink.error(
            name.referenced,
            "commitAuthor.name",
            "must be non-empty, without '<', '>' or line breaks",
        );
        ok = false;
    }
    if bad(&email.value) || !email.value.contains('@') || email.value.contains(char::is_whitespace)
    {
        sink.error(
            email.referenced,
            "commitAuthor.email",
            format!("invalid email \"{}\": expected user@host", email.value),
        );
        ok = false;
    }
    ok.then(|| CommitAuthor {
        name: name.value.trim().to_owned(),
        email: email.value.clone(),
    })
}

pub(super) fn registry(sink: &mut Sink, raw: &S<RawRegistry>) -> Option<Registry> {
    let r = &raw.value;
    let url = r.url.value.trim();
    let host = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .unwrap_or(url)
        .trim_end_matches('/');
    let mut ok = true;
    if host.is_empty() || host.contains(['/', ' ', '@']) {
        sink.error(
            r.url.referenced,
            "registry.url",
            format!(
                "invalid registry URL \"{url}\": expected a host[:port], optionally with http:// or https:// and no path"
            ),
        );
        ok = false;
    }
    let credentials = match &r.credentials {
        Some(c) => {
            let parsed = secret_ref(sink, c, "registry.credentials");
            ok &= parsed.is_some();
            parsed
        }
        None => None,
    };
    ok.then(|| Registry {
        url: url.to_owned(),
        project: r.project.as_ref().map(|p| p.value.clone()),
        credentials,
    })
}

/// Validates environments and orders them along the promotion chain.
pub(super) fn environments(
    sink: &mut Sink,
    raw: &[S<RawEnvironment>],
    names: &mut Names<'_>,
) -> Vec<Environment> {
    let mut out = Vec::new();
    let mut name_ok = Vec::new();
    for (i, env) in raw.iter().enumerate() {
        name_ok.push(names.check(sink, &env.value.name, &format!("environments[{i}].name")));
    }
    for (i, (env, named)) in raw.iter().zip(name_ok).enumerate() {
        let e = &env.value;
        let path = |field: &str| format!("environments[{i}].{field}");
        let mut ok = named;
        if let Some(from) = &e.promote_from
            && !names.contains(&from.value)
        {
            sink.error(
                from.referenced,
                path("promoteFrom"),
                format!("unknown environment \"{}\" ({})", from.value, names.known()),
            );
            ok = false;
        }
        let namespace = match &e.namespace {
            Some(ns) if !is_dns_label(&ns.value) => {
                sink.error(
                    ns.referenced,
                    path("namespace"),
                    format!(
                        "invalid namespace \"{}\": must be a DNS-1123 label",
                        ns.value
                    ),
                );
                ok = false;
                String::new()
            }
            Some(ns) => ns.value.clone(),
            None => e.name.value.clone(),
        };
        let cluster = match &e.cluster {
            Some(c) if c.value.trim().is_empty() => {
                sink.error(
                    c.referenced,
                    path("cluster"),
                    format!("cluster must name a kubeconfig context or \"{IN_CLUSTER}\""),
                );
                ok = false;
                Cluster::InCluster
            }
            Some(c) if c.value != IN_CLUSTER => Cluster::Context(c.value.clone()),
            _ => Cluster::InCluster,
        };
        let mut sync_windows = Vec::new();
        for (j, w) in e.sync_windows.iter().enumerate() {
            let wp = format!("environments[{i}].syncWindows[{j}]");
            let schedule = cron(sink, &w.value.schedule, &format!("{wp}.schedule"));
            let length = duration(sink, &w.value.duration, &format!("{wp}.duration"));
            match (schedule, length) {
                (Some(schedule), Some(duration)) => sync_windows.push(SyncWindow {
                    kind: match w.value.kind.value {
                        RawWindowKind::Allow => WindowKind::Allow,
                        RawWindowKind::Deny => WindowKind::Deny,
                    },
                    schedule,
                    duration,
                    manual_sync: w.value.manual_sync.as_ref().is_some_and(|m| m.value),
                }),
                _ => ok = false,
            }
        }
        let soak_time = match &e.soak_time {
            Some(s) => {
                let d = duration(sink, s, &path("soakTime"));
                ok &= d.is_some();
                d
            }
            None => None,
        };
        if !ok {
            continue;
        }
        out.push(Environment {
            name: e.name.value.clone(),
            cluster,
            namespace,
            promote_from: e.promote_from.as_ref().map(|f| f.value.clone()),
            promotion: match e.promotion.as_ref().map(|p| p.value) {
                Some(RawPromotionMode::Auto) => PromotionMode::Auto,
                // A pull request is the safe default: a human sees every promotion.
                Some(RawPromotionMode::Pr) | None => PromotionMode::Pr,
                Some(RawPromotionMode::Manual) => PromotionMode::Manual,
            },
            sync_windows,
            soak_time,
        });
    }
    if chain_cycles(sink, raw) {
        return out;
    }
    order_by_chain(out)
}

/// Reports every promotion cycle once, at the first environment of the cycle in file order.
fn chain_cycles(sink: &mut Sink, raw: &[S<RawEnvironment>]) -> bool {
    let from: HashMap<&str, &str> = raw
        .iter()
        .filter_map(|e| {
            let f = e.value.promote_from.as_ref()?;
            Some((e.value.name.value.as_str(), f.value.as_str()))
        })
        .collect();
    let mut reported: Vec<&str> = Vec::new();
    for (i, env) in raw.iter().enumerate() {
        let start = env.value.name.value.as_str();
        if reported.contains(&start) {
            continue;
        }
        // Walk upstream; a cycle through `start` returns to it.
        let mut walk = vec![start];
        let mut cur = start;
        while let Some(&next) = from.get(cur) {
            if next == start {
                walk.reverse();
                walk.push(walk[0]);
                reported.extend(walk.iter().copied());
                let Some(f) = &env.value.promote_from else {
                    break;
                };
                sink.error(
                    f.referenced,
                    format!("environments[{i}].promoteFrom"),
                    format!("promotion chain has a cycle: {}", walk.join(" -> ")),
                );
                break;
            }
            if walk.contains(&next) {
                break; // a cycle upstream that does not pass through `start`
            }
            walk.push(next);
            cur = next;
        }
    }
    !reported.is_empty()
}

/// Stable order: each environment after the one it promotes from. Runs only on an acyclic chain.
fn order_by_chain(mut envs: Vec<Environment>) -> Vec<Environment> {
    let depths: HashMap<String, usize> = envs
        .iter()
        .map(|e| {
            let mut depth = 0usize;
            let mut cur = e.promote_from.as_deref();
            while let Some(name) = cur {
                depth += 1;
                cur = envs
                    .iter()
                    .find(|x| x.name == name)
                    .and_then(|x| x.promote_from.as_deref());
            }
            (e.name.clone(), depth)
        })
        .collect();
    envs.sort_by_key(|e| depths[&e.name]);
    envs
}
