//! Issue 17: top-level modules import only modules above them in docs/design.md's module map
//! (data flows top to bottom), so there is no import cycle; `core` imports none.

use std::path::Path;

/// The module map's order; a module may import only those before it.
const ORDER: &[&str] = &[
    "core",
    "config",
    "git",
    "audit",
    "trigger",
    "manifest",
    "artifact",
    "cluster",
    "deploy",
    "pipeline",
    "rollout",
    "promotion",
    "store",
    "daemon",
    "cli",
];

fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn regression_issue_17_modules_import_only_modules_above_them() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut wrong = Vec::new();
    let mut modules = 0;
    for entry in std::fs::read_dir(&src).expect("read src") {
        let path = entry.expect("entry").path();
        let Some(name) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        if !path.is_dir() && !matches!(name, "lib" | "main") {
            continue;
        }
        let Some(rank) = ORDER.iter().position(|m| *m == name) else {
            assert!(
                matches!(name, "lib" | "main"),
                "src/{name} is not in the module map"
            );
            continue;
        };
        modules += 1;
        let mut files = Vec::new();
        sources(&path, &mut files);
        for file in files {
            let text = std::fs::read_to_string(&file).expect("read source");
            for (later_rank, later) in ORDER.iter().enumerate().skip(rank + 1) {
                let re = regex::Regex::new(&format!(r"\bcrate::{later}\b")).expect("pattern");
                if re.is_match(&text) {
                    wrong.push(format!(
                        "{} imports {later} (#{later_rank}), below {name} (#{rank})",
                        file.strip_prefix(&src).unwrap_or(&file).display()
                    ));
                }
            }
        }
    }
    assert!(modules >= 10, "found only {modules} modules");
    assert!(
        wrong.is_empty(),
        "imports against the data flow:\n{}",
        wrong.join("\n")
    );
}

/// Issue 17: no source file over ~450 lines (clippy.toml holds functions to 80).
#[test]
fn regression_issue_17_no_source_file_over_450_lines() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let long: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let lines = std::fs::read_to_string(f)
                .expect("read source")
                .lines()
                .count();
            (lines > 450).then(|| format!("{} has {lines} lines", f.display()))
        })
        .collect();
    assert!(files.len() > 100, "found only {} files", files.len());
    assert!(long.is_empty(), "{}", long.join("\n"));
}

/// Issue 17: the daemon is wiring. Rendering, planning, applying, admitting and healing are
/// the stages' (`manifest`, `cluster`, `artifact`); the daemon calls `cluster::reconcile` and
/// `cluster::watch`, never the steps inside them.
#[test]
fn regression_issue_17_the_daemon_holds_no_stage_logic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/daemon");
    let mut files = Vec::new();
    sources(&dir, &mut files);
    let steps = regex::Regex::new(
        r"manifest::render|manifest::to_yaml|cluster::plan\b|cluster::sync::perform|Applier::new|\.heal\(\s*std::slice|admit::admit|workload_images|ensure_namespace",
    )
    .expect("pattern");
    let mut found = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read source");
        for m in steps.find_iter(&text) {
            found.push(format!("{}: {}", file.display(), m.as_str()));
        }
    }
    assert!(files.len() >= 8, "found only {} daemon files", files.len());
    assert!(
        found.is_empty(),
        "stage steps in the daemon:\n{}",
        found.join("\n")
    );
}
