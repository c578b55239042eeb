//! Config validation against edited copies of examples/quickstart: one test per error class,
//! each asserting the exact `file:line:col: path: message`.

use std::path::{Path, PathBuf};

use gantry::config::{self, ConfigError};
use tempfile::TempDir;

pub fn quickstart_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart")
}

pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create copy dir");
    for entry in std::fs::read_dir(from).expect("read example dir") {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}

/// A private copy of the quickstart config repo that a test may break.
pub struct Repo(TempDir);

impl Repo {
    pub fn quickstart() -> Self {
        let dir = TempDir::new().expect("temp dir");
        copy_tree(&quickstart_dir(), dir.path());
        Self(dir)
    }

    pub fn path(&self) -> &Path {
        self.0.path()
    }

    /// Replaces the first occurrence of `from`, which must be present.
    pub fn replace(&self, file: &str, from: &str, to: &str) -> &Self {
        let p = self.path().join(file);
        let text = std::fs::read_to_string(&p).expect("read file to edit");
        assert!(text.contains(from), "{file} does not contain {from:?}");
        std::fs::write(&p, text.replacen(from, to, 1)).expect("write edited file");
        self
    }

    pub fn remove(&self, rel: &str) -> &Self {
        let p = self.path().join(rel);
        if p.is_dir() {
            std::fs::remove_dir_all(p).expect("remove dir");
        } else {
            std::fs::remove_file(p).expect("remove file");
        }
        self
    }

    pub fn errors(&self) -> Vec<String> {
        match config::load(self.path()) {
            Ok(_) => Vec::new(),
            Err(ConfigError::Invalid(d)) => d.iter().map(ToString::to_string).collect(),
            Err(e) => vec![e.to_string()],
        }
    }
}

#[track_caller]
pub fn assert_errors(repo: &Repo, expected: &[&str]) {
    assert_eq!(repo.errors(), expected);
}

#[test]
fn quickstart_is_valid() {
    let cfg = config::load(&quickstart_dir()).expect("quickstart validates");
    let envs: Vec<&str> = cfg.environments.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(envs, ["dev", "staging", "prod"]);
    assert_eq!(cfg.apps.len(), 2);
    assert_eq!(
        cfg.apps[1].overlay_dir("prod"),
        Path::new("apps/api/overlays/prod")
    );
    assert_eq!(
        cfg.apps[1].source.as_ref().map(|s| s.branch.as_str()),
        Some("main")
    );
    assert_eq!(cfg.policies.len(), 5);
    let prod = cfg.environment("prod").expect("prod");
    assert_eq!(prod.soak_time, Some(std::time::Duration::from_hours(2)));
    assert_eq!(
        prod.sync_windows[0].duration,
        std::time::Duration::from_hours(9)
    );
}

#[test]
fn unknown_key() {
    let repo = Repo::quickstart();
    repo.replace("gantry.yaml", "    soakTime: 30m", "    soakTme: 30m");
    assert_errors(
        &repo,
        &[
            "gantry.yaml:21:5: environments[1].soakTme: unknown field `soakTme`, expected one of name, cluster, namespace, promoteFrom, promotion, syncWindows, soakTime",
        ],
    );
}

#[test]
fn unknown_key_in_policy_file() {
    let repo = Repo::quickstart();
    repo.replace(
        "policies/workloads.yaml",
        "  runAsNonRoot: true",
        "  runAsNonroot: true",
    );
    assert_errors(
        &repo,
        &[
            "policies/workloads.yaml:16:3: spec.runAsNonroot: unknown field `runAsNonroot`, expected one of mode, runAsNonRoot, disallowPrivileged, disallowPrivilegeEscalation, disallowHostNamespaces, requireResources, disallowLatestTag, readOnlyRootFilesystem",
        ],
    );
}

#[test]
fn duplicate_environment_name() {
    let repo = Repo::quickstart();
    repo.replace(
        "gantry.yaml",
        "\napps:\n",
        "  - name: dev\n    namespace: other\n\napps:\n",
    );
    assert_errors(
        &repo,
        &[
            "gantry.yaml:32:11: environments[3].name: duplicate environment name \"dev\" (first defined at gantry.yaml:13:11)",
        ],
    );
}

