//! `gantry daemon` (the loop) and `gantry status` (its app × environment matrix over HTTP).

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

use crate::config::{Cluster, SecretRef};
use crate::daemon::{self, Clusters, Options, State};
use crate::git::{Credentials, Secret};
use crate::trigger::WebhookConfig;

#[derive(Debug, clap::Args)]
pub struct DaemonArgs {
    /// The config repo (desired state): any URL git understands.
    #[arg(long)]
    pub config_repo: String,
    #[arg(long, default_value = "main")]
    pub branch: String,
    /// Mirrors and local state live here.
    #[arg(long, default_value = ".gantry")]
    pub data_dir: PathBuf,
    /// Address of the HTTP server (webhooks, /healthz, /readyz, /metrics, /api).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// How often the config repo is polled (webhooks make it immediate).
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub poll_interval: Duration,
    /// How often every app × environment is re-synced to correct drift.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub drift_interval: Duration,
    /// Syncs of different app × environments running at once.
    #[arg(long, default_value_t = 4)]
    pub parallel: usize,
    /// Sync every environment to this kubeconfig context instead of each environment's own.
    #[arg(long, conflicts_with = "plan_only")]
    pub context: Option<String>,
    /// Apply nothing: compute and show each app × environment's plan.
    #[arg(long)]
    pub plan_only: bool,
    /// Token for an https config repo: a file or `env://VAR`.
    #[arg(long, value_name = "SOURCE")]
    pub git_token: Option<String>,
    /// Send `--git-token` over plain `http://` to a host other than this one; refused otherwise,
    /// since anyone on the network path could read it.
    #[arg(long)]
    pub allow_insecure_git: bool,
    /// Elect one leader among replicas with a coordination.k8s.io Lease (in the cluster of
    /// `--context`, else the one gantry runs in); only the leader syncs.
    #[arg(long, env = "GANTRY_LEADER_ELECT")]
    pub leader_elect: bool,
    /// gantry's own namespace: the Lease, the `AppSync` records, and the Secrets that
    /// `gantry.yaml` and `policies/` name (registry credentials, `secret:` signature keys). Default
    /// `POD_NAMESPACE`, else the service account's, else `gantry`.
    #[arg(long, alias = "lease-namespace")]
    pub namespace: Option<String>,
    /// A registry (`host:port`) reached over plain HTTP when verifying signatures; loopback
    /// registries always are. Repeatable.
    #[arg(long = "insecure-registry", value_name = "HOST")]
    pub insecure_registries: Vec<String>,
    /// Seconds a lease stays valid without renewal: the longest a takeover waits.
    #[arg(long, default_value_t = 15)]
    pub lease_duration: u64,
    /// Webhook secret `FORGE=SOURCE` (github, gitlab, gitea, harbor, registry; SOURCE a file
    /// or `env://VAR`). A sender without one is refused (404). Repeatable.
    #[arg(long = "webhook-secret", value_name = "FORGE=SOURCE")]
    pub webhook_secrets: Vec<String>,
}

pub(super) fn source(text: &str) -> SecretRef {
    match text.strip_prefix("env://") {
        Some(var) => SecretRef::Env(var.to_owned()),
        None => SecretRef::File(text.into()),
    }
}

fn webhooks(entries: &[String]) -> anyhow::Result<WebhookConfig> {
    let mut config = WebhookConfig::default();
    for entry in entries {
        let (forge, from) = entry
            .split_once('=')
            .with_context(|| format!("--webhook-secret {entry:?}: expected FORGE=SOURCE"))?;
        let secret = source(from)
            .read_local()
            .map_err(|e| anyhow::anyhow!("--webhook-secret {forge}: {e}"))?;
        // An empty key is a key anyone has: the HMAC of any body with it, or an empty token.
        anyhow::ensure!(
            !secret.trim().is_empty(),
            "--webhook-secret {forge}: the secret is empty; deliveries signed with an empty key would be accepted from anyone"
        );
        let secret = Some(Secret::new(secret.trim()));
        match forge {
            "github" => config.github = secret,
            "gitlab" => config.gitlab = secret,
            "gitea" => config.gitea = secret,
            "harbor" => config.harbor = secret,
            "registry" => config.registry = secret,
            other => anyhow::bail!(
                "--webhook-secret: unknown forge {other:?} (github, gitlab, gitea, harbor, registry)"
            ),
        }
    }
    Ok(config)
}

fn git_credentials(args: &DaemonArgs) -> anyhow::Result<Credentials> {
    Ok(match &args.git_token {
        Some(s) => {
            Credentials::token_from(&args.config_repo, &source(s), None, args.allow_insecure_git)?
        }
        None => Credentials::Anonymous,
    })
}

