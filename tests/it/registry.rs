//! The OCI registry client against Debian's docker-registry (distribution v2.8): monolithic and
//! chunked uploads, resolve and exists, tag listing, and copying a multi-platform image within a
//! registry (blobs mounted — the mount request is read from the registry's own request log) and
//! across registries (blobs streamed).

use gantry::artifact::registry::{Registry, RegistryOptions, Upload, parse_reference};
use gantry::core::sha256;
use oci_client::Reference;
use oci_client::manifest as mt;
use serde_json::json;

use crate::harness::registry::Registry as Server;

pub fn client(references: &[&Reference], upload: Upload) -> Registry {
    Registry::new(
        RegistryOptions {
            upload,
            ..RegistryOptions::default()
        },
        references.iter().copied(),
    )
}

pub fn reference(server: &Server, path: &str) -> Reference {
    parse_reference(&format!("127.0.0.1:{}/{path}", server.port)).expect("test reference")
}

/// Pushes a one-layer OCI image whose layer is `content`; returns the manifest digest.
pub async fn push_image(
    registry: &Registry,
    at: &Reference,
    platform: (&str, &str),
    content: &[u8],
) -> String {
    let config = serde_json::to_vec(&json!({
        "architecture": platform.1, "os": platform.0,
        "config": {"Env": ["PATH=/usr/bin", "BASE=1"], "Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": [sha256(content)]},
        "history": [{"created_by": "test base"}],
    }))
    .expect("config json");
    registry
        .push_blob(at, content.to_vec(), &sha256(content))
        .await
        .expect("push layer");
    registry
        .push_blob(at, config.clone(), &sha256(&config))
        .await
        .expect("push config");
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": mt::OCI_IMAGE_MEDIA_TYPE,
        "config": {"mediaType": mt::IMAGE_CONFIG_MEDIA_TYPE, "digest": sha256(&config), "size": config.len()},
        "layers": [{"mediaType": mt::IMAGE_LAYER_MEDIA_TYPE, "digest": sha256(content), "size": content.len()}],
    }))
    .expect("manifest json");
    registry
        .push_manifest(at, manifest, mt::OCI_IMAGE_MEDIA_TYPE)
        .await
        .expect("push manifest")
}

/// Pushes a two-platform index (linux/amd64, linux/arm64/v8) at `at`; returns its digest.
pub async fn push_index(registry: &Registry, at: &Reference) -> String {
    let mut entries = Vec::new();
    for (arch, variant) in [("amd64", None), ("arm64", Some("v8"))] {
        let by_tag = Reference::with_tag(
            at.registry().into(),
            at.repository().into(),
            format!("tmp-{arch}"),
        );
        let content = format!("base layer for {arch}\n").repeat(1000);
        let digest = push_image(registry, &by_tag, ("linux", arch), content.as_bytes()).await;
        let size = registry
            .manifest(&by_tag)
            .await
            .expect("child manifest")
            .bytes
            .len();
        let mut platform = json!({"os": "linux", "architecture": arch});
        if let Some(v) = variant {
            platform["variant"] = json!(v);
        }
        entries.push(json!({"mediaType": mt::OCI_IMAGE_MEDIA_TYPE, "digest": digest, "size": size, "platform": platform}));
    }
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": mt::OCI_IMAGE_INDEX_MEDIA_TYPE, "manifests": entries,
    }))
    .expect("index json");
    registry
        .push_manifest(at, index, mt::OCI_IMAGE_INDEX_MEDIA_TYPE)
        .await
        .expect("push index")
}

/// Request lines (`METHOD URI`) the registry logged as completed.
pub fn requests(server: &Server) -> Vec<String> {
    let log = std::fs::read_to_string(server.log_path()).expect("registry log");
    log.lines()
        .filter(|l| l.contains("response completed"))
        .filter_map(|l| {
            let field = |name: &str| {
                let start = l.find(&format!("{name}="))? + name.len() + 1;
                let rest = &l[start..];
                let rest = rest.strip_prefix('"').unwrap_or(rest);
                Some(rest.split(['"', ' ']).next().unwrap_or("").to_owned())
            };
            Some(format!(
                "{} {}",
                field("http.request.method")?,
                field("http.request.uri")?
            ))
        })
        .collect()
}

