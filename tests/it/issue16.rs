//! Issue 16: render = `kustomize build`. One test per item, each with kubectl's (kustomize
//! v5.5.0) output written by hand; each failed before the fix.

use crate::render::{Tree, assert_yaml};

/// `commonLabels` on a `StatefulSet` without `volumeClaimTemplates` created the field as a map
/// (which the API server rejects); kustomize never creates a missing list.
#[test]
fn regression_issue_16_labels_never_create_volume_claim_templates() {
    let t = Tree::new(&[
        (
            "app/sts.yaml",
            "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: db\nspec:\n  serviceName: db\n  template:\n    spec:\n      containers:\n      - name: db\n        image: postgres\n",
        ),
        (
            "app/cache.yaml",
            "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: cache\nspec:\n  serviceName: cache\n  template:\n    spec:\n      containers:\n      - name: c\n        image: redis\n  volumeClaimTemplates:\n  - metadata:\n      name: data\n    spec:\n      accessModes: [ReadWriteOnce]\n",
        ),
        (
            "app/kustomization.yaml",
            "resources: [sts.yaml, cache.yaml]\ncommonLabels:\n  app: db\n",
        ),
    ]);
    assert_yaml(
        &t.render("app"),
        r"
apiVersion: apps/v1
kind: StatefulSet
metadata:
  labels:
    app: db
  name: cache
spec:
  selector:
    matchLabels:
      app: db
  serviceName: cache
  template:
    metadata:
      labels:
        app: db
    spec:
      containers:
      - image: redis
        name: c
  volumeClaimTemplates:
  - metadata:
      labels:
        app: db
      name: data
    spec:
      accessModes:
      - ReadWriteOnce
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  labels:
    app: db
  name: db
spec:
  selector:
    matchLabels:
      app: db
  serviceName: db
  template:
    metadata:
      labels:
        app: db
    spec:
      containers:
      - image: postgres
        name: db
",
    );
}

/// Generated Secret values of 52 bytes or more: kustomize cuts their base64 into lines of 70
/// (a `|` block), which changes the data and the hash suffix.
#[test]
fn regression_issue_16_long_secret_values_are_cut_into_lines_of_70() {
    let t = Tree::new(&[(
        "s/kustomization.yaml",
        "secretGenerator:\n- name: s\n  literals:\n  - token=012345678901234567890123456789012345678901234567890123456789\n  - short=0123\n",
    )]);
    assert_yaml(
        &t.render("s"),
        r"
apiVersion: v1
data:
  short: MDEyMw==
  token: |
    MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMT
    IzNDU2Nzg5
kind: Secret
metadata:
  name: s-ccmfd2gf82
type: Opaque
",
    );
}

/// A patch whose target has no kind, matching a Deployment and a Service, copied its own
/// `apiVersion: apps/v1` onto the Service; the patch takes each target's group and kind.
#[test]
fn regression_issue_16_a_kindless_patch_target_keeps_each_objects_api_version() {
    let t = Tree::new(&[
        (
            "p/r.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n      - name: web\n        image: nginx\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports:\n  - port: 80\n",
        ),
        (
            "p/kustomization.yaml",
            "resources: [r.yaml]\npatches:\n- target: {name: web}\n  patch: |-\n    apiVersion: apps/v1\n    kind: Deployment\n    metadata:\n      name: web\n      annotations:\n        patched: \"yes\"\n",
        ),
    ]);
    assert_yaml(
        &t.render("p"),
        r#"
apiVersion: v1
kind: Service
metadata:
  annotations:
    patched: "yes"
  name: web
spec:
  ports:
  - port: 80
---
apiVersion: apps/v1
kind: Deployment
metadata:
  annotations:
    patched: "yes"
  name: web
spec:
  template:
    spec:
      containers:
      - image: nginx
        name: web
"#,
    );
}

/// `namePrefix` renamed Namespace objects; kustomize leaves them alone.
#[test]
fn regression_issue_16_name_prefix_leaves_namespaces_alone() {
    let t = Tree::new(&[
        (
            "n/r.yaml",
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n",
        ),
        (
            "n/kustomization.yaml",
            "resources: [r.yaml]\nnamePrefix: p-\n",
        ),
    ]);
    assert_yaml(
        &t.render("n"),
        r"
apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: p-c
",
    );
}