pub fn run_daemon(args: &DaemonArgs) -> anyhow::Result<()> {
    let credentials = git_credentials(args)?;
    let webhooks = webhooks(&args.webhook_secrets)?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let clusters = if args.plan_only {
            Clusters::PlanOnly
        } else if let Some(context) = &args.context {
            Clusters::Fixed(crate::cluster::connect(&Cluster::Context(context.clone())).await?)
        } else {
            Clusters::Kubeconfig
        };
        let leader = leader(args).await?;
        let events = pod_events(leader.as_ref());
        // In a cluster the records live in AppSync resources next to the Lease; otherwise in
        // a redb file under the data dir.
        let store: Arc<dyn crate::store::StateStore> = match &leader {
            Some(l) => {
                crate::store::cluster::ClusterStore::preflight(&l.client, &l.namespace).await?;
                Arc::new(crate::store::cluster::ClusterStore::new(
                    l.client.clone(),
                    &l.namespace,
                ))
            }
            None => Arc::new(Arc::new(crate::store::local::LocalStore::open(
                &args.data_dir.join("state.redb"),
            )?)),
        };
        // Signature keys and registry credentials held in Secrets are read from the cluster
        // gantry runs in (or `--context`'s); without one, only files and env vars work.
        let kube = match (&leader, &clusters) {
            (Some(l), _) => Some(l.client.clone()),
            (None, Clusters::Fixed(client)) => Some(client.clone()),
            (None, Clusters::Kubeconfig) => kube::Client::try_default().await.ok(),
            (None, Clusters::PlanOnly) => None,
        };
        let images = crate::artifact::admission::ImageAccess {
            namespace: own_namespace(args.namespace.as_deref()),
            kube,
            insecure: args.insecure_registries.clone(),
            unverified: None,
        };
        let options = Options {
            images,
            store: Some(store),
            leader,
            events,
            config_repo: args.config_repo.clone(),
            branch: args.branch.clone(),
            credentials,
            data_dir: args.data_dir.clone(),
            listen: args.listen,
            poll_interval: args.poll_interval,
            drift_interval: args.drift_interval,
            parallel: args.parallel,
            clusters,
            webhooks,
            git_timeout: Duration::from_secs(30),
        };
        let tokens = (CancellationToken::new(), CancellationToken::new());
        tokio::spawn(signals(tokens.0.clone(), tokens.1.clone()));
        daemon::run(options, Arc::new(State::default()), tokens, None).await?;
        anyhow::Ok(())
    })
}

/// The Lease settings with `--leader-elect`.
async fn leader(args: &DaemonArgs) -> anyhow::Result<Option<daemon::Leader>> {
    if !args.leader_elect {
        return Ok(None);
    }
    let cluster = match &args.context {
        Some(c) => Cluster::Context(c.clone()),
        None => Cluster::InCluster,
    };
    Ok(Some(daemon::Leader {
        client: crate::cluster::connect(&cluster).await?,
        namespace: own_namespace(args.namespace.as_deref()),
        lease: "gantry".into(),
        identity: identity(),
        duration: args.lease_duration,
        grace: (args.lease_duration / 3).max(1),
        // In a pod (downward API), the leader labels it for the Service.
        pod: std::env::var("POD_NAME").ok(),
    }))
}

/// In a pod (`POD_NAME`, `POD_NAMESPACE` from the downward API), config errors also become
/// Events regarding the pod, next to the leader election's client.
fn pod_events(leader: Option<&daemon::Leader>) -> Option<daemon::Events> {
    let (Some(l), Ok(pod), Ok(namespace)) = (
        leader,
        std::env::var("POD_NAME"),
        std::env::var("POD_NAMESPACE"),
    ) else {
        return None;
    };
    Some(daemon::Events {
        recorder: kube::runtime::events::Recorder::new(
            l.client.clone(),
            kube::runtime::events::Reporter {
                controller: "gantry".into(),
                instance: Some(pod.clone()),
            },
        ),
        regarding: k8s_openapi::api::core::v1::ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Pod".into()),
            name: Some(pod),
            namespace: Some(namespace),
            ..Default::default()
        },
    })
}

