//! One reconcile of a canary against its cluster (stage ⑦, the part that performs): takes the
//! measurements the state machine asks for, keeps the canary Deployment at the replicas its
//! weight gives, and on promote or abort removes it.
//!
//! Input: the [`Canary`] (stored per app × environment: images, the stable Deployment, the
//! machine's state), its strategy, the stable Deployment as the sync renders it, an
//! [`Applier`]. Output: an [`Outcome`] — measured (store and come back), waiting, paused,
//! promoted, or aborted with the rollback [`DeployRequest`] to commit. The stable Deployment
//! is the sync's: it applies [`Canary::stable_view`] (image and replicas) while the rollout
//! owns the app × environment, so the two never fight over a field.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::analysis::Millis;
use super::machine::{self, Action, Evidence, RolloutPhase, RunKind, Scale, State, Step, Strategy};
use super::prometheus::Prometheus;
use super::traffic::{CANARY_SUFFIX, canary_deployment, replica_split};
use crate::cluster::ObjectId;
use crate::cluster::apply::Applier;
use crate::config::model::Traffic;
use crate::core::ImageRef;
use crate::deploy::DeployRequest;

/// A rollout in progress, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Canary {
    pub app: String,
    pub env: String,
    pub namespace: String,
    /// The stable Deployment's name.
    pub deployment: String,
    /// The app's image repository (gantry.yaml's `image`).
    pub repository: String,
    pub stable_image: String,
    pub canary_image: String,
    /// The stable Deployment's replicas as rendered: the total the split keeps.
    pub replicas: u32,
    /// How traffic reaches the canary (replica weights unless a router is configured).
    #[serde(default)]
    pub traffic: Traffic,
    /// The rendered objects a router's canary copies are made from: the Service selecting the
    /// app's pods, and for NGINX the stable Ingress.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routing: Vec<Value>,
    pub state: State,
    /// An abort whose rollback is not committed yet: why, and the failing measurements. A
    /// restart commits it (a commit already made is "unchanged" then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<(String, Vec<Evidence>)>,
}

/// What one reconcile came to.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Measurements were recorded: store the state and reconcile again.
    Measured,
    /// Nothing to do before this long.
    Waiting(Duration),
    /// Held for `gantry rollout promote`, `abort` or `retry`.
    Paused(String),
    /// The canary's image is the stable one now; the canary Deployment is gone.
    Promoted,
    /// The canary is gone and the stable runs everything; commit this rollback.
    Aborted(Box<DeployRequest>),
}

#[derive(Debug, thiserror::Error)]
pub enum DriveError {
    #[error(transparent)]
    Cluster(#[from] crate::cluster::ClusterError),
    #[error("{0}: not an image reference")]
    Image(String),
}

impl Canary {
    /// The canary's replicas for the state's weight (or `setCanaryScale`).
    #[must_use]
    pub fn canary_replicas(&self) -> u32 {
        let weight = match self.state.scale {
            Some(Scale::Replicas(n)) => return n,
            Some(Scale::Weight(w)) => w,
            None => self.state.weight,
        };
        if self.routed() {
            // A router splits the traffic: the canary needs enough pods for its share (Argo's
            // `trafficWeightToReplicas`, rounded up); the stable keeps all of its own.
            (self.replicas * weight.min(100)).div_ceil(100)
        } else {
            replica_split(self.replicas, weight).0
        }
    }

    /// Whether a traffic router (not the replica counts) splits the traffic.
    #[must_use]
    pub fn routed(&self) -> bool {
        self.traffic != Traffic::Replicas
    }

    /// The canary's share of traffic as a router should set it now.
    #[must_use]
    pub fn routed_weight(&self) -> u32 {
        match self.state.phase {
            RolloutPhase::Progressing | RolloutPhase::Paused => self.state.weight,
            RolloutPhase::Promoted | RolloutPhase::Aborted => 0,
        }
    }

    /// The image and replicas the sync gives the stable Deployment now: the stable image and
    /// what the canary leaves while it runs; everything, on the new image, once promoted.
    #[must_use]
    pub fn stable_view(&self) -> (&str, u32) {
        match self.state.phase {
            RolloutPhase::Promoted => (&self.canary_image, self.replicas),
            RolloutPhase::Aborted => (&self.stable_image, self.replicas),
            RolloutPhase::Progressing | RolloutPhase::Paused if self.routed() => {
                (&self.stable_image, self.replicas)
            }
            RolloutPhase::Progressing | RolloutPhase::Paused => (
                &self.stable_image,
                self.replicas.saturating_sub(self.canary_replicas()),
            ),
        }
    }

