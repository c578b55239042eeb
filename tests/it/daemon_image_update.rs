//! Issue 18's image updates end to end with Debian's docker-registry (distribution v2.8) and its
//! real notifications: the registry is configured to notify the daemon's `/hooks/registry`, a
//! test pushes images to it, and the daemon commits each accepted push to the app's dev overlay
//! (then syncs it). A cosign signature's `.sig` tag and a tag outside `imageUpdate.tags` commit
//! nothing; a digest a rollback rejected in dev is refused when pushed again; a newer digest
//! goes through.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use gantry::artifact::registry::Upload;
use gantry::artifact::sign::{SigningKey, sign};

use crate::daemon::{counted, dev, options_for, spawn, until};
use crate::fake_cluster::Cluster;
use crate::harness::git::{Remote, Work, git};
use crate::harness::registry::Registry as Server;
use crate::registry::{client, push_image, reference};

const AUTH: &str = "Bearer registry-notify-e2e";

fn gantry_yaml(port: u16) -> String {
    format!(
        "apiVersion: gantry.dev/v1alpha1\nkind: Config\nenvironments:\n  - name: dev\n    namespace: shop-dev\napps:\n  - name: web\n    image: 127.0.0.1:{port}/shop/web\n    environments: [dev]\n    imageUpdate:\n      tags: [\"v*\"]\n"
    )
}

fn pod(port: u16) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n    - name: app\n      image: 127.0.0.1:{port}/shop/web:0\n"
    )
}

/// The remote's tip.
fn tip(remote: &Remote) -> String {
    git(&remote.path, &["rev-parse", "main"]).trim().to_owned()
}