#[tokio::test]
async fn chunked_and_monolithic_uploads_resolve_exist_and_list_tags() {
    let server = Server::start().await;
    let chunked_ref = reference(&server, "up/chunked:v1");
    let mono_ref = reference(&server, "up/mono:v1");
    // Over 4 MiB: the chunked client sends it as several PATCHes.
    let big: Vec<u8> = (0..9 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();

    let chunked = client(&[&chunked_ref], Upload::Chunked);
    let digest = push_image(&chunked, &chunked_ref, ("linux", "amd64"), &big).await;
    let mono = client(&[&mono_ref], Upload::Monolithic);
    let mono_digest = push_image(&mono, &mono_ref, ("linux", "amd64"), &big).await;
    assert_eq!(digest, mono_digest, "same manifest bytes, same digest");

    let log = requests(&server);
    let patches = |repo: &str| {
        log.iter()
            .filter(|l| l.starts_with(&format!("PATCH /v2/up/{repo}/blobs/uploads/")))
            .count()
    };
    assert!(patches("chunked") >= 3, "9 MiB in 4 MiB chunks: {log:#?}");
    assert_eq!(
        patches("mono"),
        0,
        "monolithic pushes are one PUT each: {log:#?}"
    );

    assert_eq!(
        chunked.resolve(&chunked_ref).await.expect("resolve"),
        digest
    );
    let pulled = chunked.manifest(&chunked_ref).await.expect("manifest");
    assert_eq!(sha256(&pulled.bytes), digest);
    assert_eq!(
        chunked
            .blob(&chunked_ref, &pulled.blobs()[1])
            .await
            .expect("blob"),
        big
    );
    assert!(chunked.exists(&chunked_ref).await.expect("exists"));
    assert!(
        !chunked
            .exists(&reference(&server, "up/chunked:absent"))
            .await
            .expect("absent tag")
    );
    assert!(
        !chunked
            .exists(&reference(&server, "never/pushed:v1"))
            .await
            .expect("absent repo")
    );

    for tag in ["v2", "a0", "z9"] {
        let r = reference(&server, &format!("up/chunked:{tag}"));
        chunked
            .push_manifest(&r, pulled.bytes.clone(), &pulled.media_type)
            .await
            .expect("retag");
    }
    let mut tags = chunked.tags(&chunked_ref).await.expect("tags");
    tags.sort();
    assert_eq!(tags, ["a0", "v1", "v2", "z9"]);

    let missing = chunked
        .resolve(&reference(&server, "up/chunked:absent"))
        .await
        .expect_err("absent");
    let message = missing.to_string();
    assert!(
        message.contains("up/chunked:absent") && message.contains("resolve"),
        "{message}"
    );
}

#[tokio::test]
async fn copy_mounts_within_a_registry_and_streams_across_registries() {
    let dev = Server::start().await;
    let prod = Server::start().await;
    let src = reference(&dev, "shop/web:1.0");
    let promoted = reference(&dev, "release/web:1.0");
    let remote = reference(&prod, "prod/web:1.0");
    let registry = client(&[&src, &remote], Upload::Chunked);
    let index = push_index(&registry, &src).await;

    let within = registry
        .copy(&src, &promoted)
        .await
        .expect("copy within registry");
    assert_eq!(within.digest, index);
    assert_eq!(
        (
            within.manifests,
            within.blobs_mounted,
            within.blobs_streamed
        ),
        (3, 4, 0),
        "{within:?}"
    );
    let mounts: Vec<String> = requests(&dev)
        .into_iter()
        .filter(|l| {
            l.starts_with("POST /v2/release/web/blobs/uploads/?")
                && l.contains("mount=sha256")
                && l.contains("from=shop%2Fweb")
        })
        .collect();
    assert_eq!(mounts.len(), 4, "one mount request per blob: {mounts:#?}");
    assert_eq!(
        registry.resolve(&promoted).await.expect("resolve copy"),
        index
    );

    let across = registry
        .copy(&src, &remote)
        .await
        .expect("copy across registries");
    assert_eq!(
        (
            across.digest.as_str(),
            across.blobs_mounted,
            across.blobs_streamed
        ),
        (index.as_str(), 0, 4)
    );
    let copied = registry.manifest(&remote).await.expect("copied index");
    let original = registry.manifest(&src).await.expect("original index");
    assert_eq!(copied.bytes, original.bytes, "byte-identical index");
    for (child, _) in copied.children() {
        let at =
            Reference::with_digest(remote.registry().into(), remote.repository().into(), child);
        let m = registry
            .manifest(&at)
            .await
            .expect("child manifest in prod");
        for blob in m.blobs() {
            assert!(
                registry.blob_exists(&at, &blob).await.expect("blob check"),
                "{blob} missing in prod"
            );
        }
    }

    let again = registry.copy(&src, &remote).await.expect("copy again");
    assert_eq!(
        (again.blobs_present, again.blobs_streamed),
        (4, 0),
        "nothing moves twice"
    );
}
