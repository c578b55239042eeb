//! cosign-compatible signing and verification against Debian's docker-registry: the right key
//! verifies; a wrong key, an altered payload, an unsigned image, a signature copied from another
//! image and a moved tag are each refused with their own reason.

use std::collections::BTreeMap;

use gantry::artifact::registry::{Registry, Upload};
use gantry::artifact::sign::verify::{KeyContext, Refusal, Verdict, verify, verify_with_policy};
use gantry::artifact::sign::{KeySource, SigningKey, TrustedKey, sign, signature_ref};
use gantry::config::SecretRef;
use gantry::config::policy::{Mode, SignaturePolicy, SignatureRule};
use oci_client::Reference;
use serde_json::Value;

use crate::harness::registry::Registry as Server;
use crate::registry::{client, push_image, reference};

fn keypair() -> (SigningKey, TrustedKey) {
    let (key, private) = SigningKey::generate(b"pw").expect("generate key");
    let reread =
        SigningKey::from_pem("test", private.as_bytes(), b"pw").expect("encrypted PEM reads back");
    assert_eq!(reread.id(), key.id());
    let trusted = TrustedKey::from_pem("cosign.pub", key.public_pem()).expect("public key");
    assert_eq!(trusted.id, key.id());
    (key, trusted)
}

fn annotations() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("gantry.dev/source".into(), "shop@0123abc".into()),
        ("gantry.dev/run".into(), "run-42".into()),
    ])
}

async fn image(server: &Server, registry: &Registry, path: &str, content: &str) -> Reference {
    let r = reference(server, path);
    push_image(registry, &r, ("linux", "amd64"), content.as_bytes()).await;
    r
}

async fn refused(registry: &Registry, image: &Reference, trusted: &TrustedKey) -> Refusal {
    refusal(
        verify(registry, image, std::slice::from_ref(trusted))
            .await
            .expect("verify"),
    )
}

fn refusal(verdict: Verdict) -> Refusal {
    match verdict {
        Verdict::Refused(r) => r,
        Verdict::Verified { .. } => panic!("expected a refusal, got {verdict:?}"),
    }
}

#[tokio::test]
async fn sign_then_verify_with_the_right_key_and_keep_earlier_signatures() {
    let server = Server::start().await;
    let registry = client(&[&reference(&server, "x/y")], Upload::Chunked);
    let web = image(&server, &registry, "shop/web:1", "web v1").await;
    let (ci, ci_pub) = keypair();
    let (release, release_pub) = keypair();

    let signed = sign(&registry, &web, &ci, &annotations())
        .await
        .expect("sign");
    assert_eq!(signed.signatures, 1);
    assert_eq!(
        signed.signature_ref.tag(),
        Some(format!("{}.sig", signed.digest.replace(':', "-")).as_str())
    );
    let verdict = verify(&registry, &web, &[ci_pub]).await.expect("verify");
    assert_eq!(
        verdict,
        Verdict::Verified {
            digest: signed.digest.clone(),
            key: "cosign.pub".into()
        }
    );

    // A second signer appends, as cosign does; signing again with the same key does not duplicate.
    assert_eq!(
        sign(&registry, &web, &release, &annotations())
            .await
            .expect("sign 2")
            .signatures,
        2
    );
    assert_eq!(
        sign(&registry, &web, &release, &annotations())
            .await
            .expect("sign 3")
            .signatures,
        2
    );
    assert!(matches!(
        verify(&registry, &web, &[release_pub])
            .await
            .expect("verify 2"),
        Verdict::Verified { .. }
    ));

    // The payload is cosign's simple-signing format with our annotations.
    let sig = registry
        .manifest(&signed.signature_ref)
        .await
        .expect("sig manifest");
    let layer = &sig.json["layers"][0];
    assert_eq!(
        layer["mediaType"],
        "application/vnd.dev.cosign.simplesigning.v1+json"
    );
    assert!(layer["annotations"]["dev.cosignproject.cosign/signature"].is_string());
    let payload: Value = serde_json::from_slice(
        &registry
            .blob(
                &signed.signature_ref,
                layer["digest"].as_str().expect("digest"),
            )
            .await
            .expect("payload"),
    )
    .expect("payload json");
    assert_eq!(
        payload["critical"]["type"],
        "cosign container image signature"
    );
    assert_eq!(
        payload["critical"]["image"]["docker-manifest-digest"],
        signed.digest
    );
    assert_eq!(
        payload["critical"]["identity"]["docker-reference"],
        format!("127.0.0.1:{}/shop/web", server.port)
    );
    assert_eq!(payload["optional"]["gantry.dev/run"], "run-42");
}

