//! Issue 16, "refused where kustomize renders", continued: `vars`, `buildMetadata`,
//! local-config resources, `crds` and `openapi`. Each expected output is kubectl's
//! (kustomize v5), written by hand.

use crate::render::{Tree, assert_yaml};

const VARS_BASE: &str = r"apiVersion: v1
kind: Service
metadata: {name: db}
spec:
  ports:
  - port: 5432
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  template:
    metadata:
      annotations: {svc: $(DB_SVC)}
    spec:
      containers:
      - name: web
        image: nginx
        command: [run, --db=$(DB_SVC):$(DB_PORT), $$(NOT), $(UNKNOWN)]
        args: [$(DB_PORT)]
        env:
        - name: DB
          value: $(DB_SVC).$(NS)
        - name: PORT
          value: $(DB_PORT)
        volumeMounts:
        - name: v
          mountPath: /data/$(DB_SVC)
";

const VARS_BASE_KUSTOMIZATION: &str = r"resources: [res.yaml]
vars:
- name: DB_SVC
  objref: {kind: Service, name: db, apiVersion: v1}
- name: DB_PORT
  objref: {kind: Service, name: db, apiVersion: v1}
  fieldref: {fieldpath: 'spec.ports[0].port'}
";

const VARS_OVERLAY: &str = r"resources: [../base]
namePrefix: p-
namespace: prod
vars:
- name: NS
  objref: {kind: Deployment, name: web, apiVersion: apps/v1}
  fieldref: {fieldpath: metadata.namespace}
";

/// `vars`: declared in a base and an overlay, read after names are final (prefix, namespace),
/// a whole-string `$(PORT)` keeps the source's type, `$$` escapes, unknown vars stay; a var
/// no resource matches and a var declared twice are errors.
#[test]
fn regression_issue_16_vars() {
    let t = Tree::new(&[
        ("base/res.yaml", VARS_BASE),
        ("base/kustomization.yaml", VARS_BASE_KUSTOMIZATION),
        ("ov/kustomization.yaml", VARS_OVERLAY),
        (
            "missing/kustomization.yaml",
            "resources: [../base]\nvars:\n- name: X\n  objref: {kind: Deployment, name: web}\n",
        ),
        (
            "twice/kustomization.yaml",
            "resources: [../base]\nvars:\n- name: DB_SVC\n  objref: {kind: Service, name: db, apiVersion: v1}\n",
        ),
    ]);
    assert_yaml(
        &t.render("ov"),
        r"
apiVersion: v1
kind: Service
metadata:
  name: p-db
  namespace: prod
spec:
  ports:
  - port: 5432
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: p-web
  namespace: prod
spec:
  template:
    metadata:
      annotations:
        svc: p-db
    spec:
      containers:
      - args:
        - 5432
        command:
        - run
        - --db=p-db:5432
        - $(NOT)
        - $(UNKNOWN)
        env:
        - name: DB
          value: p-db.prod
        - name: PORT
          value: 5432
        image: nginx
        name: web
        volumeMounts:
        - mountPath: /data/p-db
          name: v
",
    );
    let e = t.error("missing");
    assert!(
        e.contains("var 'X' cannot be mapped to a field in the set of known resources: no Deployment \"web\" of apiVersion \"\""),
        "{e}"
    );
    assert!(
        t.error("twice")
            .contains("var 'DB_SVC' already encountered")
    );
}

