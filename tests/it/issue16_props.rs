//! Issue 16: random overlays built from the supported fields render without a panic, and the
//! same input always renders the same bytes.

use std::fmt::Write as _;

use proptest::prelude::*;

use crate::render::Tree;

fn name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9]{0,6}"
}

/// A base of Deployments, Services and ConfigMaps, and an overlay using a random subset of the
/// fields gantry renders.
fn overlay() -> impl Strategy<Value = Vec<(String, String)>> {
    // Distinct names: two Deployments of one name are an error in kustomize too.
    let apps =
        prop::collection::btree_set(name(), 1..4).prop_map(|s| s.into_iter().collect::<Vec<_>>());
    let fields = (
        prop::option::of(name()),
        prop::option::of(name()),
        prop::option::of(name()),
        prop::option::of((name(), name())),
        prop::option::of(0u8..9),
        prop::option::of("[a-z]{1,5}=[a-z0-9]{0,80}"),
        any::<bool>(),
        any::<bool>(),
    );
    // The fields issue 16 added: replacements, labels[].fields, sortOptions, vars,
    // buildMetadata and an inline built-in transformer.
    let more = (
        any::<bool>(),
        prop::option::of(name()),
        prop::option::of(prop::sample::select(vec!["fifo", "legacy"])),
        any::<bool>(),
        any::<bool>(),
        prop::option::of(name()),
    );
    // Label values are quoted: kustomize refuses `a: no` (a YAML 1.1 boolean), and so does
    // gantry.
    (apps, fields, more).prop_map(
        |(apps, (namespace, prefix, suffix, label, replicas, literal, patch, hashless), more)| {
            let (replace, label_field, sort, vars, origin, plugin_label) = more;
            let mut base = String::new();
            for a in &apps {
                let _ = write!(
                    base,
                    "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {a}\n  annotations:\n    svc: $(SVC)\nspec:\n  template:\n    spec:\n      containers:\n      - name: main\n        image: registry.example.com/{a}:1\n        envFrom:\n        - configMapRef:\n            name: cfg\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: {a}\nspec:\n  selector:\n    app: {a}\n"
                );
            }
            let mut k = String::from("resources:\n- ../base\n");
            if let Some(ns) = namespace {
                let _ = writeln!(k, "namespace: {ns}");
            }
            if let Some(p) = prefix {
                let _ = writeln!(k, "namePrefix: {p}-");
            }
            if let Some(s) = suffix {
                let _ = writeln!(k, "nameSuffix: -{s}");
            }
            if let Some((key, value)) = label {
                let _ = write!(k, "commonLabels:\n  {key}: \"{value}\"\ncommonAnnotations:\n  {key}: \"1\"\n");
            }
            if let Some(count) = replicas {
                let app = &apps[0];
                let _ = write!(k, "replicas:\n- name: {app}\n  count: {count}\nimages:\n- name: registry.example.com/{app}\n  newTag: \"2\"\n");
            }
            k.push_str("configMapGenerator:\n- name: cfg\n  literals:\n  - mode=prod\n");
            if let Some(l) = literal {
                let _ = write!(k, "  - {l}\nsecretGenerator:\n- name: sec\n  literals:\n  - {l}\n");
            }
            if patch {
                k.push_str("patches:\n- target: {kind: Deployment}\n  patch: |-\n    apiVersion: apps/v1\n    kind: Deployment\n    metadata:\n      name: any\n      annotations:\n        patched: \"yes\"\n");
            }
            if hashless {
                k.push_str("generatorOptions:\n  disableNameSuffixHash: true\n");
            }
            let app = &apps[0];
            if replace {
                let _ = write!(k, "replacements:\n- source: {{kind: Service, name: {app}}}\n  targets:\n  - select: {{kind: Deployment}}\n    fieldPaths: [metadata.annotations.service]\n    options: {{create: true}}\n");
            }
            if let Some(v) = label_field {
                let _ = write!(k, "labels:\n- pairs: {{tier: \"{v}\"}}\n  fields:\n  - kind: Service\n    path: spec/selector\n    create: true\n");
            }
            if let Some(order) = sort {
                let _ = write!(k, "sortOptions:\n  order: {order}\n");
            }
            if vars {
                let _ = write!(k, "vars:\n- name: SVC\n  objref: {{kind: Service, name: {app}, apiVersion: v1}}\n");
            }
            if origin {
                k.push_str("buildMetadata: [originAnnotations]\n");
            }
            if let Some(v) = plugin_label {
                let _ = write!(k, "transformers:\n- |-\n  apiVersion: builtin\n  kind: LabelTransformer\n  metadata: {{name: t}}\n  labels: {{plugin: \"{v}\"}}\n  fieldSpecs: [{{path: metadata/labels, create: true}}]\n");
            }
            vec![
                ("base/r.yaml".to_owned(), base),
                ("base/kustomization.yaml".to_owned(), "resources: [r.yaml]\n".to_owned()),
                ("overlay/kustomization.yaml".to_owned(), k),
            ]
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn regression_issue_16_random_overlays_render_the_same_bytes_every_time(files in overlay()) {
        let refs: Vec<(&str, &str)> = files.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
        let t = Tree::new(&refs);
        let first = t.render_with("overlay", gantry::manifest::Reorder::Legacy);
        let second = t.render_with("overlay", gantry::manifest::Reorder::Legacy);
        match (first, second) {
            (Ok(a), Ok(b)) => {
                prop_assert_eq!(&a, &b);
                prop_assert!(gantry::manifest::documents("out.yaml", &a).is_ok(), "output parses back");
            }
            // Every overlay the strategy builds is valid: an error is a renderer bug.
            (Err(a), _) | (_, Err(a)) => prop_assert!(false, "render failed: {a}"),
        }
    }
}
