//! The basics every stage shares (no stage): reading a tree ([`fs::Fs`]), located
//! diagnostics ([`diag::Diagnostic`]), secrets ([`secret::Secret`], [`secret::SecretRef`]) and
//! image references ([`image::ImageRef`], [`image::Digest`]) and the app, environment and
//! revision ids ([`id::AppEnv`]), and the analysis condition language ([`expr`]).
//!
//! Input: paths and text. Output: typed values the other modules pass around instead of
//! strings each parses its own way. `core` imports no other module of gantry, so every other
//! module can import it without a cycle.

pub mod diag;
pub mod expr;
pub mod fs;
pub mod id;
pub mod image;
pub mod secret;

pub use id::{AppEnv, AppId, EnvId, Revision};
pub use image::{Digest, ImageRef, ImageRefError, sha256};
