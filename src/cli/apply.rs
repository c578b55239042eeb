//! `gantry apply DIR --context C`: one sync of an overlay to a cluster, printed as a table.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Component, Path, PathBuf};

use anyhow::Context as _;

use crate::cluster::apply::{ApiTable, Applier};
use crate::cluster::{self, SyncContext};
use crate::config::{Cluster, IN_CLUSTER};
use crate::manifest::Reorder;

/// Which overlay goes to which cluster, as app/env: shared by `apply` and `diff`.
#[derive(Debug, clap::Args)]
pub struct Target {
    /// Overlay directory, e.g. apps/web/overlays/dev in a config repo.
    pub dir: PathBuf,
    /// kubeconfig context, or `in-cluster` for the service account gantry runs under.
    #[arg(long)]
    pub context: String,
    /// App label value; default: the `apps/<app>/overlays/<env>` part of DIR.
    #[arg(long)]
    pub app: Option<String>,
    /// Environment label value; default: taken from DIR like `--app`.
    #[arg(long)]
    pub env: Option<String>,
    /// Namespace for namespaced objects that name none.
    #[arg(long, default_value = "default")]
    pub namespace: String,
}

// Command-line flags are naturally independent booleans.
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub target: Target,
    /// Delete objects gantry applied for this app/env that are no longer rendered.
    #[arg(long)]
    pub prune: bool,
    /// Ask the API server to validate everything (`dryRun=All`) and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Most objects one sync may prune, as a share of the app's live objects.
    #[arg(long, default_value_t = 50)]
    pub max_prune_percent: u32,
    /// Prune even when that exceeds --max-prune-percent (an empty render still never prunes).
    #[arg(long)]
    pub allow_large_prune: bool,
    /// Do not take over fields another field manager owns (server-side apply conflicts fail).
    #[arg(long)]
    pub no_force: bool,
}

/// Everything a sync needs: the applier, the render, its plan, the live inventory and the
/// context.
pub struct Prepared {
    pub applier: Applier,
    pub rendered: Vec<(serde_json::Value, String)>,
    pub plan: cluster::Plan,
    pub live: HashMap<cluster::ObjectId, (cluster::LiveObject, serde_json::Value)>,
    pub ctx: SyncContext,
}

/// Renders the overlay, connects, discovers, lists the inventory and plans.
pub async fn prepare(
    target: &Target,
    adjust: impl FnOnce(&mut SyncContext),
) -> anyhow::Result<Prepared> {
    let (app, env) = app_env(target)?;
    let resources = super::render::render_checkout(&target.dir, Reorder::Legacy)?;
    let rendered = resources
        .into_iter()
        .map(|r| (r.obj, r.origin))
        .collect::<Vec<_>>();
    let mut ctx = SyncContext::new(&app, &env, &target.namespace, &revision(&target.dir));
    adjust(&mut ctx);
    let cluster = if target.context == IN_CLUSTER {
        Cluster::InCluster
    } else {
        Cluster::Context(target.context.clone())
    };
    let client = cluster::connect(&cluster).await?;
    let table = ApiTable::discover(&client).await?;
    let applier = Applier::new(client, table);
    let live = applier.inventory(&app, &env).await?;
    let inventory: Vec<_> = live.values().map(|(l, _)| l.clone()).collect();
    let plan = cluster::plan(rendered.clone(), &inventory, &applier.table.scopes(), &ctx)?;
    Ok(Prepared {
        applier,
        rendered,
        plan,
        live,
        ctx,
    })
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let rows = runtime.block_on(async {
        let Prepared {
            mut applier,
            rendered,
            plan,
            live,
            ctx,
        } = prepare(&args.target, |ctx| {
            ctx.prune = args.prune;
            ctx.max_prune_percent = args.max_prune_percent;
            ctx.allow_large_prune = args.allow_large_prune;
        })
        .await?;
        applier.force = !args.no_force;
        applier.dry_run = args.dry_run;
        // As the daemon does: the environment's namespace is created when missing (unless the
        // render brings its own Namespace, which then applies first as the app's object).
        let ns = &args.target.namespace;
        let brings_own = plan
            .objects()
            .any(|(id, _)| id.group.is_empty() && id.kind == "Namespace" && id.name == *ns);
        let uses_it = plan
            .objects()
            .any(|(id, _)| id.namespace.as_deref() == Some(ns.as_str()));
        if uses_it && !brings_own {
            applier.ensure_namespace(ns).await?;
        }
        let report = cluster::sync::perform(&mut applier, rendered, &live, &ctx).await?;
        anyhow::Ok(report.rows)
    })?;
    let mut table = vec![[
        "OBJECT".to_string(),
        "ACTION".into(),
        "HEALTH".into(),
        "MESSAGE".into(),
    ]];
    for row in &rows {
        let (health, message) = match &row.live {
            Some(live) => {
                let h = cluster::health(Some(live));
                (format!("{:?}", h.status), h.message)
            }
            None => ("-".into(), String::new()),
        };
        let action = if args.dry_run {
            format!("{} (dry run)", row.action)
        } else {
            row.action.to_string()
        };
        table.push([row.id.to_string(), action, health, message]);
    }
    std::io::stdout()
        .lock()
        .write_all(super::table::render(&table).as_bytes())
        .context("cannot write to stdout")
}

/// `--app`/`--env`, or the `apps/<app>/overlays/<env>` tail of DIR.
fn app_env(args: &Target) -> anyhow::Result<(String, String)> {
    let parts: Vec<String> = std::path::absolute(&args.dir)
        .unwrap_or_else(|_| args.dir.clone())
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    let from_path = match parts.as_slice() {
        [.., apps, app, overlays, env] if apps == "apps" && overlays == "overlays" => {
            Some((app.clone(), env.clone()))
        }
        _ => None,
    };
    match (&args.app, &args.env, from_path) {
        (Some(a), Some(e), _) => Ok((a.clone(), e.clone())),
        (a, e, Some((pa, pe))) => Ok((a.clone().unwrap_or(pa), e.clone().unwrap_or(pe))),
        _ => anyhow::bail!(
            "{} is not an apps/<app>/overlays/<env> directory: pass --app and --env",
            args.dir.display()
        ),
    }
}

/// The commit the checkout is at, for the revision annotation.
fn revision(dir: &Path) -> String {
    gix::discover(dir)
        .ok()
        .and_then(|r| r.head_id().ok().map(|id| id.to_string()))
        .unwrap_or_else(|| "uncommitted".to_string())
}
