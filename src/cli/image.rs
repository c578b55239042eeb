//! `gantry pack` and `gantry copy`, and the registry options every image command shares.
//!
//! Credentials per registry come from `--registry-auth HOST=SOURCE` (a file or `env://VAR` holding
//! `user:password` or a Docker config.json), else from the Docker config (`$DOCKER_CONFIG` or
//! `~/.docker/config.json`) when it has an entry for the host, else anonymous.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use oci_client::Reference;

use crate::artifact::pack::{ConfigChanges, PackRequest, Platform, pack};
use crate::artifact::registry::{
    Registry, RegistryCredentials, RegistryOptions, Upload, parse_reference,
};
use crate::config::SecretRef;

#[derive(Debug, Clone, clap::Args)]
pub struct RegistryArgs {
    /// Credentials for a registry: `HOST=FILE` or `HOST=env://VAR`, holding `user:password` or a
    /// Docker config.json. Repeatable.
    #[arg(long = "registry-auth", value_name = "HOST=SOURCE")]
    pub auth: Vec<String>,
    /// A registry reached over plain HTTP (loopback registries always are). Repeatable.
    #[arg(long = "insecure-registry", value_name = "HOST")]
    pub insecure: Vec<String>,
    /// Upload each blob with one PUT instead of 4 MiB chunks.
    #[arg(long)]
    pub monolithic: bool,
}

impl RegistryArgs {
    pub fn client(&self, references: &[&Reference]) -> anyhow::Result<Registry> {
        Ok(Registry::new(
            RegistryOptions {
                insecure: self.insecure.clone(),
                upload: if self.monolithic {
                    Upload::Monolithic
                } else {
                    Upload::Chunked
                },
                credentials: self.credentials(references)?,
            },
            references.iter().copied(),
        ))
    }

    /// Credentials by registry host for `references`: flags first, then the Docker config.
    pub fn credentials(
        &self,
        references: &[&Reference],
    ) -> anyhow::Result<HashMap<String, RegistryCredentials>> {
        let mut credentials = HashMap::new();
        for entry in &self.auth {
            let (host, source) = entry
                .split_once('=')
                .with_context(|| format!("--registry-auth {entry:?}: expected HOST=SOURCE"))?;
            let source = match source.strip_prefix("env://") {
                Some(var) => SecretRef::Env(var.to_owned()),
                None => SecretRef::File(source.into()),
            };
            credentials.insert(
                host.to_owned(),
                RegistryCredentials::from_ref(host, &source)?,
            );
        }
        if let Some(config) = docker_config() {
            for r in references {
                let host = r.resolve_registry();
                if !credentials.contains_key(host)
                    && let Ok(c) = RegistryCredentials::parse(host, &config)
                {
                    credentials.insert(host.to_owned(), c);
                }
            }
        }
        Ok(credentials)
    }
}

fn docker_config() -> Option<String> {
    let dir = std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".docker")))?;
    std::fs::read_to_string(dir.join("config.json")).ok()
}

