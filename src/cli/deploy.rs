//! `gantry deploy`: put an image digest into an app's environment overlay, as one commit.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

use super::image::RegistryArgs;
use crate::audit::Action;
use crate::core::ImageRef;
use crate::deploy::{DeployRequest, Outcome, Target};
use crate::git::{Credentials, Identity, RepoCache};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The app, as gantry.yaml names it.
    pub app: String,
    /// The environment to deploy to.
    #[arg(long)]
    pub env: String,
    /// `REPO[:TAG][@DIGEST]`; a tag without a digest is resolved to its digest first.
    #[arg(long)]
    pub image: String,
    /// The config repo: a URL, or a local repository directory (default: the current one).
    #[arg(long, default_value = ".")]
    pub repo: String,
    #[arg(long, default_value = "main")]
    pub branch: String,
    /// Print the diff and push nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Deploy even an image a rollback rejected in ENV (the commit says so in `Gantry-Forced`).
    #[arg(long)]
    pub force: bool,
    /// `KEY=VALUE` for the `Gantry-Evidence` trailer. Repeatable.
    #[arg(long, value_name = "KEY=VALUE")]
    pub evidence: Vec<String>,
    /// `<repo>@<sha>` the image was built from (`Gantry-Source`).
    #[arg(long)]
    pub source: Option<String>,
    /// The run that asks (`Gantry-Run`).
    #[arg(long)]
    pub run: Option<String>,
    /// Mirrors live here.
    #[arg(long, default_value = ".gantry")]
    pub data_dir: PathBuf,
    /// Token for an https config repo: a file or `env://VAR`.
    #[arg(long, value_name = "SOURCE")]
    pub git_token: Option<String>,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// A local directory becomes a `file://` URL; anything else is a URL already.
fn repo_url(repo: &str) -> anyhow::Result<String> {
    let path = Path::new(repo);
    if path.is_dir() {
        let abs = path
            .canonicalize()
            .with_context(|| format!("--repo {repo}"))?;
        return Ok(format!("file://{}", abs.display()));
    }
    Ok(repo.to_owned())
}

fn evidence(pairs: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    pairs
        .iter()
        .map(|p| {
            let (k, v) = p
                .split_once('=')
                .with_context(|| format!("--evidence {p:?}: expected KEY=VALUE"))?;
            anyhow::ensure!(
                !k.is_empty()
                    && !k.contains(char::is_whitespace)
                    && !v.contains(char::is_whitespace),
                "--evidence {p:?}: KEY and VALUE may not contain spaces"
            );
            Ok((k.to_owned(), v.to_owned()))
        })
        .collect()
}

/// The image with its digest, asking the registry for a tag's digest.
async fn pinned(image: ImageRef, registry: &RegistryArgs) -> anyhow::Result<ImageRef> {
    if image.digest().is_some() {
        return Ok(image);
    }
    let oci = image.to_oci();
    let client = registry.client(&[&oci])?;
    let digest = client
        .resolve(&oci)
        .await
        .with_context(|| format!("cannot resolve {image} to a digest"))?;
    let digest = digest
        .parse()
        .map_err(|e: String| anyhow::anyhow!("{image}: the registry answered {digest:?}: {e}"))?;
    eprintln!("{image} resolved to {digest}");
    Ok(image.with_digest(digest))
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let image = ImageRef::parse(&args.image)?;
    let evidence = evidence(&args.evidence)?;
    let url = repo_url(&args.repo)?;
    let credentials = match &args.git_token {
        Some(s) => Credentials::token_from(&url, &super::daemon::source(s), None, false)?,
        None => Credentials::Anonymous,
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let image = pinned(image, &args.registry).await?;
        let cache = RepoCache::new(&args.data_dir.join("git"), Duration::from_mins(1));
        let mirror = cache.mirror(&url, credentials)?;
        let cancel = CancellationToken::new();
        mirror.fetch(&cancel).await?;
        let target = target(&mirror, args)?;
        let request = DeployRequest {
            app: args.app.clone(),
            env: args.env.clone(),
            image,
            action: Action::Deploy,
            source: args.source.clone(),
            run: args.run.clone(),
            evidence,
            rejects: None,
            skipped: None,
            force: args.force,
            body: None,
        };
        let outcome =
            crate::deploy::deploy(&mirror, &target, &request, args.dry_run, &cancel).await?;
        report(&outcome, &request);
        Ok(())
    })
}

/// Reads gantry.yaml at the branch tip: the app's overlay and image name, the commit author.
fn target(mirror: &Arc<crate::git::Mirror>, args: &Args) -> anyhow::Result<Target> {
    let tip = mirror
        .tip(&args.branch)?
        .with_context(|| format!("branch {} does not exist in {}", args.branch, mirror.url()))?;
    let tree = mirror.tree(tip)?;
    let config = crate::config::load_from(&tree, Path::new(""))?;
    let app = config.app(&args.app).with_context(|| {
        let names: Vec<&str> = config.apps.iter().map(|a| a.name.as_str()).collect();
        format!(
            "no app {:?} in gantry.yaml (apps: {})",
            args.app,
            names.join(", ")
        )
    })?;
    anyhow::ensure!(
        app.environments.iter().any(|e| e == &args.env),
        "app {} is not deployed to {:?} (environments: {})",
        app.name,
        args.env,
        app.environments.join(", ")
    );
    Ok(Target {
        branch: args.branch.clone(),
        overlay: app.overlay_dir(&args.env),
        image_name: app.image.clone(),
        identity: Identity::from(&config.commit_author),
    })
}

fn report(outcome: &Outcome, request: &DeployRequest) {
    match outcome {
        Outcome::Committed { commit, diff } => {
            print!("{diff}");
            println!(
                "committed {commit} ({} of {} to {})",
                request.action, request.image, request.env
            );
        }
        Outcome::Planned { diff } => {
            print!("{diff}");
            println!("dry run: nothing pushed");
        }
        Outcome::Unchanged => {
            println!(
                "unchanged: {} in {} is already {}",
                request.app, request.env, request.image
            );
        }
    }
}
