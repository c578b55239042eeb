//! Validation of `gantry.yaml`: raw types → settings (stage: config).
//!
//! Input: [`RawConfig`] and the config repo root (to check that referenced files exist).
//! Output: [`Config`] pieces, with every problem recorded in the [`Sink`] instead of stopping at
//! the first, so a user fixes a file in one round trip.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use serde_saphyr::Location;

use crate::core::fs::Fs;

use super::diag::Sink;
use super::model::{CommitAuthor, Forge, ForgeKind, Registry, SecretRef};
use super::raw::{
    RawCommitAuthor, RawConfig, RawForge, RawForgeKind, RawRegistry, RawSecretRef, S,
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

/// `forge:`: a known kind, a web URL (GitHub's is the default), `owner/name`, one token source.
pub(super) fn forge(sink: &mut Sink, raw: &S<RawForge>) -> Option<Forge> {
    let f = &raw.value;
    let kind = match f.kind.value {
        RawForgeKind::Github => ForgeKind::Github,
        RawForgeKind::Gitlab => ForgeKind::Gitlab,
        RawForgeKind::Gitea => ForgeKind::Gitea,
    };
    let mut ok = true;
    let url = match (&f.url, kind) {
        (Some(u), _) => u.value.trim().trim_end_matches('/').to_owned(),
        (None, ForgeKind::Github) => "https://github.com".to_owned(),
        (None, _) => {
            sink.error(
                raw.referenced,
                "forge.url",
                format!(
                    "a {} forge needs its url, e.g. https://{}.example.com",
                    kind.as_str(),
                    kind.as_str()
                ),
            );
            String::new()
        }
    };
    if let Some(u) = &f.url
        && !(url.starts_with("https://") || url.starts_with("http://"))
    {
        sink.error(
            u.referenced,
            "forge.url",
            format!("invalid forge URL \"{url}\": expected http:// or https://"),
        );
        ok = false;
    }
    ok &= !url.is_empty();
    let repository = f.repository.value.trim().trim_matches('/').to_owned();
    let parts: Vec<&str> = repository.split('/').collect();
    let shape_ok = match kind {
        ForgeKind::Gitlab => parts.len() >= 2,
        _ => parts.len() == 2,
    } && parts
        .iter()
        .all(|p| !p.is_empty() && !p.contains(char::is_whitespace));
    if !shape_ok {
        sink.error(
            f.repository.referenced,
            "forge.repository",
            format!(
                "invalid repository \"{repository}\": expected owner/name{}",
                if kind == ForgeKind::Gitlab {
                    " or group/subgroup/name"
                } else {
                    ""
                }
            ),
        );
        ok = false;
    }
    let token = secret_ref(sink, &f.token, "forge.token");
    ok &= token.is_some();
    let labels = f.labels.iter().map(|l| l.value.clone()).collect();
    ok.then(|| Forge {
        kind,
        url,
        repository,
        token: token.expect("checked above"),
        labels,
    })
}
