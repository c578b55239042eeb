//! Registry authentication against Debian's docker-registry: HTTP Basic (htpasswd), and the
//! bearer-token flow Harbor and distribution use — the registry answers 401 with
//! `WWW-Authenticate: Bearer realm=…,service=…,scope=…`, gantry asks the realm for a token with
//! its Basic credentials, and retries with the token. The token server is an in-test stand-in
//! for Harbor's `/service/token` issuing ES256 JWTs the registry verifies (distribution's token
//! spec: `kid` is the libtrust id of a key in `rootcertbundle`).

use std::sync::{Arc, Mutex};

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine as _;
use gantry::artifact::registry::{Registry, RegistryCredentials, RegistryOptions, Upload};
use gantry::git::Secret;
use serde_json::{Value, json};

use crate::harness::registry::Registry as Server;
use crate::registry::{push_image, reference};

const USER: &str = "robot$ci";
const PASSWORD: &str = "pa55-w0rd";

fn client(server: &Server, credentials: RegistryCredentials) -> Registry {
    let r = reference(server, "x/y");
    Registry::new(
        RegistryOptions {
            upload: Upload::Chunked,
            credentials: [(format!("127.0.0.1:{}", server.port), credentials)].into(),
            ..RegistryOptions::default()
        },
        [&r],
    )
}

fn basic(password: &str) -> RegistryCredentials {
    RegistryCredentials::Basic {
        username: USER.into(),
        password: Secret::new(password),
    }
}

/// Push, resolve and pull back with `credentials`; anonymous and wrong passwords are refused.
async fn round_trip(server: &Server) {
    let image = reference(server, "shop/web:1");
    let registry = client(server, basic(PASSWORD));
    let digest = push_image(
        &registry,
        &image,
        ("linux", "amd64"),
        b"authenticated layer",
    )
    .await;
    assert_eq!(registry.resolve(&image).await.expect("resolve"), digest);
    let manifest = registry.manifest(&image).await.expect("pull manifest");
    assert_eq!(
        registry
            .blob(&image, &manifest.blobs()[1])
            .await
            .expect("pull blob"),
        b"authenticated layer"
    );

    for (what, credentials) in [
        ("anonymous", RegistryCredentials::Anonymous),
        ("wrong password", basic("nope")),
    ] {
        let err = client(server, credentials)
            .resolve(&image)
            .await
            .expect_err(what)
            .to_string();
        assert!(
            err.starts_with(&format!("{}: resolve: ", image.whole())),
            "{what}: {err}"
        );
        assert!(
            !err.contains(PASSWORD),
            "{what}: the password leaked: {err}"
        );
    }
}

async fn htpasswd_registry() -> Server {
    Server::start_with(|dir| {
        let hash = bcrypt::hash(PASSWORD, 5).expect("bcrypt");
        let file = dir.join("htpasswd");
        std::fs::write(&file, format!("{USER}:{hash}\n")).expect("write htpasswd");
        format!(
            "auth:\n  htpasswd:\n    realm: gantry-test\n    path: {}\n",
            file.display()
        )
    })
    .await
}

#[tokio::test]
async fn basic_credentials_against_an_htpasswd_registry() {
    round_trip(&htpasswd_registry().await).await;
}

/// A `kubernetes.io/dockerconfigjson` Secret, read through kube's tower-test mock API server.
#[tokio::test]
async fn credentials_from_a_dockerconfigjson_secret() {
    let server = htpasswd_registry().await;
    let host = format!("127.0.0.1:{}", server.port);
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let config =
        json!({"auths": {host.clone(): {"auth": b64(&format!("{USER}:{PASSWORD}"))}}}).to_string();
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "harbor-robot"},
        "type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": b64(&config)}});
    let (kube, seen) = crate::cluster_api::mock(Box::new(move |req| {
        assert_eq!(req.path, "/api/v1/namespaces/gantry/secrets/harbor-robot");
        (200, secret.clone())
    }));
    let source = gantry::config::SecretRef::Secret("harbor-robot".into());
    let credentials = RegistryCredentials::load(&host, &source, Some(&kube), "gantry")
        .await
        .expect("credentials from the Secret");
    assert_eq!(seen.lock().expect("seen").len(), 1);
    let image = reference(&server, "shop/web:1");
    push_image(
        &client(&server, credentials),
        &image,
        ("linux", "amd64"),
        b"from a Secret",
    )
    .await;

    let offline = RegistryCredentials::load(&host, &source, None, "gantry")
        .await
        .expect_err("no cluster");
    assert!(
        offline.to_string().contains("needs a cluster connection"),
        "{offline}"
    );
}

#[derive(Clone)]
struct Issuer {
    key: Arc<EcdsaKeyPair>,
    kid: String,
    requests: Arc<Mutex<Vec<String>>>,
    /// Every token handed out: credentials too, so the log test greps for them.
    issued: Arc<Mutex<Vec<String>>>,
}

