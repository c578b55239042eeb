//! Self-heal: one drift pass over the objects gantry applied (the I/O edge of drift).
//!
//! Input: [`Intent`]s — what gantry applied and which fields it owned afterwards. Output: the
//! objects it re-applied (deleted by hand → recreated; fields taken over by another manager →
//! reclaimed with a forced apply), each logged and, with a recorder, published as a Kubernetes
//! Event on the object. An object that keeps drifting (another controller fighting gantry) is
//! retried with exponential backoff, 2 s doubling to 5 min.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::time::Duration;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder};
use serde_json::Value;
use tokio::time::Instant;

use super::apply::Applier;
use super::drift::{Drift, drift, owned_by};
use super::{ClusterError, ObjectId};

/// What gantry applied to one object.
#[derive(Debug, Clone)]
pub struct Intent {
    pub id: ObjectId,
    /// What gantry applied, as compact JSON: a daemon keeps one intent per object it manages,
    /// and a parsed `Value` costs several times the bytes.
    desired: Box<[u8]>,
    /// Fields gantry owned right after applying (from the apply response).
    pub owned: BTreeSet<String>,
    /// The `resourceVersion` gantry's own apply produced: a watch event carrying it is gantry's
    /// write, not drift.
    pub applied_version: Option<String>,
    heals: u32,
    not_before: Option<Instant>,
}

impl Intent {
    /// The object gantry applied.
    #[must_use]
    pub fn desired(&self) -> Value {
        serde_json::from_slice(&self.desired).unwrap_or(Value::Null)
    }

    /// When a heal skipped for backoff may run again; `None` when none is pending.
    #[must_use]
    pub fn retry_at(&self) -> Option<Instant> {
        self.not_before.filter(|t| *t > Instant::now())
    }

    /// From an apply: `applied` is the object the server returned.
    #[must_use]
    pub fn new(id: ObjectId, desired: &Value, applied: &Value) -> Self {
        Self {
            id,
            owned: owned_by(applied, super::apply::FIELD_MANAGER),
            applied_version: applied["metadata"]["resourceVersion"]
                .as_str()
                .map(str::to_owned),
            desired: serde_json::to_vec(desired)
                .unwrap_or_default()
                .into_boxed_slice(),
            heals: 0,
            not_before: None,
        }
    }
}

/// The intents of a performed plan: each applied object with what the server returned. Rows
/// come in plan order with prunes last, so the applied ones pair with the plan's objects.
#[must_use]
pub fn intents(plan: &super::Plan, rows: &[super::apply::Row]) -> Vec<Intent> {
    plan.objects()
        .zip(rows)
        .filter_map(|((id, desired), row)| {
            Some(Intent::new(id.clone(), desired, row.live.as_ref()?))
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Healed {
    /// The object was gone.
    Recreated,
    /// Other managers had taken these fields.
    Reclaimed(Vec<Drift>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealReport {
    pub id: ObjectId,
    pub healed: Healed,
}

impl Applier {
    /// Checks every intent once and re-applies what drifted.
    pub async fn heal(
        &self,
        intents: &mut [Intent],
        recorder: Option<&Recorder>,
    ) -> Result<Vec<HealReport>, ClusterError> {
        let mut reports = Vec::new();
        let now = Instant::now();
        for intent in intents.iter_mut() {
            if intent.not_before.is_some_and(|t| now < t) {
                continue;
            }
            let desired = intent.desired();
            let live = self.get(&intent.id, &desired).await?;
            let healed = match &live {
                None => Healed::Recreated,
                Some(live) => {
                    let drifted = drift(&intent.owned, live);
                    if drifted.is_empty() {
                        intent.heals = 0;
                        intent.not_before = None;
                        continue;
                    }
                    Healed::Reclaimed(drifted)
                }
            };
            let message = describe(&healed);
            tracing::warn!(object = %intent.id, drift = %message, "drift: re-applying");
            let mut forced = self.clone();
            forced.force = true;
            let applied = forced.apply(&intent.id, &desired).await?;
            intent.owned = owned_by(&applied, super::apply::FIELD_MANAGER);
            intent.applied_version = applied["metadata"]["resourceVersion"]
                .as_str()
                .map(str::to_owned);
            intent.heals = intent.heals.saturating_add(1);
            let wait = Duration::from_secs(1u64 << intent.heals.min(9)).min(Duration::from_mins(5));
            intent.not_before = Some(Instant::now() + wait);
            if let Some(recorder) = recorder {
                let event = Event {
                    type_: EventType::Warning,
                    reason: "DriftCorrected".into(),
                    note: Some(message),
                    action: "SelfHeal".into(),
                    secondary: None,
                };
                if let Err(e) = recorder
                    .publish(&event, &reference(&intent.id, &applied))
                    .await
                {
                    tracing::warn!(object = %intent.id, error = %super::apply::describe(&e), "cannot publish the drift event");
                }
            }
            reports.push(HealReport {
                id: intent.id.clone(),
                healed,
            });
        }
        Ok(reports)
    }
}

fn describe(healed: &Healed) -> String {
    match healed {
        Healed::Recreated => "the object was deleted; recreated it".into(),
        Healed::Reclaimed(drifts) => {
            let fields: Vec<String> = drifts
                .iter()
                .map(|d| format!("{} ({} by {})", readable(&d.path), d.operation, d.manager))
                .collect();
            format!(
                "fields changed outside Git, re-applied: {}",
                fields.join(", ")
            )
        }
    }
}

/// `f:spec/f:replicas` → `spec.replicas`; list items keep their key, e.g.
/// `spec.template.spec.containers[name=main].image`.
fn readable(path: &str) -> String {
    let mut out = String::new();
    for part in path.split('/') {
        if let Some(field) = part.strip_prefix("f:") {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(field);
        } else if let Some(key) = part.strip_prefix("k:") {
            let pairs: Vec<String> = serde_json::from_str::<serde_json::Map<String, Value>>(key)
                .map_or_else(
                    |_| vec![key.to_string()],
                    |m| {
                        m.iter()
                            .map(|(k, v)| match v.as_str() {
                                Some(s) => format!("{k}={s}"),
                                None => format!("{k}={v}"),
                            })
                            .collect()
                    },
                );
            let _ = write!(out, "[{}]", pairs.join(","));
        } else {
            let _ = write!(out, "[{part}]");
        }
    }
    out
}

/// A reference to `id` for an Event, with the uid of its applied state.
#[must_use]
pub fn reference(id: &ObjectId, applied: &Value) -> ObjectReference {
    ObjectReference {
        api_version: applied["apiVersion"].as_str().map(str::to_string),
        kind: Some(id.kind.clone()),
        name: Some(id.name.clone()),
        namespace: id.namespace.clone(),
        uid: applied["metadata"]["uid"].as_str().map(str::to_string),
        ..ObjectReference::default()
    }
}
