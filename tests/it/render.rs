//! The renderer against kustomize's documented behaviour: each case is a small tree of files
//! written to a temp dir and the exact `kustomize build` output for it. Expected outputs (hash
//! suffixes included) are kustomize v5's, from its own test suite and documentation.

use std::path::Path;

use gantry::manifest::{self, DiskFs, ManifestError, Reorder};
use tempfile::TempDir;

/// A directory tree of files for one render.
pub struct Tree(TempDir);

impl Tree {
    pub fn new(files: &[(&str, &str)]) -> Self {
        let dir = TempDir::new().expect("temp dir");
        for (path, text) in files {
            let p = dir.path().join(path);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(p, text).expect("write fixture");
        }
        Self(dir)
    }

    pub fn path(&self) -> &Path {
        self.0.path()
    }

    pub fn render_with(&self, dir: &str, reorder: Reorder) -> Result<String, ManifestError> {
        let fs = DiskFs::new(self.path()).expect("open tree");
        manifest::render(&fs, Path::new(dir), reorder).map(|r| manifest::to_yaml(&r))
    }

    pub fn render(&self, dir: &str) -> String {
        self.render_with(dir, Reorder::Legacy)
            .unwrap_or_else(|e| panic!("render {dir}: {e}"))
    }

    /// Accumulation order, as kustomize's own test harness renders (no legacy sort).
    pub fn render_unsorted(&self, dir: &str) -> String {
        self.render_with(dir, Reorder::None)
            .unwrap_or_else(|e| panic!("render {dir}: {e}"))
    }

    pub fn error(&self, dir: &str) -> String {
        match self.render_with(dir, Reorder::Legacy) {
            Ok(out) => panic!("render {dir} should fail but gave:\n{out}"),
            Err(e) => e.to_string(),
        }
    }
}

#[track_caller]
pub fn assert_yaml(actual: &str, expected: &str) {
    let expected = expected.trim_start_matches('\n');
    assert!(
        actual == expected,
        "rendered:\n{actual}\n--- expected:\n{expected}"
    );
}

#[test]
fn generators_hash_like_kustomize() {
    let t = Tree::new(&[
        (
            "app/kustomization.yaml",
            r#"
namePrefix: blah-
configMapGenerator:
- name: bob
  literals:
  - fruit=apple
  - vegetable=broccoli
  envs:
  - foo.env
  files:
  - passphrase=phrase.dat
  - forces.txt
- name: json
  literals:
  - 'v2=[{"path": "var/druid/segment-cache"}]'
  - >-
    druid_segmentCache_locations=[{"path": 
    "var/druid/segment-cache", 
    "maxSize": 32000000000, 
    "freeSpacePercent": 1.0}]
secretGenerator:
- name: bob
  literals:
  - fruit=apple
  - vegetable=broccoli
  envs:
  - foo.env
  files:
  - passphrase=phrase.dat
  - forces.txt
"#,
        ),
        ("app/foo.env", "\nMOUNTAIN=everest\nOCEAN=pacific\n"),
        (
            "app/phrase.dat",
            "\nLife is short.\nBut the years are long.\nNot while the evil days come not.\n",
        ),
        (
            "app/forces.txt",
            "\ngravitational\nelectromagnetic\nstrong nuclear\nweak nuclear\n",
        ),
    ]);
    assert_yaml(
        &t.render_unsorted("app"),
        r#"
apiVersion: v1
data:
  MOUNTAIN: everest
  OCEAN: pacific
  forces.txt: |2

    gravitational
    electromagnetic
    strong nuclear
    weak nuclear
  fruit: apple
  passphrase: |2

    Life is short.
    But the years are long.
    Not while the evil days come not.
  vegetable: broccoli
kind: ConfigMap
metadata:
  name: blah-bob-d87t8m8tgm
---
apiVersion: v1
data:
  druid_segmentCache_locations: '[{"path":  "var/druid/segment-cache",  "maxSize":
    32000000000,  "freeSpacePercent": 1.0}]'
  v2: '[{"path": "var/druid/segment-cache"}]'
kind: ConfigMap
metadata:
  name: blah-json-5298bc8g99
---
apiVersion: v1
data:
  MOUNTAIN: ZXZlcmVzdA==
  OCEAN: cGFjaWZpYw==
  forces.txt: |
    CmdyYXZpdGF0aW9uYWwKZWxlY3Ryb21hZ25ldGljCnN0cm9uZyBudWNsZWFyCndlYWsgbn
    VjbGVhcgo=
  fruit: YXBwbGU=
  passphrase: |
    CkxpZmUgaXMgc2hvcnQuCkJ1dCB0aGUgeWVhcnMgYXJlIGxvbmcuCk5vdCB3aGlsZSB0aG
    UgZXZpbCBkYXlzIGNvbWUgbm90Lgo=
  vegetable: YnJvY2NvbGk=
