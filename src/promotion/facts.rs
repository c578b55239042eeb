//! Gathering what the gates read (stage ⑧, reads git): the digest an overlay pins, how long it
//! has soaked, whether a rollback rejected it, the target's sync window, and what a canary
//! record says about its analysis.
//!
//! Input: the config tree or repository at a tip, the app and its environments, the time, and
//! the caller's view of the source (applied revision and health, the canary record). Output:
//! the parts of [`Facts`](super::Facts) that do not need a registry. Everything is read from
//! git, never a tag from the registry: the digest the overlay pins is the digest promoted.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::gates::{Check, SourceHealth};
use crate::audit::{self, Filter};
use crate::config::{App, Environment};
use crate::core::ImageRef;
use crate::core::fs::{Fs, KUSTOMIZATION_FILES};
use crate::rollout::drive::Canary;
use crate::rollout::machine::RolloutPhase;

/// The image (with its digest) `app`'s overlay in `env` pins; `Ok(None)` when it pins no
/// digest (a tag only): such an image cannot be promoted as tested.
///
/// # Errors
///
/// The overlay's kustomization cannot be read or parsed; the message names the file.
pub fn image_in(tree: &dyn Fs, app: &App, env: &str) -> Result<Option<ImageRef>, String> {
    let dir = app.overlay_dir(env);
    let file = KUSTOMIZATION_FILES
        .iter()
        .map(|f| dir.join(f))
        .find(|p| tree.is_file(p))
        .ok_or_else(|| format!("{}: no kustomization file", dir.display()))?;
    let shown = file.display().to_string();
    let bytes = tree.read(&file).map_err(|e| format!("{shown}: {e}"))?;
    let text = String::from_utf8(bytes).map_err(|_| format!("{shown}: not UTF-8 text"))?;
    let k = crate::manifest::kustomization::parse(&shown, &text).map_err(|e| e.to_string())?;
    let Some(entry) = k.images.iter().find(|i| i.name == app.image) else {
        return Ok(None);
    };
    let Some(digest) = &entry.digest else {
        return Ok(None);
    };
    let name = entry.new_name.as_deref().unwrap_or(&entry.name);
    let tag = entry
        .new_tag
        .as_ref()
        .map(|t| format!(":{t}"))
        .unwrap_or_default();
    ImageRef::parse(&format!("{name}{tag}@{digest}"))
        .map(Some)
        .map_err(|e| format!("{shown}: images[{}]: {e}", entry.name))
}

/// Whether two references name the same digest.
fn same_digest(a: &ImageRef, b: &str) -> bool {
    ImageRef::parse(b).is_ok_and(|b| a.digest().is_some() && a.digest() == b.digest())
}

/// Gantry's commits of one app, newest first: read once per assessment, every history fact
/// below comes from them.
///
/// # Errors
///
/// The history cannot be read.
pub fn history_of(
    repo: &gix::Repository,
    tip: &str,
    app: &str,
) -> Result<Vec<audit::Entry>, audit::AuditError> {
    let filter = Filter {
        app: Some(app.to_owned()),
        ..Filter::default()
    };
    audit::history(repo, tip, &filter)
}

fn of_env<'e>(entries: &'e [audit::Entry], env: &'e str) -> impl Iterator<Item = &'e audit::Entry> {
    entries.iter().filter(move |e| e.trailers.env == env)
}

/// How long `image` has run in `env`: since the app's newest gantry commit there landed on the
/// branch (`landed`: its merge, for a pull request), when that commit put this digest there (a
/// rollback or a redeploy since restarts the clock). `None` when no gantry commit put it there.
#[must_use]
pub fn soaked(
    entries: &[audit::Entry],
    (env, image): (&str, &ImageRef),
    now: DateTime<Utc>,
    landed: impl Fn(&audit::Entry) -> i64,
) -> Option<Duration> {
    of_env(entries, env)
        .next()
        .filter(|e| {
            e.trailers
                .image
                .as_deref()
                .is_some_and(|i| same_digest(image, i))
        })
        .map(|e| {
            let secs = (now.timestamp() - landed(e)).max(0);
            Duration::from_secs(u64::try_from(secs).unwrap_or(0))
        })
}

/// When `entry` landed on the branch at `tip`: the merge that brought it in, or its own time.
#[must_use]
pub fn landed(repo: &gix::Repository, tip: &str, entry: &audit::Entry) -> i64 {
    crate::git::log::landed(repo, tip, &entry.commit)
        .ok()
        .flatten()
        .unwrap_or(entry.seconds)
}

