//! Raw serde types for `rollouts:` and `analysisTemplates:` in `gantry.yaml` (stage: config),
//! shaped as Argo Rollouts' canary strategy and `AnalysisTemplate` spec, so users copy theirs.
//!
//! Input: YAML via [`super::diag::parse`]. Output: these types, every node `Spanned` so that
//! validation can point at it; unknown keys are refused.

use serde::Deserialize;

use super::raw::S;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawRollout {
    pub name: S<String>,
    /// The environments it runs in; all of an app's when absent.
    #[serde(default)]
    pub environments: Option<S<Vec<S<String>>>>,
    pub canary: S<RawCanary>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawCanary {
    pub steps: Vec<S<RawStep>>,
    /// Background analysis, from `startingStep` until the rollout ends.
    #[serde(default)]
    pub analysis: Option<S<RawAnalysis>>,
    #[serde(default)]
    pub traffic_routing: Option<S<RawTraffic>>,
    #[serde(default)]
    pub on_failure: Option<S<RawOnFailure>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RawOnFailure {
    Abort,
    Pause,
}

/// One Argo Rollouts canary step; exactly one field must be set.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawStep {
    #[serde(default)]
    pub set_weight: Option<S<u32>>,
    #[serde(default)]
    pub pause: Option<S<RawPause>>,
    #[serde(default)]
    pub analysis: Option<S<RawAnalysis>>,
    #[serde(default)]
    pub set_canary_scale: Option<S<RawCanaryScale>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawPause {
    #[serde(default)]
    pub duration: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawAnalysis {
    pub templates: Vec<S<RawTemplateRef>>,
    #[serde(default)]
    pub args: Vec<S<RawArg>>,
    /// Background analysis only: the step index it starts at.
    #[serde(default)]
    pub starting_step: Option<S<u32>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawTemplateRef {
    pub template_name: S<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawArg {
    pub name: S<String>,
    #[serde(default)]
    pub value: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawCanaryScale {
    #[serde(default)]
    pub replicas: Option<S<u32>>,
    #[serde(default)]
    pub weight: Option<S<u32>>,
    #[serde(default)]
    pub match_traffic_weight: Option<S<bool>>,
}

/// How traffic reaches the canary; replica weights when absent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawTraffic {
    /// As Argo Rollouts' Gateway API plugin spells it.
    #[serde(default, rename = "gatewayAPI")]
    pub gateway_api: Option<S<RawGatewayApi>>,
    #[serde(default)]
    pub nginx: Option<S<RawNginx>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawGatewayApi {
    pub http_route: S<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawNginx {
    pub stable_ingress: S<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawPrometheusDefault {
    pub address: S<String>,
}

/// An analysis template (Argo Rollouts' `AnalysisTemplate` spec).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawTemplate {
    pub name: S<String>,
    #[serde(default)]
    pub args: Vec<S<RawArg>>,
    pub metrics: Vec<S<RawMetric>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawMetric {
    pub name: S<String>,
    #[serde(default)]
    pub interval: Option<S<String>>,
    #[serde(default)]
    pub count: Option<S<u32>>,
    #[serde(default)]
    pub initial_delay: Option<S<String>>,
    #[serde(default)]
    pub failure_limit: Option<S<i32>>,
    #[serde(default)]
    pub inconclusive_limit: Option<S<u32>>,
    #[serde(default)]
    pub consecutive_error_limit: Option<S<u32>>,
    #[serde(default)]
    pub consecutive_success_limit: Option<S<u32>>,
    #[serde(default)]
    pub success_condition: Option<S<String>>,
    #[serde(default)]
    pub failure_condition: Option<S<String>>,
    #[serde(default)]
    pub dry_run: Option<S<bool>>,
    #[serde(default)]
    pub min_samples: Option<S<RawMinSamples>>,
    pub provider: S<RawProvider>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawMinSamples {
    pub query: S<String>,
    pub min: S<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawProvider {
    pub prometheus: S<RawPrometheus>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawPrometheus {
    #[serde(default)]
    pub address: Option<S<String>>,
    pub query: S<String>,
}