/// `buildMetadata: [originAnnotations]`: each resource says where it came from (a file
/// relative to the built directory, or the generator and the kustomization it is configured
/// in), through bases and components.
#[test]
fn regression_issue_16_build_metadata_origin_annotations() {
    let t = Tree::new(&[
        (
            "base/res.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
        ),
        (
            "base/kustomization.yaml",
            "resources: [res.yaml]\nnamespace: ns\nconfigMapGenerator:\n- name: g\n  literals: [a=b]\n",
        ),
        (
            "comp/kustomization.yaml",
            "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources: [cm.yaml]\n",
        ),
        (
            "comp/cm.yaml",
            "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n",
        ),
        (
            "ov/svc.yaml",
            "apiVersion: v1\nkind: Service\nmetadata: {name: svc}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: svc2}\n",
        ),
        (
            "ov/kustomization.yaml",
            "resources: [../base, svc.yaml]\ncomponents: [../comp]\nbuildMetadata: [originAnnotations]\nsecretGenerator:\n- name: sg\n  literals: [x=y]\n",
        ),
    ]);
    assert_yaml(
        &t.render("ov"),
        r"
apiVersion: v1
kind: ConfigMap
metadata:
  annotations:
    config.kubernetes.io/origin: |
      path: ../base/res.yaml
  name: c
  namespace: ns
---
apiVersion: v1
data:
  a: b
kind: ConfigMap
metadata:
  annotations:
    config.kubernetes.io/origin: |
      configuredIn: ../base/kustomization.yaml
      configuredBy:
        apiVersion: builtin
        kind: ConfigMapGenerator
  name: g-4h2mbtbbt6
  namespace: ns
---
apiVersion: v1
kind: Secret
metadata:
  annotations:
    config.kubernetes.io/origin: |
      path: ../comp/cm.yaml
  name: s
---
apiVersion: v1
data:
  x: eQ==
kind: Secret
metadata:
  annotations:
    config.kubernetes.io/origin: |
      configuredIn: kustomization.yaml
      configuredBy:
        apiVersion: builtin
        kind: SecretGenerator
  name: sg-t86b282gdf
type: Opaque
---
apiVersion: v1
kind: Service
metadata:
  annotations:
    config.kubernetes.io/origin: |
      path: svc.yaml
  name: svc
---
apiVersion: v1
kind: Service
metadata:
  annotations:
    config.kubernetes.io/origin: |
      path: svc.yaml
  name: svc2
",
    );
}

/// `managedByLabel` labels every resource in kustomize's `<tool>-<version>` form, naming
/// gantry (kustomize writes its own version); an unknown option is refused, not ignored.
#[test]
fn regression_issue_16_build_metadata_managed_by_and_refusals() {
    let res = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n";
    let case = |opts: &str| {
        Tree::new(&[
            ("app/res.yaml", res),
            (
                "app/kustomization.yaml",
                &format!("resources: [res.yaml]\nbuildMetadata: [{opts}]\n"),
            ),
        ])
    };
    assert_yaml(
        &case("managedByLabel").render("app"),
        &format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  labels:\n    app.kubernetes.io/managed-by: gantry-v{}\n  name: c\n",
            env!("CARGO_PKG_VERSION")
        ),
    );
    assert!(
        case("everything")
            .error("app")
            .contains("buildMetadata: unknown option \"everything\"")
    );
}

/// Resources annotated `config.kubernetes.io/local-config` (anything but "false") feed the
/// build — here a replacement — and are not output; gantry output them.
#[test]
fn regression_issue_16_local_config_is_not_output() {
    let t = Tree::new(&[
        (
            "app/local.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: local\n  annotations:\n    config.kubernetes.io/local-config: \"true\"\ndata: {a: b}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kept\n  annotations:\n    config.kubernetes.io/local-config: \"false\"\n",
        ),
        (
            "app/kustomization.yaml",
            "resources: [local.yaml]\nreplacements:\n- source: {kind: ConfigMap, name: local, fieldPath: data.a}\n  targets:\n  - select: {name: kept}\n    fieldPaths: [data.x]\n    options: {create: true}\n",
        ),
    ]);
    assert_yaml(
        &t.render("app"),
        r#"
apiVersion: v1
data:
  x: b
kind: ConfigMap
metadata:
  annotations:
    config.kubernetes.io/local-config: "false"
  name: kept
"#,
    );
}

const CRD_DEFS: &str = r#"{
  "example.com/api/v1.Widget": {
    "Schema": {
      "properties": {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"$ref": "meta.ObjectMeta"},
        "spec": {"$ref": "example.com/api/v1.WidgetSpec"}
      }
    }
  },
  "example.com/api/v1.WidgetSpec": {
    "Schema": {
      "properties": {
        "credentials": {
          "x-kubernetes-object-ref-api-version": "v1",
          "x-kubernetes-object-ref-kind": "Secret",
          "type": "object"
        },
        "settings": {
          "x-kubernetes-object-ref-api-version": "v1",
          "x-kubernetes-object-ref-kind": "ConfigMap",
          "x-kubernetes-object-ref-name-key": "configName"
        },
        "podSelector": {"x-kubernetes-label-selector": ""},
        "notes": {"x-kubernetes-annotation": ""}
      }
    }
  }
}
"#;

