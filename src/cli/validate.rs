//! `gantry validate [DIR]`: config repo → apps × environments table, or located errors.
//!
//! A CI gate built on it must fail exactly where the daemon would: besides gantry.yaml and the
//! policy files, every app × environment is rendered from the checkout (in parallel) and checked
//! against the registry and workload policies, as a sync does before it applies anything.
//! Signatures are not verified here: that needs the registry (`gantry verify` does it).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::artifact::admit;
use crate::config::{self, Cluster, Config};
use crate::manifest::{self, DiskFs, Reorder};

/// Some app × environment does not render or is refused by a policy; each was printed.
#[derive(Debug, thiserror::Error)]
#[error("{count} error{} in the config repo", if *.count == 1 { "" } else { "s" })]
pub struct Invalid {
    pub count: usize,
}

pub fn run(dir: &Path) -> anyhow::Result<()> {
    let config = config::load(dir)?;
    tracing::debug!(dir = %dir.display(), apps = config.apps.len(), "config repo is valid");
    let fs = DiskFs::new(dir).map_err(|source| config::ConfigError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    let errors = check_renders(&config, &fs);
    let mut out = table(&config);
    if errors.is_empty() {
        let pairs = pairs(&config).len();
        let _ = writeln!(
            out,
            "rendered {pairs} app × environment{}: ok",
            if pairs == 1 { "" } else { "s" }
        );
        print!("{out}");
        return Ok(());
    }
    for e in &errors {
        eprintln!("{e}");
    }
    Err(Invalid {
        count: errors.len(),
    }
    .into())
}

/// (app, environment, namespace, overlay) for every app × environment.
fn pairs(config: &Config) -> Vec<(String, String, String, PathBuf)> {
    let mut out = Vec::new();
    for app in &config.apps {
        for env in config
            .environments
            .iter()
            .filter(|e| app.environments.contains(&e.name))
        {
            out.push((
                app.name.clone(),
                env.name.clone(),
                env.namespace.clone(),
                app.overlay_dir(&env.name),
            ));
        }
    }
    out
}

/// Renders and admits every app × environment on all cores; one message per failure, in
/// table order.
fn check_renders(config: &Config, fs: &DiskFs) -> Vec<String> {
    let pairs = pairs(config);
    let workers = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .min(pairs.len().max(1));
    let chunk = pairs.len().div_ceil(workers).max(1);
    let results: Vec<Vec<Option<String>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = pairs
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || part.iter().map(|p| check_one(config, fs, p)).collect())
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a render thread panicked"))
            .collect()
    });
    results.into_iter().flatten().flatten().collect()
}

fn check_one(
    config: &Config,
    fs: &DiskFs,
    (app, env, namespace, overlay): &(String, String, String, PathBuf),
) -> Option<String> {
    let resources = match manifest::render(fs, overlay, Reorder::Legacy) {
        Ok(r) => r,
        Err(e) => return Some(format!("{app} in {env}: {e}")),
    };
    let rendered: Vec<_> = resources.into_iter().map(|r| (r.obj, r.origin)).collect();
    let refusals: Vec<String> = admit::admit(&rendered, &config.policies, namespace)
        .into_iter()
        .filter(|v| v.enforce)
        .map(|v| v.to_string())
        .collect();
    (!refusals.is_empty()).then(|| {
        format!(
            "{app} in {env}: refused by policy:\n{}",
            refusals.join("\n")
        )
    })
}

/// One row per app and environment it runs in, environments in promotion order.
#[must_use]
pub fn table(config: &Config) -> String {
    let mut rows = vec![[
        "APP".to_owned(),
        "ENV".to_owned(),
        "CLUSTER".to_owned(),
        "NAMESPACE".to_owned(),
        "OVERLAY".to_owned(),
        "PROMOTION".to_owned(),
    ]];
    for app in &config.apps {
        for env in config
            .environments
            .iter()
            .filter(|e| app.environments.contains(&e.name))
        {
            let promotion = match &env.promote_from {
                Some(from) => format!("{} from {from}", env.promotion.as_str()),
                None => "from pipeline".to_owned(),
            };
            let cluster = match &env.cluster {
                Cluster::InCluster => config::IN_CLUSTER.to_owned(),
                Cluster::Context(c) => c.clone(),
            };
            rows.push([
                app.name.clone(),
                env.name.clone(),
                cluster,
                env.namespace.clone(),
                app.overlay_dir(&env.name).display().to_string(),
                promotion,
            ]);
        }
    }
    let mut out = super::table::render(&rows);
    let _ = writeln!(
        out,
        "\nok: {}, {}, {}, {}",
        count(config.apps.len(), "app", "apps"),
        count(config.environments.len(), "environment", "environments"),
        count(
            config.rollouts.len(),
            "rollout strategy",
            "rollout strategies"
        ),
        count(config.policies.len(), "policy file", "policy files"),
    );
    out
}

fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