#[test]
fn duplicate_app_name() {
    let repo = Repo::quickstart();
    repo.replace("gantry.yaml", "  - name: api", "  - name: web");
    assert_errors(
        &repo,
        &[
            "gantry.yaml:42:11: apps[1].name: duplicate app name \"web\" (first defined at gantry.yaml:34:11)",
        ],
    );
}

#[test]
fn invalid_name() {
    let repo = Repo::quickstart();
    repo.replace("gantry.yaml", "  - name: api", "  - name: API_v2");
    assert_errors(
        &repo,
        &[
            "gantry.yaml:42:11: apps[1].name: invalid app name \"API_v2\": use lowercase letters, digits and '-', at most 63 characters, starting and ending with a letter or digit",
        ],
    );
}

#[test]
fn unknown_environment_in_app() {
    let repo = Repo::quickstart();
    repo.replace("gantry.yaml", "      - prod", "      - prd");
    assert_errors(
        &repo,
        &[
            "gantry.yaml:51:9: apps[1].environments[2]: unknown environment \"prd\" (known: dev, staging, prod)",
        ],
    );
}

#[test]
fn unknown_environment_in_promote_from() {
    let repo = Repo::quickstart();
    repo.replace("gantry.yaml", "promoteFrom: staging", "promoteFrom: stage");
    assert_errors(
        &repo,
        &[
            "gantry.yaml:25:18: environments[2].promoteFrom: unknown environment \"stage\" (known: dev, staging, prod)",
        ],
    );
}

#[test]
fn unknown_environment_in_promotion_policy() {
    let repo = Repo::quickstart();
    repo.replace(
        "policies/promotion.yaml",
        "environment: prod",
        "environment: production",
    );
    assert_errors(
        &repo,
        &[
            "policies/promotion.yaml:18:20: spec.rules[1].environment: unknown environment \"production\" (known: dev, staging, prod)",
        ],
    );
}

#[test]
fn unknown_rollout_reference() {
    let repo = Repo::quickstart();
    repo.replace("gantry.yaml", "rollout: canary", "rollout: canari");
    assert_errors(
        &repo,
        &["gantry.yaml:40:14: apps[0].rollout: unknown rollout \"canari\" (known: canary)"],
    );
}

#[test]
fn promotion_chain_cycle() {
    let repo = Repo::quickstart();
    repo.replace("gantry.yaml", "promoteFrom: dev", "promoteFrom: prod");
    assert_errors(
        &repo,
        &[
            "gantry.yaml:19:18: environments[1].promoteFrom: promotion chain has a cycle: prod -> staging -> prod",
        ],
    );
}

#[test]
fn promotion_from_itself_is_a_cycle() {
    let repo = Repo::quickstart();
    repo.replace("gantry.yaml", "promoteFrom: dev", "promoteFrom: staging");
    assert_errors(
        &repo,
        &[
            "gantry.yaml:19:18: environments[1].promoteFrom: promotion chain has a cycle: staging -> staging",
        ],
    );
}

#[test]
fn missing_overlay_directory() {
    let repo = Repo::quickstart();
    repo.remove("apps/api/overlays/staging");
    assert_errors(
        &repo,
        &[
            "gantry.yaml:50:9: apps[1].environments[1]: overlay \"apps/api/overlays/staging\" for environment \"staging\" does not exist (pattern \"apps/{app}/overlays/{env}\")",
        ],
    );
}

#[test]
fn overlay_without_kustomization() {
    let repo = Repo::quickstart();
    repo.remove("apps/web/overlays/prod/kustomization.yaml");
    assert_errors(
        &repo,
        &[
            "gantry.yaml:41:34: apps[0].environments[2]: overlay \"apps/web/overlays/prod\" for environment \"prod\" has no kustomization.yaml (pattern \"apps/{app}/overlays/{env}\")",
        ],
    );
}

#[test]
fn missing_pipeline_file() {
    let repo = Repo::quickstart();
    repo.replace(
        "gantry.yaml",
        "pipeline: pipelines/build.yaml",
        "pipeline: pipelines/biuld.yaml",
    );
    assert_errors(
        &repo,
        &[
            "gantry.yaml:38:15: apps[0].pipeline: pipeline file \"pipelines/biuld.yaml\" does not exist",
        ],
    );
}

#[test]
fn missing_policy_file() {
    let repo = Repo::quickstart();
    repo.remove("policies/workloads.yaml");
    assert_errors(
        &repo,
        &["gantry.yaml:72:5: policies[3]: policy file \"policies/workloads.yaml\" does not exist"],
    );
}