kind: Secret
metadata:
  name: blah-bob-9t25t44gg4
type: Opaque
"#,
    );
}

#[test]
fn generator_merge_across_overlays_keeps_base_prefix() {
    let t = Tree::new(&[
        (
            "app/base1/kustomization.yaml",
            "namePrefix: p1-\nconfigMapGenerator:\n- name: com1\n  behavior: create\n  literals:\n  - from=base\n",
        ),
        (
            "app/base2/kustomization.yaml",
            "namePrefix: p2-\nconfigMapGenerator:\n- name: com2\n  behavior: create\n  literals:\n  - from=base\n",
        ),
        (
            "app/overlay/o1/kustomization.yaml",
            "resources:\n- ../../base1\nconfigMapGenerator:\n- name: com1\n  behavior: merge\n  literals:\n  - from=overlay\n",
        ),
        (
            "app/overlay/o2/kustomization.yaml",
            "resources:\n- ../../base2\nconfigMapGenerator:\n- name: com2\n  behavior: merge\n  literals:\n  - from=overlay\n",
        ),
        (
            "app/overlay/kustomization.yaml",
            "resources:\n- o1\n- o2\nconfigMapGenerator:\n- name: com1\n  behavior: merge\n  literals:\n  - foo=bar\n  - baz=qux\n",
        ),
    ]);
    assert_yaml(
        &t.render_unsorted("app/overlay"),
        r"
apiVersion: v1
data:
  baz: qux
  foo: bar
  from: overlay
kind: ConfigMap
metadata:
  name: p1-com1-8tc62428t2
---
apiVersion: v1
data:
  from: overlay
kind: ConfigMap
metadata:
  name: p2-com2-87mcggf7d7
",
    );
}

#[test]
fn generator_merge_by_prefixed_and_suffixed_names() {
    let t = Tree::new(&[
        (
            "app/base/kustomization.yaml",
            "configMapGenerator:\n- name: cm\n  behavior: create\n  literals:\n  - foo=bar\n",
        ),
        (
            "app/o1/kustomization.yaml",
            "resources:\n- ../base\nnamePrefix: o1-\n",
        ),
        (
            "app/o2/kustomization.yaml",
            "resources:\n- ../base\nnameSuffix: -o2\n",
        ),
        (
            "app/kustomization.yaml",
            "resources:\n- o1\n- o2\nconfigMapGenerator:\n- name: o1-cm\n  behavior: merge\n  literals:\n  - big=bang\n- name: cm-o2\n  behavior: merge\n  literals:\n  - big=crunch\n",
        ),
    ]);
    assert_yaml(
        &t.render_unsorted("app"),
        r"
apiVersion: v1
data:
  big: bang
  foo: bar
kind: ConfigMap
metadata:
  name: o1-cm-ft9mmdc8c6
---
apiVersion: v1
data:
  big: crunch
  foo: bar
kind: ConfigMap
metadata:
  name: cm-o2-5k95kd76ft
",
    );
}

const BASE: &[(&str, &str)] = &[
    (
        "base/kustomization.yaml",
        "resources:\n- deployment.yaml\n- service.yaml\n- account.yaml\nconfigMapGenerator:\n- name: app-config\n  literals:\n  - LOG_LEVEL=info\n",
    ),
    (
        "base/deployment.yaml",
        r"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      serviceAccountName: runner
      containers:
      - name: web
        image: nginx:1.25
        envFrom:
        - configMapRef:
            name: app-config
        env:
        - name: PASSWORD
          valueFrom:
            secretKeyRef:
              name: db
              key: password
      volumes:
      - name: cfg
        configMap:
          name: app-config
",
    ),
    (
        "base/service.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector:\n    app: web\n  ports:\n  - port: 80\n    targetPort: 8080\n",
    ),
    (
        "base/account.yaml",
        "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: runner\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ntype: Opaque\ndata:\n  password: c2VjcmV0\n",
    ),
];

fn with_overlay(kustomization: &str, extra: &[(&'static str, &'static str)]) -> Tree {
    let mut files: Vec<(&str, &str)> = BASE.to_vec();
    files.push(("overlay/kustomization.yaml", kustomization));
    files.extend_from_slice(extra);
    Tree::new(&files)
}

