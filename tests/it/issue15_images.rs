//! Issue 15, images: a copy that reported a digest it did not store, a pack for a platform its
//! base does not have. Against Debian's docker-registry. Each failed before the fix.

use gantry::artifact::pack::pack;
use gantry::artifact::registry::Upload;
use oci_client::Reference;

use crate::harness::registry::Registry as Server;
use crate::registry::{client, push_image, reference};

/// `gantry copy SRC REPO@sha256:000…` reported success with another digest.
#[tokio::test]
async fn regression_issue_15_copy_to_a_digest_that_is_not_the_source_is_refused() {
    let server = Server::start().await;
    let src = reference(&server, "shop/web:1");
    let registry = client(&[&src], Upload::Chunked);
    let digest = push_image(&registry, &src, ("linux", "amd64"), b"layer").await;
    let zeros = format!("sha256:{}", "0".repeat(64));
    let wrong = Reference::with_digest(src.registry().into(), "prod/web".into(), zeros.clone());
    let err = registry.copy(&src, &wrong).await.expect_err("refused");
    assert!(
        err.to_string().contains(&format!(
            "the destination names digest {zeros}, but {src} is {digest}"
        )),
        "{err}"
    );
    let right = Reference::with_digest(src.registry().into(), "prod/web".into(), digest.clone());
    let copied = registry
        .copy(&src, &right)
        .await
        .expect("same digest copies");
    assert_eq!(copied.digest, digest);
    assert!(registry.exists(&right).await.expect("exists"));
}

/// `gantry pack --platform linux/arm64` on an amd64-only base produced an "arm64" image.
#[tokio::test]
async fn regression_issue_15_pack_refuses_a_platform_a_single_platform_base_lacks() {
    let server = Server::start().await;
    let base = reference(&server, "library/amd64-only:1");
    let dest = reference(&server, "shop/api:1");
    let registry = client(&[&base, &dest], Upload::Chunked);
    push_image(&registry, &base, ("linux", "amd64"), b"amd64 layer").await;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("server"), "#!/bin/sh\n").expect("write");
    let request = |platform: &str| {
        crate::pack::request(dir.path(), Some(base.clone()), dest.clone(), platform)
    };
    let err = pack(&registry, &request("linux/arm64"))
        .await
        .expect_err("no arm64 image in the base");
    assert_eq!(
        err.to_string(),
        format!(
            "base image: {base} is a single-platform image for linux/amd64; it has no image for linux/arm64"
        )
    );
    assert!(
        !registry.exists(&dest).await.expect("exists"),
        "nothing pushed"
    );
    pack(&registry, &request("linux/amd64"))
        .await
        .expect("the base's own platform packs");
}
