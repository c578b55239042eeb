//! Config repo model (stage: none; every stage reads it).
//!
//! Input: a config repo checkout: `gantry.yaml` plus the overlay, pipeline and policy files it
//! names. Output: validated [`Config`] settings, or every problem found, each located at
//! `file:line:col` with its field path. Only reads files; no other I/O.

mod apps;
mod environments;
mod image_update;
pub use crate::core::diag;
pub mod model;
pub mod policy;
mod raw;
mod raw_rollout;
mod rollout_model;
mod rollouts;
mod templates;
mod validate;

use std::fmt;
use std::path::{Path, PathBuf};

pub use apps::KUSTOMIZATION_FILES;
pub use diag::Diagnostic;
pub use model::*;
pub use validate::{API_VERSION, CONFIG_KIND, IN_CLUSTER};

use crate::core::fs::Fs;
use diag::Sink;
use raw::RawConfig;
use validate::Names;

/// Name of the file at the config repo root that describes everything else.
pub const CONFIG_FILE: &str = "gantry.yaml";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", Invalid(.0))]
    Invalid(Vec<Diagnostic>),
}

/// Displays diagnostics one per line, then a count, as compilers do.
struct Invalid<'a>(&'a [Diagnostic]);

impl fmt::Display for Invalid<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in self.0 {
            writeln!(f, "{d}")?;
        }
        let n = self.0.len();
        write!(
            f,
            "{n} error{} in the config repo",
            if n == 1 { "" } else { "s" }
        )
    }
}

/// Reads and validates the config repo checked out at `root`.
pub fn load(root: &Path) -> Result<Config, ConfigError> {
    let fs = crate::core::fs::DiskFs::new(root).map_err(|source| ConfigError::Read {
        path: root.to_path_buf(),
        source,
    })?;
    load_from(&fs, root)
}

/// The policy files gantry.yaml lists, each parsed; their own files' diagnostics apart.
fn policies(
    sink: &mut Sink,
    fs: &dyn Fs,
    raw: &RawConfig,
) -> (Vec<policy::Policy>, Vec<diag::Diagnostic>) {
    let known_envs: Vec<String> = raw
        .environments
        .iter()
        .map(|e| e.value.name.value.clone())
        .collect();
    let mut policies = Vec::new();
    let mut policy_diagnostics = Vec::new();
    for (i, p) in raw.policies.iter().enumerate() {
        let field = format!("policies[{i}]");
        let Some(rel) = validate::existing_file(sink, fs, p, &field, "policy") else {
            continue;
        };
        let file = rel.to_string_lossy().into_owned();
        let text = match fs.read(&rel).map(String::from_utf8) {
            Ok(Ok(t)) => t,
            Ok(Err(_)) => {
                sink.error(
                    p.referenced,
                    field,
                    format!("cannot read policy file \"{file}\": not UTF-8 text"),
                );
                continue;
            }
            Err(e) => {
                sink.error(
                    p.referenced,
                    field,
                    format!("cannot read policy file \"{file}\": {e}"),
                );
                continue;
            }
        };
        match policy::parse(&file, &text, &known_envs) {
            Ok(spec) => policies.push(policy::Policy { file: rel, spec }),
            Err(mut d) => policy_diagnostics.append(&mut d),
        }
    }
    (policies, policy_diagnostics)
}

/// Reads and validates a config repo through `fs` (a checkout, or a commit's tree read from
/// git without one); `root` is recorded in the result and names where it came from.
pub fn load_from(fs: &dyn Fs, root: &Path) -> Result<Config, ConfigError> {
    let read = |rel: &Path| {
        fs.read(rel).and_then(|b| {
            String::from_utf8(b)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
        })
    };
    let text = read(Path::new(CONFIG_FILE)).map_err(|source| ConfigError::Read {
        path: root.join(CONFIG_FILE),
        source,
    })?;
    let raw: RawConfig =
        diag::parse(CONFIG_FILE, &text).map_err(|d| ConfigError::Invalid(vec![d]))?;
    let mut sink = Sink::new(CONFIG_FILE);
    validate::header(&mut sink, &raw, CONFIG_KIND);
    let registry = raw
        .registry
        .as_ref()
        .and_then(|r| validate::registry(&mut sink, r));
    let forge = raw
        .forge
        .as_ref()
        .and_then(|f| validate::forge(&mut sink, f));
    let commit_author = match &raw.commit_author {
        Some(a) => validate::commit_author(&mut sink, a).unwrap_or_default(),
        None => CommitAuthor::default(),
    };
    let mut env_names = Names::new("environment");
    let environments = environments::environments(&mut sink, &raw.environments, &mut env_names);
    let mut rollout_names = Names::new("rollout");
    let analysis_templates =
        templates::templates(&mut sink, &raw.analysis_templates, raw.prometheus.as_ref());
    let known = rollouts::Templates {
        all: &analysis_templates,
        raw: &raw.analysis_templates,
    };
    let rollouts = rollouts::rollouts(
        &mut sink,
        &raw.rollouts,
        (&mut rollout_names, &env_names),
        &known,
    );
    let order: Vec<String> = environments.iter().map(|e| e.name.clone()).collect();
    let apps = apps::apps(
        &mut sink,
        fs,
        &raw.apps,
        (&env_names, &order),
        &rollout_names,
    );

    let (policies, mut policy_diagnostics) = policies(&mut sink, fs, &raw);

    let mut diagnostics = sink.into_diagnostics();
    diagnostics.sort_by_key(|d| (d.line, d.column));
    diagnostics.append(&mut policy_diagnostics);
    if !diagnostics.is_empty() {
        return Err(ConfigError::Invalid(diagnostics));
    }
    Ok(Config {
        root: root.to_path_buf(),
        registry,
        environments,
        apps,
        rollouts,
        analysis_templates,
        policies,
        commit_author,
        forge,
    })
}
