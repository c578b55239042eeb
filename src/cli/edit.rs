//! `gantry set-image` and `gantry set-value`: surgical edits of files a human wrote.

use std::fmt::Write as _;
use std::path::Path;

use crate::manifest::ManifestError;
use crate::manifest::edit::{self, ImageSpec, Outcome};

fn report(path: &Path, outcome: Outcome, what: &str) {
    match outcome {
        Outcome::Changed => println!("updated {}: {what}", path.display()),
        Outcome::Unchanged => println!("unchanged {}: {what} already set", path.display()),
    }
}

pub fn set_image(overlay: &Path, arg: &str) -> anyhow::Result<()> {
    let spec = ImageSpec::parse(arg).map_err(|m| ManifestError::file("set-image", m))?;
    let file = edit::kustomization_file(overlay)?;
    let outcome = edit::edit_file(&file, |name, text| edit::set_image(name, text, &spec))?;
    let mut what = format!("image {}", spec.name);
    for (field, value) in [
        ("newName", &spec.new_name),
        ("newTag", &spec.new_tag),
        ("digest", &spec.digest),
    ] {
        if let Some(v) = value {
            let _ = write!(what, " {field}={v}");
        }
    }
    report(&file, outcome, &what);
    Ok(())
}

pub fn set_value(file: &Path, assignment: &str) -> anyhow::Result<()> {
    let (path, value) = assignment.split_once('=').ok_or_else(|| {
        ManifestError::file(
            "set-value",
            format!("\"{assignment}\": expected PATH=VALUE, e.g. image.tag=1.4.2"),
        )
    })?;
    let keys = edit::value_path(path).map_err(|m| ManifestError::file("set-value", m))?;
    let outcome = edit::edit_file(file, |name, text| edit::set_value(name, text, &keys, value))?;
    report(file, outcome, &format!("{path}={value}"));
    Ok(())
}