#[test]
fn namespace_prefix_labels_images_and_name_references() {
    let t = with_overlay(
        "resources:\n- ../base\nnamespace: prod\nnamePrefix: prod-\ncommonLabels:\n  team: shop\nimages:\n- name: nginx\n  newTag: \"1.27\"\n",
        &[],
    );
    assert_yaml(
        &t.render("overlay"),
        r"
apiVersion: v1
kind: ServiceAccount
metadata:
  labels:
    team: shop
  name: prod-runner
  namespace: prod
---
apiVersion: v1
data:
  LOG_LEVEL: info
kind: ConfigMap
metadata:
  labels:
    team: shop
  name: prod-app-config-hf678c7m2b
  namespace: prod
---
apiVersion: v1
data:
  password: c2VjcmV0
kind: Secret
metadata:
  labels:
    team: shop
  name: prod-db
  namespace: prod
type: Opaque
---
apiVersion: v1
kind: Service
metadata:
  labels:
    team: shop
  name: prod-web
  namespace: prod
spec:
  ports:
  - port: 80
    targetPort: 8080
  selector:
    app: web
    team: shop
---
apiVersion: apps/v1
kind: Deployment
metadata:
  labels:
    team: shop
  name: prod-web
  namespace: prod
spec:
  selector:
    matchLabels:
      app: web
      team: shop
  template:
    metadata:
      labels:
        app: web
        team: shop
    spec:
      containers:
      - env:
        - name: PASSWORD
          valueFrom:
            secretKeyRef:
              key: password
              name: prod-db
        envFrom:
        - configMapRef:
            name: prod-app-config-hf678c7m2b
        image: nginx:1.27
        name: web
      serviceAccountName: prod-runner
      volumes:
      - configMap:
          name: prod-app-config-hf678c7m2b
        name: cfg
",
    );
}

#[test]
fn unsupported_field_is_refused_by_name_and_position() {
    let t = Tree::new(&[(
        "app/kustomization.yaml",
        "resources: []\nhelmCharts:\n- name: X\n",
    )]);
    let err = t.error("app");
    assert!(
        err.starts_with("app/kustomization.yaml:2:1: kustomization field `helmCharts` is not supported by gantry's renderer (supported: apiVersion, kind, metadata, resources,"),
        "{err}"
    );
}

#[test]
fn paths_that_leave_the_repo_are_refused() {
    let t = Tree::new(&[("app/kustomization.yaml", "resources:\n- ../../outside\n")]);
    assert_eq!(
        t.error("app"),
        "app/kustomization.yaml:2:3: resources: \"../../outside\" is outside the repo root; files must stay inside it (load restrictor)"
    );
}

#[test]
fn symlinks_that_leave_the_repo_are_refused() {
    let outside = TempDir::new().expect("outside dir");
    std::fs::write(
        outside.path().join("secret.yaml"),
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: stolen\n",
    )
    .expect("write");
    let t = Tree::new(&[("app/kustomization.yaml", "resources:\n- link.yaml\n")]);
    std::os::unix::fs::symlink(
        outside.path().join("secret.yaml"),
        t.path().join("app/link.yaml"),
    )
    .expect("symlink");
    assert_eq!(
        t.error("app"),
        "app/kustomization.yaml:2:3: resources: app/link.yaml is a symlink that leaves the repo root (load restrictor)"
    );
}

#[test]
fn remote_resources_are_refused() {
    let t = Tree::new(&[(
        "app/kustomization.yaml",
        "resources:\n- https://github.com/example/repo//base?ref=v1\n",
    )]);
    assert_eq!(
        t.error("app"),
        "app/kustomization.yaml:2:3: resources: remote resources are not supported: \"https://github.com/example/repo//base?ref=v1\""
    );
}

#[test]
fn resource_cycles_are_refused() {
    let t = Tree::new(&[
        ("a/kustomization.yaml", "resources:\n- ../b\n"),
        ("b/kustomization.yaml", "resources:\n- ../a\n"),
    ]);
    assert_eq!(t.error("a"), "a: resource cycle: a -> b -> a");
}

#[test]
fn broken_yaml_is_located() {
    let t = Tree::new(&[
        ("app/kustomization.yaml", "resources:\n- svc.yaml\n"),
        (
            "app/svc.yaml",
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: [web\n",
        ),
    ]);
    assert_eq!(t.error("app"), "app/svc.yaml:4:9: unclosed bracket '['");
}

#[test]
fn the_same_resource_from_two_places_is_refused() {
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shared\n";
    let t = Tree::new(&[
        ("a/cm.yaml", cm),
        ("a/kustomization.yaml", "resources: [cm.yaml]\n"),
        ("b/cm.yaml", cm),
        ("b/kustomization.yaml", "resources: [cm.yaml]\n"),
        ("app/kustomization.yaml", "resources: [../a, ../b]\n"),
        (
            "one/kustomization.yaml",
            "resources: [cm.yaml, again.yaml]\n",
        ),
        ("one/cm.yaml", cm),
        ("one/again.yaml", cm),
    ]);
    assert_eq!(
        t.error("app"),
        "b/cm.yaml: may not add resource with an already registered id: v1, Kind=ConfigMap, Name=shared, Namespace=default"
    );
    assert_eq!(
        t.error("one"),
        "one/again.yaml: may not add resource with an already registered id: v1, Kind=ConfigMap, Name=shared, Namespace=default"
    );
}