#[derive(Debug, clap::Args)]
pub struct PackArgs {
    /// Base image reference, or `scratch` for an empty base.
    #[arg(long)]
    pub base: String,
    /// Directory whose contents become the new layer.
    #[arg(long)]
    pub dir: PathBuf,
    /// Where to push the image (`registry/repository:tag`).
    #[arg(long)]
    pub dest: String,
    /// Entrypoint: a JSON array (`["/app/server","--port=8080"]`) or words split on spaces.
    #[arg(long, allow_hyphen_values = true)]
    pub entrypoint: Option<String>,
    /// Environment variable `K=V` (replaces the base image's value of K). Repeatable.
    #[arg(long, value_name = "K=V")]
    pub env: Vec<String>,
    /// Label `K=V`. Repeatable. The source commit is added as
    /// org.opencontainers.image.revision when DIR is inside a git repository.
    #[arg(long, value_name = "K=V")]
    pub label: Vec<String>,
    /// Platform to build for, and to pick from a multi-platform base.
    #[arg(long)]
    pub platform: Option<String>,
    /// Where DIR's contents appear in the image.
    #[arg(long, default_value = "/")]
    pub prefix: String,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// OCI's label for the source commit an image was built from.
const REVISION_LABEL: &str = "org.opencontainers.image.revision";

fn pairs(flag: &str, values: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    values
        .iter()
        .map(|v| {
            v.split_once('=')
                .filter(|(k, _)| !k.is_empty())
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .with_context(|| format!("--{flag} {v:?}: expected K=V"))
        })
        .collect()
}

/// HEAD of the git repository holding `dir`, if any.
fn source_revision(dir: &Path) -> Option<String> {
    let repo = gix::discover(dir).ok()?;
    Some(repo.head_id().ok()?.to_string())
}

pub fn run_pack(args: &PackArgs) -> anyhow::Result<()> {
    let dest = parse_reference(&args.dest)?;
    let base = match args.base.as_str() {
        "scratch" => None,
        other => Some(parse_reference(other)?),
    };
    let entrypoint = match args.entrypoint.as_deref() {
        None => None,
        Some(text) if text.trim_start().starts_with('[') => Some(
            serde_json::from_str::<Vec<String>>(text)
                .with_context(|| format!("--entrypoint {text:?}: not a JSON array of strings"))?,
        ),
        Some(text) => Some(text.split_whitespace().map(str::to_owned).collect()),
    };
    let mut labels = pairs("label", &args.label)?;
    if let Some(rev) = source_revision(&args.dir)
        && !labels.iter().any(|(k, _)| k == REVISION_LABEL)
    {
        labels.push((REVISION_LABEL.into(), rev));
    }
    // SOURCE_DATE_EPOCH (reproducible-builds.org) sets file times and `created`; else the epoch.
    let epoch: i64 = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) => v
            .parse()
            .with_context(|| format!("SOURCE_DATE_EPOCH={v:?} is not a number of seconds"))?,
        Err(_) => 0,
    };
    let created = chrono::DateTime::from_timestamp(epoch, 0)
        .context("SOURCE_DATE_EPOCH is out of range")?
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let request = PackRequest {
        base,
        dir: args.dir.clone(),
        prefix: args.prefix.clone(),
        dest,
        platform: match &args.platform {
            Some(p) => Platform::parse(p)?,
            None => Platform::host(),
        },
        changes: ConfigChanges {
            entrypoint,
            env: pairs("env", &args.env)?,
            labels,
            created,
            created_by: format!("gantry pack --dir {}", args.dir.display()),
        },
        mtime: u64::try_from(epoch).context("SOURCE_DATE_EPOCH is negative")?,
    };
    let mut refs = vec![&request.dest];
    refs.extend(request.base.as_ref());
    let registry = args.registry.client(&refs)?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let out = runtime.block_on(pack(&registry, &request))?;
    eprintln!(
        "packed {} files from {} ({} bytes compressed) onto {} base layers for {}",
        out.files,
        args.dir.display(),
        out.layer_size,
        out.base_layers,
        request.platform,
    );
    println!(
        "{}/{}@{}",
        request.dest.registry(),
        request.dest.repository(),
        out.digest
    );
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct CopyArgs {
    /// Source image (tag or digest; an index is copied with every platform).
    pub from: String,
    /// Destination (`registry/repository:tag` or `registry/repository@sha256:…`).
    pub to: String,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

pub fn run_copy(args: &CopyArgs) -> anyhow::Result<()> {
    let from = parse_reference(&args.from)?;
    let to = parse_reference(&args.to)?;
    let registry = args.registry.client(&[&from, &to])?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let report = runtime.block_on(registry.copy(&from, &to))?;
    eprintln!(
        "copied {} manifests: {} blobs mounted, {} streamed, {} already there",
        report.manifests, report.blobs_mounted, report.blobs_streamed, report.blobs_present
    );
    println!("{}/{}@{}", to.registry(), to.repository(), report.digest);
    Ok(())
}