#[tokio::test]
async fn wrong_key_altered_payload_unsigned_copied_and_moved_tag_are_refused_distinctly() {
    let server = Server::start().await;
    let registry = client(&[&reference(&server, "x/y")], Upload::Chunked);
    let (key, trusted) = keypair();
    let (other, _) = keypair();

    // Unsigned.
    let bare = image(&server, &registry, "shop/bare:1", "bare").await;
    let r = refused(&registry, &bare, &trusted).await;
    assert!(matches!(r, Refusal::Unsigned { .. }), "{r}");
    assert!(r.to_string().contains("not signed: no signature at"), "{r}");

    // Signed by a key that is not trusted.
    let foreign = image(&server, &registry, "shop/foreign:1", "foreign").await;
    sign(&registry, &foreign, &other, &annotations())
        .await
        .expect("sign with other key");
    let r = refused(&registry, &foreign, &trusted).await;
    assert!(matches!(r, Refusal::UntrustedKey { count: 1, .. }), "{r}");
    assert!(r.to_string().contains("signed by an untrusted key"), "{r}");

    // Payload altered after signing: a new payload blob under the old signature.
    let altered = image(&server, &registry, "shop/altered:1", "altered").await;
    let signed = sign(&registry, &altered, &key, &annotations())
        .await
        .expect("sign");
    tamper(&registry, &signed.signature_ref).await;
    let r = refused(&registry, &altered, &trusted).await;
    assert!(matches!(r, Refusal::Tampered { .. }), "{r}");
    assert!(r.to_string().contains("signature payload altered"), "{r}");

    // A valid signature of another image copied under this image's signature tag.
    let good = image(&server, &registry, "shop/copied:good", "good").await;
    let evil = image(&server, &registry, "shop/copied:evil", "evil").await;
    let good_sig = sign(&registry, &good, &key, &annotations())
        .await
        .expect("sign good");
    let evil_digest = registry.resolve(&evil).await.expect("resolve evil");
    let sig_manifest = registry
        .manifest(&good_sig.signature_ref)
        .await
        .expect("good sig");
    registry
        .push_manifest(
            &signature_ref(&evil, &evil_digest),
            sig_manifest.bytes,
            &sig_manifest.media_type,
        )
        .await
        .expect("copy signature");
    let r = refused(&registry, &evil, &trusted).await;
    assert!(matches!(r, Refusal::DigestMismatch { .. }), "{r}");
    assert!(
        r.to_string()
            .contains("it was copied from another image or the tag moved"),
        "{r}"
    );

    // A pinned tag@digest whose tag has since moved to another image.
    let pinned: Reference = format!(
        "127.0.0.1:{}/shop/copied:evil@{}",
        server.port, good_sig.digest
    )
    .parse()
    .expect("pinned ref");
    let r = refused(&registry, &pinned, &trusted).await;
    assert!(matches!(r, Refusal::TagMoved { .. }), "{r}");
    assert!(r.to_string().contains("the tag moved"), "{r}");
}