/// `namespace:` + `namePrefix` did not reach a `ClusterRoleBinding`'s `ServiceAccount` subject that
/// names no namespace: kustomize renames it and writes the account's namespace.
#[test]
fn regression_issue_16_cluster_role_binding_subjects_follow_their_service_account() {
    let t = Tree::new(&[
        (
            "b/r.yaml",
            "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: app\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: app\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: view\nsubjects:\n- kind: ServiceAccount\n  name: app\n",
        ),
        (
            "b/kustomization.yaml",
            "resources: [r.yaml]\nnamespace: prod\nnamePrefix: p-\n",
        ),
    ]);
    assert_yaml(
        &t.render("b"),
        r"
apiVersion: v1
kind: ServiceAccount
metadata:
  name: p-app
  namespace: prod
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: p-app
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: view
subjects:
- kind: ServiceAccount
  name: p-app
  namespace: prod
",
    );
}

/// kustomize rewrites annotation values as strings (`port: 8080` → `"8080"`, `null` → `""`);
/// labels keep their type.
#[test]
fn regression_issue_16_annotation_values_are_strings() {
    let t = Tree::new(&[
        (
            "a/r.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  labels:\n    n: 1\n  annotations:\n    port: 8080\n    happy: true\n    none: null\n",
        ),
        ("a/kustomization.yaml", "resources: [r.yaml]\n"),
    ]);
    assert_yaml(
        &t.render("a"),
        r#"
apiVersion: v1
kind: ConfigMap
metadata:
  annotations:
    happy: "true"
    none: ""
    port: "8080"
  labels:
    "n": 1
  name: c
"#,
    );
}

/// `behavior: merge` added `annotations: {}` and `labels: {}`, and an empty `annotations:` came
/// out as `annotations: null`; kustomize writes neither.
#[test]
fn regression_issue_16_no_empty_metadata_maps() {
    let t = Tree::new(&[
        (
            "m/r.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  annotations:\ndata:\n  a: b\n",
        ),
        (
            "m/kustomization.yaml",
            "resources: [r.yaml]\nconfigMapGenerator:\n- name: c\n  behavior: merge\n  literals: [x=y]\n",
        ),
        (
            "e/r.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: e\n  annotations:\n  labels:\n",
        ),
        ("e/kustomization.yaml", "resources: [r.yaml]\n"),
    ]);
    assert_yaml(
        &t.render("m"),
        r#"
apiVersion: v1
data:
  a: b
  x: "y"
kind: ConfigMap
metadata:
  name: c
"#,
    );
    assert_yaml(
        &t.render("e"),
        r"
apiVersion: v1
kind: ConfigMap
metadata:
  labels: null
  name: e
",
    );
}

