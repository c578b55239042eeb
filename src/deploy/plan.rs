//! The pure part of a deploy: which file changes, and how.
//!
//! Input: the app's overlay directory, the `images:` name gantry manages for it, the image to
//! put there, and the overlay's kustomization text. Output: the new text with only the
//! `images:` entry changed (format-preserving), or `None` when the digest is already there —
//! a no-op, never an empty commit — and the diff to show.

use std::fmt::Write as _;

use crate::core::ImageRef;
use crate::manifest::edit::{ImageSpec, set_image};

/// The `images:` edit a deploy makes: name → the repository, tag (kept for readers) and digest.
#[must_use]
pub fn image_spec(name: &str, image: &ImageRef) -> ImageSpec {
    let repo = image.name();
    // A Docker Hub image keeps the short form the overlay most likely uses.
    let written = repo
        .strip_prefix("docker.io/library/")
        .or_else(|| repo.strip_prefix("docker.io/"))
        .unwrap_or(&repo);
    let new_name = (written != name && repo != name).then(|| written.to_owned());
    ImageSpec {
        name: name.to_owned(),
        new_name,
        new_tag: image.tag().map(str::to_owned),
        digest: image.digest().map(ToString::to_string),
    }
}

/// The kustomization text after the deploy, or `None` when it already says so.
pub fn edit(file: &str, text: &str, spec: &ImageSpec) -> Result<Option<String>, String> {
    let new = set_image(file, text, spec).map_err(|e| e.to_string())?;
    Ok((new != text).then_some(new))
}

/// A unified diff of one file, `---`/`+++` headers and changed lines with two of context.
#[must_use]
pub fn diff(path: &str, before: &str, after: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "--- a/{path}\n+++ b/{path}");
    let d = similar::TextDiff::from_lines(before, after);
    for group in d.grouped_ops(2) {
        for op in group {
            for change in d.iter_changes(&op) {
                let sign = match change.tag() {
                    similar::ChangeTag::Delete => '-',
                    similar::ChangeTag::Insert => '+',
                    similar::ChangeTag::Equal => ' ',
                };
                let _ = write!(out, "{sign}{}", change.value());
                if !change.value().ends_with('\n') {
                    out.push('\n');
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn only_the_images_entry_changes_and_a_repeat_is_a_no_op() {
        let text = "resources:\n- ../../base # the base\nimages:\n- name: harbor.example.com/shop/web\n  newTag: \"1\"\nnamespace: shop\n";
        let image = ImageRef::parse(&format!("harbor.example.com/shop/web:2@{D}")).expect("ref");
        let spec = image_spec("harbor.example.com/shop/web", &image);
        let new = edit("k.yaml", text, &spec).expect("edit").expect("changed");
        assert_eq!(
            new,
            format!(
                "resources:\n- ../../base # the base\nimages:\n- name: harbor.example.com/shop/web\n  newTag: \"2\"\n  digest: {D}\nnamespace: shop\n"
            )
        );
        assert_eq!(edit("k.yaml", &new, &spec).expect("edit"), None);
        let d = diff("k.yaml", text, &new);
        assert!(d.contains("-  newTag: \"1\"\n+  newTag: \"2\"\n"), "{d}");
    }
}
