//! Tests of the fast loader against the full one.
use super::*;

/// Each sample must parse on the fast path to exactly what the full parser gives.
#[test]
fn agrees_with_the_full_parser() {
    let samples = [
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x  # trailing\n  labels: {}\ndata:\n  a: '1'\n  b: \"two words\"\n  c: yes\n  d: 0755\n  e: 1.5\n  f: ~\n  g:\n  h: []\n",
        "# lead\n---\nkind: A\nspec:\n  containers:\n  - name: app\n    image: nginx:1.25\n    args:\n    - --port=80\n    - -v\n    ports:\n      - containerPort: 80\n        protocol: TCP\n---\n---\nkind: B\n",
        "data:\n  script: |\n    #!/bin/sh\n    echo hi\n\n    exit 0\n  keep: |+\n    a\n\n  strip: |-\n    b\n  clip: |\n    c\n\nnext: 1\n",
        "list:\n- a\n-\n  b: 1\n- 'it''s'\nurl: http://host:8080/x?y=1#frag\nspaced key: v\n\"80\": no\n",
        "k: |\n  last line without newline",
        "- top\n- level: seq\n",
        "",
        "# only a comment\n",
    ];
    for text in samples {
        let full = super::super::load::documents_full("t.yaml", text).expect("valid YAML");
        match documents(text) {
            Some(fast) => assert_eq!(fast, full, "sample {text:?}"),
            // Declining is always allowed; but these samples are meant to be in the subset
            // except the one with a quoted key.
            None => assert!(text.contains("\"80\""), "fast path declined {text:?}"),
        }
    }
}

use std::fmt::Write as _;

use proptest::prelude::*;

#[derive(Debug, Clone)]
enum N {
    Leaf(String),
    Block(Vec<String>, u8),
    Map(Vec<(String, N)>),
    Seq(Vec<N>),
}

fn render(n: &N, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match n {
        N::Map(entries) => {
            for (k, v) in entries {
                match v {
                    N::Leaf(s) => {
                        let _ = writeln!(out, "{pad}{k}: {s}");
                    }
                    N::Block(lines, c) => {
                        let _ = writeln!(out, "{pad}{k}: |{}", ["", "-", "+"][usize::from(*c)]);
                        for l in lines {
                            let l = l.trim();
                            if l.is_empty() {
                                out.push('\n');
                            } else {
                                let _ = writeln!(out, "{pad}  {l}");
                            }
                        }
                    }
                    N::Map(_) => {
                        let _ = writeln!(out, "{pad}{k}:");
                        render(v, indent + 2, out);
                    }
                    N::Seq(_) => {
                        let _ = writeln!(out, "{pad}{k}:");
                        render(v, indent, out);
                    }
                }
            }
        }
        N::Seq(items) => {
            for item in items {
                if let N::Leaf(s) = item {
                    let _ = writeln!(out, "{pad}- {s}");
                } else {
                    let _ = writeln!(out, "{pad}-");
                    render(item, indent + 2, out);
                }
            }
        }
        N::Leaf(s) => {
            let _ = writeln!(out, "{pad}v: {s}");
        }
        N::Block(..) => {
            let _ = writeln!(out, "{pad}v: x");
        }
    }
}

/// Random block YAML: nested maps and lists, plain/quoted/typed scalars, literal blocks,
/// comments and blank lines.
fn yaml() -> impl Strategy<Value = String> {
    let scalar = prop_oneof![
        "[a-z][a-z0-9./:-]{0,8}",
        "[0-9]{1,5}",
        Just("true".to_owned()),
        Just("~".to_owned()),
        "'[a-z #:]{0,8}'",
        "\"[a-z #:]{0,8}\"",
        "[a-z]{1,4} [a-z]{1,4}",
        "-[0-9]{1,3}\\.[0-9]{1,2}",
    ];
    let leaf = (scalar, any::<bool>())
        .prop_map(|(s, comment)| if comment { format!("{s}  # note") } else { s });
    let block = (proptest::collection::vec("[a-z#: ]{0,10}", 1..4), 0..3u8)
        .prop_map(|(l, c)| N::Block(l, c));
    let node = prop_oneof![leaf.prop_map(N::Leaf), block].prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::btree_map("[a-z][a-z0-9]{0,5}", inner.clone(), 1..4)
                .prop_map(|m| N::Map(m.into_iter().collect())),
            proptest::collection::vec(inner, 1..4).prop_map(N::Seq),
        ]
    });
    node.prop_map(|n| {
        let mut out = String::from("# generated\n");
        let root = match n {
            N::Map(_) => n,
            other => N::Map(vec![("root".to_owned(), other)]),
        };
        render(&root, 0, &mut out);
        out
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn fast_and_full_parsers_agree(text in yaml()) {
        if let Ok(full) = super::super::load::documents_full("t.yaml", &text)
            && let Some(fast) = documents(&text)
        {
            prop_assert_eq!(fast, full, "{}", text);
        }
    }
}

/// Guards the property above against passing vacuously: most generated documents must be
/// taken by the fast path (and valid for the full parser).
#[test]
fn the_property_exercises_the_fast_path() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let (mut valid, mut fast) = (0, 0);
    for _ in 0..300 {
        let text = yaml().new_tree(&mut runner).expect("generate").current();
        if super::super::load::documents_full("t.yaml", &text).is_ok() {
            valid += 1;
            if documents(&text).is_some() {
                fast += 1;
            }
        }
    }
    assert!(
        valid > 250 && fast * 10 > valid * 8,
        "valid {valid}/300, fast path took {fast}"
    );
}

#[test]
fn declines_what_it_does_not_handle() {
    for text in [
        "a: &x 1\nb: *x\n",
        "a: {b: 1}\n",
        "a: >\n  folded\n",
        "a: \"esc\\n\"\n",
        "a: 1\na: 2\n",
        "a: plain\n  continued\n",
        "a:\tb\n",
        "<<: {}\n",
    ] {
        assert_eq!(documents(text), None, "{text:?}");
    }
}
