//! Artifacts (stage ③): images in OCI registries, their vulnerability scans and signatures.
//!
//! Input: image references, directories to pack, keys, scan reports (Harbor v2.0 API or Trivy
//! JSON) and the signature and vulnerability policies. Output: images pushed, copied and signed
//! in OCI registries ([`registry`], [`pack`], [`sign`]), a normalised [`scan::Report`] with a
//! [`scan::Verdict`], and a signature [`sign::verify::Verdict`] — each saying whether the image
//! may go on.

pub mod admission;
pub mod admit;
pub mod harbor;
pub mod pack;
pub mod registry;
pub mod scan;
#[cfg(feature = "sign")]
pub mod sign;

#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("{source_name}: not a Trivy JSON report nor a Harbor vulnerability report: {message}")]
    UnknownReport {
        source_name: String,
        message: String,
    },
    #[error("Harbor, {what}: {message}")]
    Harbor { what: String, message: String },
    #[error("{source_name}: invalid {format} report: {message}")]
    BadReport {
        source_name: String,
        format: &'static str,
        message: String,
    },
}
