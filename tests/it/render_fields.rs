//! One test per kustomization field group; expected outputs follow kustomize v5's rules.

use crate::render::{Tree, assert_yaml};
use gantry::manifest::Reorder;

const DEPLOY: &str = r"
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
      containers:
      - name: web
        image: nginx
";

#[test]
fn labels_annotations_and_replicas() {
    let t = Tree::new(&[
        ("app/d.yaml", DEPLOY),
        (
            "app/kustomization.yaml",
            r"
resources: [d.yaml]
labels:
- pairs: {env: staging}
- pairs: {tier: frontend}
  includeTemplates: true
- pairs: {track: stable}
  includeSelectors: true
commonAnnotations:
  owner: team-shop
replicas:
- name: web
  count: 3
",
        ),
    ]);
    assert_yaml(
        &t.render("app"),
        r"
apiVersion: apps/v1
kind: Deployment
metadata:
  annotations:
    owner: team-shop
  labels:
    env: staging
    tier: frontend
    track: stable
  name: web
spec:
  replicas: 3
  selector:
    matchLabels:
      app: web
      track: stable
  template:
    metadata:
      annotations:
        owner: team-shop
      labels:
        app: web
        tier: frontend
        track: stable
    spec:
      containers:
      - image: nginx
        name: web
",
    );
}

#[test]
fn replicas_for_an_unknown_name_is_an_error() {
    let t = Tree::new(&[
        ("app/d.yaml", DEPLOY),
        (
            "app/kustomization.yaml",
            "resources: [d.yaml]\nreplicas:\n- name: api\n  count: 2\n",
        ),
    ]);
    assert_eq!(
        t.error("app"),
        "app/kustomization.yaml: replicas: no Deployment, ReplicationController, ReplicaSet, StatefulSet named \"api\""
    );
}

#[test]
fn images_in_containers_init_containers_and_cronjobs() {
    let t = Tree::new(&[
        (
            "app/cron.yaml",
            r#"
apiVersion: batch/v1
kind: CronJob
metadata:
  name: report
spec:
  schedule: "0 * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          initContainers:
          - name: init
            image: busybox:1.36
          containers:
          - name: report
            image: localhost:5000/tools/report:v1
          - name: side
            image: nginx@sha256:aaaa
          restartPolicy: OnFailure
"#,
        ),
        (
            "app/kustomization.yaml",
            r#"
resources: [cron.yaml]
images:
- name: busybox
  newName: registry.example.com/busybox
- name: localhost:5000/tools/report
  digest: sha256:1111111111111111111111111111111111111111111111111111111111111111
- name: nginx
  newTag: "1.27"
"#,
        ),
    ]);
    assert_yaml(
        &t.render("app"),
        r"
apiVersion: batch/v1
kind: CronJob
metadata:
  name: report
spec:
  jobTemplate:
    spec:
      template:
        spec:
          containers:
          - image: localhost:5000/tools/report@sha256:1111111111111111111111111111111111111111111111111111111111111111
            name: report
          - image: nginx:1.27
            name: side
          initContainers:
          - image: registry.example.com/busybox:1.36
            name: init
          restartPolicy: OnFailure
  schedule: 0 * * * *
",
    );
}