/// Rewrites the first payload in a `.sig` manifest, keeping its signature and key id.
async fn tamper(registry: &Registry, sig_ref: &Reference) {
    let manifest = registry.manifest(sig_ref).await.expect("sig manifest");
    let mut json = manifest.json.clone();
    let digest = json["layers"][0]["digest"]
        .as_str()
        .expect("digest")
        .to_owned();
    let payload = registry.blob(sig_ref, &digest).await.expect("payload");
    let mut payload: Value = serde_json::from_slice(&payload).expect("payload json");
    payload["optional"]["gantry.dev/run"] = "run-666".into();
    let payload = serde_json::to_vec(&payload).expect("payload bytes");
    let new_digest = gantry::core::sha256(&payload);
    registry
        .push_blob(sig_ref, payload.clone(), &new_digest)
        .await
        .expect("push payload");
    json["layers"][0]["digest"] = new_digest.into();
    json["layers"][0]["size"] = payload.len().into();
    registry
        .push_manifest(
            sig_ref,
            serde_json::to_vec(&json).expect("manifest"),
            &manifest.media_type,
        )
        .await
        .expect("push tampered manifest");
}

#[tokio::test]
async fn the_policy_picks_keys_by_image_glob_and_refuses_images_no_rule_covers() {
    let server = Server::start().await;
    let registry = client(&[&reference(&server, "x/y")], Upload::Chunked);
    let (key, _) = keypair();
    let web = image(&server, &registry, "shop/team/web:1", "web").await;
    sign(&registry, &web, &key, &annotations())
        .await
        .expect("sign");
    let repo = tempfile::tempdir().expect("config repo");
    std::fs::create_dir_all(repo.path().join("keys")).expect("mkdir");
    std::fs::write(repo.path().join("keys/cosign.pub"), key.public_pem()).expect("write key");
    let policy = SignaturePolicy {
        mode: Mode::Enforce,
        rules: vec![SignatureRule {
            images: vec![format!("127.0.0.1:{}/shop/**", server.port)],
            keys: vec![SecretRef::File("keys/cosign.pub".into())],
        }],
    };
    let keys = KeyContext {
        base: repo.path(),
        tree: None,
        namespace: "gantry",
        kube: None,
    };
    let verdict = verify_with_policy(&registry, &web, &policy, keys)
        .await
        .expect("verify");
    assert!(
        matches!(verdict, Verdict::Verified { ref key, .. } if key.ends_with("keys/cosign.pub")),
        "{verdict:?}"
    );

    let outside = image(&server, &registry, "other/web:1", "other").await;
    let r = refusal(
        verify_with_policy(&registry, &outside, &policy, keys)
            .await
            .expect("verify"),
    );
    assert!(matches!(r, Refusal::NoRule { .. }), "{r}");
}

/// An independent reader of cosign's format: sigstore-rs's own cosign client finds gantry's
/// signature layers and its public-key constraint accepts them (there is no cosign binary here).
#[tokio::test]
async fn sigstore_cosign_client_accepts_gantry_signatures() {
    use sigstore::cosign::verification_constraint::{PublicKeyVerifier, VerificationConstraintVec};
    use sigstore::cosign::{ClientBuilder, CosignCapabilities as _, verify_constraints};

    let server = Server::start().await;
    let registry = client(&[&reference(&server, "x/y")], Upload::Chunked);
    let (key, _) = keypair();
    let (other, _) = keypair();
    let web = image(&server, &registry, "shop/web:1", "web").await;
    sign(&registry, &web, &key, &annotations())
        .await
        .expect("sign");

    let mut cosign = ClientBuilder::default()
        .with_oci_client_config(sigstore::registry::ClientConfig {
            protocol: sigstore::registry::ClientProtocol::HttpsExcept(vec![format!(
                "127.0.0.1:{}",
                server.port
            )]),
            ..Default::default()
        })
        .build()
        .expect("sigstore client");
    let image: sigstore::registry::OciReference = web.whole().parse().expect("sigstore reference");
    let layers = cosign
        .trusted_signature_layers(&sigstore::registry::Auth::Anonymous, &image)
        .await
        .expect("signature layers");
    assert_eq!(layers.len(), 1);
    let scheme = sigstore::crypto::SigningScheme::ECDSA_P256_SHA256_ASN1;
    let right: VerificationConstraintVec = vec![Box::new(
        PublicKeyVerifier::new(key.public_pem().as_bytes(), &scheme).expect("verifier"),
    )];
    verify_constraints(&layers, right.iter()).expect("sigstore-rs verifies gantry's signature");
    let wrong: VerificationConstraintVec = vec![Box::new(
        PublicKeyVerifier::new(other.public_pem().as_bytes(), &scheme).expect("verifier"),
    )];
    assert!(verify_constraints(&layers, wrong.iter()).is_err());
}

