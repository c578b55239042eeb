//! Validation of `apps[].imageUpdate` in `gantry.yaml` (stage: config).
//!
//! Input: the raw section, the app's environments and all environments in promotion order.
//! Output: an [`ImageUpdate`] with its environment resolved and its tag globs compiled;
//! problems go to the [`Sink`] with the field's place.

use super::diag::Sink;
use super::model::ImageUpdate;
use super::raw::{RawImageUpdate, S};

/// `raw` checked: its environment one the app runs in (default: the app's first in
/// `order`), every tag a valid glob. `None` when something was wrong (already reported).
pub(super) fn image_update(
    sink: &mut Sink,
    raw: &S<RawImageUpdate>,
    path: &str,
    (app_envs, order): (&[String], &[String]),
) -> Option<ImageUpdate> {
    let mut ok = true;
    let environment = match &raw.value.environment {
        Some(env) if app_envs.contains(&env.value) => Some(env.value.clone()),
        Some(env) => {
            sink.error(
                env.referenced,
                format!("{path}.environment"),
                format!(
                    "\"{}\" is not one of the app's environments ({})",
                    env.value,
                    app_envs.join(", ")
                ),
            );
            None
        }
        None => order.iter().find(|e| app_envs.contains(e)).cloned(),
    };
    let mut builder = globset::GlobSetBuilder::new();
    let mut tags = Vec::new();
    for (j, tag) in raw.value.tags.iter().enumerate() {
        let text = tag.value.trim();
        let glob = if text.is_empty() {
            Err("an empty pattern matches no tag".to_owned())
        } else {
            globset::Glob::new(text).map_err(|e| e.kind().to_string())
        };
        match glob {
            Ok(g) => {
                builder.add(g);
                tags.push(text.to_owned());
            }
            Err(why) => {
                sink.error(
                    tag.referenced,
                    format!("{path}.tags[{j}]"),
                    format!("invalid tag pattern \"{text}\": {why}"),
                );
                ok = false;
            }
        }
    }
    let matcher = builder.build().ok()?;
    (ok && environment.is_some()).then(|| ImageUpdate {
        environment: environment.expect("checked above"),
        tags,
        matcher,
    })
}
