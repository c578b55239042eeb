//! Signature verification in the daemon, against Debian's docker-registry: a workload whose
//! image is signed by the key in the config repo deploys; an unsigned image is refused in
//! `enforce` mode (the refusal names the object, file, container, reason and policy, and the
//! running image stays), deploys with a warning in `warn` mode; a key file missing from the
//! config repo refuses with the file named.

use std::collections::BTreeMap;

use gantry::artifact::registry::Upload;
use gantry::artifact::sign::{SigningKey, sign};
use serde_json::Value;

use crate::daemon::{GANTRY_YAML, dev, overlay, start, start_drifting, until};
use crate::fake_cluster::Cluster;
use crate::harness::git::{Remote, Work};
use crate::harness::registry::Registry as Server;
use crate::registry::{client, push_image, reference, requests};

fn pod(image: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n    - name: app\n      image: {image}\n"
    )
}

fn policy(port: u16, mode: &str, key_file: &str) -> String {
    format!(
        "apiVersion: gantry.dev/v1alpha1\nkind: SignaturePolicy\nspec:\n  mode: {mode}\n  rules:\n    - images: [\"127.0.0.1:{port}/shop/**\"]\n      keys:\n        - file: {key_file}\n"
    )
}

/// Commits `files` and pushes; returns the commit.
fn commit(work: &Work, files: &[(&str, &str)], message: &str) -> String {
    for (path, text) in files {
        work.write(path, text);
    }
    let id = work.commit_all(message);
    work.push();
    id
}

