//! The format-preserving editor: only the edited bytes change; the result reads back as asked.

use std::fmt::Write as _;

use gantry::manifest::edit::{self, ImageSpec, Outcome};
use proptest::prelude::*;

const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn set_image(text: &str, arg: &str) -> String {
    edit::set_image("k.yaml", text, &ImageSpec::parse(arg).expect("valid spec")).expect("edit")
}

#[test]
fn set_image_replaces_only_the_tag_bytes_and_keeps_comments_and_quotes() {
    let before = "# overlay for prod\nresources:\n  - ../../base   # shared base\n\nimages:\n  - name: web  # the app\n    newTag: '1.0'   # pinned\n";
    let after = set_image(before, "web=web:1.1");
    assert_eq!(
        after,
        "# overlay for prod\nresources:\n  - ../../base   # shared base\n\nimages:\n  - name: web  # the app\n    newTag: '1.1'   # pinned\n"
    );
}

#[test]
fn set_image_pins_a_digest_and_drops_the_stale_tag() {
    let before = "images:\n- name: web\n  newTag: v1\n";
    assert_eq!(
        set_image(before, &format!("web=web@{DIGEST}")),
        format!("images:\n- name: web\n  digest: {DIGEST}\n")
    );
}

#[test]
fn set_image_adds_images_when_the_file_has_none() {
    let before = "resources:\n- deployment.yaml";
    assert_eq!(
        set_image(before, "nginx=mirror.example.com/nginx:1.27"),
        "resources:\n- deployment.yaml\nimages:\n- name: nginx\n  newName: mirror.example.com/nginx\n  newTag: \"1.27\"\n"
    );
}

#[test]
fn set_image_in_flow_style_entries() {
    let before = "images: [{name: web, newTag: \"1.0\"}, {name: db, newTag: '15'}]  # flow\n";
    assert_eq!(
        set_image(before, "db=db:16"),
        "images: [{name: web, newTag: \"1.0\"}, {name: db, newTag: '16'}]  # flow\n"
    );
    assert_eq!(
        set_image(before, &format!("web=web@{DIGEST}")),
        format!("images: [{{name: web, digest: {DIGEST}}}, {{name: db, newTag: '15'}}]  # flow\n")
    );
    assert_eq!(
        set_image("images: []\n", "api=api:2"),
        "images: [{name: api, newTag: \"2\"}]\n"
    );
}

#[test]
fn set_image_to_the_current_value_is_unchanged() {
    let dir = tempfile::TempDir::new().expect("temp dir");
    let file = dir.path().join("kustomization.yaml");
    std::fs::write(&file, "images:\n- name: web\n  newTag: v1\n").expect("write");
    let spec = ImageSpec::parse("web:v1").expect("spec");
    let outcome = edit::edit_file(&file, |n, t| edit::set_image(n, t, &spec)).expect("edit");
    assert_eq!(outcome, Outcome::Unchanged);
    let spec = ImageSpec::parse("web:v2").expect("spec");
    assert_eq!(
        edit::edit_file(&file, |n, t| edit::set_image(n, t, &spec)).expect("edit"),
        Outcome::Changed
    );
    assert_eq!(
        std::fs::read_to_string(&file).expect("read"),
        "images:\n- name: web\n  newTag: v2\n"
    );
    // The temp file of the atomic write is gone.
    assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 1);
}

#[test]
fn invalid_arguments_are_refused() {
    assert!(ImageSpec::parse("web=web@sha256:zz").is_err());
    assert!(ImageSpec::parse("=x").is_err());
    assert!(ImageSpec::parse("web=web:bad tag").is_err());
}

#[test]
fn broken_yaml_is_refused_and_the_file_is_untouched() {
    let dir = tempfile::TempDir::new().expect("temp dir");
    let file = dir.path().join("kustomization.yaml");
    let broken = "images:\n- name: web\n  newTag: [v1\n";
    std::fs::write(&file, broken).expect("write");
    let spec = ImageSpec::parse("web:v2").expect("spec");
    let err = edit::edit_file(&file, |n, t| edit::set_image(n, t, &spec)).expect_err("broken YAML");
    assert!(
        err.to_string().contains("cannot edit: YAML error at"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&file).expect("read"), broken);
}

