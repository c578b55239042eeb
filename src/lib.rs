//! `gantry`: a GitOps daemon that takes a commit to production and back out again.
//!
//! The modules follow the stages of the loop in docs/design.md; `cli` is the only place that speaks
//! to a terminal.

pub mod artifact;
pub mod audit;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod core;
pub mod daemon;
pub mod deploy;
pub mod git;
pub mod manifest;
pub mod promotion;
pub mod rollout;
pub mod store;
pub mod trigger;
