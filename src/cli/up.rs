//! `gantry up [EXAMPLE]`: the quickstart. A throwaway config repo made from the example (a local
//! bare remote and a working clone), the daemon started against it, one overlay change committed
//! the way a user would, and the loop shown: detection, render, and the plan per app ×
//! environment (or the real sync with `--context`); then `gantry history` and `gantry status`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

use crate::config::Cluster;
use crate::daemon::{self, Clusters, Options, State};
use crate::git::Credentials;
use crate::trigger::WebhookConfig;

/// The digest the quickstart deploys to dev: any well-formed digest does, nothing is pulled.
const NEW_DIGEST: &str = "sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945";

#[derive(Debug, clap::Args)]
pub struct UpArgs {
    /// Example config repo to start from; the built-in quickstart example when omitted.
    pub example: Option<PathBuf>,
    /// Sync for real to this kubeconfig context; without it, nothing is applied and the plan
    /// is shown.
    #[arg(long)]
    pub context: Option<String>,
    /// Keep the throwaway repositories (their path is printed).
    #[arg(long)]
    pub keep: bool,
}

fn git(dir: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Quinn Quickstart")
        .env("GIT_AUTHOR_EMAIL", "quinn@example.com")
        .env("GIT_COMMITTER_NAME", "Quinn Quickstart")
        .env("GIT_COMMITTER_EMAIL", "quinn@example.com")
        .output()
        .context("cannot run git (apt-get install git)")?;
    anyhow::ensure!(
        out.status.success(),
        "git {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))?;
    for entry in
        std::fs::read_dir(from).with_context(|| format!("cannot read {}", from.display()))?
    {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)
                .with_context(|| format!("cannot copy {}", entry.path().display()))?;
        }
    }
    Ok(())
}

pub fn run(args: &UpArgs) -> anyhow::Result<()> {
    let root = std::env::temp_dir().join(format!("gantry-up-{}", std::process::id()));
    let example = if let Some(dir) = &args.example {
        dir.clone()
    } else {
        let dir = root.join("example");
        super::example::write(&dir)?;
        dir
    };
    let result = crate::config::load(&example)
        .map_err(anyhow::Error::from)
        .and_then(|config| {
            let pairs = config.apps.iter().map(|a| a.environments.len()).sum();
            up(args, &example, &root, pairs)
        });
    if args.keep {
        println!("kept {}", root.display());
    } else {
        let _ = std::fs::remove_dir_all(&root);
    }
    result
}

/// The example as a config repo: a bare remote under `root` and a working clone of it.
/// Returns the remote's URL and the clone's path.
fn config_repo(example: &Path, root: &Path) -> anyhow::Result<(String, std::path::PathBuf)> {
    let remote = root.join("config.git");
    let work = root.join("work");
    std::fs::create_dir_all(&remote)?;
    git(
        &remote,
        &["init", "--bare", "--quiet", "--initial-branch=main"],
    )?;
    copy_dir(example, &work)?;
    git(&work, &["init", "--quiet", "--initial-branch=main"])?;
    git(&work, &["add", "--all"])?;
    git(
        &work,
        &[
            "commit",
            "--quiet",
            "--no-gpg-sign",
            "-m",
            "quickstart: the example config repo",
        ],
    )?;
    let url = format!("file://{}", remote.display());
    git(&work, &["push", "--quiet", &url, "HEAD:main"])?;
    println!("== config repo {url} (working clone {})", work.display());
    Ok((url, work))
}

fn up(args: &UpArgs, example: &Path, root: &Path, pairs: usize) -> anyhow::Result<()> {
    let (url, work) = config_repo(example, root)?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let clusters = match &args.context {
            Some(c) => {
                Clusters::Fixed(crate::cluster::connect(&Cluster::Context(c.clone())).await?)
            }
            None => Clusters::PlanOnly,
        };
        let options = Options {
            images: image_access(&clusters),
            leader: None,
            events: None,
            store: None,
            config_repo: url.clone(),
            branch: "main".into(),
            credentials: Credentials::Anonymous,
            data_dir: root.join("data"),
            listen: "127.0.0.1:0".parse().context("listen address")?,
            poll_interval: Duration::from_millis(250),
            drift_interval: Duration::from_hours(1),
            parallel: 4,
            clusters,
            webhooks: WebhookConfig::default(),
            git_timeout: Duration::from_secs(20),
        };
        let state = Arc::new(State::default());
        let (shutdown, abort) = (CancellationToken::new(), CancellationToken::new());
        let (tx, rx) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(daemon::run(
            options,
            Arc::clone(&state),
            (shutdown.clone(), abort),
            Some(tx),
        ));
        let addr = rx.await.context("the daemon did not start")?;
        println!("== daemon on http://{addr}, watching main every 250 ms");

        let first = git(&work, &["rev-parse", "HEAD"])?;
        settle(&state, &first, pairs).await?;
        println!(
            "== first pass at {}: every app × environment rendered",
            &first[..12]
        );
        print!("{}", plans(&state, None));

        // The same path image updates and `gantry deploy` take: one commit with trailers.
        let pushed = Instant::now();
        let second = deploy_new_digest(&url, &root.join("deploy")).await?;
        git(&work, &["pull", "--quiet", &url, "main"])?;
        println!(
            "== deployed {} (web → dev, a new digest), as `gantry deploy` does",
            &second[..12]
        );
        settle(&state, &second, pairs).await?;
        println!(
            "== detected and rendered in {} ms; web/dev at {}:",
            pushed.elapsed().as_millis(),
            &second[..12]
        );
        print!("{}", plans(&state, Some(("web", "dev"))));

        history_and_status(&work, addr).await?;
        shutdown.cancel();
        task.await.context("daemon task")??;
        anyhow::Ok(())
    })
}

