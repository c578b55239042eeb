//! The one integration-test binary (heavy dependencies link once): a module per area.

// A scenario reads top to bottom with its expected output spelled out in full; `src/` keeps
// the 80-line limit (clippy.toml), tests are allowed longer bodies.
#![allow(clippy::too_many_lines)]

mod architecture;
mod cli;
mod cluster_api;
mod cluster_drift;
mod cluster_envtest;
mod cluster_health;
mod cluster_plan;
mod daemon;
mod daemon_guards;
#[cfg(feature = "sign")]
mod daemon_image_update;
mod daemon_images;
mod daemon_issue14;
mod daemon_promotion;
mod daemon_rollout;
mod daemon_rollout_kill;
mod daemon_rollout_routed;
mod deploy;
mod edit;
#[path = "../support/fake_cluster/mod.rs"]
mod fake_cluster;
mod git;
mod git_auth;
mod harbor_scan;
mod harness;
mod history;
mod image_cli;
mod image_update;
mod issue15_cli;
mod issue15_fuzz;
mod issue15_images;
mod issue15_input;
mod issue15_webhooks;
mod issue16;
mod issue16_fields;
mod issue16_meta;
mod issue16_props;
mod manifests;
mod pack;
mod promotion_checks;
mod promotion_pr;
mod real_cluster;
mod real_cluster_cli;
mod registry;
mod registry_auth;
mod render;
mod render_fields;
mod rollout_analysis;
mod rollout_drive;
mod rollout_rollback;
mod scan_gate;
#[cfg(feature = "sign")]
mod sign;
mod store;
mod validate;
mod validate_forge;
mod validate_rollouts;
mod webhook;
