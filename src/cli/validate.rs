//! `gantry validate [DIR]`: config repo → apps × environments table, or located errors.

use std::fmt::Write as _;
use std::path::Path;

use crate::config::{self, Cluster, Config};

pub fn run(dir: &Path) -> anyhow::Result<()> {
    let config = config::load(dir)?;
    tracing::debug!(dir = %dir.display(), apps = config.apps.len(), "config repo is valid");
    print!("{}", table(&config));
    Ok(())
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