fn own_namespace(flag: Option<&str>) -> String {
    flag.map(str::to_owned)
        .or_else(|| std::env::var("POD_NAMESPACE").ok())
        .or_else(|| {
            std::fs::read_to_string("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
                .ok()
                .map(|s| s.trim().to_owned())
        })
        .unwrap_or_else(|| "gantry".into())
}

/// `POD_NAME` (set from the downward API in manifests/), else host name and process id.
fn identity() -> String {
    std::env::var("POD_NAME").unwrap_or_else(|_| {
        let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
        format!("{}-{}", host.trim(), std::process::id())
    })
}

/// First SIGTERM or Ctrl-C drains; the second aborts running syncs.
async fn signals(shutdown: CancellationToken, abort: CancellationToken) {
    for token in [shutdown, abort] {
        #[cfg(unix)]
        {
            let Ok(mut term) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            else {
                return;
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        token.cancel();
    }
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub server: super::ServerArg,
    /// Only this app.
    #[arg(long)]
    pub app: Option<String>,
    /// `table` (one line per app × environment) or `json` (the whole record).
    #[arg(long, value_enum, default_value_t = StatusOutput::Table)]
    pub output: StatusOutput,
}

pub fn run_status(args: &StatusArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let base = args.server.base();
    let url = format!("{base}/api/v1/apps");
    // The server URL may carry credentials: errors name it without them.
    let shown = crate::git::redact_url(&url);
    let body: serde_json::Value = runtime.block_on(async {
        let response = reqwest::Client::new()
            .get(&url)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!("cannot reach the daemon at {shown}: {}", e.without_url())
            })?
            .error_for_status()
            .map_err(|e| anyhow::anyhow!("{shown} answered with an error: {}", e.without_url()))?;
        response
            .json()
            .await
            .map_err(|e| anyhow::anyhow!("{shown} did not answer JSON: {}", e.without_url()))
    })?;
    if let Some(app) = &args.app {
        let known: std::collections::BTreeSet<&str> = body["apps"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["app"].as_str())
            .collect();
        if !known.contains(app.as_str()) {
            return Err(super::UsageError(format!(
                "no app {app:?} at {shown} (known: {})",
                known.into_iter().collect::<Vec<_>>().join(", ")
            ))
            .into());
        }
    }
    match args.output {
        StatusOutput::Table => print!("{}", status_text(&body, args.app.as_deref())),
        StatusOutput::Json => {
            let mut body = body;
            if let (Some(app), Some(rows)) = (&args.app, body["apps"].as_array_mut()) {
                rows.retain(|r| r["app"] == app.as_str());
            }
            println!(
                "{}",
                serde_json::to_string_pretty(&body).context("cannot print JSON")?
            );
        }
    }
    Ok(())
}

/// `gantry status --output`.
#[derive(Debug, Clone, Copy, Default, clap::ValueEnum)]
pub enum StatusOutput {
    #[default]
    Table,
    /// The daemon's whole record per app × environment (`/api/v1/apps`).
    Json,
}

/// One line for a table cell: the lines of a message joined, at most 100 characters.
fn one_line(text: &str) -> String {
    let joined = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    match joined.char_indices().nth(99) {
        Some((cut, _)) => format!("{}…", &joined[..cut]),
        None => joined,
    }
}

/// The matrix, then the config repo line and its errors. DESIRED is the commit of the last
/// attempt, APPLIED the last that succeeded; MESSAGE is the error of a failed attempt, else
/// what a successful one noted (plan only, policy warnings).
#[must_use]
pub fn status_text(body: &serde_json::Value, app: Option<&str>) -> String {
    let field = |v: &serde_json::Value, k: &str| v[k].as_str().unwrap_or("-").to_owned();
    let short = |v: &serde_json::Value, k: &str| {
        let full = field(v, k);
        full.get(..12).unwrap_or(&full).to_owned()
    };
    let mut rows = vec![[
        "APP".to_string(),
        "ENV".into(),
        "DESIRED".into(),
        "APPLIED".into(),
        "HEALTH".into(),
        "PHASE".into(),
        "LAST SYNC".into(),
        "MESSAGE".into(),
    ]];
    for row in body["apps"].as_array().into_iter().flatten() {
        if app.is_some_and(|a| row["app"] != a) {
            continue;
        }
        let message = row["error"]
            .as_str()
            .or_else(|| row["note"].as_str())
            .map_or_else(|| "-".to_owned(), one_line);
        rows.push([
            field(row, "app"),
            field(row, "env"),
            short(row, "desired"),
            short(row, "revision"),
            field(row, "health"),
            field(row, "phase"),
            field(row, "last_sync"),
            message,
        ]);
    }
    let mut out = super::table::render(&rows);
    let repo = &body["repo"];
    let good = field(repo, "good");
    let _ = writeln!(
        out,
        "config repo {} ({}): in force {}",
        field(repo, "url"),
        field(repo, "branch"),
        good.get(..12).unwrap_or(&good)
    );
    for e in repo["errors"].as_array().into_iter().flatten() {
        let _ = writeln!(out, "  error: {}", e.as_str().unwrap_or_default());
    }
    out
}
