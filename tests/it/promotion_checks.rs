//! Issue 19: the registry-side promotion gates against real components — the scan gate through
//! the Harbor double (documented v2.0 scan endpoints) with the vulnerability policy, and the
//! signature gate through the sync's own verifier against Debian's docker-registry with an
//! image gantry signed.

use std::collections::BTreeMap;

use gantry::artifact::admission::{ImageAccess, Verifier};
use gantry::artifact::registry::Upload;
use gantry::artifact::sign::{SigningKey, sign};
use gantry::core::ImageRef;
use gantry::promotion::Check;
use gantry::promotion::checks::{ScanMemo, signature};

use crate::harness::git::Remote;
use crate::harness::registry::Registry as Server;
use crate::registry::{client, push_image, reference};
use crate::validate::Repo;

const D: &str = "sha256:abcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabca";

#[tokio::test]
async fn regression_issue_19_the_scan_gate_asks_harbor_and_applies_the_policy_once_per_ttl() {
    let (url, fake) = crate::harbor_scan::serve().await;
    let host = url.trim_start_matches("http://").to_owned();
    let repo = Repo::quickstart();
    let creds = repo.path().join("robot");
    std::fs::write(&creds, "robot$shop+gantry:s3cr3t").expect("robot file");
    repo.replace(
        "gantry.yaml",
        "url: https://harbor.example.com",
        &format!("url: {url}"),
    );
    repo.replace(
        "gantry.yaml",
        "secret: harbor-robot",
        &format!("file: {}", creds.display()),
    );
    let config = gantry::config::load(repo.path()).expect("config");
    let image = ImageRef::parse(&format!("{host}/shop/team/web@{D}")).expect("ref");
    let memo = ScanMemo::default();
    let check = memo.scan(&config, &image, &ImageAccess::default()).await;
    // The fixture report has a critical finding that is fixable: `maxSeverity: medium` blocks it.
    let Check::Failed(why) = &check else {
        panic!("{check:?}");
    };
    assert!(
        why.contains("1C/") && why.contains("above the policy (policies/vulnerabilities.yaml)"),
        "{why}"
    );
    let calls = fake.calls.lock().expect("calls").len();
    assert!(calls >= 3, "triggered, polled, fetched: {calls}");
    assert_eq!(
        memo.scan(&config, &image, &ImageAccess::default()).await,
        check
    );
    assert_eq!(
        fake.calls.lock().expect("calls").len(),
        calls,
        "reused, not scanned again"
    );

    // A policy that accepts criticals passes the same report.
    repo.replace(
        "policies/vulnerabilities.yaml",
        "maxSeverity: medium",
        "maxSeverity: critical",
    );
    let lenient = gantry::config::load(repo.path()).expect("config");
    let passed = ScanMemo::default()
        .scan(&lenient, &image, &ImageAccess::default())
        .await;
    assert!(
        matches!(&passed, Check::Passed(s) if s.contains("1C/")),
        "{passed:?}"
    );

    // No vulnerability policy: nothing to ask.
    repo.replace("gantry.yaml", "  - policies/vulnerabilities.yaml\n", "");
    let none = gantry::config::load(repo.path()).expect("config");
    assert_eq!(
        ScanMemo::default()
            .scan(&none, &image, &ImageAccess::default())
            .await,
        Check::NotRequired
    );
}

#[tokio::test]
async fn regression_issue_19_the_signature_gate_verifies_as_a_sync_does() {
    let server = Server::start().await;
    let at = reference(&server, "shop/web:1");
    let registry = client(&[&at], Upload::Chunked);
    let digest = push_image(&registry, &at, ("linux", "amd64"), b"web v1").await;
    let (key, _) = SigningKey::generate(b"pw").expect("key");

    // A config repo whose signature policy trusts that key, from a file in the repo.
    let repo = Repo::quickstart();
    std::fs::write(repo.path().join("cosign.pub"), key.public_pem()).expect("pub");
    std::fs::write(
        repo.path().join("policies/signatures.yaml"),
        format!(
            "apiVersion: gantry.dev/v1alpha1\nkind: SignaturePolicy\nspec:\n  mode: enforce\n  rules:\n    - images: [\"127.0.0.1:{}/shop/**\"]\n      keys:\n        - file: cosign.pub\n",
            server.port
        ),
    )
    .expect("policy");
    let config = gantry::config::load(repo.path()).expect("config");
    let remote = Remote::new();
    let work = remote.clone_work();
    crate::validate::copy_tree(repo.path(), &work.path);
    work.commit_all("config");
    let tree =
        gantry::git::TreeFs::at(&gix::open(&work.path).expect("open"), "HEAD").expect("tree");
    let verifier = Verifier::new(ImageAccess::default());
    let image =
        ImageRef::parse(&format!("127.0.0.1:{}/shop/web@{digest}", server.port)).expect("ref");

    let unsigned = signature(&config, &image, (&verifier, &tree, "shop"), false).await;
    assert!(
        matches!(&unsigned, Check::Failed(why) if why.contains("signature")),
        "{unsigned:?}"
    );

    sign(&registry, &at, &key, &BTreeMap::new())
        .await
        .expect("sign");
    let signed = signature(
        &config,
        &image,
        (&Verifier::new(ImageAccess::default()), &tree, "shop"),
        false,
    )
    .await;
    assert_eq!(
        signed,
        Check::Passed("verified (policies/signatures.yaml)".into())
    );

    // No signature policy: not required, unless the target's rule demands a signature.
    let mut bare = config.clone();
    bare.policies
        .retain(|p| !matches!(p.spec, gantry::config::policy::PolicySpec::Signatures(_)));
    assert_eq!(
        signature(&bare, &image, (&verifier, &tree, "shop"), false).await,
        Check::NotRequired
    );
    assert!(matches!(
        signature(&bare, &image, (&verifier, &tree, "shop"), true).await,
        Check::Failed(_)
    ));
}
