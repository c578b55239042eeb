//! Who owns the Deployment, case by case.

use serde_json::json;

use super::*;

const REPO: &str = "harbor.example.com/shop/web";

fn image(c: char) -> String {
    format!("{REPO}@sha256:{}", c.to_string().repeat(64))
}

fn rendered(c: char) -> Vec<(Value, String)> {
    vec![
        (
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}}),
            "s.yaml".into(),
        ),
        (
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                "spec": {"replicas": 10, "template": {"spec": {"containers": [
                    {"name": "web", "image": image(c)}, {"name": "proxy", "image": "envoyproxy/envoy:v1"}]}}}}),
            "d.yaml".into(),
        ),
    ]
}

fn decide_for(c: char, live: Option<char>, current: Option<&Canary>) -> Ownership {
    let live = live.map(image);
    decide(
        &rendered(c),
        ("web", "dev", "shop"),
        REPO,
        live.as_deref(),
        current,
        5,
    )
}

fn started(c: char, live: char) -> Canary {
    match decide_for(c, Some(live), None) {
        Ownership::Start(canary) => *canary,
        other => panic!("expected a start, got {other:?}"),
    }
}

#[test]
fn a_new_image_on_a_running_deployment_starts_a_canary() {
    assert_eq!(
        decide_for('a', None, None),
        Ownership::Sync,
        "first deploy: no canary"
    );
    assert_eq!(
        decide_for('a', Some('a'), None),
        Ownership::Sync,
        "nothing changes"
    );
    let c = started('b', 'a');
    assert_eq!(
        (c.stable_image.as_str(), c.canary_image.as_str()),
        (image('a').as_str(), image('b').as_str())
    );
    assert_eq!(
        (c.deployment.as_str(), c.replicas, c.state.step_started),
        ("web", 10, 5)
    );
}

#[test]
fn while_it_runs_the_sync_applies_the_stable_view() {
    let mut c = started('b', 'a');
    assert_eq!(decide_for('b', Some('a'), Some(&c)), Ownership::Keep);
    c.state.weight = 20;
    let mut objects = rendered('b');
    apply_view(&mut objects, &c);
    let d = &objects[1].0;
    assert_eq!(d["spec"]["replicas"], 8);
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        image('a')
    );
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][1]["image"],
        "envoyproxy/envoy:v1"
    );
    assert_eq!(objects[0], rendered('b')[0], "other objects untouched");
    assert_eq!(
        rendered_stable(&rendered('b'), REPO).expect("stable")["spec"]["replicas"],
        10
    );
}

#[test]
fn it_ends_when_git_and_the_rollout_agree() {
    let mut c = started('b', 'a');
    c.state.phase = RolloutPhase::Promoted;
    assert_eq!(decide_for('b', Some('a'), Some(&c)), Ownership::Done);
    let mut objects = rendered('b');
    apply_view(&mut objects, &c);
    assert_eq!(
        objects[1].0["spec"]["template"]["spec"]["containers"][0]["image"],
        image('b')
    );
    assert_eq!(objects[1].0["spec"]["replicas"], 10);

    let mut aborted = started('b', 'a');
    aborted.state.phase = RolloutPhase::Aborted;
    assert_eq!(
        decide_for('b', Some('a'), Some(&aborted)),
        Ownership::Keep,
        "until the rollback lands"
    );
    assert_eq!(
        decide_for('a', Some('a'), Some(&aborted)),
        Ownership::Keep,
        "the rollback landed: kept, as aborted, for a retry"
    );
    let mut objects = rendered('a');
    apply_view(&mut objects, &aborted);
    assert_eq!(
        objects,
        rendered('a'),
        "the view is the render: stable image, every replica"
    );

    let running = started('b', 'a');
    assert_eq!(
        decide_for('a', Some('a'), Some(&running)),
        Ownership::Done,
        "reverted in Git"
    );
}

#[test]
fn a_newer_image_replaces_the_running_canary_and_keeps_the_stable() {
    let running = started('b', 'a');
    let Ownership::Start(next) = decide_for('c', Some('a'), Some(&running)) else {
        panic!("a newer canary starts");
    };
    assert_eq!(
        (next.stable_image, next.canary_image),
        (image('a'), image('c'))
    );
}