const CRD_RESOURCES: &str = r"apiVersion: example.com/v1
kind: Widget
metadata: {name: w}
spec:
  credentials: {name: creds}
  settings: {configName: cfg}
  podSelector: {}
  notes: {}
---
apiVersion: v1
kind: Secret
metadata: {name: creds}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
";

/// `crds:` Open API definitions: a custom kind's `x-kubernetes-object-ref-kind` properties
/// follow renamed Secrets and ConfigMaps (with a custom name key), its
/// `x-kubernetes-label-selector` and `x-kubernetes-annotation` properties get the common
/// labels and annotations.
#[test]
fn regression_issue_16_crds_openapi_definitions() {
    let t = Tree::new(&[
        ("app/defs.json", CRD_DEFS),
        ("app/res.yaml", CRD_RESOURCES),
        (
            "app/kustomization.yaml",
            "crds: [defs.json]\nresources: [res.yaml]\nnamePrefix: x-\ncommonLabels: {app: w}\ncommonAnnotations: {team: a}\n",
        ),
    ]);
    assert_yaml(
        &t.render("app"),
        r"
apiVersion: v1
kind: ConfigMap
metadata:
  annotations:
    team: a
  labels:
    app: w
  name: x-cfg
---
apiVersion: v1
kind: Secret
metadata:
  annotations:
    team: a
  labels:
    app: w
  name: x-creds
---
apiVersion: example.com/v1
kind: Widget
metadata:
  annotations:
    team: a
  labels:
    app: w
  name: x-w
spec:
  credentials:
    name: x-creds
  notes:
    team: a
  podSelector:
    app: w
  settings:
    configName: x-cfg
",
    );
}

const OPENAPI_SCHEMA: &str = r##"{
  "definitions": {
    "v1alpha1.MyApp": {
      "properties": {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
        "spec": {
          "properties": {
            "workers": {
              "items": {"$ref": "#/definitions/v1alpha1.Worker"},
              "type": "array",
              "x-kubernetes-patch-merge-key": "name",
              "x-kubernetes-patch-strategy": "merge"
            }
          },
          "type": "object"
        }
      },
      "type": "object",
      "x-kubernetes-group-version-kind": [{"group": "example.com", "kind": "MyApp", "version": "v1alpha1"}]
    },
    "v1alpha1.Worker": {
      "properties": {"name": {"type": "string"}, "size": {"type": "integer"}},
      "type": "object"
    }
  }
}
"##;

const OPENAPI_RESOURCES: &str = r"apiVersion: example.com/v1alpha1
kind: MyApp
metadata: {name: app}
spec:
  workers:
  - {name: a, size: 1}
  - {name: b, size: 1}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  template:
    spec:
      containers:
      - {name: a, image: x}
      - {name: b, image: y}
";

const OPENAPI_PATCH: &str = r"apiVersion: example.com/v1alpha1
kind: MyApp
metadata: {name: app}
spec:
  workers:
  - {name: b, size: 5}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  template:
    spec:
      containers:
      - {name: b, image: z}
";

/// `openapi: {path: …}`: a custom kind's list merges by the key its schema declares. As in
/// kustomize, the custom schema replaces the built-in one, so a `Deployment` it does not
/// define has its containers replaced by the patch's. Only `v1.21.2` is a built-in version.
#[test]
fn regression_issue_16_openapi_custom_schema() {
    let t = Tree::new(&[
        ("app/schema.json", OPENAPI_SCHEMA),
        ("app/res.yaml", OPENAPI_RESOURCES),
        ("app/patch.yaml", OPENAPI_PATCH),
        (
            "app/kustomization.yaml",
            "resources: [res.yaml]\nopenapi:\n  path: schema.json\npatchesStrategicMerge: [patch.yaml]\n",
        ),
        ("v/res.yaml", OPENAPI_RESOURCES),
        (
            "v/kustomization.yaml",
            "resources: [res.yaml]\nopenapi:\n  version: v1.30.0\n",
        ),
    ]);
    assert_yaml(
        &t.render("app"),
        r"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: d
spec:
  template:
    spec:
      containers:
      - image: z
        name: b
---
apiVersion: example.com/v1alpha1
kind: MyApp
metadata:
  name: app
spec:
  workers:
  - name: b
    size: 5
  - name: a
    size: 1
",
    );
    let e = t.error("v");
    assert!(
        e.contains(
            "openapi: the specified OpenAPI version \"v1.30.0\" is not built in (only v1.21.2)"
        ),
        "{e}"
    );
}

