//! `gantry pack` against Debian's docker-registry: pack, push, pull back and inspect; the same
//! directory twice gives the same digest; a multi-platform base contributes the asked platform's
//! layers, mounted rather than copied.

use std::io::Read as _;
use std::path::Path;

use gantry::artifact::pack::{ConfigChanges, PackRequest, Platform, pack};
use gantry::artifact::registry::{Registry, Upload};
use oci_client::Reference;
use serde_json::Value;

use crate::harness::registry::Registry as Server;
use crate::registry::{client, push_index, reference, requests};

fn tree(dir: &Path) {
    std::fs::create_dir_all(dir.join("bin")).expect("mkdir bin");
    std::fs::create_dir_all(dir.join("static/css")).expect("mkdir static");
    std::fs::write(dir.join("bin/server"), "#!/bin/sh\necho hi\n").expect("write server");
    std::fs::write(dir.join("static/css/site.css"), "body{}\n").expect("write css");
    std::fs::write(dir.join("README"), "hello\n").expect("write readme");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(
            dir.join("bin/server"),
            std::fs::Permissions::from_mode(0o700),
        )
        .expect("chmod");
        std::fs::set_permissions(dir.join("README"), std::fs::Permissions::from_mode(0o600))
            .expect("chmod");
        std::os::unix::fs::symlink("bin/server", dir.join("start")).expect("symlink");
    }
}

pub(crate) fn request(
    dir: &Path,
    base: Option<Reference>,
    dest: Reference,
    platform: &str,
) -> PackRequest {
    PackRequest {
        base,
        dir: dir.to_path_buf(),
        prefix: "/app".into(),
        dest,
        platform: Platform::parse(platform).expect("platform"),
        changes: ConfigChanges {
            entrypoint: Some(vec!["/app/bin/server".into(), "--port=8080".into()]),
            env: vec![("MODE".into(), "prod".into()), ("BASE".into(), "2".into())],
            labels: vec![(
                "org.opencontainers.image.revision".into(),
                "0123456789abcdef0123456789abcdef01234567".into(),
            )],
            created: "1970-01-01T00:00:00Z".into(),
            created_by: "gantry pack".into(),
        },
        mtime: 0,
    }
}

async fn config_of(registry: &Registry, at: &Reference) -> (Value, Vec<String>) {
    let manifest = registry.manifest(at).await.expect("pull manifest");
    let blobs = manifest.blobs();
    let config = registry.blob(at, &blobs[0]).await.expect("pull config");
    (
        serde_json::from_slice(&config).expect("config json"),
        blobs[1..].to_vec(),
    )
}

/// (path, type, mode, uid, gid, mtime, content or link target) for every tar entry.
fn entries(gzip: &[u8]) -> Vec<(String, char, u32, u64, u64, u64, String)> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(gzip));
    let mut out = Vec::new();
    for entry in archive.entries().expect("tar entries") {
        let mut e = entry.expect("tar entry");
        let h = e.header().clone();
        let path = e.path().expect("path").display().to_string();
        let mut body = String::new();
        e.read_to_string(&mut body).expect("entry body");
        let link = e
            .link_name()
            .expect("link")
            .map(|l| l.display().to_string());
        out.push((
            path,
            match h.entry_type() {
                tar::EntryType::Directory => 'd',
                tar::EntryType::Symlink => 'l',
                _ => 'f',
            },
            h.mode().expect("mode"),
            h.uid().expect("uid"),
            h.gid().expect("gid"),
            h.mtime().expect("mtime"),
            link.unwrap_or(body),
        ));
    }
    out
}

