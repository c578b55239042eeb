//! Issue 16, "refused where kustomize renders": the kustomization fields real overlays use.
//! Each expected output is kubectl's (kustomize v5), written by hand.

use crate::render::{Tree, assert_yaml};

const WEBHOOK: &str = "apiVersion: v1
kind: Service
metadata: {name: webhook-service, namespace: system}
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: serving-cert, namespace: system}
spec:
  dnsNames:
  - SERVICE_NAME.SERVICE_NAMESPACE.svc
  - SERVICE_NAME.SERVICE_NAMESPACE.svc.cluster.local
  secretName: webhook-server-cert
";

/// kubebuilder's default config: leading-dot paths, a delimiter, an index and `create`.
#[test]
fn regression_issue_16_replacements_kubebuilder_certificate() {
    let t = Tree::new(&[
        ("app/res.yaml", WEBHOOK),
        (
            "app/kustomization.yaml",
            "resources: [res.yaml]
replacements:
- source: {kind: Service, version: v1, name: webhook-service, fieldPath: .metadata.name}
  targets:
  - select: {kind: Certificate, group: cert-manager.io, version: v1}
    fieldPaths: [.spec.dnsNames.0, .spec.commonName]
    options: {delimiter: '.', index: 0, create: true}
- source: {kind: Service, version: v1, name: webhook-service, fieldPath: .metadata.namespace}
  targets:
  - select: {kind: Certificate, group: cert-manager.io, version: v1}
    fieldPaths: [.spec.dnsNames.0, .spec.commonName]
    options: {delimiter: '.', index: 1, create: true}
",
        ),
    ]);
    assert_yaml(
        &t.render("app"),
        r"
apiVersion: v1
kind: Service
metadata:
  name: webhook-service
  namespace: system
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata:
  name: serving-cert
  namespace: system
spec:
  commonName: webhook-service.system
  dnsNames:
  - webhook-service.system.svc
  - SERVICE_NAME.SERVICE_NAMESPACE.svc.cluster.local
  secretName: webhook-server-cert
",
    );
}