const P2_RESOURCES: &str = r"apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  template:
    spec:
      containers:
      - name: a
        image: nginx
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  ports: [{port: 80}]
";

const P2_TRANSFORMERS: &str = r#"apiVersion: builtin
kind: PrefixSuffixTransformer
metadata: {name: ps}
prefix: pre-
suffix: -suf
fieldSpecs:
- path: metadata/name
---
apiVersion: builtin
kind: NamespaceTransformer
metadata: {name: ns, namespace: team}
fieldSpecs:
- path: metadata/namespace
  create: true
---
apiVersion: builtin
kind: ReplicaCountTransformer
metadata: {name: rc}
replica: {name: web, count: 3}
fieldSpecs:
- path: spec/replicas
  kind: Deployment
  create: true
---
apiVersion: builtin
kind: PatchJson6902Transformer
metadata: {name: j}
target: {kind: Service, name: pre-web-suf}
jsonOp: '[{"op": "replace", "path": "/spec/ports/0/port", "value": 8080}]'
---
apiVersion: builtin
kind: PatchStrategicMergeTransformer
metadata: {name: s}
patches: |-
  apiVersion: apps/v1
  kind: Deployment
  metadata: {name: pre-web-suf, namespace: team}
  spec:
    template:
      spec:
        containers:
        - name: a
          env: [{name: X, value: "1"}]
---
apiVersion: builtin
kind: ReplacementTransformer
metadata: {name: r}
replacements:
- source: {kind: Service, fieldPath: spec.ports.0.port}
  targets:
  - select: {kind: Deployment}
    fieldPaths: ['spec.template.spec.containers.[name=a].env.[name=X].value']
"#;

const P2_GENERATOR: &str = r"apiVersion: builtin
kind: SecretGenerator
metadata: {name: creds}
literals: [password=s3cret]
type: Opaque
";

/// The other built-in configs: `PrefixSuffixTransformer`, `NamespaceTransformer`,
/// `ReplicaCountTransformer`, `PatchJson6902Transformer`, `PatchStrategicMergeTransformer`
/// (inline), `ReplacementTransformer`, a `SecretGenerator`; and a `HashTransformer`, after
/// which the final pass hashes again, as kustomize does.
#[test]
fn regression_issue_16_more_builtin_transformers() {
    let t = Tree::new(&[
        ("app/res.yaml", P2_RESOURCES),
        ("app/t.yaml", P2_TRANSFORMERS),
        ("app/g.yaml", P2_GENERATOR),
        (
            "app/kustomization.yaml",
            "resources: [res.yaml]\ngenerators: [g.yaml]\ntransformers: [t.yaml]\n",
        ),
        (
            "hash/kustomization.yaml",
            "configMapGenerator:\n- name: c\n  literals: [a=b]\ntransformers:\n- |-\n  apiVersion: builtin\n  kind: HashTransformer\n  metadata: {name: h}\n- |-\n  apiVersion: builtin\n  kind: PrefixSuffixTransformer\n  metadata: {name: p}\n  prefix: x-\n  fieldSpecs: [{path: metadata/name}]\n",
        ),
    ]);
    assert_yaml(
        &t.render("app"),
        r#"
apiVersion: v1
data:
  password: czNjcmV0
kind: Secret
metadata:
  name: pre-creds-suf-bf5fk5d75b
  namespace: team
type: Opaque
---
apiVersion: v1
kind: Service
metadata:
  name: pre-web-suf
  namespace: team
spec:
  ports:
  - port: 8080
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: pre-web-suf
  namespace: team
spec:
  replicas: 3
  template:
    spec:
      containers:
      - env:
        - name: X
          value: "8080"
        image: nginx
        name: a
"#,
    );
    assert_yaml(
        &t.render("hash"),
        r"
apiVersion: v1
data:
  a: b
kind: ConfigMap
metadata:
  name: x-c-4h2mbtbbt6-4h2mbtbbt6
",
    );
}

