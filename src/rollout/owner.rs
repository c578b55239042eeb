//! Who owns an app × environment's Deployment (stage ⑦, pure): the sync alone, or a rollout.
//! A sync that would change the image of a running Deployment with a rollout strategy starts a
//! canary instead; while the canary runs, the sync applies the stable Deployment as the
//! rollout wants it ([`Canary::stable_view`]: the stable image, the replicas the canary
//! leaves), so the reconciler and the rollout never fight over a field.
//!
//! Input: the rendered objects, the app's image repository, the live stable Deployment, the
//! rollout in progress if any. Output: an [`Ownership`] decision, and the rendered objects
//! adjusted to the stable view ([`apply_view`]).

use serde_json::{Value, json};

use super::analysis::Millis;
use super::drive::Canary;
use super::machine::{RolloutPhase, State};
use crate::config::model::Traffic;
use crate::core::ImageRef;

/// What the sync does with the app × environment's Deployment.
#[derive(Debug, Clone, PartialEq)]
pub enum Ownership {
    /// No rollout: apply the render as it is.
    Sync,
    /// A new canary starts (or replaces a running one for a newer image).
    Start(Box<Canary>),
    /// The rollout in progress keeps the stable Deployment; apply its view.
    Keep,
    /// The rollout is over (promoted and rendered, rolled back and rendered, or reverted in
    /// Git): forget it and apply the render.
    Done,
}

/// The rendered Deployment that runs `repository`: its index, name, image and replicas.
fn stable_of<'a>(
    rendered: &'a [(Value, String)],
    repository: &str,
) -> Option<(usize, &'a str, String, u32)> {
    let wanted = ImageRef::parse(repository).map_or_else(|_| repository.to_owned(), |r| r.name());
    rendered.iter().enumerate().find_map(|(i, (o, _))| {
        if o["kind"] != "Deployment" {
            return None;
        }
        let image = o["spec"]["template"]["spec"]["containers"]
            .as_array()?
            .iter()
            .filter_map(|c| c["image"].as_str())
            .find(|i| ImageRef::parse(i).is_ok_and(|r| r.name() == wanted))?;
        let replicas = o["spec"]["replicas"]
            .as_u64()
            .map_or(1, |r| u32::try_from(r).unwrap_or(u32::MAX));
        Some((
            i,
            o["metadata"]["name"].as_str()?,
            image.to_owned(),
            replicas,
        ))
    })
}

/// The image the live Deployment runs for `repository`.
#[must_use]
pub fn live_image(live: &Value, repository: &str) -> Option<String> {
    stable_of(&[(live.clone(), String::new())], repository).map(|(_, _, image, _)| image)
}

/// Decides who owns the Deployment running `repository` in this sync.
#[must_use]
pub fn decide(
    rendered: &[(Value, String)],
    (app, env, namespace): (&str, &str, &str),
    repository: &str,
    live: Option<&str>,
    current: Option<&Canary>,
    now: Millis,
) -> Ownership {
    let Some((_, name, image, replicas)) = stable_of(rendered, repository) else {
        return if current.is_some() {
            Ownership::Done
        } else {
            Ownership::Sync
        };
    };
    let start = |stable: &str| {
        Ownership::Start(Box::new(Canary {
            app: app.to_owned(),
            env: env.to_owned(),
            namespace: namespace.to_owned(),
            deployment: name.to_owned(),
            repository: repository.to_owned(),
            stable_image: stable.to_owned(),
            canary_image: image.clone(),
            replicas,
            traffic: Traffic::Replicas,
            routing: Vec::new(),
            state: State::start(now),
            rollback: None,
        }))
    };
    match current {
        Some(c) if c.deployment == name => match c.state.phase {
            RolloutPhase::Promoted if image == c.canary_image => Ownership::Done,
            // Rolled back in Git: kept (as aborted, the stable running everything) so that
            // `gantry rollout retry` can start it again; a newer image replaces it.
            RolloutPhase::Aborted if image == c.stable_image => Ownership::Keep,
            _ if image == c.canary_image => Ownership::Keep,
            // Reverted in Git before the rollout ended: the stable image is what is wanted.
            _ if image == c.stable_image => Ownership::Done,
            RolloutPhase::Promoted => start(&c.canary_image),
            _ => start(&c.stable_image),
        },
        _ => match live {
            Some(l) if l != image => start(l),
            _ if current.is_some() => Ownership::Done,
            _ => Ownership::Sync,
        },
    }
}

/// What a router's canary objects are copied from: the rendered Service selecting the stable
/// Deployment's pods and, for NGINX, the stable Ingress.
#[must_use]
pub fn routing(rendered: &[(Value, String)], repository: &str, traffic: &Traffic) -> Vec<Value> {
    let Some((i, ..)) = stable_of(rendered, repository) else {
        return Vec::new();
    };
    let pods = &rendered[i].0["spec"]["template"]["metadata"]["labels"];
    let selects = |o: &Value| {
        o["kind"] == "Service"
            && o["spec"]["selector"]
                .as_object()
                .is_some_and(|s| !s.is_empty() && s.iter().all(|(k, v)| pods[k] == *v))
    };
    let mut out: Vec<Value> = rendered
        .iter()
        .map(|(o, _)| o)
        .filter(|o| selects(o))
        .take(1)
        .cloned()
        .collect();
    if let Traffic::Nginx { stable_ingress } = traffic {
        out.extend(
            rendered
                .iter()
                .map(|(o, _)| o)
                .filter(|o| {
                    o["kind"] == "Ingress" && o["metadata"]["name"] == stable_ingress.as_str()
                })
                .cloned(),
        );
    }
    out
}

/// The rendered objects with the stable Deployment as `canary` wants it now, and with Gateway
/// API routing, the `HTTPRoute` carrying the weights (the route is the sync's object).
pub fn apply_view(rendered: &mut [(Value, String)], canary: &Canary) {
    if let Traffic::GatewayApi { http_route } = &canary.traffic {
        let service = canary.routing.iter().find(|o| o["kind"] == "Service");
        let name = service.and_then(|s| s["metadata"]["name"].as_str());
        if let Some(name) = name {
            for (o, _) in rendered.iter_mut() {
                if o["kind"] == "HTTPRoute" && o["metadata"]["name"] == http_route.as_str() {
                    *o = super::traffic::http_route(o, name, canary.routed_weight());
                }
            }
        }
    }
    let Some((i, _, _, _)) = stable_of(rendered, &canary.repository) else {
        return;
    };
    let (image, replicas) = canary.stable_view();
    let object = &mut rendered[i].0;
    object["spec"]["replicas"] = json!(replicas);
    super::traffic::set_image(object, &canary.repository, image);
}

/// The stable Deployment as rendered (before the view): what the canary is copied from.
#[must_use]
pub fn rendered_stable(rendered: &[(Value, String)], repository: &str) -> Option<Value> {
    stable_of(rendered, repository).map(|(i, ..)| rendered[i].0.clone())
}

#[cfg(test)]
#[path = "owner_tests.rs"]
mod tests;
