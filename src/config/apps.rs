//! Validation of `apps` in `gantry.yaml` (stage: config).
//!
//! Input: raw apps, the names of valid environments and rollouts, the config repo's files.
//! Output: [`App`]s; problems go to the [`Sink`].

use crate::core::fs::Fs;

use super::diag::Sink;
use super::image_update::image_update;
use super::model::{App, DEFAULT_BRANCH, DEFAULT_OVERLAY_PATTERN, Source, overlay_dir};
use super::raw::{RawApp, RawSource, S};
use super::validate::{Names, existing_file, repo_path};

pub use crate::core::fs::KUSTOMIZATION_FILES;

/// The environments `apps[i]` lists: each known and listed once, and its overlay there when
/// the app's name is usable (`overlays`). Returns them, and whether all were.
fn app_environments(
    sink: &mut Sink,
    fs: &dyn Fs,
    (a, i): (&RawApp, usize),
    envs: &Names<'_>,
    overlays: Option<&String>,
) -> (Vec<String>, bool) {
    let mut ok = true;
    let mut environments: Vec<String> = Vec::new();
    if a.environments.value.is_empty() {
        sink.error(
            a.environments.referenced,
            format!("apps[{i}].environments"),
            "list at least one environment the app runs in",
        );
        ok = false;
    }
    for (j, env) in a.environments.value.iter().enumerate() {
        let ep = format!("apps[{i}].environments[{j}]");
        if !envs.contains(&env.value) {
            sink.error(
                env.referenced,
                ep,
                format!("unknown environment \"{}\" ({})", env.value, envs.known()),
            );
            ok = false;
        } else if environments.contains(&env.value) {
            sink.error(
                env.referenced,
                ep,
                format!("environment \"{}\" is listed twice", env.value),
            );
            ok = false;
        } else {
            // An unusable name makes every overlay path wrong; one error says enough.
            if let Some(pattern) = overlays {
                ok &= overlay_exists(sink, fs, pattern, &a.name.value, env, &ep);
            }
            environments.push(env.value.clone());
        }
    }
    (environments, ok)
}

pub(super) fn apps(
    sink: &mut Sink,
    fs: &dyn Fs,
    raw: &[S<RawApp>],
    (envs, order): (&Names<'_>, &[String]),
    rollouts: &Names<'_>,
) -> Vec<App> {
    let mut names = Names::new("app");
    let mut out = Vec::new();
    for (i, app) in raw.iter().enumerate() {
        let a = &app.value;
        let p = |field: &str| format!("apps[{i}].{field}");
        let name_ok = names.check(sink, &a.name, &p("name"));
        let mut ok = name_ok;
        let source = match &a.source {
            Some(s) => {
                let parsed = source(sink, s, &p("source"));
                ok &= parsed.is_some();
                parsed
            }
            None => None,
        };
        let pipeline = match &a.pipeline {
            Some(f) => {
                let parsed = existing_file(sink, fs, f, &p("pipeline"), "pipeline");
                ok &= parsed.is_some();
                parsed
            }
            None => None,
        };
        ok &= image(sink, &a.image, &p("image"));
        let pattern = overlay_pattern(sink, a.overlay.as_ref(), &p("overlay"));
        ok &= pattern.is_some();
        if let Some(r) = &a.rollout
            && !rollouts.contains(&r.value)
        {
            sink.error(
                r.referenced,
                p("rollout"),
                format!("unknown rollout \"{}\" ({})", r.value, rollouts.known()),
            );
            ok = false;
        }
        let overlays = if name_ok { pattern.as_ref() } else { None };
        let (environments, envs_ok) = app_environments(sink, fs, (a, i), envs, overlays);
        ok &= envs_ok;
        let image_update = a.image_update.as_ref().and_then(|u| {
            let parsed = image_update(sink, u, &p("imageUpdate"), (&environments, order));
            ok &= parsed.is_some();
            parsed
        });
        if let (true, Some(overlay_pattern)) = (ok, pattern) {
            out.push(App {
                name: a.name.value.clone(),
                source,
                pipeline,
                image: a.image.value.trim().to_owned(),
                overlay_pattern,
                rollout: a.rollout.as_ref().map(|r| r.value.clone()),
                environments,
                allow_large_prune: a.allow_large_prune.as_ref().is_some_and(|b| b.value),
                image_update,
            });
        }
    }
    out
}

fn source(sink: &mut Sink, raw: &S<RawSource>, path: &str) -> Option<Source> {
    let repo = raw.value.repo.value.trim();
    let scheme_ok = ["https://", "http://", "ssh://", "git://", "file://"]
        .iter()
        .any(|s| repo.strip_prefix(s).is_some_and(|rest| !rest.is_empty()));
    // scp-like syntax: git@host:org/repo.git
    let scp_ok = !repo.contains("://")
        && repo
            .split_once(':')
            .is_some_and(|(host, p)| !host.is_empty() && !p.is_empty() && !host.contains('/'));
    if !(scheme_ok || scp_ok) || repo.contains(char::is_whitespace) {
        sink.error(
            raw.value.repo.referenced,
            format!("{path}.repo"),
            format!("invalid git URL \"{repo}\": use https://, ssh://, git://, file:// or user@host:path"),
        );
        return None;
    }
    let branch = raw
        .value
        .branch
        .as_ref()
        .map_or_else(|| DEFAULT_BRANCH.to_owned(), |b| b.value.trim().to_owned());
    Some(Source {
        repo: repo.to_owned(),
        branch,
    })
}

fn image(sink: &mut Sink, raw: &S<String>, path: &str) -> bool {
    let text = raw.value.trim();
    if let Err(e) = crate::core::ImageRef::parse(text) {
        sink.error(raw.referenced, path, e.to_string());
        return false;
    }
    let last = text.rsplit('/').next().unwrap_or(text);
    if text.contains('@') || last.contains(':') {
        sink.error(
            raw.referenced,
            path,
            format!("image \"{text}\" must name a repository without tag or digest: gantry pins the digest it deploys"),
        );
        return false;
    }
    true
}

fn overlay_pattern(sink: &mut Sink, raw: Option<&S<String>>, path: &str) -> Option<String> {
    let Some(raw) = raw else {
        return Some(DEFAULT_OVERLAY_PATTERN.to_owned());
    };
    let rel = repo_path(sink, raw, path)?;
    let pattern = rel.to_string_lossy().into_owned();
    let stripped = pattern.replace("{app}", "").replace("{env}", "");
    if !pattern.contains("{env}") || stripped.contains(['{', '}']) {
        sink.error(
            raw.referenced,
            path,
            format!("overlay pattern \"{pattern}\" must contain {{env}} and no placeholders but {{app}} and {{env}}"),
        );
        return None;
    }
    Some(pattern)
}

fn overlay_exists(
    sink: &mut Sink,
    fs: &dyn Fs,
    pattern: &str,
    app: &str,
    env: &S<String>,
    path: &str,
) -> bool {
    let dir = overlay_dir(pattern, app, &env.value);
    if KUSTOMIZATION_FILES.iter().any(|f| fs.is_file(&dir.join(f))) {
        return true;
    }
    let why = if fs.is_dir(&dir) {
        "has no kustomization.yaml"
    } else {
        "does not exist"
    };
    sink.error(
        env.referenced,
        path,
        format!(
            "overlay \"{}\" for environment \"{}\" {why} (pattern \"{pattern}\")",
            dir.display(),
            env.value
        ),
    );
    false
}