/// `buildMetadata: [transformerAnnotations, originAnnotations]`: each resource lists the
/// transformers that ran over it, base first, one entry per `patches`/`images` entry, as
/// kustomize records them; a generator merged into keeps the base's record.
#[test]
fn regression_issue_16_build_metadata_transformer_annotations() {
    let t = Tree::new(&[
        (
            "base/res.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
        ),
        (
            "base/kustomization.yaml",
            "resources: [res.yaml]\nnamespace: ns\nconfigMapGenerator:\n- name: g\n  literals: [a=b]\n",
        ),
        (
            "ov/svc.yaml",
            "apiVersion: v1\nkind: Service\nmetadata: {name: svc}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: svc2}\n",
        ),
        (
            "ov/kustomization.yaml",
            "resources: [../base, svc.yaml]\nnamePrefix: p-\ncommonLabels: {a: b}\nbuildMetadata: [transformerAnnotations, originAnnotations]\nimages: [{name: x, newTag: \"1\"}]\nconfigMapGenerator:\n- name: g\n  behavior: merge\n  literals: [c=d]\npatches:\n- patch: |-\n    apiVersion: v1\n    kind: Service\n    metadata: {name: svc}\n    spec: {type: NodePort}\n",
        ),
    ]);
    assert_yaml(&t.render("ov"), TRANSFORMATIONS_EXPECTED);
}

/// Built-in configs in `transformers:` are recorded with their name and namespace, and
/// inline ones run (and are recorded) before those in files, as in kustomize.
#[test]
fn regression_issue_16_inline_transformers_run_first() {
    let t = Tree::new(&[
        (
            "app/res.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
        ),
        (
            "app/t.yaml",
            "apiVersion: builtin\nkind: LabelTransformer\nmetadata: {name: lt}\nlabels: {a: b}\nfieldSpecs: [{path: metadata/labels, create: true}]\n",
        ),
        (
            "app/kustomization.yaml",
            "resources: [res.yaml]\ntransformers:\n- t.yaml\n- |-\n  apiVersion: builtin\n  kind: AnnotationsTransformer\n  metadata: {name: at, namespace: x}\n  annotations: {k: v}\n  fieldSpecs: [{path: metadata/annotations, create: true}]\nbuildMetadata: [transformerAnnotations]\nconfigMapGenerator:\n- name: g\n  literals: [a=b]\ncommonLabels: {x: z}\nimages: [{name: a, newTag: \"1\"}, {name: b, newTag: \"2\"}]\n",
        ),
    ]);
    assert_yaml(&t.render("app"), INLINE_FIRST_EXPECTED);
}

const TRANSFORMATIONS_EXPECTED: &str = r"
apiVersion: v1
kind: ConfigMap
metadata:
  annotations:
    alpha.config.kubernetes.io/transformations: |
      - configuredIn: ../base/kustomization.yaml
        configuredBy:
          apiVersion: builtin
          kind: NamespaceTransformer
      - configuredIn: kustomization.yaml
        configuredBy:
          apiVersion: builtin
          kind: PatchTransformer
      - configuredIn: kustomization.yaml
        configuredBy:
          apiVersion: builtin
          kind: PrefixTransformer
      - configuredIn: kustomization.yaml
        configuredBy:
          apiVersion: builtin
          kind: LabelTransformer
      - configuredIn: kustomization.yaml
        configuredBy:
          apiVersion: builtin
          kind: ImageTagTransformer
    config.kubernetes.io/origin: |
      path: ../base/res.yaml
  labels:
    a: b
  name: p-c
  namespace: ns
---
apiVersion: v1
data:
  a: b
  c: d