fn running_image(cluster: &Cluster) -> Value {
    cluster.pods.lock().expect("pods")[&("shop-dev".into(), "web".into())]["spec"]["containers"][0]
        ["image"]
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_images_deploy_unsigned_are_refused_or_warned_by_mode() {
    let server = Server::start().await;
    let registry = client(&[&reference(&server, "shop/web")], Upload::Monolithic);
    let v1 = reference(&server, "shop/web:1");
    let v2 = reference(&server, "shop/web:2");
    let signed = push_image(&registry, &v1, ("linux", "amd64"), b"web v1").await;
    let unsigned = push_image(&registry, &v2, ("linux", "amd64"), b"web v2").await;
    let (key, _) = SigningKey::generate(b"pw").expect("key");
    sign(&registry, &v1, &key, &BTreeMap::new())
        .await
        .expect("sign v1");
    let image = |digest: &str| format!("127.0.0.1:{}/shop/web@{digest}", server.port);

    let remote = Remote::new();
    let work = remote.clone_work();
    overlay(&work, &["pod"]);
    let port = server.port;
    let first = commit(
        &work,
        &[
            (
                "gantry.yaml",
                &format!("{GANTRY_YAML}policies: [policies/signatures.yaml]\n"),
            ),
            ("keys/cosign.pub", key.public_pem()),
            (
                "policies/signatures.yaml",
                &policy(port, "enforce", "keys/cosign.pub"),
            ),
            ("apps/web/overlays/dev/pod.yaml", &pod(&image(&signed))),
        ],
        "web: signed v1",
    );
    let cluster = Cluster::default();
    let data = tempfile::tempdir().expect("data dir");
    let d = start(&remote.url(), data.path(), cluster.client()).await;
    let status = until(d.addr, "the signed image deployed", |s| {
        dev(s)["revision"] == first.as_str() && dev(s)["phase"] == "synced"
    })
    .await;
    assert_eq!(dev(&status)["error"], Value::Null, "{status}");
    assert_eq!(running_image(&cluster), image(&signed).as_str());

    // Unsigned, enforce: refused, v1 keeps running.
    commit(
        &work,
        &[("apps/web/overlays/dev/pod.yaml", &pod(&image(&unsigned)))],
        "web: unsigned v2",
    );
    let status = until(d.addr, "the refusal", |s| dev(s)["phase"] == "failed").await;
    let error = dev(&status)["error"].as_str().expect("error");
    let expected = format!(
        "refused by policy, nothing applied:\nPod shop-dev/web (apps/web/overlays/dev/pod.yaml): signature: container \"app\": {}: not signed: no signature at 127.0.0.1:{port}/shop/web:{}.sig [policies/signatures.yaml]",
        image(&unsigned),
        unsigned.replace(':', "-"),
    );
    assert_eq!(error, expected);
    assert_eq!(dev(&status)["revision"], first.as_str(), "v1 stays");
    assert_eq!(running_image(&cluster), image(&signed).as_str());

    // The same image in warn mode: deployed, with the finding as a warning.
    let warned = commit(
        &work,
        &[(
            "policies/signatures.yaml",
            &policy(port, "warn", "keys/cosign.pub"),
        )],
        "signatures: warn only",
    );
    let status = until(d.addr, "the warned deploy", |s| {
        dev(s)["revision"] == warned.as_str()
    })
    .await;
    assert_eq!(dev(&status)["phase"], "synced");
    assert!(dev(&status)["error"].is_null(), "a warning is no error");
    let warning = dev(&status)["note"].as_str().expect("warning");
    assert!(
        warning.starts_with("policy warnings:\nPod shop-dev/web (apps/web/overlays/dev/pod.yaml): signature: container \"app\"")
            && warning.contains("not signed"),
        "{warning}"
    );
    assert_eq!(running_image(&cluster), image(&unsigned).as_str());

    // Enforce again with a key file that is not in the config repo: refused, the file named.
    commit(
        &work,
        &[(
            "policies/signatures.yaml",
            &policy(port, "enforce", "keys/missing.pub"),
        )],
        "signatures: a key that is not there",
    );
    let status = until(d.addr, "the missing key", |s| dev(s)["phase"] == "failed").await;
    let error = dev(&status)["error"].as_str().expect("error");
    assert!(
        error.contains("signing key keys/missing.pub: cannot read it from the config repo"),
        "{error}"
    );
    d.shutdown.cancel();
    d.task.await.expect("daemon stopped");
}

/// `gantry_syncs_total` for web/dev, result success.
async fn successful_syncs(addr: std::net::SocketAddr) -> u64 {
    crate::daemon::metrics(addr)
        .await
        .lines()
        .find_map(|l| {
            l.strip_prefix(r#"gantry_syncs_total{app="web",env="dev",result="success"} "#)
        })
        .map_or(0, |n| n.parse().expect("count"))
}

/// Drift passes admit the running workload again, but an image pinned by digest and already
/// verified with the same keys costs no registry request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_passes_do_not_ask_the_registry_again_for_a_verified_digest() {
    let server = Server::start().await;
    let registry = client(&[&reference(&server, "shop/web")], Upload::Monolithic);
    let v1 = reference(&server, "shop/web:1");
    let digest = push_image(&registry, &v1, ("linux", "amd64"), b"web v1").await;
    let (key, _) = SigningKey::generate(b"pw").expect("key");
    sign(&registry, &v1, &key, &BTreeMap::new())
        .await
        .expect("sign");
    let remote = Remote::new();
    let work = remote.clone_work();
    overlay(&work, &["pod"]);
    commit(
        &work,
        &[
            (
                "gantry.yaml",
                &format!("{GANTRY_YAML}policies: [policies/signatures.yaml]\n"),
            ),
            ("keys/cosign.pub", key.public_pem()),
            (
                "policies/signatures.yaml",
                &policy(server.port, "enforce", "keys/cosign.pub"),
            ),
            (
                "apps/web/overlays/dev/pod.yaml",
                &pod(&format!("127.0.0.1:{}/shop/web@{digest}", server.port)),
            ),
        ],
        "web: v1",
    );
    let cluster = Cluster::default();
    let data = tempfile::tempdir().expect("data dir");
    let d = start_drifting(
        &remote.url(),
        data.path(),
        cluster.client(),
        (None, None),
        std::time::Duration::from_millis(300),
    )
    .await;
    until(d.addr, "the first sync", |s| dev(s)["phase"] == "synced").await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let after_first = requests(&server).len();
    let first = successful_syncs(d.addr).await;
    for _ in 0..100 {
        if successful_syncs(d.addr).await >= first + 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        successful_syncs(d.addr).await >= first + 3,
        "three drift passes ran"
    );
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(
        requests(&server)[after_first..],
        [] as [String; 0],
        "no registry requests after the first verification"
    );
    d.shutdown.cancel();
    d.task.await.expect("daemon stopped");
}
