use super::*;

const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// (input, registry, repository, tag or "", digest `D` appended to the input): one row per
/// reference shape gantry meets.
const VALID: &[(&str, &str, &str, &str, bool)] = &[
    ("nginx", "docker.io", "library/nginx", "", false),
    ("nginx:1.25", "docker.io", "library/nginx", "1.25", false),
    (
        "nginx:latest",
        "docker.io",
        "library/nginx",
        "latest",
        false,
    ),
    ("nginx", "docker.io", "library/nginx", "", true),
    ("nginx:1.25", "docker.io", "library/nginx", "1.25", true),
    ("library/nginx", "docker.io", "library/nginx", "", false),
    ("bitnami/redis:7", "docker.io", "bitnami/redis", "7", false),
    ("docker.io/nginx", "docker.io", "library/nginx", "", false),
    (
        "docker.io/library/nginx:1",
        "docker.io",
        "library/nginx",
        "1",
        false,
    ),
    (
        "index.docker.io/library/nginx",
        "docker.io",
        "library/nginx",
        "",
        false,
    ),
    (
        "ghcr.io/acme/web:v1.2.3",
        "ghcr.io",
        "acme/web",
        "v1.2.3",
        false,
    ),
    ("ghcr.io/acme/web", "ghcr.io", "acme/web", "", true),
    (
        "quay.io/prometheus/prometheus:v2.53.0",
        "quay.io",
        "prometheus/prometheus",
        "v2.53.0",
        false,
    ),
    (
        "registry.k8s.io/pause:3.9",
        "registry.k8s.io",
        "pause",
        "3.9",
        false,
    ),
    (
        "harbor.example.com/shop/web:1",
        "harbor.example.com",
        "shop/web",
        "1",
        false,
    ),
    (
        "harbor.example.com/shop/team/web:1",
        "harbor.example.com",
        "shop/team/web",
        "1",
        false,
    ),
    ("localhost/web", "localhost", "web", "", false),
    ("localhost:5000/web", "localhost:5000", "web", "", false),
    (
        "localhost:5000/web:dev",
        "localhost:5000",
        "web",
        "dev",
        false,
    ),
    ("localhost:5000/web", "localhost:5000", "web", "", true),
    (
        "localhost:5000/web:dev",
        "localhost:5000",
        "web",
        "dev",
        true,
    ),
    ("127.0.0.1:5000/a/b:c", "127.0.0.1:5000", "a/b", "c", false),
    ("10.0.0.1/a", "10.0.0.1", "a", "", false),
    ("registry:5000/a", "registry:5000", "a", "", false),
    (
        "my-registry.local:443/ns/app:2024.11",
        "my-registry.local:443",
        "ns/app",
        "2024.11",
        false,
    ),
    ("a.b.c/d/e/f/g:h", "a.b.c", "d/e/f/g", "h", false),
    (
        "gcr.io/distroless/static:nonroot",
        "gcr.io",
        "distroless/static",
        "nonroot",
        false,
    ),
    (
        "public.ecr.aws/nginx/nginx:1.27-alpine",
        "public.ecr.aws",
        "nginx/nginx",
        "1.27-alpine",
        false,
    ),
    (
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:sha-abc",
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
        "app",
        "sha-abc",
        false,
    ),
    (
        "web_app:v1_2",
        "docker.io",
        "library/web_app",
        "v1_2",
        false,
    ),
    (
        "a-b.c__d:TAG",
        "docker.io",
        "library/a-b.c__d",
        "TAG",
        false,
    ),
    (
        "org/repo-name:1.0.0-rc.1",
        "docker.io",
        "org/repo-name",
        "1.0.0-rc.1",
        false,
    ),
    ("[::1]:5000/web:1", "[::1]:5000", "web", "1", false),
    ("[2001:db8::1]/web", "[2001:db8::1]", "web", "", false),
];

const INVALID: &[&str] = &[
    "",
    "Nginx",
    "ghcr.io/Acme/web",
    "nginx:",
    "nginx@sha256:nothex",
    "nginx@sha256:0123",
    "nginx@md5:0123456789abcdef0123456789abcdef",
    "nginx@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
    "nginx:has space",
    "-nginx",
    "nginx/",
    "/nginx",
    "nginx::1",
    "ghcr.io//web",
];

#[test]
fn parses_every_shape_gantry_meets() {
    assert!(VALID.len() + INVALID.len() >= 40);
    for &(text, registry, repository, tag, digest) in VALID {
        let input = if digest {
            format!("{text}@{D}")
        } else {
            text.to_owned()
        };
        let r = ImageRef::parse(&input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(r.registry(), registry, "{input}");
        assert_eq!(r.repository(), repository, "{input}");
        assert_eq!(r.tag(), (!tag.is_empty()).then_some(tag), "{input}");
        assert_eq!(
            r.digest().map(ToString::to_string).as_deref(),
            digest.then_some(D),
            "{input}"
        );
        // Printing and parsing again gives the same reference.
        assert_eq!(ImageRef::parse(&r.to_string()).as_ref(), Ok(&r), "{input}");
    }
}

#[test]
fn refuses_what_is_not_a_reference() {
    for input in INVALID {
        let e = ImageRef::parse(input).expect_err(input);
        assert_eq!(e.reference, *input);
        assert!(!e.message.is_empty(), "{input}");
    }
    let e = ImageRef::parse("nginx@sha256:nothex").expect_err("bad digest");
    assert!(
        e.to_string()
            .contains("invalid image reference \"nginx@sha256:nothex\""),
        "{e}"
    );
}

#[test]
fn digests_are_typed() {
    let d = Digest::parse(D).expect("digest");
    assert_eq!(d.algorithm(), "sha256");
    assert_eq!(d.hex().len(), 64);
    assert_eq!(
        Digest::sha256_of(b"").to_string(),
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(sha256(b""), Digest::sha256_of(b"").to_string());
    assert!(Digest::parse("sha256:abc").is_err());
    assert!(Digest::parse("abc").is_err());
}