#[test]
fn set_value_keeps_style_anchors_and_other_documents() {
    let values = "---\n# values\nimage:\n  repository: harbor.example.com/shop/web\n  tag: &tag \"1.0.0\"\nsidecar:\n  tag: *tag\nreplicas: 3\n...\n---\nother: doc\n";
    let keys = |p: &str| p.split('.').map(str::to_owned).collect::<Vec<_>>();
    assert_eq!(
        edit::set_value("v.yaml", values, &keys("image.tag"), "1.1.0").expect("edit"),
        values.replace("&tag \"1.0.0\"", "&tag \"1.1.0\"")
    );
    assert_eq!(
        edit::set_value("v.yaml", values, &keys("replicas"), "5").expect("edit"),
        values.replace("replicas: 3", "replicas: 5")
    );
    assert_eq!(
        edit::set_value("v.yaml", values, &keys("sidecar.tag"), "2.0.0").expect("edit"),
        values.replace("tag: *tag", "tag: 2.0.0")
    );
    assert_eq!(
        edit::set_value("v.yaml", values, &keys("image.digest"), DIGEST).expect("edit"),
        values.replace(
            "  tag: &tag \"1.0.0\"\n",
            &format!("  tag: &tag \"1.0.0\"\n  digest: {DIGEST}\n")
        )
    );
    assert_eq!(
        edit::set_value("v.yaml", "a: 1\n", &keys("b.c.d"), "x").expect("edit"),
        "a: 1\nb:\n  c:\n    d: x\n"
    );
    assert_eq!(
        edit::set_value("v.yaml", values, &keys("other"), "changed").expect("edit"),
        values.replace("other: doc", "other: changed")
    );
}

#[test]
fn set_value_quotes_when_plain_would_change_the_type() {
    let keys = vec!["image".to_owned(), "tag".to_owned()];
    assert_eq!(
        edit::set_value("v.yaml", "image:\n  tag: v1\n", &keys, "2").expect("edit"),
        "image:\n  tag: \"2\"\n"
    );
    assert_eq!(
        edit::set_value("v.yaml", "image:\n  tag: v1\n", &keys, "yes").expect("edit"),
        "image:\n  tag: \"yes\"\n"
    );
}

/// A random values document: maps of maps of scalars, with comments and mixed quoting.
fn document() -> impl Strategy<Value = (String, Vec<(Vec<String>, String)>)> {
    let key = "[a-z][a-z0-9]{0,6}";
    let value = prop_oneof!["[a-z][a-z0-9.-]{0,10}", "[0-9]{1,4}", "[a-z ]{1,8}[a-z]"];
    let style = 0..3u8;
    let comment = proptest::option::of("[a-zA-Z ]{0,12}");
    proptest::collection::btree_map(
        key,
        proptest::collection::btree_map(key, (value, style, comment), 1..5),
        1..5,
    )
    .prop_map(|tree| {
        let mut text = String::from("# generated\n");
        let mut leaves = Vec::new();
        for (section, entries) in tree {
            let _ = write!(text, "{section}:  # section\n\n");
            for (k, (v, style, comment)) in entries {
                let rendered = match style {
                    0 if gantry::manifest::emit::inline_scalar(&v) == v => v.clone(),
                    1 => format!("'{v}'"),
                    _ => format!("\"{v}\""),
                };
                let _ = write!(text, "  {k}: {rendered}");
                if let Some(c) = comment {
                    let _ = write!(text, "   # {c}");
                }
                text.push('\n');
                leaves.push((vec![section.clone(), k], v));
            }
        }
        (text, leaves)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn edits_touch_only_the_edited_span((text, leaves) in document(), pick in any::<prop::sample::Index>(), new in "[a-z0-9][a-z0-9 .:-]{0,12}[a-z0-9]") {
        let (path, old) = &leaves[pick.index(leaves.len())];
        let out = edit::set_value("v.yaml", &text, path, &new).expect("edit succeeds");
        // Everything before and after the edited scalar is byte-identical.
        let prefix = text.bytes().zip(out.bytes()).take_while(|(a, b)| a == b).count();
        let suffix = text.bytes().rev().zip(out.bytes().rev()).take_while(|(a, b)| a == b).count();
        let changed_old = text.len() - prefix.min(text.len()) - suffix.min(text.len() - prefix.min(text.len()));
        prop_assert!(changed_old <= old.len() + 2, "more than the scalar changed:\n{text}\n---\n{out}");
        // The edited document reads back with the new value and every other value intact.
        let doc: serde_json::Value = serde_saphyr::from_str(&out).expect("result parses");
        for (p, v) in &leaves {
            let got = doc[&p[0]][&p[1]].clone();
            let want = if p == path { &new } else { v };
            let got = match got { serde_json::Value::String(s) => s, other => other.to_string() };
            prop_assert_eq!(&got, want);
        }
    }
}