#[tokio::test]
async fn pack_from_scratch_pushes_a_reproducible_image_with_the_asked_config() {
    let server = Server::start().await;
    let dest = reference(&server, "shop/web:1");
    let registry = client(&[&dest], Upload::Chunked);
    let dir = tempfile::tempdir().expect("tempdir");
    tree(dir.path());

    let first = pack(
        &registry,
        &request(dir.path(), None, dest.clone(), "linux/amd64"),
    )
    .await
    .expect("pack");
    assert_eq!(
        registry.resolve(&dest).await.expect("resolve"),
        first.digest
    );
    let (config, layers) = config_of(&registry, &dest).await;
    assert_eq!(config["os"], "linux");
    assert_eq!(config["architecture"], "amd64");
    assert_eq!(
        config["config"]["Entrypoint"],
        serde_json::json!(["/app/bin/server", "--port=8080"])
    );
    assert_eq!(
        config["config"]["Env"],
        serde_json::json!(["MODE=prod", "BASE=2"])
    );
    assert_eq!(
        config["config"]["Labels"]["org.opencontainers.image.revision"],
        "0123456789abcdef0123456789abcdef01234567"
    );
    assert_eq!(config["history"][0]["created_by"], "gantry pack");
    assert_eq!(layers, std::slice::from_ref(&first.layer_digest));

    let gzip = registry.blob(&dest, &layers[0]).await.expect("pull layer");
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(gzip.as_slice())
        .read_to_end(&mut raw)
        .expect("gunzip");
    assert_eq!(
        config["rootfs"]["diff_ids"][0],
        gantry::core::sha256(&raw),
        "diff_id is the uncompressed tar's digest"
    );
    let got = entries(&gzip);
    let expected = [
        ("app/README", 'f', 0o644, "hello\n"),
        ("app/bin", 'd', 0o755, ""),
        ("app/bin/server", 'f', 0o755, "#!/bin/sh\necho hi\n"),
        ("app/start", 'l', 0o777, "bin/server"),
        ("app/static", 'd', 0o755, ""),
        ("app/static/css", 'd', 0o755, ""),
        ("app/static/css/site.css", 'f', 0o644, "body{}\n"),
    ];
    assert_eq!(got.len(), expected.len(), "{got:#?}");
    for (g, e) in got.iter().zip(expected) {
        assert_eq!(
            (
                g.0.trim_end_matches('/'),
                g.1,
                g.2,
                g.3,
                g.4,
                g.5,
                g.6.as_str()
            ),
            (e.0, e.1, e.2, 0, 0, 0, e.3),
            "sorted, root-owned, normalised modes, fixed mtime"
        );
    }

    // Same tree, new mtimes and a new destination: same layer, same image digest.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    std::fs::write(dir.path().join("README"), "hello\n").expect("rewrite");
    let again_dest = reference(&server, "shop/web-again:1");
    let again = pack(
        &registry,
        &request(dir.path(), None, again_dest, "linux/amd64"),
    )
    .await
    .expect("pack again");
    assert_eq!(again.digest, first.digest);
    assert_eq!(again.layer_digest, first.layer_digest);

    std::fs::write(dir.path().join("README"), "changed\n").expect("change");
    let changed = pack(&registry, &request(dir.path(), None, dest, "linux/amd64"))
        .await
        .expect("pack changed");
    assert_ne!(changed.digest, first.digest, "content change, new digest");
}

#[tokio::test]
async fn pack_on_a_multi_platform_base_takes_the_platform_layers_by_mount() {
    let server = Server::start().await;
    let base = reference(&server, "library/base:1");
    let dest = reference(&server, "shop/api:1");
    let registry = client(&[&base], Upload::Chunked);
    push_index(&registry, &base).await;
    let dir = tempfile::tempdir().expect("tempdir");
    tree(dir.path());

    let out = pack(
        &registry,
        &request(
            dir.path(),
            Some(base.clone()),
            dest.clone(),
            "linux/arm64/v8",
        ),
    )
    .await
    .expect("pack on base");
    assert_eq!(out.base_layers, 1);
    let (config, layers) = config_of(&registry, &dest).await;
    assert_eq!(config["architecture"], "arm64");
    assert_eq!(
        config["config"]["Env"],
        serde_json::json!(["PATH=/usr/bin", "MODE=prod", "BASE=2"]),
        "base env kept, same key replaced"
    );
    assert!(
        config["config"].get("Cmd").is_none(),
        "a new entrypoint drops the base Cmd"
    );
    assert_eq!(config["history"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        config["rootfs"]["diff_ids"].as_array().map(Vec::len),
        Some(2)
    );
    let base_layer = registry
        .blob(&dest, &layers[0])
        .await
        .expect("base layer in dest");
    assert!(String::from_utf8_lossy(&base_layer).starts_with("base layer for arm64"));
    let mounted = requests(&server)
        .iter()
        .filter(|l| l.starts_with("POST /v2/shop/api/blobs/uploads/?") && l.contains("mount="))
        .count();
    assert_eq!(mounted, 1, "the base layer is mounted from library/base");

    let err = pack(
        &registry,
        &request(dir.path(), Some(base), dest, "linux/s390x"),
    )
    .await
    .expect_err("no such platform");
    assert_eq!(
        err.to_string(),
        format!(
            "base image: {}/library/base:1 has no image for linux/s390x; it has: linux/amd64, linux/arm64/v8",
            server_host(&server)
        )
    );
}

fn server_host(server: &Server) -> String {
    format!("127.0.0.1:{}", server.port)
}
