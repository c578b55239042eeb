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