    fn canary_id(&self) -> ObjectId {
        ObjectId {
            group: "apps".into(),
            kind: "Deployment".into(),
            namespace: Some(self.namespace.clone()),
            name: format!("{}{CANARY_SUFFIX}", self.deployment),
        }
    }
}

/// One reconcile: the machine's next action, performed.
///
/// # Errors
///
/// When the canary Deployment cannot be applied or deleted.
pub async fn reconcile(
    c: &mut Canary,
    strategy: &Strategy,
    rendered_stable: &Value,
    applier: &Applier,
    now: impl Fn() -> Millis,
) -> Result<Outcome, DriveError> {
    let action = machine::next(strategy, &mut c.state, now());
    match action {
        Action::Measure(kind, due) => {
            measure(c, strategy, kind, &due, &now).await;
            Ok(Outcome::Measured)
        }
        Action::WaitUntil(at) => {
            traffic(c, rendered_stable, applier).await?;
            Ok(Outcome::Waiting(Duration::from_millis(
                at.saturating_sub(now()),
            )))
        }
        Action::WaitForHuman(why) => {
            traffic(c, rendered_stable, applier).await?;
            Ok(Outcome::Paused(why))
        }
        Action::Abort { reason, evidence } => {
            c.rollback = Some((reason, evidence));
            remove(c, applier).await?;
            rollback(c)
        }
        Action::Promote | Action::Finished => {
            remove(c, applier).await?;
            match c.state.phase {
                RolloutPhase::Promoted => Ok(Outcome::Promoted),
                _ if c.rollback.is_some() => rollback(c),
                _ => Ok(Outcome::Paused(c.state.message.clone().unwrap_or_default())),
            }
        }
    }
}

/// The rollback the abort asks for.
fn rollback(c: &Canary) -> Result<Outcome, DriveError> {
    let Some((reason, evidence)) = &c.rollback else {
        return Ok(Outcome::Paused(c.state.message.clone().unwrap_or_default()));
    };
    let parse = |i: &str| ImageRef::parse(i).map_err(|_| DriveError::Image(i.to_owned()));
    let (stable, canary) = (parse(&c.stable_image)?, parse(&c.canary_image)?);
    let request = super::rollback::request(
        (&c.app, &c.env),
        (&stable, &canary),
        reason,
        evidence,
        Some(format!("rollout/{}/{}", c.app, c.env)),
    );
    Ok(Outcome::Aborted(Box::new(request)))
}

/// Takes the due measurements of `kind`'s metrics, one Prometheus client per address.
async fn measure(
    c: &mut Canary,
    strategy: &Strategy,
    kind: RunKind,
    due: &[usize],
    now: &impl Fn() -> Millis,
) {
    let metrics = match kind {
        RunKind::Step => match strategy.steps.get(c.state.step) {
            Some(Step::Analysis(m)) => m.clone(),
            _ => return,
        },
        RunKind::Background => strategy.background.clone(),
    };
    for &i in due {
        let Some(metric) = metrics.get(i) else {
            continue;
        };
        let measurement = match Prometheus::new(&metric.address) {
            Ok(client) => client.measure(metric, now).await,
            Err(e) => super::analysis::Measurement {
                phase: super::analysis::Phase::Error,
                started_at: now(),
                finished_at: now(),
                value: String::new(),
                message: Some(e.to_string()),
            },
        };
        c.state.record(strategy, kind, i, measurement);
    }
}

/// The canary Deployment at its replicas (none at weight 0: it is removed), and a router's
/// canary objects: a Service selecting only canary pods, and for NGINX the canary Ingress.
async fn traffic(c: &Canary, rendered_stable: &Value, applier: &Applier) -> Result<(), DriveError> {
    let replicas = c.canary_replicas();
    if replicas == 0 && c.state.weight == 0 {
        return remove(c, applier).await;
    }
    let canary = canary_deployment(rendered_stable, &c.repository, &c.canary_image, replicas);
    applier.apply(&c.canary_id(), &canary).await?;
    for object in router_objects(c) {
        applier.apply(&id_of(c, &object), &object).await?;
    }
    Ok(())
}

/// The router's canary objects for the current weight.
fn router_objects(c: &Canary) -> Vec<Value> {
    let service = c.routing.iter().find(|o| o["kind"] == "Service");
    let mut out = Vec::new();
    if let (true, Some(svc)) = (c.routed(), service) {
        out.push(super::traffic::canary_service(svc));
    }
    if let (Traffic::Nginx { stable_ingress }, Some(svc)) = (&c.traffic, service) {
        let ingress = c
            .routing
            .iter()
            .find(|o| o["kind"] == "Ingress" && o["metadata"]["name"] == stable_ingress.as_str());
        if let Some(ingress) = ingress {
            let name = svc["metadata"]["name"].as_str().unwrap_or_default();
            out.push(super::traffic::nginx_canary(
                ingress,
                name,
                c.routed_weight(),
            ));
        }
    }
    out
}

fn id_of(c: &Canary, object: &Value) -> ObjectId {
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    ObjectId {
        group: api_version
            .rsplit_once('/')
            .map_or("", |(g, _)| g)
            .to_owned(),
        kind: object["kind"].as_str().unwrap_or_default().to_owned(),
        namespace: Some(c.namespace.clone()),
        name: object["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    }
}

async fn remove(c: &Canary, applier: &Applier) -> Result<(), DriveError> {
    applier.delete(&c.canary_id(), None).await?;
    for object in router_objects(c) {
        applier.delete(&id_of(c, &object), Some(&object)).await?;
    }
    Ok(())
}
