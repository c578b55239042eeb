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
