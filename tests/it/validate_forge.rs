//! Issue 19: `forge:` in gantry.yaml — where promotion pull requests are opened; every mistake
//! located at its file, line and field, and the token never in the file.

use gantry::config::{self, ForgeKind, SecretRef};

use crate::validate::Repo;

fn with_forge(block: &str) -> Repo {
    let repo = Repo::quickstart();
    repo.replace(
        "gantry.yaml",
        "\npolicies:\n",
        &format!("\n{block}\npolicies:\n"),
    );
    repo
}

#[test]
fn regression_issue_19_a_forge_loads_with_github_as_the_default_url() {
    let repo = with_forge(
        "forge:\n  kind: github\n  repository: shop/config\n  token: {env: GANTRY_FORGE_TOKEN}\n  labels: [gantry, promotion]\n",
    );
    let cfg = config::load(repo.path()).expect("valid");
    let forge = cfg.forge.expect("forge");
    assert_eq!(forge.kind, ForgeKind::Github);
    assert_eq!(forge.url, "https://github.com");
    assert_eq!(forge.repository, "shop/config");
    assert_eq!(forge.token, SecretRef::Env("GANTRY_FORGE_TOKEN".into()));
    assert_eq!(forge.labels, ["gantry", "promotion"]);
    let gitlab = with_forge(
        "forge:\n  kind: gitlab\n  url: https://gitlab.example.com/\n  repository: shop/platform/config\n  token: {secret: gitlab-token}\n",
    );
    let forge = config::load(gitlab.path())
        .expect("valid")
        .forge
        .expect("forge");
    assert_eq!(forge.url, "https://gitlab.example.com", "no trailing slash");
    assert_eq!(
        forge.repository, "shop/platform/config",
        "GitLab groups nest"
    );
}

#[test]
fn regression_issue_19_forge_mistakes_are_located() {
    let repo =
        with_forge("forge:\n  kind: gitea\n  repository: config\n  token: {env: A, file: /b}\n");
    assert_eq!(
        repo.errors(),
        [
            "gantry.yaml:69:3: forge.url: a gitea forge needs its url, e.g. https://gitea.example.com",
            "gantry.yaml:70:15: forge.repository: invalid repository \"config\": expected owner/name",
            "gantry.yaml:71:10: forge.token: set exactly one of secret, file or env (found 2); the secret itself never goes in a config file",
        ]
    );
    let unknown =
        with_forge("forge:\n  kind: bitbucket\n  repository: shop/config\n  token: {env: A}\n");
    let errors = unknown.errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains(
            "forge.kind: unknown variant `bitbucket`, expected one of github, gitlab, gitea"
        ),
        "{errors:?}"
    );
    let plain = with_forge(
        "forge:\n  kind: github\n  url: github.com\n  repository: shop/config\n  token: {env: A}\n",
    );
    assert!(
        plain.errors()[0]
            .contains("forge.url: invalid forge URL \"github.com\": expected http:// or https://"),
        "{:?}",
        plain.errors()
    );
}