/// libtrust's key id: base32 of the first 240 bits of SHA-256 over the DER public key, in
/// colon-separated groups of four.
fn libtrust_kid(spki_der: &[u8]) -> String {
    use sha2::Digest as _;
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let hash = sha2::Sha256::digest(spki_der);
    // 240 bits → 48 base32 characters, five bits at a time, most significant first.
    let (mut acc, mut held, mut chars) = (0u32, 0u32, Vec::new());
    for b in &hash[..30] {
        acc = (acc << 8) | u32::from(*b);
        held += 8;
        while held >= 5 {
            held -= 5;
            chars.push(char::from(ALPHABET[((acc >> held) & 31) as usize]));
        }
    }
    chars
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join(":")
}

/// `GET /token?service=…&scope=repository:NAME:ACTIONS` with Basic credentials, as Harbor's
/// `/service/token`: known credentials get the asked access, anyone else a token granting nothing.
async fn token(
    State(issuer): State<Issuer>,
    headers: HeaderMap,
    Query(query): Query<Vec<(String, String)>>,
) -> (StatusCode, Json<Value>) {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
    );
    let authorized = headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&expected);
    let scopes: Vec<&String> = query
        .iter()
        .filter(|(k, _)| k == "scope")
        .map(|(_, v)| v)
        .collect();
    issuer.requests.lock().expect("requests").push(format!(
        "{} {}",
        if authorized { "user" } else { "anonymous" },
        scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    ));
    if headers.contains_key("authorization") && !authorized {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"errors": [{"code": "UNAUTHORIZED"}]})),
        );
    }
    let access: Vec<Value> = if authorized {
        scopes
            .iter()
            .filter_map(|s| {
                let mut parts = s.splitn(3, ':');
                let (kind, name, actions) = (parts.next()?, parts.next()?, parts.next()?);
                Some(json!({"type": kind, "name": name, "actions": actions.split(',').collect::<Vec<_>>()}))
            })
            .collect()
    } else {
        Vec::new()
    };
    let now = chrono::Utc::now().timestamp();
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let header = json!({"typ": "JWT", "alg": "ES256", "kid": issuer.kid});
    let claims = json!({
        "iss": "gantry-test-issuer", "sub": USER, "aud": "gantry-test",
        "exp": now + 300, "nbf": now - 10, "iat": now, "jti": format!("{now}-{}", fastrand::u64(..)),
        "access": access,
    });
    let signing_input = format!("{}.{}", b64(&header), b64(&claims));
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let signature = issuer
        .key
        .sign(&rng, signing_input.as_bytes())
        .expect("sign token");
    let jwt = format!(
        "{signing_input}.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(signature.as_ref())
    );
    issuer.issued.lock().expect("issued").push(jwt.clone());
    (
        StatusCode::OK,
        Json(
            json!({"token": jwt, "expires_in": 300, "issued_at": chrono::Utc::now().to_rfc3339()}),
        ),
    )
}

#[tokio::test]
async fn the_bearer_token_flow_harbor_and_distribution_use() {
    bearer_flow().await;
}

/// Passwords, their Basic encoding and the bearer tokens issued never reach the logs, at TRACE,
/// gantry's or its libraries' (oci-client, reqwest, hyper).
#[tokio::test]
async fn regression_issue_7_no_registry_secret_in_any_captured_log() {
    crate::harness::logs::capture();
    round_trip(&htpasswd_registry().await).await;
    let tokens = bearer_flow().await;
    assert!(!tokens.is_empty());
    let logs = crate::harness::logs::text();
    assert!(
        logs.contains("oci_client") || logs.contains("reqwest"),
        "the capture saw nothing"
    );
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    for secret in tokens
        .iter()
        .map(String::as_str)
        .chain([PASSWORD, basic.as_str()])
    {
        assert!(
            !logs.contains(secret),
            "a registry secret appears in the logs: {}",
            logs.lines()
                .find(|l| l.contains(secret))
                .unwrap_or_default()
        );
    }
}

/// Runs the round trip against a token-auth registry; returns the tokens issued.
async fn bearer_flow() -> Vec<String> {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
    let cert = rcgen::CertificateParams::new(vec!["token-issuer".into()])
        .expect("params")
        .self_signed(&key)
        .expect("cert");
    let signer = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &key.serialize_der())
        .expect("aws-lc key");
    let issuer = Issuer {
        key: Arc::new(signer),
        kid: libtrust_kid(&key.public_key_der()),
        requests: Arc::default(),
        issued: Arc::default(),
    };
    let app = Router::new()
        .route("/token", get(token))
        .with_state(issuer.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let realm = format!("http://{}/token", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });

    let cert_pem = cert.pem();
    let server = Server::start_with(move |dir| {
        let bundle = dir.join("token-ca.pem");
        std::fs::write(&bundle, &cert_pem).expect("write root cert bundle");
        format!(
            "auth:\n  token:\n    realm: {realm}\n    service: gantry-test\n    issuer: gantry-test-issuer\n    rootcertbundle: {}\n",
            bundle.display()
        )
    })
    .await;
    round_trip(&server).await;

    let requests = issuer.requests.lock().expect("requests").clone();
    assert!(
        requests
            .iter()
            .any(|r| r.starts_with("user ") && r.contains("repository:shop/web:pull,push")),
        "a push token was asked for with the user's credentials: {requests:#?}"
    );
    assert!(
        requests.iter().any(|r| r.starts_with("anonymous ")),
        "{requests:#?}"
    );
    issuer.issued.lock().expect("issued").clone()
}
