//! Issue 18's image updates: `apps[].imageUpdate` in gantry.yaml (every mistake located), and
//! the pure plan of which apps deploy a pushed image, where, and why not.

use gantry::config::{self, Config};
use gantry::core::ImageRef;
use gantry::deploy::update::{Pushed, Skipped, plan};

use crate::validate::Repo;

const WEB_ENVS: &str = "    environments: [dev, staging, prod]\n";

fn with_update(block: &str) -> Repo {
    let repo = Repo::quickstart();
    repo.replace("gantry.yaml", WEB_ENVS, &format!("{WEB_ENVS}{block}"));
    repo
}

fn pushed(reference: &str) -> Pushed {
    Pushed {
        image: ImageRef::parse(reference).expect("reference"),
        via: "harbor".into(),
    }
}

const DIGEST: &str = "sha256:ab5c3b9b1b2e7c7f4b1e8f2b4f0d8b4b6b1a0f9c2e8d7c6b5a4f3e2d1c0b9a87";

fn load(repo: &Repo) -> Config {
    config::load(repo.path()).expect("valid")
}

#[test]
fn regression_issue_18_image_updates_go_to_the_first_environment_unless_one_is_named() {
    let cfg = load(&with_update("    imageUpdate: {}\n"));
    let rule = cfg
        .app("web")
        .and_then(|a| a.image_update.clone())
        .expect("rule");
    assert_eq!(rule.environment, "dev", "first in promotion order");
    assert!(rule.tags.is_empty());
    assert!(
        cfg.app("api").expect("api").image_update.is_none(),
        "opt-in"
    );

    let cfg = load(&with_update(
        "    imageUpdate:\n      environment: staging\n      tags: [\"v*\", \"release-?\"]\n",
    ));
    let rule = cfg
        .app("web")
        .and_then(|a| a.image_update.clone())
        .expect("rule");
    assert_eq!(rule.environment, "staging");
    assert_eq!(rule.tags, ["v*", "release-?"]);
    assert!(rule.accepts("v1.2.3") && rule.accepts("release-7"));
    assert!(!rule.accepts("main-abc123") && !rule.accepts("release-12"));
}

#[test]
fn regression_issue_18_image_update_mistakes_are_located() {
    let repo = with_update(
        "    imageUpdate:\n      environment: qa\n      tags: [\"v[1\", \"\"]\n      branch: main\n",
    );
    let errors = repo.errors();
    assert_eq!(
        errors.len(),
        1,
        "unknown keys are refused first: {errors:?}"
    );
    assert!(
        errors[0].starts_with("gantry.yaml:45:7: ") && errors[0].contains("branch"),
        "{errors:?}"
    );
    let repo =
        with_update("    imageUpdate:\n      environment: qa\n      tags: [\"v[1\", \"\"]\n");
    assert_eq!(
        repo.errors(),
        [
            "gantry.yaml:43:20: apps[0].imageUpdate.environment: \"qa\" is not one of the app's environments (dev, staging, prod)",
            "gantry.yaml:44:14: apps[0].imageUpdate.tags[0]: invalid tag pattern \"v[1\": unclosed character class; missing ']'",
            "gantry.yaml:44:21: apps[0].imageUpdate.tags[1]: invalid tag pattern \"\": an empty pattern matches no tag",
        ]
    );
}

#[test]
fn regression_issue_18_a_push_updates_the_apps_of_its_repository_whose_rule_takes_the_tag() {
    let cfg = load(&with_update("    imageUpdate:\n      tags: [\"v*\"]\n"));
    let (updates, skipped) = plan(
        &cfg,
        &pushed(&format!("harbor.example.com/shop/web:v2@{DIGEST}")),
    );
    assert_eq!(skipped, []);
    let [update] = updates.as_slice() else {
        panic!("one update: {updates:?}");
    };
    assert_eq!((update.app.as_str(), update.env.as_str()), ("web", "dev"));
    assert_eq!(
        update.image.to_string(),
        format!("harbor.example.com/shop/web@{DIGEST}")
    );
    let request = update.request();
    let trailers = request.trailers();
    assert_eq!(trailers.run.as_deref(), Some("image-update"));
    assert_eq!(trailers.evidence.as_deref(), Some("tag=v2 pushed=harbor"));
    assert!(
        !request.force,
        "an image update never overrides a rejection"
    );

    // The registry host is case-insensitive; the repository is not another app's.
    let (updates, _) = plan(
        &cfg,
        &pushed(&format!("HARBOR.example.com/shop/web:v3@{DIGEST}")),
    );
    assert_eq!(updates.len(), 1);
    let (updates, skipped) = plan(
        &cfg,
        &pushed(&format!("harbor.example.com/shop/web-x:v2@{DIGEST}")),
    );
    assert_eq!((updates.len(), skipped.len()), (0, 0));
    let (updates, skipped) = plan(
        &cfg,
        &pushed(&format!("other.example.com/shop/web:v2@{DIGEST}")),
    );
    assert_eq!((updates.len(), skipped.len()), (0, 0));

    // Why a push of the app's repository deploys nothing.
    let cases = [
        (
            format!("harbor.example.com/shop/web:main-1@{DIGEST}"),
            Skipped::Tag {
                app: "web".into(),
                tag: "main-1".into(),
            },
        ),
        (
            format!(
                "harbor.example.com/shop/web:sha256-{}.sig@{DIGEST}",
                &DIGEST[7..]
            ),
            Skipped::Accessory {
                app: "web".into(),
                tag: format!("sha256-{}.sig", &DIGEST[7..]),
            },
        ),
        (
            format!("harbor.example.com/shop/web@{DIGEST}"),
            Skipped::Untagged { app: "web".into() },
        ),
        (
            "harbor.example.com/shop/web:v2".to_owned(),
            Skipped::NoDigest { app: "web".into() },
        ),
        (
            format!("harbor.example.com/shop/api:v2@{DIGEST}"),
            Skipped::NotEnabled { app: "api".into() },
        ),
    ];
    for (reference, why) in cases {
        let (updates, skipped) = plan(&cfg, &pushed(&reference));
        assert_eq!((updates, skipped), (vec![], vec![why]), "{reference}");
    }
}

#[test]
fn regression_issue_18_a_cosign_signature_tag_is_never_an_update_even_with_any_tag() {
    let cfg = load(&with_update("    imageUpdate: {}\n"));
    let sig = format!(
        "harbor.example.com/shop/web:sha256-{}.sig@{DIGEST}",
        &DIGEST[7..]
    );
    let (updates, skipped) = plan(&cfg, &pushed(&sig));
    assert!(updates.is_empty(), "{updates:?}");
    assert!(
        matches!(skipped.as_slice(), [Skipped::Accessory { .. }]),
        "{skipped:?}"
    );
    let (updates, _) = plan(
        &cfg,
        &pushed(&format!("harbor.example.com/shop/web:latest@{DIGEST}")),
    );
    assert_eq!(updates.len(), 1, "without tags: any tag");
}
