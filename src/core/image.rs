//! Image references (shared by every stage): the one parser of `registry/repository:tag@digest`.
//!
//! Input: reference text as users and manifests write it (`nginx`, `ghcr.io/a/b:1`,
//! `localhost:5000/x@sha256:…`). Output: an [`ImageRef`] with the registry and repository
//! resolved as the container runtime resolves them (Docker Hub's `docker.io` and `library/`),
//! the tag, and a typed [`Digest`]; or an error saying what is wrong. The grammar is the
//! distribution project's, through `oci-client`'s parser; digests are then checked for their
//! algorithm's length, which that grammar does not do.

use std::fmt;

/// What an image reference is not.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid image reference \"{reference}\": {message}")]
pub struct ImageRefError {
    pub reference: String,
    pub message: String,
}

/// A content digest: `sha256:` and 64 lowercase hex digits (or `sha512:` and 128).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: String,
    hex: String,
}

impl Digest {
    /// Parses `algorithm:hex`, checking the hex length the algorithm implies.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (algorithm, hex) = text
            .split_once(':')
            .ok_or_else(|| format!("digest \"{text}\" has no algorithm (expected sha256:<hex>)"))?;
        let want = match algorithm {
            "sha256" => 64,
            "sha512" => 128,
            other => {
                return Err(format!(
                    "digest algorithm \"{other}\" is not sha256 or sha512"
                ));
            }
        };
        let hex_ok = hex.len() == want
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !hex_ok {
            return Err(format!(
                "digest \"{text}\" must be {algorithm}: and {want} lowercase hex digits"
            ));
        }
        Ok(Self {
            algorithm: algorithm.to_owned(),
            hex: hex.to_owned(),
        })
    }

    /// The digest of `bytes` under sha256, as OCI content is addressed.
    #[must_use]
    pub fn sha256_of(bytes: &[u8]) -> Self {
        use sha2::Digest as _;
        Self {
            algorithm: "sha256".to_owned(),
            hex: format!("{:x}", sha2::Sha256::digest(bytes)),
        }
    }

    #[must_use]
    pub fn algorithm(&self) -> &str {
        &self.algorithm
    }

    #[must_use]
    pub fn hex(&self) -> &str {
        &self.hex
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm, self.hex)
    }
}