/// Prints `gantry history` of the working clone and `gantry status` of the daemon at `addr`.
async fn history_and_status(work: &Path, addr: std::net::SocketAddr) -> anyhow::Result<()> {
    println!("== gantry history");
    super::history::run(&super::history::Args {
        repo: work.to_path_buf(),
        rev: "HEAD".into(),
        app: None,
        env: None,
        action: None,
        since: None,
        output: super::OutputArg::Table,
    })?;
    println!("== gantry status");
    let body: serde_json::Value = reqwest::get(format!("http://{addr}/api/v1/apps"))
        .await
        .context("cannot reach the daemon")?
        .json()
        .await
        .context("the daemon did not answer JSON")?;
    print!("{}", super::daemon::status_text(&body, None));
    Ok(())
}

/// Deploys the quickstart's new digest of web to dev through `deploy`; returns the commit.
async fn deploy_new_digest(url: &str, data: &Path) -> anyhow::Result<String> {
    let cache = crate::git::RepoCache::new(data, Duration::from_secs(20));
    let mirror = cache.mirror(url, Credentials::Anonymous)?;
    let target = crate::deploy::Target {
        branch: "main".into(),
        overlay: "apps/web/overlays/dev".into(),
        image_name: "harbor.example.com/shop/web".into(),
        identity: crate::git::Identity::default(),
    };
    let request = crate::deploy::DeployRequest {
        app: "web".into(),
        env: "dev".into(),
        image: crate::core::ImageRef::parse(&format!("harbor.example.com/shop/web@{NEW_DIGEST}"))?,
        action: crate::audit::Action::Deploy,
        source: None,
        run: None,
        evidence: Vec::new(),
        rejects: None,
        skipped: None,
        force: false,
        body: None,
    };
    match crate::deploy::deploy(&mirror, &target, &request, false, &CancellationToken::new())
        .await?
    {
        crate::deploy::Outcome::Committed { commit, .. } => Ok(commit),
        other => anyhow::bail!("the quickstart deploy did not commit: {other:?}"),
    }
}

/// Waits until all `pairs` app × environments have been handled at `revision` (30 s at most).
async fn settle(state: &State, revision: &str, pairs: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let seen = state
            .repo
            .read()
            .expect("repo status lock poisoned")
            .seen
            .clone();
        let done = seen.as_deref() == Some(revision)
            && state.ready.load(std::sync::atomic::Ordering::Relaxed)
            && {
                let envs = state.envs.read().expect("status table lock poisoned");
                envs.len() == pairs
                    && envs.values().all(|e| {
                        e.revision.as_deref() == Some(revision)
                            || (e.desired.as_deref() == Some(revision)
                                && matches!(e.phase.as_str(), "failed" | "waiting"))
                    })
            };
        if done {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the daemon did not handle {revision} within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Each app × environment's plan (or sync result), object by object.
fn plans(state: &State, only: Option<(&str, &str)>) -> String {
    use std::fmt::Write as _;
    let envs = state.envs.read().expect("status table lock poisoned");
    let mut out = String::new();
    for row in envs.values() {
        if only.is_some_and(|(a, e)| row.app != a || row.env != e) {
            continue;
        }
        let _ = writeln!(out, "{}/{} ({}):", row.app, row.env, row.phase);
        for o in &row.objects {
            let _ = writeln!(out, "  {:<15} {}", o.action, o.object);
            for line in o.diff.iter().flat_map(|d| d.lines()) {
                let _ = writeln!(out, "      {line}");
            }
        }
        for (label, text) in [("error", &row.error), ("note", &row.note)] {
            for line in text.iter().flat_map(|t| t.lines()) {
                let _ = writeln!(out, "  {label}: {line}");
            }
        }
    }
    out
}

/// The example's images (harbor.example.com) are placeholders nobody signed: the quickstart
/// does not verify signatures, and every status says so. `gantry daemon` does.
fn image_access(clusters: &Clusters) -> crate::artifact::admission::ImageAccess {
    crate::artifact::admission::ImageAccess {
        namespace: "gantry".into(),
        kube: match clusters {
            Clusters::Fixed(client) => Some(client.clone()),
            _ => None,
        },
        insecure: Vec::new(),
        unverified: Some("gantry up deploys the example's placeholder images".into()),
    }
}