#[test]
#[allow(clippy::too_many_lines)] // fixture and expected text, not logic
fn patches_strategic_merge_json6902_targets_and_delete() {
    let t = Tree::new(&[
        (
            "app/deploy.yaml",
            r"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    tier: frontend
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: app
        image: web:1
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  labels:
    tier: backend
spec:
  replicas: 1
  selector:
    matchLabels: {app: api}
  template:
    metadata:
      labels: {app: api}
    spec:
      containers:
      - name: app
        image: api:1
",
        ),
        (
            "app/legacy.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: legacy\ndata:\n  a: b\n",
        ),
        (
            "app/delete-legacy.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: legacy\n$patch: delete\n",
        ),
        (
            "app/sidecar.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n      - name: proxy\n        image: envoy:v1\n",
        ),
        (
            "app/web-6902.yaml",
            "- op: add\n  path: /spec/template/spec/containers/0/env\n  value:\n  - name: MODE\n    value: \"1\"\n",
        ),
        (
            "app/kustomization.yaml",
            r#"
resources: [deploy.yaml, legacy.yaml]
patches:
- target:
    kind: Deployment
    labelSelector: tier=frontend
  patch: |-
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: ignored
    spec:
      template:
        spec:
          containers:
          - name: app
            resources:
              limits:
                memory: 256Mi
- target:
    kind: Deployment
    name: "a.*"
  patch: |-
    - op: replace
      path: /spec/replicas
      value: 5
    - op: add
      path: /metadata/annotations
      value:
        patched: "yes"
- path: sidecar.yaml
patchesJson6902:
- target:
    group: apps
    version: v1
    kind: Deployment
    name: web
  path: web-6902.yaml
patchesStrategicMerge:
- delete-legacy.yaml
"#,
        ),
    ]);
    assert_yaml(
        &t.render("app"),
        r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  annotations:
    patched: "yes"
  labels:
    tier: backend
  name: api
spec:
  replicas: 5
  selector:
    matchLabels:
      app: api
  template:
    metadata:
      labels:
        app: api
    spec:
      containers:
      - image: api:1
        name: app
---
apiVersion: apps/v1
kind: Deployment
metadata:
  labels:
    tier: frontend
  name: web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - env:
        - name: MODE
          value: "1"
        image: envoy:v1
        name: proxy
      - image: web:1
        name: app
        resources:
          limits:
            memory: 256Mi
"#,
    );
}

#[test]
fn components_apply_to_what_the_overlay_accumulated() {
    let t = Tree::new(&[
        ("base/d.yaml", DEPLOY),
        ("base/kustomization.yaml", "resources: [d.yaml]\n"),
        (
            "components/monitoring/kustomization.yaml",
            "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources: [monitor.yaml]\ncommonAnnotations:\n  prometheus.io/scrape: \"true\"\n",
        ),
        (
            "components/monitoring/monitor.yaml",
            "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata:\n  name: web\nspec:\n  endpoints:\n  - port: http\n",
        ),
        (
            "overlay/kustomization.yaml",
            "resources: [../base]\ncomponents: [../components/monitoring]\nnamePrefix: dev-\n",
        ),
    ]);
    assert_yaml(
        &t.render("overlay"),
        r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  annotations:
    prometheus.io/scrape: "true"
  name: dev-web
spec:
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      annotations:
        prometheus.io/scrape: "true"
      labels:
        app: web
    spec:
      containers:
      - image: nginx
        name: web
---
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  annotations:
    prometheus.io/scrape: "true"
  name: dev-web
spec:
  endpoints:
  - port: http
"#,
    );
}

#[test]
fn reorder_none_keeps_input_order_and_legacy_sorts_by_kind() {
    let t = Tree::new(&[
        ("app/d.yaml", DEPLOY),
        (
            "app/s.yaml",
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports:\n  - port: 80\n",
        ),
        (
            "app/ns.yaml",
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n",
        ),
        (
            "app/kustomization.yaml",
            "resources: [d.yaml, s.yaml, ns.yaml]\n",
        ),
    ]);
    let kinds = |out: String| -> Vec<String> {
        out.lines()
            .filter_map(|l| l.strip_prefix("kind: ").map(str::to_owned))
            .collect()
    };
    assert_eq!(
        kinds(t.render("app")),
        ["Namespace", "Service", "Deployment"]
    );
    assert_eq!(
        kinds(t.render_with("app", Reorder::None).expect("render")),
        ["Deployment", "Service", "Namespace"]
    );
}

#[test]
fn secret_generator_options_and_namespaced_generator() {
    let t = Tree::new(&[
        ("app/tls.crt", "CERT"),
        (
            "app/kustomization.yaml",
            r"
namespace: shop
generatorOptions:
  labels:
    generated: kustomize
secretGenerator:
- name: tls
  type: kubernetes.io/tls
  files:
  - tls.crt
  options:
    disableNameSuffixHash: true
configMapGenerator:
- name: flags
  literals:
  - BETA=true
  options:
    annotations:
      note: keep
",
        ),
    ]);
    assert_yaml(
        &t.render("app"),
        r#"
apiVersion: v1
data:
  BETA: "true"
kind: ConfigMap
metadata:
  annotations:
    note: keep
  labels:
    generated: kustomize
  name: flags-24g5ch4dt8
  namespace: shop
---
apiVersion: v1
data:
  tls.crt: Q0VSVA==
kind: Secret
metadata:
  labels:
    generated: kustomize
  name: tls
  namespace: shop
type: kubernetes.io/tls
"#,
    );
}
