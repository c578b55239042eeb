//! Artifacts (stage ③): images in OCI registries, their vulnerability scans and signatures.
//!
//! Input: scan reports (Harbor v2.0 API or Trivy JSON) and the vulnerability policy. Output: a
//! normalised [`scan::Report`] and a [`scan::Verdict`] saying whether the image may go on. The
//! registry client, packer and signing arrive with the rest of the images issue.

pub mod harbor;
pub mod scan;

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