#[test]
fn path_escaping_the_repo() {
    let repo = Repo::quickstart();
    repo.replace(
        "gantry.yaml",
        "pipeline: pipelines/build.yaml",
        "pipeline: ../../etc/passwd",
    );
    assert_errors(
        &repo,
        &[
            "gantry.yaml:38:15: apps[0].pipeline: path \"../../etc/passwd\" must be relative to the config repo and stay inside it",
        ],
    );
}

#[test]
fn invalid_cron_expression() {
    let repo = Repo::quickstart();
    repo.replace("gantry.yaml", "\"0 8 * * 1-5\"", "\"0 25 * * 1-5\"");
    assert_errors(
        &repo,
        &[
            "gantry.yaml:30:19: environments[2].syncWindows[0].schedule: invalid cron expression \"0 25 * * 1-5\": Component error: Number out of bounds. (expected 5 fields: minute hour day-of-month month day-of-week)",
        ],
    );
}

#[test]
fn cron_with_seconds_field_is_refused() {
    let repo = Repo::quickstart();
    repo.replace("gantry.yaml", "\"0 8 * * 1-5\"", "\"0 0 8 * * 1-5\"");
    assert_errors(
        &repo,
        &[
            "gantry.yaml:30:19: environments[2].syncWindows[0].schedule: invalid cron expression \"0 0 8 * * 1-5\": Invalid pattern: Pattern must have 5 fields when seconds are disallowed. (expected 5 fields: minute hour day-of-month month day-of-week)",
        ],
    );
}

#[test]
fn invalid_image_reference() {
    let repo = Repo::quickstart();
    repo.replace(
        "gantry.yaml",
        "image: harbor.example.com/shop/web",
        "image: harbor.example.com/shop/web app",
    );
    assert_errors(
        &repo,
        &[
            "gantry.yaml:39:12: apps[0].image: invalid image reference \"harbor.example.com/shop/web app\": it contains whitespace",
        ],
    );
}

#[test]
fn image_with_tag_is_refused() {
    let repo = Repo::quickstart();
    repo.replace(
        "gantry.yaml",
        "image: harbor.example.com/shop/api",
        "image: harbor.example.com/shop/api:1.0",
    );
    assert_errors(
        &repo,
        &[
            "gantry.yaml:46:12: apps[1].image: image \"harbor.example.com/shop/api:1.0\" must name a repository without tag or digest: gantry pins the digest it deploys",
        ],
    );
}

#[test]
fn invalid_duration() {
    let repo = Repo::quickstart();
    repo.replace("gantry.yaml", "soakTime: 30m", "soakTime: 30 minutez");
    assert_errors(
        &repo,
        &[
            "gantry.yaml:21:15: environments[1].soakTime: invalid duration \"30 minutez\": unknown time unit \"minutez\", supported units: ns, us/µs, ms, sec, min, hours, days, weeks, months, years (and few variations)",
        ],
    );
}

#[test]
fn invalid_duration_without_unit_in_sync_window_and_pause() {
    let repo = Repo::quickstart();
    repo.replace("gantry.yaml", "duration: 9h", "duration: 9");
    repo.replace(
        "gantry.yaml",
        "pause: {duration: 2m}",
        "pause: {duration: 2 fortnights}",
    );
    assert_errors(
        &repo,
        &[
            "gantry.yaml:31:19: environments[2].syncWindows[0].duration: invalid duration \"9\": time unit needed, for example 9sec or 9ms",
            "gantry.yaml:59:29: rollouts[0].canary.steps[1].pause.duration: invalid duration \"2 fortnights\": unknown time unit \"fortnights\", supported units: ns, us/µs, ms, sec, min, hours, days, weeks, months, years (and few variations)",
        ],
    );
}

#[test]
fn credentials_need_exactly_one_source() {
    let repo = Repo::quickstart();
    repo.replace(
        "gantry.yaml",
        "    secret: harbor-robot",
        "    secret: harbor-robot\n    env: HARBOR_TOKEN",
    );
    assert_errors(
        &repo,
        &[
            "gantry.yaml:10:5: registry.credentials: set exactly one of secret, file or env (found 2); the secret itself never goes in a config file",
        ],
    );
}