/// Outside a git work tree every `../base` was refused "outside the repo root". kustomize's
/// rule: kustomization directories may be anywhere; files must sit in the directory tree of
/// the kustomization that names them, unless `--load-restrictor LoadRestrictionsNone`.
#[test]
fn regression_issue_16_the_load_restrictor_is_kustomizes() {
    let t = Tree::new(&[
        (
            "base/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n",
        ),
        ("base/kustomization.yaml", "resources: [cm.yaml]\n"),
        (
            "overlay/kustomization.yaml",
            "resources: [../base]\nnamePrefix: o-\n",
        ),
        ("files/kustomization.yaml", "resources: [../base/cm.yaml]\n"),
    ]);
    let dir = |d: &str| t.path().join(d).to_str().expect("utf-8").to_owned();
    let rendered = |args: &[&str]| {
        let out = crate::cli::gantry(args);
        let stderr = crate::cli::text(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        crate::cli::text(&out.stdout)
    };
    assert_eq!(
        rendered(&["render", &dir("overlay")]),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: o-c\n"
    );
    let refused = crate::cli::gantry(&["render", &dir("files")]);
    assert_eq!(refused.status.code(), Some(2));
    let stderr = crate::cli::text(&refused.stderr);
    assert!(
        stderr.starts_with(&format!(
            "error: {}/kustomization.yaml:1:13: resources: \"../base/cm.yaml\" is a file outside this kustomization's directory",
            dir("files")
        )),
        "{stderr}"
    );
    assert_eq!(
        rendered(&[
            "render",
            "--load-restrictor",
            "LoadRestrictionsNone",
            &dir("files"),
        ]),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n"
    );
}

/// Name references: a `ValidatingAdmissionPolicyBinding`'s `spec.policyName` follows its
/// renamed policy; after a patch renames a `ClusterRole`, a `RoleBinding` naming a *Role* of the
/// same name keeps it (the reference is by `roleRef.kind` too).
#[test]
fn regression_issue_16_name_references_follow_the_right_kind() {
    let t = Tree::new(&[
        (
            "v/r.yaml",
            "apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingAdmissionPolicyBinding\nmetadata:\n  name: check-binding\nspec:\n  policyName: check\n  validationActions: [Deny]\n---\napiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingAdmissionPolicy\nmetadata:\n  name: check\nspec:\n  validations:\n  - expression: \"object.spec.replicas <= 5\"\n",
        ),
        (
            "v/kustomization.yaml",
            "resources: [r.yaml]\nnamePrefix: p-\n",
        ),
        (
            "r/r.yaml",
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: reader\nrules: []\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: reader\n  namespace: shop\nrules: []\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: bind\n  namespace: shop\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: Role\n  name: reader\nsubjects: []\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: bind-cluster\n  namespace: shop\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: reader\nsubjects: []\n",
        ),
        (
            "r/kustomization.yaml",
            "resources: [r.yaml]\npatches:\n- target: {kind: ClusterRole, name: reader}\n  patch: |-\n    - op: replace\n      path: /metadata/name\n      value: cluster-reader\n",
        ),
    ]);
    assert_yaml(
        &t.render("v"),
        r"
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: p-check
spec:
  validations:
  - expression: object.spec.replicas <= 5
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: p-check-binding
spec:
  policyName: p-check
  validationActions:
  - Deny
",
    );
    assert_yaml(
        &t.render("r"),
        r"
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: reader
  namespace: shop
rules: []
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: cluster-reader
rules: []
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: bind
  namespace: shop
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: reader
subjects: []
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: bind-cluster
  namespace: shop
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: cluster-reader
subjects: []
",
    );
}

/// A kind named `Namespace` of another API group was treated as the core, cluster-scoped
/// Namespace; it is a namespaced custom kind and gets the overlay's namespace, as kubectl
/// writes `namespace: prod` on it. (Only the namespace is asserted: whether kustomize v5 also
/// renames it to `prod`, as v4.5.7 does, is not settled here.)
#[test]
fn regression_issue_16_a_namespace_kind_of_another_group_is_namespaced() {
    let t = Tree::new(&[
        (
            "g/r.yaml",
            "apiVersion: example.com/v1\nkind: Namespace\nmetadata:\n  name: tenant\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n",
        ),
        (
            "g/kustomization.yaml",
            "resources: [r.yaml]\nnamespace: prod\n",
        ),
    ]);
    let out = t.render("g");
    let docs = gantry::manifest::documents("out.yaml", &out).expect("valid YAML");
    let custom = docs
        .iter()
        .find(|d| d["apiVersion"] == "example.com/v1")
        .expect("the custom Namespace");
    assert_eq!(custom["metadata"]["namespace"], "prod", "{out}");
    let core = docs
        .iter()
        .find(|d| d["apiVersion"] == "v1")
        .expect("the core Namespace");
    assert_eq!(core["metadata"].get("namespace"), None, "{out}");
    assert_eq!(core["metadata"]["name"], "prod", "{out}");
}

/// A `|` block at the end of a file without a final newline gained one (kustomize writes
/// `|-`), and long values were not folded at 80 columns the way kustomize's emitter folds them.
#[test]
fn regression_issue_16_block_scalars_at_eof_and_long_lines_print_as_kustomize() {
    let words: Vec<String> = (0..40).map(|i| format!("word{i}")).collect();
    let long = words.join(" ");
    let t = Tree::new(&[
        (
            "f/r.yaml",
            &format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  plain: {long}\n  single: 'it: {long}'\n  script: |\n    echo one\n    echo two"
            ),
        ),
        ("f/kustomization.yaml", "resources: [r.yaml]\n"),
    ]);
    assert_yaml(
        &t.render("f"),
        r"
apiVersion: v1
data:
  plain: word0 word1 word2 word3 word4 word5 word6 word7 word8 word9 word10 word11
    word12 word13 word14 word15 word16 word17 word18 word19 word20 word21 word22 word23
    word24 word25 word26 word27 word28 word29 word30 word31 word32 word33 word34 word35
    word36 word37 word38 word39
  script: |-
    echo one
    echo two
  single: 'it: word0 word1 word2 word3 word4 word5 word6 word7 word8 word9 word10
    word11 word12 word13 word14 word15 word16 word17 word18 word19 word20 word21 word22
    word23 word24 word25 word26 word27 word28 word29 word30 word31 word32 word33 word34
    word35 word36 word37 word38 word39'
kind: ConfigMap
metadata:
  name: c
",
    );
}