const APP: &str = "apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data: {port: \"8080\", host: a.b.c}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  annotations: {a.b/c: x}
spec:
  replicas: 1
  strategy: {type: Recreate}
  template:
    spec:
      containers:
      - name: web
        image: nginx
        ports: [{containerPort: 80}]
        env: [{name: PORT, value: \"1\"}]
      - name: web-2
        image: nginx
---
apiVersion: v1
kind: Service
metadata: {name: web}
";

/// `[name=web]` is kyaml's unanchored match (it also hits `web-2`); a scalar target keeps its
/// type; a created field is typed as plain YAML; a map source replaces a map target; `reject`
/// and a replacement file (`path:`) holding a list.
#[test]
fn regression_issue_16_replacements_types_select_reject_and_files() {
    let t = Tree::new(&[
        ("app/res.yaml", APP),
        (
            "app/more.yaml",
            "- source: {kind: Deployment, fieldPath: spec.strategy}
  targets:
  - select: {kind: ConfigMap}
    fieldPaths: [data.strategy]
    options: {create: true}
",
        ),
        (
            "app/kustomization.yaml",
            "resources: [res.yaml]
replacements:
- source: {kind: ConfigMap, name: cfg, fieldPath: data.port}
  targets:
  - select: {kind: Deployment}
    fieldPaths:
    - spec.template.spec.containers.[name=web].env.[name=PORT].value
    - spec.replicas
    - metadata.annotations.[a.b/c]
  - select: {name: web}
    reject: [{kind: Service}]
    fieldPaths: [metadata.labels.port]
    options: {create: true}
- source: {kind: ConfigMap, fieldPath: data.host, options: {delimiter: '.', index: 1}}
  targets:
  - select: {kind: Deployment}
    fieldPaths: ['spec.template.spec.containers.[name=web].image']
    options: {delimiter: ':', index: 1}
- path: more.yaml
",
        ),
    ]);
    assert_yaml(
        &t.render("app"),
        r#"
apiVersion: v1
data:
  host: a.b.c
  port: "8080"
  strategy:
    type: Recreate
kind: ConfigMap
metadata:
  name: cfg
---
apiVersion: v1
kind: Service
metadata:
  name: web
---
apiVersion: apps/v1
kind: Deployment
metadata:
  annotations:
    a.b/c: "8080"
  labels:
    port: 8080
  name: web
spec:
  replicas: 8080
  strategy:
    type: Recreate
  template:
    spec:
      containers:
      - env:
        - name: PORT
          value: "8080"
        image: nginx:b
        name: web
        ports:
        - containerPort: 80
      - image: nginx:b
        name: web-2
"#,
    );
}

/// kustomize v5 refuses a target field that does not exist (without `create`), a source that
/// selects nothing or more than one resource, a missing source field, and a file entry that is
/// also inline.
#[test]
fn regression_issue_16_replacements_refuse_what_kustomize_refuses() {
    let case = |replacement: &str| {
        let t = Tree::new(&[
            ("app/res.yaml", APP),
            (
                "app/kustomization.yaml",
                &format!("resources: [res.yaml]\nreplacements:\n{replacement}"),
            ),
        ]);
        t.error("app")
    };
    let e = case(
        "- source: {kind: ConfigMap, fieldPath: data.port}\n  targets:\n  - select: {kind: Service}\n    fieldPaths: [spec.port]\n",
    );
    assert!(
        e.contains("kustomization.yaml:3:3: replacements: unable to find field \"spec.port\" in replacement target v1, Kind=Service, Name=web"),
        "{e}"
    );
    let e = case("- source: {kind: Secret}\n  targets:\n  - select: {kind: Service}\n");
    assert!(
        e.contains("nothing selected by source {kind=Secret}"),
        "{e}"
    );
    let e = case("- source: {name: web}\n  targets:\n  - select: {kind: Service}\n");
    assert!(e.contains("multiple matches for source {name=web}"), "{e}");
    let e = case(
        "- source: {kind: ConfigMap, fieldPath: data.nope}\n  targets:\n  - select: {kind: Service}\n",
    );
    assert!(e.contains("fieldPath `data.nope` is missing"), "{e}");
    let e = case("- path: more.yaml\n  source: {kind: ConfigMap}\n");
    assert!(
        e.contains("cannot specify both path and inline replacement"),
        "{e}"
    );
}

const P1_KUSTOMIZATION: &str = r#"resources: [res.yaml]
namePrefix: p-
commonLabels: {app: web}
labels:
- pairs: {team: a}
  fields:
  - kind: MyApp
    path: spec/podLabels
    create: true
images:
- name: nginx
  newTag: "1.25"
replicas:
- name: app
  count: 4
configurations: [config.yaml]
transformers:
- transformers.yaml
- |-
  apiVersion: builtin
  kind: AnnotationsTransformer
  metadata: {name: notes}
  annotations: {owner: ops, port: 8080}
  fieldSpecs:
  - path: metadata/annotations
    create: true
generators: [gen.yaml]
"#;

const P1_CONFIG: &str = r"images:
- kind: MyApp
  path: spec/image
commonLabels:
- kind: MyApp
  path: spec/selector
  create: true
nameReference:
- kind: ConfigMap
  version: v1
  fieldSpecs:
  - kind: MyApp
    path: spec/configRef
replicas:
- kind: MyApp
  path: spec/size
  create: true
";

const P1_TRANSFORMERS: &str = r#"apiVersion: builtin
kind: LabelTransformer
metadata: {name: x}
labels: {tier: backend}
fieldSpecs:
- path: metadata/labels
  create: true
---
apiVersion: builtin
kind: PatchTransformer
metadata: {name: y}
patch: '[{"op": "add", "path": "/spec/extra", "value": 1}]'
target: {kind: MyApp}
---
apiVersion: builtin
kind: ImageTagTransformer
metadata: {name: z}
imageTag: {name: busybox, newName: alpine}
fieldSpecs:
- path: spec/template/spec/containers/image
"#;

const P1_GEN: &str = r"apiVersion: builtin
kind: ConfigMapGenerator
metadata: {name: gen, namespace: ns1}
literals: [a=b]
";

const P1_RES: &str = r#"apiVersion: example.com/v1
kind: MyApp
metadata: {name: app}
spec:
  image: nginx
  configRef: cfg
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data: {x: "1"}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  template:
    spec:
      containers:
      - name: a
        image: busybox
"#;

const P1_EXPECTED: &str = r#"
apiVersion: v1
data:
  a: b
kind: ConfigMap
metadata:
  annotations:
    owner: ops
    port: "8080"
  labels:
    app: web
    team: a
    tier: backend
  name: p-gen-4h2mbtbbt6
  namespace: ns1
---
apiVersion: v1
data:
  x: "1"
kind: ConfigMap
metadata:
  annotations:
    owner: ops
    port: "8080"
  labels:
    app: web
    team: a
    tier: backend
  name: p-cfg
---
apiVersion: apps/v1
kind: Deployment
metadata:
  annotations:
    owner: ops
    port: "8080"
  labels:
    app: web
    team: a
    tier: backend
  name: p-web
spec:
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - image: alpine
        name: a
---
apiVersion: example.com/v1
kind: MyApp
metadata:
  annotations:
    owner: ops
    port: "8080"
  labels:
    app: web
    team: a
    tier: backend
  name: p-app
spec:
  configRef: p-cfg
  extra: 1
  image: nginx:1.25
  podLabels:
    team: a
  selector:
    app: web
  size: 4
"#;

/// `transformers:` (a file of built-in configs and an inline one), `generators:`,
/// `configurations:` (a custom resource's image, selector, replica count and ConfigMap
/// reference) and `labels[].fields`, together with the kustomization's own fields.
#[test]
fn regression_issue_16_builtin_transformers_generators_and_configurations() {
    let t = Tree::new(&[
        ("app/kustomization.yaml", P1_KUSTOMIZATION),
        ("app/config.yaml", P1_CONFIG),
        ("app/transformers.yaml", P1_TRANSFORMERS),
        ("app/gen.yaml", P1_GEN),
        ("app/res.yaml", P1_RES),
    ]);
    assert_yaml(&t.render("app"), P1_EXPECTED);
}

const FOUR: &str = "apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
---
apiVersion: v1
kind: Service
metadata: {name: web}
---
apiVersion: v1
kind: Namespace
metadata: {name: ns}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
";

fn kinds(yaml: &str) -> Vec<&str> {
    yaml.lines()
        .filter_map(|l| l.strip_prefix("kind: "))
        .collect()
}

/// `sortOptions` of the top kustomization win over the default legacy order: `fifo` keeps
/// input order; `legacy` takes custom `orderFirst`/`orderLast`; kustomize's checks hold.
#[test]
fn regression_issue_16_sort_options() {
    let case = |opts: &str| {
        Tree::new(&[
            ("app/res.yaml", FOUR),
            (
                "app/kustomization.yaml",
                &format!("resources: [res.yaml]\nsortOptions:\n{opts}"),
            ),
        ])
    };
    let t = case("  order: fifo\n");
    assert_eq!(
        kinds(&t.render("app")),
        ["Deployment", "Service", "Namespace", "ConfigMap"]
    );
    let t = case(
        "  order: legacy\n  legacySortOptions:\n    orderFirst: [Service]\n    orderLast: [Namespace]\n",
    );
    assert_eq!(
        kinds(&t.render("app")),
        ["Service", "Deployment", "ConfigMap", "Namespace"]
    );
    let t = case("  order: legacy\n");
    assert_eq!(
        kinds(&t.render("app")),
        ["Namespace", "ConfigMap", "Service", "Deployment"]
    );
    let t = case("  order: fifo\n  legacySortOptions: {orderFirst: [a], orderLast: []}\n");
    assert!(
        t.error("app").contains(
            "'sortOptions.legacySortOptions' is set but the selected sort order is 'fifo'"
        )
    );
    let t = case("  order: random\n");
    assert!(
        t.error("app")
            .contains("'sortOptions.order' must be one of [fifo, legacy]")
    );
}

/// A transformer that is not one of kustomize's built-ins (an exec KRM function) is refused
/// by name, never run and never skipped.
#[test]
fn regression_issue_16_external_transformers_are_refused() {
    let t = Tree::new(&[
        ("app/res.yaml", FOUR),
        (
            "app/fn.yaml",
            "apiVersion: example.com/v1\nkind: SetTeam\nmetadata:\n  name: x\n  annotations:\n    config.kubernetes.io/function: |\n      exec: {path: ./team.sh}\n",
        ),
        (
            "app/kustomization.yaml",
            "resources: [res.yaml]\ntransformers: [fn.yaml]\n",
        ),
    ]);
    let e = t.error("app");
    assert!(
        e.contains("kustomization.yaml:2:16: transformers: apiVersion \"example.com/v1\", kind \"SetTeam\" is not one of kustomize's built-in transformers"),
        "{e}"
    );
}

/// The lowercase field names kustomize's case-insensitive decoding accepts, and the
/// deprecated `imageTags` (appended to `images`).
#[test]
fn regression_issue_16_lowercase_legacy_field_names() {
    let t = Tree::new(&[
        (
            "app/res.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  template:\n    spec:\n      containers: [{name: a, image: nginx}]\n",
        ),
        (
            "app/kustomization.yaml",
            "resources: [res.yaml]\nnameprefix: p-\ncommonlabels: {a: b}\nimageTags:\n- name: nginx\n  newtag: \"2\"\ncommonannotations: {x: yes-please}\nconfigmapgenerator:\n- name: g\n  literals: [k=v]\ngeneratoroptions: {disablenamesuffixhash: true}\n",
        ),
    ]);
    assert_yaml(
        &t.render("app"),
        r"
apiVersion: v1
kind: ConfigMap
metadata:
  annotations:
    x: yes-please
  labels:
    a: b
  name: p-c
---
apiVersion: v1
data:
  k: v
kind: ConfigMap
metadata:
  annotations:
    x: yes-please
  labels:
    a: b
  name: p-g
---
apiVersion: apps/v1
kind: Deployment
metadata:
  annotations:
    x: yes-please
  labels:
    a: b
  name: p-d
spec:
  selector:
    matchLabels:
      a: b
  template:
    metadata:
      annotations:
        x: yes-please
      labels:
        a: b
    spec:
      containers:
      - image: nginx:2
        name: a
",
    );
}

/// kustomize decodes label and annotation maps and `newTag` as strings and refuses a number
/// or boolean ("cannot unmarshal number into … of type string"); gantry refused nothing and
/// wrote `on: y` as `"true"`.
#[test]
fn regression_issue_16_unquoted_numbers_and_booleans_in_string_fields_are_refused() {
    let case = |k: &str| {
        Tree::new(&[("app/res.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  template:\n    spec:\n      containers: [{name: a, image: nginx}]\n"), ("app/kustomization.yaml", k)]).error("app")
    };
    let e = case("resources: [res.yaml]\nimages:\n- name: nginx\n  newTag: 1.25\n");
    assert!(e.contains("kustomization.yaml:4:11: images[0].newTag: must be a string, found the number 1.25; quote it"), "{e}");
    let e = case("resources: [res.yaml]\ncommonLabels:\n  port: 8080\n");
    assert!(
        e.contains("value of \"port\" must be a string, found the number 8080"),
        "{e}"
    );
}

fn base(prefix_or_ns: &str, data: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cfg}}\ndata: {{x: {data}}}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web}}\nspec:\n  template:\n    spec:\n      containers:\n      - name: c\n        image: nginx\n        envFrom: [{{configMapRef: {{name: cfg}}}}]\n# {prefix_or_ns}\n"
    )
}