/// Keys held in Kubernetes Secrets the way `cosign generate-key-pair k8s://…` stores them: the
/// private key and its password for signing, the public key for a policy's `secret:` entry. The
/// API server is kube's tower-test mock answering `GET …/secrets/NAME` as the API documents.
#[tokio::test]
async fn keys_from_kubernetes_secrets_sign_and_verify() {
    use base64::Engine as _;
    let server = Server::start().await;
    let registry = client(&[&reference(&server, "x/y")], Upload::Chunked);
    let (key, private) = SigningKey::generate(b"from-secret").expect("generate");
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let secrets = serde_json::json!({
        "/api/v1/namespaces/ci/secrets/signing": {"cosign.key": b64(&private), "cosign.password": b64("from-secret")},
        "/api/v1/namespaces/gantry/secrets/cosign-public-key": {"cosign.pub": b64(key.public_pem())},
    });
    let (kube, seen) = crate::cluster_api::mock(Box::new(move |req| {
        match secrets.get(&req.path) {
            Some(data) if req.method == "GET" => (
                200,
                serde_json::json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": req.path.rsplit('/').next()}, "type": "Opaque", "data": data}),
            ),
            _ => (
                404,
                serde_json::json!({"apiVersion": "v1", "kind": "Status", "status": "Failure", "reason": "NotFound", "code": 404, "message": format!("secrets not found: {}", req.path)}),
            ),
        }
    }));

    let source = KeySource::parse("k8s://ci/signing").expect("k8s source");
    let loaded = SigningKey::load(&source, Some(&kube))
        .await
        .expect("private key from Secret");
    assert_eq!(loaded.id(), key.id());
    let web = image(&server, &registry, "shop/web:1", "web").await;
    sign(&registry, &web, &loaded, &annotations())
        .await
        .expect("sign");

    let policy = SignaturePolicy {
        mode: Mode::Enforce,
        rules: vec![SignatureRule {
            images: vec![format!("127.0.0.1:{}/shop/*", server.port)],
            keys: vec![SecretRef::Secret("cosign-public-key".into())],
        }],
    };
    let keys = KeyContext {
        base: std::path::Path::new("."),
        tree: None,
        namespace: "gantry",
        kube: Some(&kube),
    };
    let verdict = verify_with_policy(&registry, &web, &policy, keys)
        .await
        .expect("verify");
    assert!(
        matches!(verdict, Verdict::Verified { ref key, .. } if key == "k8s://gantry/cosign-public-key"),
        "{verdict:?}"
    );

    let missing = KeySource::parse("k8s://ci/absent").expect("k8s source");
    let err = SigningKey::load(&missing, Some(&kube))
        .await
        .expect_err("no such Secret")
        .to_string();
    assert!(
        err.starts_with("signing key k8s://ci/absent: the Secret does not exist: create it with `kubectl -n ci create secret generic absent --from-file=cosign.key=<file>`"),
        "{err}"
    );
    let paths: Vec<String> = seen
        .lock()
        .expect("seen")
        .iter()
        .map(|s| format!("{} {}", s.method, s.path))
        .collect();
    assert!(
        paths.contains(&"GET /api/v1/namespaces/gantry/secrets/cosign-public-key".to_owned()),
        "{paths:?}"
    );
    assert!(KeySource::parse("k8s://no-namespace").is_err());
}