#[test]
fn wrong_value_type_is_located() {
    let repo = Repo::quickstart();
    repo.replace("gantry.yaml", "promotion: auto", "promotion: sometimes");
    assert_errors(
        &repo,
        &[
            "gantry.yaml:20:16: environments[1].promotion: unknown variant `sometimes`, expected one of auto, pr, manual",
        ],
    );
}

#[test]
fn broken_yaml_is_located() {
    let repo = Repo::quickstart();
    repo.replace(
        "gantry.yaml",
        "environments: [dev, staging, prod]",
        "environments: [dev, staging, prod",
    );
    // The unclosed `[` is detected where the next mapping key starts; the path still names the
    // field whose value is broken.
    assert_errors(
        &repo,
        &["gantry.yaml:42:9: apps[0].environments: illegal placement of ':' indicator"],
    );
}

#[test]
fn every_error_is_reported_in_one_run() {
    let repo = Repo::quickstart();
    repo.replace("gantry.yaml", "soakTime: 30m", "soakTime: soon")
        .replace("gantry.yaml", "rollout: canary", "rollout: blue-green")
        .replace("gantry.yaml", "      - prod", "      - prd")
        .replace(
            "policies/promotion.yaml",
            "environment: prod",
            "environment: prd",
        )
        .remove("policies/signatures.yaml");
    assert_errors(
        &repo,
        &[
            "gantry.yaml:21:15: environments[1].soakTime: invalid duration \"soon\": expected number at 0",
            "gantry.yaml:40:14: apps[0].rollout: unknown rollout \"blue-green\" (known: canary)",
            "gantry.yaml:51:9: apps[1].environments[2]: unknown environment \"prd\" (known: dev, staging, prod)",
            "gantry.yaml:69:5: policies[0]: policy file \"policies/signatures.yaml\" does not exist",
            "policies/promotion.yaml:18:20: spec.rules[1].environment: unknown environment \"prd\" (known: dev, staging, prod)",
        ],
    );
}

#[test]
fn default_policies_ship_in_the_quickstart_unchanged() {
    let top = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    for entry in std::fs::read_dir(&top).expect("policies dir") {
        let entry = entry.expect("entry");
        let copy = quickstart_dir().join("policies").join(entry.file_name());
        let mut default = std::fs::read_to_string(entry.path()).expect("default policy");
        let example =
            std::fs::read_to_string(&copy).unwrap_or_else(|e| panic!("{}: {e}", copy.display()));
        if entry.file_name() == "signatures.yaml" {
            // The one intended difference: the example warns (its placeholder images are
            // unsigned) where the default enforces.
            let at = example
                .find("  # warn while trying the example")
                .expect("the example's note");
            let end = example.find("  mode: warn\n").expect("mode: warn") + "  mode: warn\n".len();
            default = default.replace("  mode: enforce\n", &example[at..end]);
        }
        assert_eq!(
            default,
            example,
            "examples/quickstart/policies/{} drifted from policies/",
            entry.file_name().to_string_lossy()
        );
    }
}

#[test]
fn commit_author_defaults_and_is_checked() {
    let cfg = config::load(&quickstart_dir()).expect("quickstart validates");
    assert_eq!(
        (
            cfg.commit_author.name.as_str(),
            cfg.commit_author.email.as_str()
        ),
        ("gantry", "gantry@localhost")
    );

    let repo = Repo::quickstart();
    repo.replace(
        "gantry.yaml",
        "policies:\n",
        "commitAuthor:\n  name: Deploy Bot\n  email: deploy-bot@shop.example\n\npolicies:\n",
    );
    let cfg = config::load(repo.path()).expect("valid author");
    assert_eq!(cfg.commit_author.name, "Deploy Bot");
    assert_eq!(cfg.commit_author.email, "deploy-bot@shop.example");

    repo.replace("gantry.yaml", "deploy-bot@shop.example", "deploy bot")
        .replace("gantry.yaml", "name: Deploy Bot", "name: <Deploy Bot>");
    let mut errors = repo.errors();
    errors.sort();
    assert_eq!(
        errors,
        [
            "gantry.yaml:69:9: commitAuthor.name: must be non-empty, without '<', '>' or line breaks",
            "gantry.yaml:70:10: commitAuthor.email: invalid email \"deploy bot\": expected user@host",
        ]
    );
}