/// The same names reused under different prefixes in two bases: kustomize resolves each
/// reference to the ConfigMap whose prefixes are the referrer's; gantry called it ambiguous.
#[test]
fn regression_issue_16_name_references_across_prefixed_bases() {
    let t = Tree::new(&[
        ("a/res.yaml", &base("a", "a")),
        (
            "a/kustomization.yaml",
            "resources: [res.yaml]\nnamePrefix: a-\n",
        ),
        ("b/res.yaml", &base("b", "b")),
        (
            "b/kustomization.yaml",
            "resources: [res.yaml]\nnamePrefix: b-\n",
        ),
        (
            "top/kustomization.yaml",
            "resources: [../a, ../b]\nnamePrefix: top-\n",
        ),
    ]);
    let out = t.render("top");
    for x in ["a", "b"] {
        let web = out
            .split("---\n")
            .find(|d| d.contains(&format!("name: top-{x}-web")))
            .expect("web");
        assert!(
            web.contains(&format!("configMapRef:\n            name: top-{x}-cfg\n")),
            "{out}"
        );
    }
}

/// kustomize refuses a `ClusterRoleBinding` subject that could be either of two renamed
/// service accounts (same name, different namespaces), and a `RoleBinding` service-account
/// subject whose namespace is left blank.
#[test]
fn regression_issue_16_ambiguous_service_account_and_blank_subject_namespace_are_refused() {
    let sa = "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: sa}\n";
    let t = Tree::new(&[
        ("a/res.yaml", sa),
        (
            "a/kustomization.yaml",
            "resources: [res.yaml]\nnamespace: ns-a\n",
        ),
        ("b/res.yaml", sa),
        (
            "b/kustomization.yaml",
            "resources: [res.yaml]\nnamespace: ns-b\n",
        ),
        (
            "top/crb.yaml",
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: crb}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}\nsubjects:\n- kind: ServiceAccount\n  name: sa\n",
        ),
        (
            "top/kustomization.yaml",
            "resources: [../a, ../b, crb.yaml]\nnamePrefix: p-\n",
        ),
        (
            "blank/rb.yaml",
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: rb}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: r}\nsubjects:\n- kind: ServiceAccount\n  name: sa\n  namespace:\n",
        ),
        ("blank/kustomization.yaml", "resources: [rb.yaml]\n"),
    ]);
    let e = t.error("top");
    assert!(
        e.contains(
            "reference to ServiceAccount \"sa\" is ambiguous: it could mean ns-a/p-sa, ns-b/p-sa"
        ),
        "{e}"
    );
    let e = t.error("blank");
    assert!(
        e.contains("rb.yaml: RoleBinding \"rb\": subjects[0].namespace is blank"),
        "{e}"
    );
}

/// Duplicate keys in a resource: kustomize v5 keeps the last; gantry refused the file.
#[test]
fn regression_issue_16_duplicate_keys_keep_the_last() {
    let t = Tree::new(&[
        (
            "app/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  a: first\n  b: x\n  a: last\n",
        ),
        ("app/kustomization.yaml", "resources: [cm.yaml]\n"),
    ]);
    assert_yaml(
        &t.render("app"),
        "
apiVersion: v1
data:
  a: last
  b: x
kind: ConfigMap
metadata:
  name: cm
",
    );
}

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
/// gantry (kustomize writes its own version); `transformerAnnotations` and unknown options
/// are refused, not ignored.
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
        case("transformerAnnotations")
            .error("app")
            .contains("buildMetadata: transformerAnnotations is not supported")
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
