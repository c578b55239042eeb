//! The image commands as users run them, against Debian's docker-registry: generate-key-pair,
//! pack (twice, same digest), copy, sign, verify (key, policy, refusals with exit 1), and
//! scan-gate on an image reference against the in-test Harbor.

use std::path::Path;
use std::process::{Command, Output};

use crate::cli::text;

fn gantry_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gantry"))
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .env("COSIGN_PASSWORD", "correct horse")
        .env("SOURCE_DATE_EPOCH", "1700000000")
        // No Docker credentials from the machine running the tests.
        .env("DOCKER_CONFIG", dir.join("no-docker"))
        .output()
        .expect("run gantry")
}

fn ok(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    text(&out.stdout).trim().to_owned()
}

#[cfg(feature = "sign")]
#[tokio::test(flavor = "multi_thread")]
async fn pack_copy_sign_and_verify_from_the_command_line() {
    let server = crate::harness::registry::Registry::start().await;
    let host = format!("127.0.0.1:{}", server.port);
    let work = tempfile::tempdir().expect("work dir");
    let w = work.path();
    let app = w.join("app");
    std::fs::create_dir_all(&app).expect("mkdir");
    std::fs::write(app.join("index.html"), "<h1>shop</h1>\n").expect("write");

    ok(&gantry_in(w, &["generate-key-pair"]));
    ok(&gantry_in(
        w,
        &["generate-key-pair", "--output-prefix", "other"],
    ));
    let again = gantry_in(w, &["generate-key-pair"]);
    assert_eq!(again.status.code(), Some(1), "never overwrites a key");

    let dest = format!("{host}/shop/web:1");
    let pack = |dest: &str| {
        let args = [
            "pack",
            "--base",
            "scratch",
            "--dir",
            "app",
            "--dest",
            dest,
            "--entrypoint",
            r#"["/srv/web","--port=8080"]"#,
            "--env",
            "MODE=prod",
            "--platform",
            "linux/arm64",
            "--prefix",
            "/srv",
        ];
        ok(&gantry_in(w, &args))
    };
    let first = pack(&dest);
    assert!(
        first.starts_with(&format!("{host}/shop/web@sha256:")),
        "{first}"
    );
    assert_eq!(
        pack(&format!("{host}/shop/web:again")),
        first,
        "same DIR, same digest"
    );

    let copied = ok(&gantry_in(
        w,
        &["copy", &dest, &format!("{host}/release/web:1")],
    ));
    assert_eq!(
        copied.rsplit_once('@').map(|p| p.1),
        first.rsplit_once('@').map(|p| p.1)
    );

    let signed = ok(&gantry_in(
        w,
        &[
            "sign",
            &dest,
            "--key",
            "cosign.key",
            "--source",
            "shop@0123abc",
            "--run",
            "run-7",
        ],
    ));
    assert_eq!(signed, first);
    let verified = ok(&gantry_in(w, &["verify", &dest, "--key", "cosign.pub"]));
    assert!(
        verified.starts_with("verified: ") && verified.ends_with("signed by cosign.pub"),
        "{verified}"
    );

    std::fs::create_dir_all(w.join("policies")).expect("mkdir");
    std::fs::write(
        w.join("policies/signatures.yaml"),
        format!("apiVersion: gantry.dev/v1alpha1\nkind: SignaturePolicy\nspec:\n  rules:\n    - images: [\"{host}/shop/**\"]\n      keys:\n        - file: cosign.pub\n"),
    )
    .expect("write policy");
    ok(&gantry_in(w, &["verify", &dest]));

    let refused = gantry_in(w, &["verify", &dest, "--key", "other.pub"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        text(&refused.stderr).starts_with("refused: ")
            && text(&refused.stderr).contains("signed by an untrusted key"),
        "{}",
        text(&refused.stderr)
    );
    let unsigned = gantry_in(w, &["verify", &format!("{host}/release/web:1")]);
    assert_eq!(unsigned.status.code(), Some(1));
    assert!(
        text(&unsigned.stderr).contains("no rule in the signature policy matches"),
        "{}",
        text(&unsigned.stderr)
    );
    let unsigned = gantry_in(
        w,
        &[
            "verify",
            &format!("{host}/release/web:1"),
            "--key",
            "cosign.pub",
        ],
    );
    assert!(
        text(&unsigned.stderr).contains("not signed: no signature at"),
        "{}",
        text(&unsigned.stderr)
    );

    let wrong_password = Command::new(env!("CARGO_BIN_EXE_gantry"))
        .args(["sign", &dest, "--key", "cosign.key"])
        .current_dir(w)
        .env("COSIGN_PASSWORD", "wrong")
        .output()
        .expect("run gantry");
    assert_eq!(wrong_password.status.code(), Some(1));
    assert!(
        text(&wrong_password.stderr)
            .contains("signing key cosign.key: cannot read the private key"),
        "{}",
        text(&wrong_password.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn scan_gate_scans_an_image_reference_in_harbor() {
    let (url, fake) = crate::harbor_scan::serve().await;
    let host = url.trim_start_matches("http://").to_owned();
    let work = tempfile::tempdir().expect("work dir");
    let w = work.path();
    std::fs::write(w.join("robot"), "robot$shop+gantry:s3cr3t\n").expect("write credentials");
    std::fs::write(
        w.join("vulns.yaml"),
        "apiVersion: gantry.dev/v1alpha1\nkind: VulnerabilityPolicy\nspec:\n  maxSeverity: critical\n",
    )
    .expect("write policy");
    let digest = format!("sha256:{}", "ab".repeat(32));
    let image = format!("{host}/shop/team/web@{digest}");
    let auth = format!("{host}=robot");
    let out = tokio::task::spawn_blocking({
        let w = w.to_path_buf();
        move || {
            gantry_in(
                &w,
                &[
                    "scan-gate",
                    &image,
                    "--policy",
                    "vulns.yaml",
                    "--registry-auth",
                    &auth,
                ],
            )
        }
    })
    .await
    .expect("join");
    assert!(
        ok(&out).ends_with("passed: 3 findings (1C/1H/0M/1L), 0 blocking, 0 waived"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(
        fake.calls
            .lock()
            .expect("calls")
            .first()
            .map(String::as_str),
        Some(format!("POST scan shop team%2Fweb {digest}").as_str())
    );

    let anonymous = tokio::task::spawn_blocking({
        let w = w.to_path_buf();
        let image = format!("{host}/shop/team/web:1");
        move || gantry_in(&w, &["scan-gate", &image, "--policy", "vulns.yaml"])
    })
    .await
    .expect("join");
    assert_eq!(anonymous.status.code(), Some(1));
    assert!(
        text(&anonymous.stderr).contains("needs a user or robot account"),
        "{}",
        text(&anonymous.stderr)
    );
}
