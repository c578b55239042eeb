//! The quickstart example built into the binary (CLI): `gantry up` without an argument
//! writes it to a throwaway directory, so it runs from any directory, not just a checkout.
//!
//! Input: none. Output: the files of `examples/quickstart`, byte for byte (a test checks it).

use std::path::Path;

use anyhow::Context as _;

/// (path inside the example, contents).
const FILES: &[(&str, &str)] = &[
    (
        "apps/api/base/deployment.yaml",
        include_str!("../../examples/quickstart/apps/api/base/deployment.yaml"),
    ),
    (
        "apps/api/base/kustomization.yaml",
        include_str!("../../examples/quickstart/apps/api/base/kustomization.yaml"),
    ),
    (
        "apps/api/base/service.yaml",
        include_str!("../../examples/quickstart/apps/api/base/service.yaml"),
    ),
    (
        "apps/api/overlays/dev/kustomization.yaml",
        include_str!("../../examples/quickstart/apps/api/overlays/dev/kustomization.yaml"),
    ),
    (
        "apps/api/overlays/prod/kustomization.yaml",
        include_str!("../../examples/quickstart/apps/api/overlays/prod/kustomization.yaml"),
    ),
    (
        "apps/api/overlays/staging/kustomization.yaml",
        include_str!("../../examples/quickstart/apps/api/overlays/staging/kustomization.yaml"),
    ),
    (
        "apps/web/base/deployment.yaml",
        include_str!("../../examples/quickstart/apps/web/base/deployment.yaml"),
    ),
    (
        "apps/web/base/kustomization.yaml",
        include_str!("../../examples/quickstart/apps/web/base/kustomization.yaml"),
    ),
    (
        "apps/web/base/service.yaml",
        include_str!("../../examples/quickstart/apps/web/base/service.yaml"),
    ),
    (
        "apps/web/overlays/dev/kustomization.yaml",
        include_str!("../../examples/quickstart/apps/web/overlays/dev/kustomization.yaml"),
    ),
    (
        "apps/web/overlays/prod/kustomization.yaml",
        include_str!("../../examples/quickstart/apps/web/overlays/prod/kustomization.yaml"),
    ),
    (
        "apps/web/overlays/staging/kustomization.yaml",
        include_str!("../../examples/quickstart/apps/web/overlays/staging/kustomization.yaml"),
    ),
    (
        "gantry.yaml",
        include_str!("../../examples/quickstart/gantry.yaml"),
    ),
    (
        "pipelines/build.yaml",
        include_str!("../../examples/quickstart/pipelines/build.yaml"),
    ),
    (
        "policies/promotion.yaml",
        include_str!("../../examples/quickstart/policies/promotion.yaml"),
    ),
    (
        "policies/registries.yaml",
        include_str!("../../examples/quickstart/policies/registries.yaml"),
    ),
    (
        "policies/signatures.yaml",
        include_str!("../../examples/quickstart/policies/signatures.yaml"),
    ),
    (
        "policies/vulnerabilities.yaml",
        include_str!("../../examples/quickstart/policies/vulnerabilities.yaml"),
    ),
    (
        "policies/workloads.yaml",
        include_str!("../../examples/quickstart/policies/workloads.yaml"),
    ),
];

/// Writes the example under `dir`.
pub fn write(dir: &Path) -> anyhow::Result<()> {
    for (rel, text) in FILES {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on_disk(dir: &Path, base: &Path, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).expect("read the example") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                on_disk(&path, base, out);
            } else {
                let rel = path
                    .strip_prefix(base)
                    .expect("inside")
                    .display()
                    .to_string();
                out.push((rel, std::fs::read_to_string(&path).expect("read")));
            }
        }
    }

    #[test]
    fn the_built_in_example_is_the_examples_directory() {
        let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart");
        let mut disk = Vec::new();
        on_disk(&base, &base, &mut disk);
        disk.sort();
        let built: Vec<(String, String)> = FILES
            .iter()
            .map(|(p, t)| ((*p).to_owned(), (*t).to_owned()))
            .collect();
        assert_eq!(built, disk, "add new example files to FILES");
    }
}
