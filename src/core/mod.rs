//! The basics every stage shares (no stage): image references and digests.
//!
//! Input: text. Output: typed values ([`image::ImageRef`], [`image::Digest`]) that the other
//! modules pass around instead of strings each parses its own way. `core` imports no other
//! module of gantry.

pub mod image;

pub use image::{Digest, ImageRef, ImageRefError, sha256};
