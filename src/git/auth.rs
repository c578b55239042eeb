//! Credentials for remotes, and keeping them out of everything that gets printed.
//!
//! Input: a [`SecretRef`] from gantry.yaml (or a token handed over by the caller). Output: the
//! in-memory config overrides gix needs and the environment the `git` CLI needs. A token travels
//! as an `http.extraHeader`, never in a URL or an argument vector, so `ps` and error messages
//! cannot show it.

use std::path::PathBuf;

use base64::Engine as _;

use super::GitError;
pub use crate::core::secret::Secret;
use crate::core::secret::SecretRef;

/// How gantry authenticates to one remote.
#[derive(Debug, Clone, Default)]
pub enum Credentials {
    #[default]
    Anonymous,
    /// HTTPS token: basic auth when a username is given (GitLab, Gitea, Bitbucket), a bearer
    /// token otherwise.
    Token {
        username: Option<String>,
        token: Secret,
    },
    /// An ssh private key file (a mounted Secret, typically).
    SshKey { key: PathBuf },
}

impl Credentials {
    /// Reads a token from where `source` points. Kubernetes Secret references need the cluster
    /// client, which arrives with the cluster module; until then they are refused by name.
    ///
    /// A token is refused for a plain `http://` remote off this host, where anyone on the path
    /// reads it, unless `allow_plain_http` says the user knows.
    pub fn token_from(
        url: &str,
        source: &SecretRef,
        username: Option<String>,
        allow_plain_http: bool,
    ) -> Result<Self, GitError> {
        let fail = |message: String| GitError::Credentials {
            url: redact_url(url),
            message,
        };
        if !allow_plain_http && is_plain_http_off_host(url) {
            return Err(fail(
                "refusing to send a token over plain http://, where anyone on the network path can read it; use https://, or pass --allow-insecure-git if this network is trusted".into(),
            ));
        }
        let raw = source.read_local().map_err(fail)?;
        let token = raw.trim();
        if token.is_empty() {
            return Err(fail("the token is empty".to_string()));
        }
        Ok(Self::Token {
            username,
            token: Secret::new(token),
        })
    }

    /// The `Authorization` header value for HTTP(S) remotes.
    fn authorization(&self) -> Option<Secret> {
        match self {
            Self::Token {
                username: Some(user),
                token,
            } => {
                let pair = format!("{user}:{}", token.expose());
                Some(Secret::new(format!(
                    "Authorization: Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                )))
            }
            Self::Token {
                username: None,
                token,
            } => Some(Secret::new(format!(
                "Authorization: Bearer {}",
                token.expose()
            ))),
            _ => None,
        }
    }

    fn ssh_command(&self) -> Option<String> {
        match self {
            // accept-new: a first contact records the host key, a changed key is still refused.
            Self::SshKey { key } => Some(format!(
                "ssh -i '{}' -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=accept-new",
                key.display().to_string().replace('\'', r"'\''")
            )),
            _ => None,
        }
    }

    /// git config overrides as (key, value); applied in memory, never written to disk.
    pub(crate) fn config_overrides(&self) -> Vec<(&'static str, Secret)> {
        let mut out = Vec::new();
        if let Some(header) = self.authorization() {
            out.push(("http.extraHeader", header));
        }
        if let Some(cmd) = self.ssh_command() {
            out.push(("core.sshCommand", Secret::new(cmd)));
        }
        out
    }

    /// Environment for a `git` child process carrying the same overrides (`GIT_CONFIG_COUNT`),
    /// so nothing secret appears in its argument vector.
    pub(crate) fn git_env(&self) -> Vec<(String, String)> {
        let overrides = self.config_overrides();
        let mut env = vec![("GIT_CONFIG_COUNT".to_string(), overrides.len().to_string())];
        for (i, (key, value)) in overrides.iter().enumerate() {
            env.push((format!("GIT_CONFIG_KEY_{i}"), (*key).to_string()));
            env.push((format!("GIT_CONFIG_VALUE_{i}"), value.expose().to_string()));
        }
        env
    }

    /// Replaces every secret this holds in `text` with `***`: for messages that come from
    /// outside (git's stderr, transport errors) and might echo a header back.
    pub(crate) fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        if let Self::Token { token, .. } = self {
            out = out.replace(token.expose(), "***");
            if let Some(header) = self.authorization() {
                let value = header.expose().trim_start_matches("Authorization: ");
                out = out.replace(value, "***");
                if let Some(encoded) = value.strip_prefix("Basic ") {
                    out = out.replace(encoded, "***");
                }
            }
        }
        out
    }
}

/// `http://` to a host other than this one (loopback addresses and `localhost` stay on it).
fn is_plain_http_off_host(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split('/').next().unwrap_or(rest);
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    !is_loopback_host(host_port)
}

/// Whether `host[:port]` (IPv6 in brackets) names this machine: `localhost` or a loopback
/// address. Registries use it too (loopback ones are reached over plain HTTP).
#[must_use]
pub fn is_loopback_host(host_port: &str) -> bool {
    let host = host_port
        .strip_prefix('[')
        .and_then(|h| h.split_once(']').map(|(h, _)| h))
        .unwrap_or_else(|| host_port.split(':').next().unwrap_or(host_port));
    host == "localhost"
        || host == "::1"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The URL with any user-info (`https://user:token@host`) replaced by `***`, for printing.
#[must_use]
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{}***@{}", &url[..scheme_end + 3], &rest[at + 1..]),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regression_issue_15_plain_http_is_told_apart_from_loopback() {
        assert!(is_plain_http_off_host("http://git.example.com/r.git"));
        assert!(is_plain_http_off_host("http://u:p@10.0.0.1:3000/r.git"));
        assert!(!is_plain_http_off_host("http://127.0.0.1:3000/r.git"));
        assert!(!is_plain_http_off_host("http://[::1]:3000/r.git"));
        assert!(!is_plain_http_off_host("http://localhost/r.git"));
        assert!(!is_plain_http_off_host("https://git.example.com/r.git"));
        let token = SecretRef::Env("PATH".into());
        let e = Credentials::token_from("http://git.example.com/r.git", &token, None, false)
            .expect_err("refused");
        assert!(e.to_string().contains("--allow-insecure-git"), "{e}");
        Credentials::token_from("http://git.example.com/r.git", &token, None, true)
            .expect("allowed when asked");
    }

    #[test]
    fn urls_lose_their_user_info() {
        assert_eq!(
            redact_url("https://x-access-token:ghp_s3cret@github.com/o/r.git"),
            "https://***@github.com/o/r.git"
        );
        assert_eq!(
            redact_url("https://github.com/o/r"),
            "https://github.com/o/r"
        );
        assert_eq!(
            redact_url("git@github.com:o/r.git"),
            "git@github.com:o/r.git"
        );
        assert_eq!(redact_url("ssh://git@h/a@b"), "ssh://***@h/a@b");
    }

    #[test]
    fn secrets_are_scrubbed_and_never_debug_printed() {
        let creds = Credentials::Token {
            username: Some("bot".into()),
            token: Secret::new("tok3n"),
        };
        assert!(!format!("{creds:?}").contains("tok3n"));
        let header = creds.config_overrides()[0].1.expose().to_string();
        let echoed = format!("server said: bad token tok3n in {header}");
        let clean = creds.scrub(&echoed);
        assert!(
            !clean.contains("tok3n") && !clean.contains("Ym90OnRvazNu"),
            "{clean}"
        );
    }
}
