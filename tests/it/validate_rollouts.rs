//! Issue 18: `rollouts:` and `analysisTemplates:` in gantry.yaml — Argo Rollouts' shapes, every
//! mistake located at its file, line and field.

use gantry::config::model::{AnalysisRef, CanaryScale, CanaryStep, OnFailure, Traffic};

use crate::validate::{Repo, assert_errors};

/// A template of the user's with an argument, referenced from a step and in the background.
const TEMPLATES: &str = r#"
analysisTemplates:
  - name: error-rate
    args:
      - name: service
      - name: ceiling
        value: "0.01"
    metrics:
      - name: errors
        interval: 30s
        count: 4
        failureLimit: 1
        successCondition: result[0] <= {{args.ceiling}}
        minSamples: {query: 'sum(increase(http_requests_total{svc="{{args.service}}"}[1m]))', min: 20}
        provider:
          prometheus:
            address: http://prom:9090
            query: 'sum(rate(http_requests_total{svc="{{args.service}}",status="500"}[1m])) / sum(rate(http_requests_total{svc="{{args.service}}"}[1m]))'
"#;

fn with_templates(repo: &Repo) -> &Repo {
    repo.replace(
        "gantry.yaml",
        "\npolicies:\n",
        &format!("{TEMPLATES}\npolicies:\n"),
    )
}

#[test]
fn regression_issue_18_a_full_canary_strategy_loads() {
    let repo = Repo::quickstart();
    with_templates(&repo).replace("gantry.yaml", 
        "        - setWeight: 50\n",
        "        - setCanaryScale: {replicas: 2}\n        - setWeight: 50\n        - analysis:\n            templates: [{templateName: error-rate}]\n            args: [{name: service, value: web}]\n",
    );
    repo.replace("gantry.yaml", 
        "      steps:\n        - setWeight: 20",
        "      onFailure: pause\n      trafficRouting: {gatewayAPI: {httpRoute: web}}\n      analysis:\n        templates: [{templateName: error-rate}]\n        args: [{name: service, value: web}]\n        startingStep: 1\n      steps:\n        - setWeight: 20",
    );
    let config = gantry::config::load(repo.path()).expect("the strategy validates");
    let canary = &config.rollouts[0];
    assert_eq!(
        canary.environments.as_deref(),
        Some(["staging".to_owned(), "prod".to_owned()].as_slice()),
        "canaries run in staging and prod; dev deploys directly"
    );
    assert_eq!(canary.on_failure, OnFailure::Pause);
    assert_eq!(
        canary.traffic,
        Traffic::GatewayApi {
            http_route: "web".into()
        }
    );
    assert_eq!(canary.background_from, 1);
    assert_eq!(
        canary.background,
        Some(AnalysisRef {
            templates: vec!["error-rate".into()],
            args: vec![("service".into(), "web".into())],
        })
    );
    assert_eq!(
        canary.steps[3],
        CanaryStep::SetCanaryScale(CanaryScale::Replicas(2))
    );
    assert!(matches!(&canary.steps[5], CanaryStep::Analysis(a) if a.templates == ["error-rate"]));
    let template = config
        .analysis_templates
        .iter()
        .find(|t| t.name == "error-rate")
        .expect("the user's template");
    let m = &template.metrics[0];
    assert_eq!(
        (m.failure_limit, m.count, m.consecutive_error_limit),
        (1, Some(4), 4)
    );
    assert_eq!(m.interval, Some(std::time::Duration::from_secs(30)));
    assert_eq!(m.min_samples.as_ref().map(|(_, n)| *n), Some(20.0));
    let builtin: Vec<&str> = config
        .analysis_templates
        .iter()
        .filter(|t| t.builtin)
        .map(|t| t.name.as_str())
        .collect();
    assert_eq!(builtin, ["request-success-rate", "request-duration"]);
}

#[test]
fn regression_issue_18_analysis_references_are_checked_with_their_arguments() {
    let repo = Repo::quickstart();
    with_templates(&repo).replace("gantry.yaml", 
        "            args: [{name: selector, value: 'job=\"shop\"'}]\n",
        "            args: [{name: selector, value: 'job=\"shop\"'}]\n        - analysis:\n            templates: [{templateName: error-rate}]\n        - analysis:\n            templates: [{templateName: error-rate}]\n            args: [{name: service, value: web}, {name: ceiling, value: 'high'}]\n        - analysis:\n            templates: [{templateName: nope}]\n",
    );
    assert_errors(
        &repo,
        &[
            "gantry.yaml:66:40: rollouts[0].canary.steps[3].analysis.templates[0].templateName: template \"error-rate\" needs argument \"service\": pass it in args",
            "gantry.yaml:71:40: rollouts[0].canary.steps[5].analysis.templates[0].templateName: unknown analysis template \"nope\" (known: error-rate, request-success-rate, request-duration)",
            "gantry.yaml:86:27: analysisTemplates[0].metrics[0].successCondition: \"result[0] <= high\": unknown name high (column 14)",
        ],
    );
}

