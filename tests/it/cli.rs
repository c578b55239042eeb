//! The `gantry` binary as users run it: output and exit codes.

use std::process::{Command, Output};

use crate::validate::{Repo, quickstart_dir};

pub fn gantry(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gantry"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run gantry")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn validate_quickstart_prints_the_table_and_exits_0() {
    let out = gantry(&["validate", quickstart_dir().to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "\
APP  ENV      CLUSTER     NAMESPACE     OVERLAY                    PROMOTION
web  dev      in-cluster  shop-dev      apps/web/overlays/dev      from pipeline
web  staging  in-cluster  shop-staging  apps/web/overlays/staging  auto from dev
web  prod     prod-eu-1   shop          apps/web/overlays/prod     pr from staging
api  dev      in-cluster  shop-dev      apps/api/overlays/dev      from pipeline
api  staging  in-cluster  shop-staging  apps/api/overlays/staging  auto from dev
api  prod     prod-eu-1   shop          apps/api/overlays/prod     pr from staging

ok: 2 apps, 3 environments, 1 rollout strategy, 5 policy files
rendered 6 app × environments: ok
"
    );
}

#[test]
fn validate_with_prd_exits_2_with_the_located_error() {
    let repo = Repo::quickstart();
    repo.replace("gantry.yaml", "      - prod", "      - prd");
    let out = gantry(&["validate", repo.path().to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        "gantry.yaml:51:9: apps[1].environments[2]: unknown environment \"prd\" (known: dev, staging, prod)\n1 error in the config repo\n"
    );
    assert_eq!(text(&out.stdout), "");
}

#[test]
fn validate_without_gantry_yaml_exits_2() {
    let dir = tempfile::TempDir::new().expect("temp dir");
    let out = gantry(&["validate", dir.path().to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        format!(
            "cannot read {}/gantry.yaml: No such file or directory (os error 2)\n",
            dir.path().display()
        )
    );
}

#[test]
fn usage_errors_exit_2() {
    let out = gantry(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("unrecognized subcommand 'frobnicate'"));
}

#[test]
fn json_logs_are_json_lines() {
    let out = Command::new(env!("CARGO_BIN_EXE_gantry"))
        .args([
            "--log-format",
            "json",
            "validate",
            quickstart_dir().to_str().expect("utf-8 path"),
        ])
        .env("RUST_LOG", "gantry=debug")
        .output()
        .expect("run gantry");
    assert_eq!(out.status.code(), Some(0));
    let stderr = text(&out.stderr);
    let line = stderr.lines().next().expect("one debug log line");
    let event: serde_json::Value = serde_json::from_str(line).expect("log line is JSON");
    assert_eq!(event["fields"]["message"], "config repo is valid");
    assert_eq!(event["level"], "DEBUG");
}

#[test]
fn apply_without_a_reachable_cluster_fails_with_the_context_named() {
    let dir = quickstart_dir().join("apps/web/overlays/dev");
    let dir = dir.to_str().expect("utf-8 path");
    let empty = tempfile::TempDir::new().expect("temp dir");
    let kubeconfig = empty.path().join("config");
    let out = Command::new(env!("CARGO_BIN_EXE_gantry"))
        .args(["apply", dir, "--context", "staging-eu"])
        .env("KUBECONFIG", &kubeconfig)
        .env_remove("RUST_LOG")
        .output()
        .expect("run gantry");
    assert_eq!(out.status.code(), Some(1), "stderr: {}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("cannot connect to kubeconfig context \"staging-eu\""),
        "{stderr}"
    );

    let out = gantry(&[
        "apply",
        quickstart_dir().to_str().expect("utf-8"),
        "--context",
        "x",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr)
            .contains("is not an apps/<app>/overlays/<env> directory: pass --app and --env")
    );
}

#[test]
fn scan_gate_prints_the_verdict_and_exits_1_when_blocked() {
    let dir = tempfile::TempDir::new().expect("temp dir");
    let policy = dir.path().join("vulnerabilities.yaml");
    let write = |max: &str| {
        std::fs::write(
            &policy,
            format!(
                "apiVersion: gantry.dev/v1alpha1\nkind: VulnerabilityPolicy\nspec:\n  maxSeverity: {max}\n  ignoreUnfixed: true\n  allowlist:\n    - id: CVE-2023-45853\n      reason: zlib MiniZip only\n      expires: 2099-12-31\n    - id: CVE-2019-0001\n      reason: old\n      expires: 2020-01-01\n"
            ),
        )
        .expect("write policy");
    };
    let report = quickstart_dir().join("../../tests/fixtures/scan/harbor.json");
    let args = |p: &std::path::Path| {
        vec![
            "scan-gate".to_string(),
            report.display().to_string(),
            "--policy".into(),
            p.display().to_string(),
        ]
    };
    write("medium");
    let a = args(&policy);
    let out = gantry(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(out.status.code(), Some(1), "stderr: {}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "\
warning: allowlist entry CVE-2019-0001 expired on 2020-01-01; it no longer waives anything (old)
VERDICT  SEVERITY  ID              PACKAGE  INSTALLED         FIXED             WHY
BLOCK    high      CVE-2024-6119   libssl3  3.0.13-1~deb12u1  3.0.14-1~deb12u2  above maxSeverity medium
waived   critical  CVE-2023-45853  zlib1g   1:1.2.13.dfsg-1   -                 allowlisted until 2099-12-31: zlib MiniZip only
BLOCKED: 3 findings (1C/1H/0M/1L), 1 blocking, 1 waived
"
    );
    assert_eq!(
        text(&out.stderr),
        "",
        "a blocked gate is a verdict, not an error"
    );

    write("high");
    let out = gantry(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert!(
        text(&out.stdout).ends_with("passed: 3 findings (1C/1H/0M/1L), 0 blocking, 1 waived\n"),
        "{}",
        text(&out.stdout)
    );

    std::fs::write(&policy, "apiVersion: gantry.dev/v1alpha1\nkind: VulnerabilityPolicy\nspec:\n  maxSeverity: severe\n").expect("write");
    let out = gantry(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(
        out.status.code(),
        Some(2),
        "a broken policy is a config error"
    );
    assert!(
        text(&out.stderr).contains("vulnerabilities.yaml:4:16: spec.maxSeverity"),
        "{}",
        text(&out.stderr)
    );
}

/// Runs `gantry up` on the quickstart with `extra` arguments; asserts exit 0, returns stdout.
fn up(extra: &[&str], kubeconfig: Option<&std::path::Path>) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gantry"));
    command
        .args(["up", quickstart_dir().to_str().expect("utf-8 path")])
        .args(extra)
        .env("RUST_LOG", "warn");
    if let Some(k) = kubeconfig {
        command.env("KUBECONFIG", k);
    }
    let out = command.output().expect("run gantry up");
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout: {stdout}\nstderr: {}",
        text(&out.stderr)
    );
    stdout
}

/// The quickstart's main command: a throwaway config repo, the daemon, a user's commit, the
/// plan with the exact change, then history and status.
#[test]
fn up_runs_the_loop_on_the_quickstart_and_shows_the_plan_history_and_status() {
    let stdout = up(&[], None);
    for expected in [
        "web/dev (planned):\n  would create    Service shop-dev/web\n  would create    Deployment.apps shop-dev/web\n",
        "web/dev (planned):\n  unchanged       Service shop-dev/web\n  would configure Deployment.apps shop-dev/web\n      - \"image\": \"harbor.example.com/shop/web:0.1.0\",\n      + \"image\": \"harbor.example.com/shop/web@sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945\",\n",
        "deploy  web  dev  harbor.example.com/shop/web@sha256:4f53cda18c2b",
        "APP  ENV      DESIRED       APPLIED       HEALTH  PHASE    LAST SYNC",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
    // Without a cluster nothing live is known (health `-`), and "not applied" is a note, not
    // an error.
    assert_eq!(
        stdout.matches("  -       planned  ").count(),
        6,
        "six app × environments: {stdout}"
    );
    assert!(
        stdout.contains(
            "  not applied: the daemon runs without a cluster (plan only) signatures not verified"
        ),
        "{stdout}"
    );
}

/// `gantry up --context` syncs for real: the kubeconfig points at the fake API server over HTTP
/// on 127.0.0.1, and the quickstart's objects land there with gantry's labels, in namespaces
/// gantry created (never pruned: they carry no app or environment label).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_with_a_context_syncs_the_quickstart_to_the_cluster() {
    let cluster = crate::fake_cluster::Cluster::default();
    let server = cluster.serve_http().await;
    let dir = tempfile::TempDir::new().expect("temp dir");
    let kubeconfig = dir.path().join("config");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n  - name: fake\n    cluster:\n      server: {server}\ncontexts:\n  - name: fake\n    context: {{cluster: fake, user: fake}}\ncurrent-context: fake\nusers:\n  - name: fake\n    user: {{token: test}}\n"
        ),
    )
    .expect("kubeconfig");
    let stdout = tokio::task::spawn_blocking(move || up(&["--context", "fake"], Some(&kubeconfig)))
        .await
        .expect("gantry up");
    for expected in [
        "web/dev (synced):\n  created         Service shop-dev/web\n  created         Deployment.apps shop-dev/web\n",
        // The second commit changes only the Deployment's image: the Service is not rewritten
        // (no per-commit annotation on the objects, so no etcd write for an unchanged object).
        "web/dev (synced):\n  unchanged       Service shop-dev/web\n  configured      Deployment.apps shop-dev/web\n",
        "signatures not verified: gantry up deploys the example's placeholder images",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
    // prod syncs only in its window (weekdays 08:00-17:00 UTC, the example's syncWindows):
    // outside it, prod waits and says until when.
    let prod_open = stdout.contains("web/prod (synced)");
    if !prod_open {
        assert!(
            stdout.contains("web/prod (waiting)")
                && stdout.contains(
                    "note: waiting for its sync window (outside every allow sync window; opens in"
                ),
            "{stdout}"
        );
    }
    let deployments = cluster.objects("deployments");
    let deployments = deployments.lock().expect("deployments");
    assert_eq!(
        deployments.len(),
        if prod_open { 6 } else { 4 },
        "2 apps × 3 environments, prod in its window"
    );
    let web = &deployments[&("shop-dev".into(), "web".into())];
    assert_eq!(
        web["spec"]["template"]["spec"]["containers"][0]["image"],
        "harbor.example.com/shop/web@sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945"
    );
    assert_eq!(web["metadata"]["labels"]["gantry.dev/env"], "dev");
    let namespaces = cluster.objects("namespaces");
    let namespaces = namespaces.lock().expect("namespaces");
    let names: Vec<&str> = namespaces.keys().map(|(_, n)| n.as_str()).collect();
    let expected: &[&str] = if prod_open {
        &["shop", "shop-dev", "shop-staging"]
    } else {
        &["shop-dev", "shop-staging"]
    };
    assert_eq!(names, expected);
    for ns in namespaces.values() {
        assert_eq!(
            ns["metadata"]["labels"]["app.kubernetes.io/managed-by"],
            "gantry"
        );
        assert!(ns["metadata"]["labels"]["gantry.dev/app"].is_null(), "{ns}");
    }
}