kind: ConfigMap
metadata:
  annotations:
    alpha.config.kubernetes.io/transformations: |
      - configuredIn: ../base/kustomization.yaml
        configuredBy:
          apiVersion: builtin
          kind: NamespaceTransformer
      - configuredIn: kustomization.yaml
        configuredBy:
          apiVersion: builtin
          kind: PatchTransformer
      - configuredIn: kustomization.yaml
        configuredBy:
          apiVersion: builtin
          kind: PrefixTransformer
      - configuredIn: kustomization.yaml
        configuredBy:
          apiVersion: builtin
          kind: LabelTransformer
      - configuredIn: kustomization.yaml
        configuredBy:
          apiVersion: builtin
          kind: ImageTagTransformer
    config.kubernetes.io/origin: |
      configuredIn: ../base/kustomization.yaml
      configuredBy:
        apiVersion: builtin
        kind: ConfigMapGenerator
  labels:
    a: b
  name: p-g-fh478f99mk
  namespace: ns
---
apiVersion: v1
kind: Service
metadata:
  annotations:
    alpha.config.kubernetes.io/transformations: |
      - configuredIn: kustomization.yaml
        configuredBy:
          apiVersion: builtin
          kind: PatchTransformer
      - configuredIn: kustomization.yaml
        configuredBy:
          apiVersion: builtin
          kind: PrefixTransformer
      - configuredIn: kustomization.yaml
        configuredBy:
          apiVersion: builtin
          kind: LabelTransformer
      - configuredIn: kustomization.yaml
        configuredBy:
          apiVersion: builtin
          kind: ImageTagTransformer
    config.kubernetes.io/origin: |
      path: svc.yaml
  labels:
    a: b
  name: p-svc
spec:
  selector:
    a: b
  type: NodePort
---
apiVersion: v1
kind: Service
metadata:
  annotations:
    alpha.config.kubernetes.io/transformations: |
      - configuredIn: kustomization.yaml
        configuredBy:
          apiVersion: builtin
          kind: PatchTransformer
      - configuredIn: kustomization.yaml
        configuredBy:
          apiVersion: builtin
          kind: PrefixTransformer
      - configuredIn: kustomization.yaml
        configuredBy:
          apiVersion: builtin
          kind: LabelTransformer
      - configuredIn: kustomization.yaml
        configuredBy:
          apiVersion: builtin
          kind: ImageTagTransformer
    config.kubernetes.io/origin: |
      path: svc.yaml
  labels:
    a: b
  name: p-svc2
spec:
  selector:
    a: b
";

const INLINE_FIRST_EXPECTED: &str = r"
apiVersion: v1
kind: ConfigMap
metadata:
  annotations:
    alpha.config.kubernetes.io/transformations: |
      - configuredIn: kustomization.yaml
        configuredBy:
          apiVersion: builtin
          kind: LabelTransformer
      - configuredIn: kustomization.yaml
        configuredBy:
          apiVersion: builtin
          kind: ImageTagTransformer
      - configuredIn: kustomization.yaml
        configuredBy:
          apiVersion: builtin
          kind: ImageTagTransformer
      - configuredIn: kustomization.yaml
        configuredBy:
          apiVersion: builtin
          kind: AnnotationsTransformer
          name: at
          namespace: x
      - configuredIn: t.yaml
        configuredBy:
          apiVersion: builtin
          kind: LabelTransformer
          name: lt
    k: v
  labels:
    a: b
    x: z
  name: c
---
apiVersion: v1
data:
  a: b
kind: ConfigMap
metadata:
  annotations:
    alpha.config.kubernetes.io/transformations: |
      - configuredIn: kustomization.yaml
        configuredBy:
          apiVersion: builtin
          kind: LabelTransformer
      - configuredIn: kustomization.yaml
        configuredBy:
          apiVersion: builtin
          kind: ImageTagTransformer
      - configuredIn: kustomization.yaml
        configuredBy:
          apiVersion: builtin
          kind: ImageTagTransformer
      - configuredIn: kustomization.yaml
        configuredBy:
          apiVersion: builtin
          kind: AnnotationsTransformer
          name: at
          namespace: x
      - configuredIn: t.yaml
        configuredBy:
          apiVersion: builtin
          kind: LabelTransformer
          name: lt
    k: v
  labels:
    a: b
    x: z
  name: g-4h2mbtbbt6
";
