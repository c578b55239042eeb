//! Manifests (stages ④ ⑤): a kustomize-compatible renderer and a format-preserving editor.
//!
//! Input: a config repo tree read through [`Fs`] (a checkout or, later, a git tree).
//! Output: the rendered YAML stream, equal to `kustomize build` for the supported fields;
//! anything else is refused with the file, line and field. No kustomize binary, no network.

mod build;
pub mod edit;
pub mod emit;
mod error;
mod fieldpath;
mod fieldspecs;
pub mod fs;
mod generate;
mod hash;
pub mod kustomization;
mod load;
mod load_fast;
mod metadata;
mod nameref;
mod openapi;
mod order;
mod par;
mod patch;
mod plugin;
mod read;
mod replace;
pub mod resource;
mod scope;
mod selector;
mod smp;
mod tconfig;
mod transform;
mod vars;
pub mod workload;

use std::path::Path;

pub use error::ManifestError;
pub use fs::{DiskFs, Fs, Limits, LoadRestrictor};
pub use order::{Reorder, kind_rank};
pub use resource::Resource;

/// Renders the kustomization in `dir` (relative to the root of `fs`) into resources, within
/// [`Limits::DEFAULT`].
pub fn render(fs: &dyn Fs, dir: &Path, reorder: Reorder) -> Result<Vec<Resource>, ManifestError> {
    render_within(fs, dir, reorder, Limits::DEFAULT)
}

/// [`render`] with other [`Limits`].
pub fn render_within(
    fs: &dyn Fs,
    dir: &Path,
    reorder: Reorder,
    limits: Limits,
) -> Result<Vec<Resource>, ManifestError> {
    let fs = fs::Budgeted::new(fs, limits);
    let built = build::build(&fs, dir)?;
    let mut resources = built.resources;
    workload::check_images(&resources)?;
    order::sort_by_options(&mut resources, reorder, built.sort.as_ref());
    Ok(resources)
}

/// The YAML stream `kustomize build` would print for these resources.
#[must_use]
pub fn to_yaml(resources: &[Resource]) -> String {
    emit::documents(resources.iter().map(|r| &r.obj))
}

/// The documents of one manifest file as JSON values, typed as kustomize types them, with the
/// loader's budgets; `file` names it in errors.
pub fn documents(file: &str, text: &str) -> Result<Vec<serde_json::Value>, ManifestError> {
    load::documents(file, text)
}
