//! Renderer and editor benchmarks (`cargo bench --bench manifest`). Prints the figures the
//! README records: rendering an overlay over a 4,000-resource base with patches, images and
//! labels (target ≤ 200 ms), and `set-image` on a 10,000-line kustomization (target ≤ 5 ms).

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use gantry::manifest::edit::{self, ImageSpec};

mod common;
use common::measure;
use gantry::manifest::{self, DiskFs, Reorder};

fn report(what: &str, times: &[Duration], target: Duration) {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let median = times[times.len() / 2];
    let verdict = if median <= target {
        "ok"
    } else {
        "OVER TARGET"
    };
    println!(
        "{what}: median {:.2} ms, min {:.2} ms, max {:.2} ms over {} runs (target ≤ {} ms: {verdict})",
        ms(median),
        ms(times[0]),
        ms(times[times.len() - 1]),
        times.len(),
        target.as_millis()
    );
}

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(p, text).expect("write");
}

/// A base of `n` resources (Deployments, Services, ConfigMaps in turn) and an overlay with a
/// namespace, prefix, labels, images and strategic-merge and JSON 6902 patches.
fn generate_tree(root: &Path, n: usize) {
    let mut files = Vec::new();
    for i in 0..n / 3 {
        let mut doc = String::new();
        let _ = write!(
            doc,
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app{i}\n  labels:\n    app: app{i}\nspec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app: app{i}\n  template:\n    metadata:\n      labels:\n        app: app{i}\n    spec:\n      containers:\n      - name: main\n        image: registry.example.com/team/app{}:1.0.0\n        envFrom:\n        - configMapRef:\n            name: config{i}\n        ports:\n        - containerPort: 8080\n        resources:\n          requests:\n            cpu: 10m\n            memory: 32Mi\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: app{i}\nspec:\n  selector:\n    app: app{i}\n  ports:\n  - port: 80\n    targetPort: 8080\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: config{i}\ndata:\n  LOG_LEVEL: info\n  FEATURE_X: \"true\"\n",
            i % 20
        );
        let name = format!("base/app{i}.yaml");
        write(root, &name, &doc);
        files.push(format!("app{i}.yaml"));
    }
    let mut k = String::from("resources:\n");
    for f in &files {
        let _ = writeln!(k, "- {f}");
    }
    write(root, "base/kustomization.yaml", &k);
    let mut images = String::new();
    for i in 0..20 {
        let _ = write!(
            images,
            "- name: registry.example.com/team/app{i}\n  newTag: 2.0.{i}\n"
        );
    }
    write(
        root,
        "overlay/kustomization.yaml",
        &format!(
            "resources:\n- ../base\nnamespace: prod\nnamePrefix: prod-\ncommonLabels:\n  env: prod\nlabels:\n- pairs:\n    team: shop\n  includeTemplates: true\nimages:\n{images}patches:\n- target:\n    kind: Deployment\n  patch: |-\n    apiVersion: apps/v1\n    kind: Deployment\n    metadata:\n      name: any\n    spec:\n      template:\n        spec:\n          containers:\n          - name: main\n            resources:\n              limits:\n                memory: 128Mi\n- target:\n    kind: Deployment\n    name: app1.*\n  patch: |-\n    - op: replace\n      path: /spec/replicas\n      value: 3\n"
        ),
    );
}

fn main() {
    // GANTRY_BENCH=render|edit runs one of the two (for profiling); default both.
    let only = std::env::var("GANTRY_BENCH").unwrap_or_default();
    // GANTRY_BENCH=tree:DIR writes the generated render tree to DIR and exits.
    if let Some(dir) = only.strip_prefix("tree:") {
        generate_tree(Path::new(dir), 4000);
        return;
    }
    if only != "edit" {
        bench_render();
    }
    if only != "render" {
        bench_set_image();
    }
}

fn bench_render() {
    let dir = tempfile::TempDir::new().expect("temp dir");
    generate_tree(dir.path(), 4000);
    let fs = DiskFs::new(dir.path()).expect("open tree");
    let mut count = 0;
    let times = measure(15, || {
        let out = manifest::render(&fs, Path::new("overlay"), Reorder::Legacy).expect("render");
        count = out.len();
        std::hint::black_box(manifest::to_yaml(&out));
    });
    report(
        &format!("render overlay over {count} resources (read + build + YAML out)"),
        &times,
        Duration::from_millis(200),
    );
    let build = measure(15, || {
        std::hint::black_box(
            manifest::render(&fs, Path::new("overlay"), Reorder::Legacy).expect("render"),
        );
    });
    let base = measure(15, || {
        std::hint::black_box(
            manifest::render(&fs, Path::new("base"), Reorder::None).expect("render"),
        );
    });
    let rendered = manifest::render(&fs, Path::new("overlay"), Reorder::Legacy).expect("render");
    let emit = measure(15, || {
        std::hint::black_box(manifest::to_yaml(&rendered));
    });
    let check = measure(15, || {
        manifest::workload::check_images(&rendered).expect("valid images");
    });
    let ms = |t: &[Duration]| t[t.len() / 2].as_secs_f64() * 1e3;
    println!(
        "  of which: read + parse {:.2} ms, transforms {:.2} ms (image check {:.2} ms), YAML out {:.2} ms (medians)",
        ms(&base),
        ms(&build) - ms(&base),
        ms(&check),
        ms(&emit)
    );
}

fn bench_set_image() {
    let mut text = String::from(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n",
    );
    let mut i = 0;
    while text.lines().count() < 10_000 - 3 {
        let _ = writeln!(text, "- deploy/app{i}.yaml  # app {i}");
        i += 1;
    }
    text.push_str("images:\n- name: registry.example.com/team/web\n  newTag: 1.0.0\n");
    let lines = text.lines().count();
    let spec = ImageSpec::parse(&format!(
        "registry.example.com/team/web=registry.example.com/team/web@sha256:{}",
        "ab".repeat(32)
    ))
    .expect("spec");
    let times = measure(50, || {
        std::hint::black_box(edit::set_image("kustomization.yaml", &text, &spec).expect("edit"));
    });
    report(
        &format!("set-image on a {lines}-line kustomization (parse + edit + verify)"),
        &times,
        Duration::from_millis(5),
    );
    // A quoted top-level key defeats the line scan: the whole file is parsed (the fallback).
    let quoted = format!("\"metadata\": {{name: bench}}\n{text}");
    let times = measure(20, || {
        std::hint::black_box(edit::set_image("kustomization.yaml", &quoted, &spec).expect("edit"));
    });
    println!(
        "  fallback (whole-file parse) on the same file: median {:.2} ms",
        times[times.len() / 2].as_secs_f64() * 1e3
    );
}
