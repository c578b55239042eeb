//! Validation of `gantry.yaml`'s `environments:` (stage: config): names, namespaces,
//! clusters, sync windows, soak times and the promotion chain.
//!
//! Input: the raw environments. Output: [`Environment`]s ordered along the promotion chain
//! (each after the one it promotes from), every problem recorded in the [`Sink`]; a cycle in
//! the chain is reported once, at its first environment in file order.

use std::collections::HashMap;

use croner::parser::{CronParser, Seconds, Year};

use super::diag::Sink;
use super::model::{Cluster, Environment, PromotionMode, SyncWindow, WindowKind};
use super::raw::{RawEnvironment, RawPromotionMode, RawWindowKind, S};
use super::validate::{IN_CLUSTER, Names, duration, is_dns_label};

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
        out.extend(environment(sink, (&env.value, i), named, names));
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

/// `environments[i]`, when it is valid (`name_ok`: its name was).
fn environment(
    sink: &mut Sink,
    (e, i): (&RawEnvironment, usize),
    name_ok: bool,
    names: &Names<'_>,
) -> Option<Environment> {
    let path = |field: &str| format!("environments[{i}].{field}");
    let mut ok = name_ok;
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
    let sync_windows = sync_windows(sink, e, i);
    ok &= sync_windows.is_some();
    let soak_time = match &e.soak_time {
        Some(s) => {
            let d = duration(sink, s, &path("soakTime"));
            ok &= d.is_some();
            d
        }
        None => None,
    };
    ok.then(|| Environment {
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
        sync_windows: sync_windows.unwrap_or_default(),
        soak_time,
    })
}

/// `environments[i].syncWindows`, when every window is valid.
fn sync_windows(sink: &mut Sink, e: &RawEnvironment, i: usize) -> Option<Vec<SyncWindow>> {
    let mut ok = true;
    let mut windows = Vec::new();
    for (j, w) in e.sync_windows.iter().enumerate() {
        let wp = format!("environments[{i}].syncWindows[{j}]");
        let schedule = cron(sink, &w.value.schedule, &format!("{wp}.schedule"));
        let length = duration(sink, &w.value.duration, &format!("{wp}.duration"));
        match (schedule, length) {
            (Some(schedule), Some(duration)) => windows.push(SyncWindow {
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
    ok.then_some(windows)
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