/// The `Gantry-Source` of the newest gantry commit that put `image` into `env`.
#[must_use]
pub fn source_of(entries: &[audit::Entry], env: &str, image: &ImageRef) -> Option<String> {
    of_env(entries, env)
        .find(|e| {
            e.trailers
                .image
                .as_deref()
                .is_some_and(|i| same_digest(image, i))
        })
        .and_then(|e| e.trailers.source.clone())
}

/// The rollback that rejected `image` in `env`, as a reviewer reads it.
#[must_use]
pub fn rejected(entries: &[audit::Entry], env: &str, image: &ImageRef) -> Option<String> {
    let named = image.to_string();
    audit::rejection_in(of_env(entries, env).cloned(), &named).map(|e| {
        let short = e.commit.get(..12).unwrap_or(&e.commit).to_owned();
        format!("rollback {short} ({})", e.subject)
    })
}

/// Why the target's sync windows hold an automatic sync at `now`, if they do.
#[must_use]
pub fn window_closed(to: &Environment, now: DateTime<Utc>) -> Option<String> {
    match crate::cluster::window::gate(&to.sync_windows, now, false) {
        crate::cluster::window::Gate::Open => None,
        crate::cluster::window::Gate::Closed { why, opens } => Some(match opens {
            Some(at) => format!(
                "{why}; opens in {}",
                crate::cluster::window::wait_text(now, at)
            ),
            None => why,
        }),
    }
}

/// The target's sync windows as configured, one line each.
#[must_use]
pub fn windows(to: &Environment) -> Vec<String> {
    to.sync_windows
        .iter()
        .map(|w| {
            let kind = match w.kind {
                crate::config::WindowKind::Allow => "allow",
                crate::config::WindowKind::Deny => "deny",
            };
            format!(
                "{kind} `{}` for {}",
                w.schedule.pattern,
                super::gates::human(w.duration)
            )
        })
        .collect()
}

/// The source's health for `image`: synced to a revision whose overlay pins it (`applied`),
/// with the daemon's health; else what it is doing instead.
#[must_use]
pub fn health(
    image: &ImageRef,
    applied: Option<&ImageRef>,
    (health, phase, error): (&str, &str, Option<&str>),
) -> SourceHealth {
    match applied {
        Some(a) if a.digest().is_some() && a.digest() == image.digest() => SourceHealth::Synced {
            health: health.to_owned(),
        },
        Some(_) => SourceHealth::NotSynced(format!(
            "{phase}{}; the applied revision runs another digest",
            error.map(|e| format!(": {e}")).unwrap_or_default()
        )),
        None => SourceHealth::Unknown,
    }
}

/// The analysis gate from the canary record of the source: passed only when a canary of this
/// digest was promoted. Also the measurement lines for the evidence.
#[must_use]
pub fn analysis(
    canary: Option<&Canary>,
    has_rollout: bool,
    image: &ImageRef,
) -> (Check, Vec<String>) {
    if !has_rollout {
        return (Check::NotRequired, Vec::new());
    }
    let Some(c) = canary.filter(|c| same_digest(image, &c.canary_image)) else {
        return (
            Check::Failed("no canary of this digest ran".into()),
            Vec::new(),
        );
    };
    let lines = measurements(c);
    let check = match c.state.phase {
        RolloutPhase::Promoted => {
            Check::Passed(format!("canary promoted after {} step(s)", c.state.step))
        }
        RolloutPhase::Aborted => Check::Failed(format!(
            "aborted: {}",
            c.state.message.clone().unwrap_or_default()
        )),
        RolloutPhase::Paused => Check::Failed(format!(
            "paused at step {}: {}",
            c.state.step,
            c.state.message.clone().unwrap_or_default()
        )),
        RolloutPhase::Progressing => {
            Check::Failed(format!("still running, at step {}", c.state.step))
        }
    };
    (check, lines)
}

/// One line per metric of the canary's last runs: its values and phase.
fn measurements(c: &Canary) -> Vec<String> {
    let runs = [c.state.step_run.as_ref(), c.state.background.as_ref()];
    runs.into_iter()
        .flatten()
        .flat_map(|r| r.results.iter())
        .map(|m| {
            let values: Vec<&str> = m
                .measurements
                .iter()
                .rev()
                .take(5)
                .map(|x| x.value.as_str())
                .collect();
            format!("{}: {} ({:?})", m.name, values.join(", "), m.phase)
        })
        .collect()
}