/// Waits until the remote's tip moves past `from` (at most 20 s); returns the new tip and how
/// long it took.
async fn next_commit(remote: &Remote, from: &str) -> (String, Duration) {
    let started = Instant::now();
    loop {
        let now = tip(remote);
        if now != from {
            return (now, started.elapsed());
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no commit after {from}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The message body of the remote's commit `id`.
fn body(work: &Work, id: &str) -> String {
    git(&work.path, &["pull", "--quiet", "origin", "main"]);
    git(&work.path, &["log", "-1", "--format=%B", id])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn regression_issue_18_registry_pushes_deploy_to_dev_and_a_rejected_digest_stays_out() {
    let remote = Remote::new();
    let work = remote.clone_work();
    let cluster = Cluster::default();
    let data = tempfile::tempdir().expect("data dir");
    let mut options = options_for(&remote.url(), data.path(), cluster.client());
    options.webhooks.registry = Some(gantry::git::Secret::new(AUTH));
    let d = spawn(options).await;
    let server = Server::start_with(|_| {
        format!(
            "notifications:\n  endpoints:\n    - name: gantry\n      url: http://{}/hooks/registry\n      headers:\n        Authorization: [\"{AUTH}\"]\n      timeout: 2s\n      threshold: 3\n      backoff: 1s\n",
            d.addr
        )
    })
    .await;
    let port = server.port;
    work.write("gantry.yaml", &gantry_yaml(port));
    work.write("apps/web/overlays/dev/pod.yaml", &pod(port));
    work.write(
        "apps/web/overlays/dev/kustomization.yaml",
        "resources:\n  - pod.yaml\n",
    );
    let first = work.commit_all("web: first deploy");
    work.push();
    until(d.addr, "the first sync", |s| {
        dev(s)["revision"] == first.as_str() && dev(s)["phase"] == "synced"
    })
    .await;

    // v1 pushed: committed to dev with gantry's trailers, then synced.
    let registry = client(&[&reference(&server, "shop/web")], Upload::Monolithic);
    let v1_ref = reference(&server, "shop/web:v1");
    let v1 = push_image(&registry, &v1_ref, ("linux", "amd64"), b"web v1").await;
    let (commit, took) = next_commit(&remote, &first).await;
    println!(
        "image update: registry manifest push -> commit pushed in {} ms",
        took.as_millis()
    );
    let image = |digest: &str| format!("127.0.0.1:{port}/shop/web@{digest}");
    let message = body(&work, &commit);
    for trailer in [
        "Gantry-Action: deploy".to_owned(),
        "Gantry-Env: dev".to_owned(),
        format!("Gantry-Image: {}", image(&v1)),
        "Gantry-Run: image-update".to_owned(),
        "Gantry-Evidence: tag=v1 pushed=registry".to_owned(),
    ] {
        assert!(message.contains(&trailer), "{trailer} missing:\n{message}");
    }
    let overlay =
        std::fs::read_to_string(work.path.join("apps/web/overlays/dev/kustomization.yaml"))
            .expect("overlay");
    assert!(overlay.contains(&format!("digest: {v1}")), "{overlay}");
    until(d.addr, "the image update synced", |s| {
        dev(s)["revision"] == commit.as_str() && dev(s)["phase"] == "synced"
    })
    .await;
    let running = cluster.pods.lock().expect("pods")[&("shop-dev".into(), "web".into())]["spec"]
        ["containers"][0]["image"]
        .clone();
    assert_eq!(running, image(&v1).as_str());

    // Signing v1 pushes `sha256-….sig`; `build-7` is not a `v*` tag: both reach the daemon
    // (counted as pushes) and neither commits.
    let (key, _) = SigningKey::generate(b"pw").expect("key");
    sign(&registry, &v1_ref, &key, &BTreeMap::new())
        .await
        .expect("sign v1");
    push_image(
        &registry,
        &reference(&server, "shop/web:build-7"),
        ("linux", "amd64"),
        b"web b7",
    )
    .await;
    counted(
        d.addr,
        r#"gantry_images_pushed_total{repository="shop/web"} 3"#,
    )
    .await;
    assert_eq!(
        tip(&remote),
        commit,
        "a signature or an unaccepted tag commits nothing"
    );

    // A rollback in dev rejected v2's digest (first pushed as `build-8`, which commits
    // nothing): v2 pushed again under `v2` is refused, v3 goes through.
    let v2 = push_image(
        &registry,
        &reference(&server, "shop/web:build-8"),
        ("linux", "amd64"),
        b"web v2",
    )
    .await;
    counted(
        d.addr,
        r#"gantry_images_pushed_total{repository="shop/web"} 4"#,
    )
    .await;
    let trailers = format!(
        "Gantry-Action: rollback\nGantry-App: web\nGantry-Env: dev\nGantry-Image: {}\nGantry-Rejected: {}",
        image(&v1),
        image(&v2)
    );
    git(
        &work.path,
        &[
            "commit",
            "--quiet",
            "--allow-empty",
            "--no-gpg-sign",
            "-m",
            "web: rollback to v1 in dev",
            "-m",
            &trailers,
        ],
    );
    work.push();
    let rollback = tip(&remote);
    let again = push_image(
        &registry,
        &reference(&server, "shop/web:v2"),
        ("linux", "amd64"),
        b"web v2",
    )
    .await;
    assert_eq!(again, v2, "the same image under a new tag");
    counted(
        d.addr,
        r#"gantry_image_updates_total{app="web",env="dev",result="refused"} 1"#,
    )
    .await;
    assert_eq!(
        tip(&remote),
        rollback,
        "the rejected digest is not committed"
    );
    let v3 = push_image(
        &registry,
        &reference(&server, "shop/web:v3"),
        ("linux", "amd64"),
        b"web v3",
    )
    .await;
    let (commit, _) = next_commit(&remote, &rollback).await;
    assert!(body(&work, &commit).contains(&format!("Gantry-Image: {}", image(&v3))));
    counted(
        d.addr,
        r#"gantry_image_updates_total{app="web",env="dev",result="committed"} 2"#,
    )
    .await;

    d.shutdown.cancel();
    d.task.await.expect("daemon stopped");
}