impl std::str::FromStr for Digest {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// `sha256:<hex>` of some bytes: the OCI content address.
#[must_use]
pub fn sha256(bytes: &[u8]) -> String {
    Digest::sha256_of(bytes).to_string()
}

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageRef {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl ImageRef {
    /// Parses a reference with the distribution grammar. A reference with neither tag nor
    /// digest keeps `tag() == None` (runtimes pull `latest`).
    pub fn parse(text: &str) -> Result<Self, ImageRefError> {
        let err = |message: &str| ImageRefError {
            reference: text.to_owned(),
            message: message.to_owned(),
        };
        if text.is_empty() {
            return Err(err("it is empty"));
        }
        if text.chars().any(char::is_whitespace) {
            return Err(err("it contains whitespace"));
        }
        let (rest, digest) = match text.split_once('@') {
            Some((name, d)) => (name, Some(Digest::parse(d).map_err(|m| err(&m))?)),
            None => (text, None),
        };
        let (domain, remainder) = split_domain(rest).map_err(|m| err(&m))?;
        let (path, tag) = match remainder.rsplit_once(':') {
            Some((p, t)) => (p, Some(t)),
            None => (remainder, None),
        };
        if let Some(t) = tag
            && !grammar().tag.is_match(t)
        {
            return Err(err(&format!(
                "tag \"{t}\" must be 1-128 of letters, digits, '_', '.', '-', not starting with '.' or '-'"
            )));
        }
        if !grammar().path.is_match(path) {
            return Err(err(
                "the repository must be lowercase letters and digits, separated by '/', '.', '_', '__' or '-'",
            ));
        }
        let (registry, repository) = match domain {
            None | Some("docker.io" | "index.docker.io") if !path.contains('/') => {
                ("docker.io".to_owned(), format!("library/{path}"))
            }
            None | Some("docker.io" | "index.docker.io") => {
                ("docker.io".to_owned(), path.to_owned())
            }
            Some(d) => (d.to_owned(), path.to_owned()),
        };
        if registry.len() + 1 + repository.len() > 255 {
            return Err(err("the name is longer than 255 characters"));
        }
        Ok(Self {
            registry,
            repository,
            tag: tag.map(str::to_owned),
            digest,
        })
    }

    /// The registry host (and port), `docker.io` for Docker Hub.
    #[must_use]
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository path, `library/nginx` for Docker Hub's short names.
    #[must_use]
    pub fn repository(&self) -> &str {
        &self.repository
    }

    #[must_use]
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    #[must_use]
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// `registry/repository`, what registry policies match.
    #[must_use]
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The same image pinned to `digest` (the tag kept for readers).
    #[must_use]
    pub fn with_digest(&self, digest: Digest) -> Self {
        Self {
            digest: Some(digest),
            ..self.clone()
        }
    }

    /// The `oci-client` reference for registry calls.
    #[must_use]
    pub fn to_oci(&self) -> oci_client::Reference {
        match (&self.tag, &self.digest) {
            (Some(t), Some(d)) => oci_client::Reference::with_tag_and_digest(
                self.registry.clone(),
                self.repository.clone(),
                t.clone(),
                d.to_string(),
            ),
            (_, Some(d)) => oci_client::Reference::with_digest(
                self.registry.clone(),
                self.repository.clone(),
                d.to_string(),
            ),
            (t, None) => oci_client::Reference::with_tag(
                self.registry.clone(),
                self.repository.clone(),
                t.clone().unwrap_or_else(|| "latest".to_owned()),
            ),
        }
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for ImageRef {
    type Err = ImageRefError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

struct Grammar {
    domain: regex::Regex,
    path: regex::Regex,
    tag: regex::Regex,
}

/// The distribution project's reference grammar (`reference/regexp.go`), anchored.
fn grammar() -> &'static Grammar {
    static G: std::sync::OnceLock<Grammar> = std::sync::OnceLock::new();
    G.get_or_init(|| {
        let component = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
        let alnum = r"[a-z0-9]+";
        let sep = r"(?:[._]|__|[-]+)";
        let path_component = format!("{alnum}(?:{sep}{alnum})*");
        let re = |s: &str| regex::Regex::new(s).expect("a fixed, valid pattern");
        Grammar {
            domain: re(&format!(
                r"^(?:{component}(?:\.{component})*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?$"
            )),
            path: re(&format!("^{path_component}(?:/{path_component})*$")),
            tag: re(r"^[\w][\w.-]{0,127}$"),
        }
    })
}

/// Splits off the registry the way the container runtimes do: the first component is a
/// registry when it has a `.` or a `:`, is `localhost`, or is an IPv6 literal in brackets.
fn split_domain(name: &str) -> Result<(Option<&str>, &str), String> {
    let Some((first, rest)) = name.split_once('/') else {
        return Ok((None, name));
    };
    let is_domain = first.contains(['.', ':']) || first == "localhost" || first.starts_with('[');
    if !is_domain {
        return Ok((None, name));
    }
    if !grammar().domain.is_match(first) {
        return Err(format!(
            "registry \"{first}\" is not a host name, IPv4 or [IPv6] address with an optional port"
        ));
    }
    if let Some(inner) = first.strip_prefix('[').and_then(|f| f.split(']').next())
        && inner.parse::<std::net::Ipv6Addr>().is_err()
    {
        return Err(format!(
            "registry \"{first}\": \"{inner}\" is not an IPv6 address"
        ));
    }
    Ok((Some(first), rest))
}

#[cfg(test)]
mod tests;