/// A Component listed under `resources` was refused; kustomize v5 builds it on its own, as a
/// kustomization whose transformers act on its own resources only.
#[test]
fn regression_issue_16_a_component_under_resources_is_built_on_its_own() {
    let t = Tree::new(&[
        (
            "c/kustomization.yaml",
            "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\ncommonLabels:\n  comp: x\nresources: [cm.yaml]\n",
        ),
        (
            "c/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n",
        ),
        (
            "o/own.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: own\n",
        ),
        ("o/kustomization.yaml", "resources: [own.yaml, ../c]\n"),
    ]);
    assert_yaml(
        &t.render("o"),
        r"
apiVersion: v1
kind: ConfigMap
metadata:
  labels:
    comp: x
  name: c
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: own
",
    );
}

/// kustomize refuses a Component whose apiVersion is not `kustomize.config.k8s.io/v1alpha1`
/// (one without an apiVersion is accepted).
#[test]
fn regression_issue_16_a_component_with_the_wrong_api_version_is_refused() {
    let t = Tree::new(&[
        (
            "c/kustomization.yaml",
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Component\ncommonLabels:\n  a: b\n",
        ),
        (
            "d/kustomization.yaml",
            "kind: Component\ncommonLabels:\n  a: b\n",
        ),
        (
            "o/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n",
        ),
        (
            "o/kustomization.yaml",
            "resources: [cm.yaml]\ncomponents: [../c]\n",
        ),
        (
            "p/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n",
        ),
        (
            "p/kustomization.yaml",
            "resources: [cm.yaml]\ncomponents: [../d]\n",
        ),
    ]);
    assert_eq!(
        t.error("o"),
        "c/kustomization.yaml: apiVersion \"kustomize.config.k8s.io/v1beta1\": a Component's apiVersion must be kustomize.config.k8s.io/v1alpha1"
    );
    assert_yaml(
        &t.render("p"),
        r"
apiVersion: v1
kind: ConfigMap
metadata:
  labels:
    a: b
  name: c
",
    );
}

/// Item 6: an overlay's `generatorOptions.disableNameSuffixHash` holds for a generator it
/// merges into from a base (kustomize v5 hashes only when both sides want it; v4 kept the
/// base's hash).
#[test]
fn regression_issue_16_overlay_disables_hash_of_merged_generator() {
    let t = Tree::new(&[
        (
            "base/kustomization.yaml",
            "configMapGenerator:\n- name: cfg\n  literals: [a=1]\n",
        ),
        (
            "ov/kustomization.yaml",
            "resources: [../base]\ngeneratorOptions:\n  disableNameSuffixHash: true\nconfigMapGenerator:\n- name: cfg\n  behavior: merge\n  literals: [b=2]\n",
        ),
        (
            "hashed/kustomization.yaml",
            "resources: [../base]\nconfigMapGenerator:\n- name: cfg\n  behavior: merge\n  literals: [b=2]\n",
        ),
    ]);
    assert_yaml(
        &t.render("ov"),
        r#"
apiVersion: v1
data:
  a: "1"
  b: "2"
kind: ConfigMap
metadata:
  name: cfg
"#,
    );
    assert_yaml(
        &t.render("hashed"),
        r#"
apiVersion: v1
data:
  a: "1"
  b: "2"
kind: ConfigMap
metadata:
  name: cfg-7gdc49gk6d
"#,
    );
}