#[test]
fn regression_issue_18_rollout_and_template_mistakes_are_located() {
    let repo = Repo::quickstart();
    with_templates(&repo)
        .replace("gantry.yaml", "        - setWeight: 50\n", "        - setCanaryScale: {replicas: 1, weight: 5}\n        - setWeight: 50\n")
        .replace("gantry.yaml", 
            "      steps:\n        - setWeight: 20",
            "      trafficRouting: {gatewayAPI: {httpRoute: a}, nginx: {stableIngress: b}}\n      analysis: {templates: [{templateName: request-duration}], args: [{name: selector, value: x}], startingStep: 9}\n      steps:\n        - setWeight: 20",
        )
        .replace("gantry.yaml", "        failureLimit: 1\n", "        failureLimit: -2\n")
        .replace("gantry.yaml", "environments: [staging, prod]", "environments: [staging, prd]")
        .replace("gantry.yaml", "            address: http://prom:9090\n", "");
    let errors = repo.errors();
    let expect = [
        "rollouts[0].canary.analysis.startingStep: startingStep 9 is past the last of 6 steps",
        "rollouts[0].canary.trafficRouting: set one of gatewayAPI or nginx, not both",
        "rollouts[0].canary.steps[3].setCanaryScale: set exactly one of replicas, weight or matchTrafficWeight: true",
        "analysisTemplates[0].metrics[0].failureLimit: failureLimit -2 is below -1 (-1 disables the limit)",
        "rollouts[0].environments[1]: unknown environment \"prd\" (known: dev, staging, prod)",
    ];
    for e in expect {
        assert!(
            errors.iter().any(|x| x.contains(e)),
            "missing {e:?} in {errors:#?}"
        );
    }
    // The template's metric has no address, but gantry.yaml's default serves it.
    assert!(
        !errors.iter().any(|x| x.contains("no Prometheus address")),
        "{errors:#?}"
    );
    assert!(
        errors.iter().all(|x| x.starts_with("gantry.yaml:")),
        "{errors:#?}"
    );
}

#[test]
fn regression_issue_18_builtin_templates_need_a_prometheus_address() {
    let repo = Repo::quickstart();
    repo.replace("gantry.yaml", 
        "\n# Where analysis templates without their own address query.\nprometheus:\n  address: http://prometheus.monitoring.svc:9090\n",
        "\n",
    );
    let errors = repo.errors();
    assert!(
        errors.iter().any(|e| e.contains("templates[0].templateName: the built-in template \"request-success-rate\" needs gantry.yaml's prometheus.address")),
        "{errors:#?}"
    );
}

/// The quickstart's strategy as the state machine runs it: the built-in templates' arguments
/// substituted into queries, thresholds and the traffic floor.
#[test]
fn regression_issue_18_the_quickstart_strategy_resolves_into_metrics() {
    use gantry::core::expr::Value;
    use gantry::rollout::machine::Step;

    let config = gantry::config::load(&crate::validate::quickstart_dir()).expect("quickstart");
    let strategy = gantry::rollout::spec::strategy(&config, &config.rollouts[0]).expect("resolves");
    assert!(matches!(strategy.steps[0], Step::SetWeight(20)));
    assert!(matches!(strategy.steps[1], Step::Pause(Some(d)) if d.as_secs() == 120));
    let Step::Analysis(metrics) = &strategy.steps[2] else {
        panic!("step 3 is the analysis: {:?}", strategy.steps[2]);
    };
    let names: Vec<&str> = metrics.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["request-success-rate", "request-duration"]);
    let rate = &metrics[0];
    assert_eq!(
        rate.query,
        r#"100 * sum(rate(http_requests_total{ job="shop", status!~"5.." }[1m])) / sum(rate(http_requests_total{ job="shop" }[1m]))"#
    );
    assert_eq!(rate.address, "http://prometheus.monitoring.svc:9090");
    let success = rate.success.as_ref().expect("a success condition");
    assert_eq!(success.source(), "result[0] >= 99");
    assert_eq!(
        success.eval(&Value::List(vec![Value::Float(99.5)])),
        Ok(true)
    );
    let floor = rate.min_samples.as_ref().expect("a traffic floor");
    assert_eq!(
        floor.query,
        r#"sum(increase(http_requests_total{ job="shop" }[1m]))"#
    );
    let duration = metrics[1].success.as_ref().expect("p99 condition");
    assert_eq!(duration.source(), "result[0] <= 500");
}
