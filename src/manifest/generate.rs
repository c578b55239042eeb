//! `configMapGenerator` and `secretGenerator` with kustomize's content-hash names (stage: ⑤).
//!
//! Input: generator arguments, files they name (through [`Fs`]), the resources so far.
//! Output: ConfigMaps and Secrets created, merged into or replacing ones from bases; after the
//! whole build, names suffixed with kustomize's hash of their content so a changed ConfigMap
//! rolls the workloads that mount it.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine as _;
use serde_json::{Map, Value};

use super::ManifestError;
use super::build::{display, read_text};
use super::fs::{Fs, join};
use super::kustomization::{GeneratorArgs, GeneratorOptions, Kustomization};
use super::resource::{Behavior, Generated, Provenance, Resource, ensure_object};

pub fn run(
    fs: &dyn Fs,
    dir: &Path,
    kfile: &Path,
    k: &Kustomization,
    ra: &mut Vec<Resource>,
) -> Result<(), ManifestError> {
    let global = k.generator_options.clone().unwrap_or_default();
    for (kind, list) in [
        ("ConfigMap", &k.config_map_generator),
        ("Secret", &k.secret_generator),
    ] {
        for args in list {
            let at = |message: String| ManifestError::At {
                file: display(kfile),
                line: args.referenced.line(),
                column: args.referenced.column(),
                message,
            };
            let mut r = generate(fs, dir, kind, &args.value, &global).map_err(|m| at(m.clone()))?;
            r.provenance = Provenance::Generator {
                kfile: kfile.to_path_buf(),
                kind: if kind == "ConfigMap" {
                    "ConfigMapGenerator"
                } else {
                    "SecretGenerator"
                },
            };
            absorb(ra, r).map_err(at)?;
        }
    }
    Ok(())
}

fn merged_options(global: &GeneratorOptions, local: Option<&GeneratorOptions>) -> GeneratorOptions {
    let mut o = global.clone();
    if let Some(l) = local {
        o.labels.extend(l.labels.clone());
        o.annotations.extend(l.annotations.clone());
        if l.disable_name_suffix_hash.is_some() {
            o.disable_name_suffix_hash = l.disable_name_suffix_hash;
        }
        if l.immutable.is_some() {
            o.immutable = l.immutable;
        }
    }
    o
}

fn generate(
    fs: &dyn Fs,
    dir: &Path,
    kind: &str,
    args: &GeneratorArgs,
    global: &GeneratorOptions,
) -> Result<Resource, String> {
    let behavior = match args.behavior.as_deref() {
        None | Some("" | "create") => Behavior::Create,
        Some("merge") => Behavior::Merge,
        Some("replace") => Behavior::Replace,
        Some(other) => {
            return Err(format!(
                "{kind} generator \"{}\": unknown behavior \"{other}\" (create, merge, replace)",
                args.name
            ));
        }
    };
    let opts = merged_options(global, args.options.as_ref());
    let pairs = collect(fs, dir, kind, args)?;
    let mut r = Resource::new(
        object(kind, args, &opts, pairs),
        format!("{kind}Generator {}", args.name),
    );
    r.generated = Some(Generated {
        behavior,
        hash_suffix: opts.disable_name_suffix_hash != Some(true),
    });
    Ok(r)
}

/// Key/value pairs from `envs`, `literals` and `files`, in kustomize's order.
fn collect(
    fs: &dyn Fs,
    dir: &Path,
    kind: &str,
    args: &GeneratorArgs,
) -> Result<Vec<(String, Vec<u8>)>, String> {
    let mut pairs: Vec<(String, Vec<u8>)> = Vec::new();
    let mut put = |key: String, value: Vec<u8>, from: &str| -> Result<(), String> {
        if key.is_empty()
            || !key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(format!("{from}: \"{key}\" is not a valid {kind} key"));
        }
        if pairs.iter().any(|(k, _)| *k == key) {
            return Err(format!("{from}: key \"{key}\" is set twice"));
        }
        pairs.push((key, value));
        Ok(())
    };
    for env in args.envs.iter().chain(args.env.as_ref()) {
        let path =
            join(dir, env).ok_or_else(|| format!("envs: \"{env}\" is outside the repo root"))?;
        restrict(fs, dir, &path, "envs", env)?;
        let text = read_text(fs, &path).map_err(|e| e.to_string())?;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim_start_matches('\u{feff}').trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (k, v) = line
                .split_once('=')
                .ok_or_else(|| format!("{}:{}: expected KEY=VALUE", display(&path), n + 1))?;
            put(k.to_owned(), v.as_bytes().to_vec(), &display(&path))?;
        }
    }
    for lit in &args.literals {
        let (k, v) = lit
            .split_once('=')
            .ok_or_else(|| format!("literals: \"{lit}\" is not KEY=VALUE"))?;
        put(k.to_owned(), unquote(v).as_bytes().to_vec(), "literals")?;
    }
    for f in &args.files {
        let (key, rel) = match f.split_once('=') {
            Some((k, p)) => (k.to_owned(), p),
            None => (
                Path::new(f)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                f.as_str(),
            ),
        };
        let path =
            join(dir, rel).ok_or_else(|| format!("files: \"{rel}\" is outside the repo root"))?;
        restrict(fs, dir, &path, "files", rel)?;
        let bytes = fs
            .read(&path)
            .map_err(|e| format!("files: cannot read {}: {e}", display(&path)))?;
        put(key, bytes, "files")?;
    }
    Ok(pairs)
}

/// The ConfigMap or Secret object itself.
fn object(
    kind: &str,
    args: &GeneratorArgs,
    opts: &GeneratorOptions,
    pairs: Vec<(String, Vec<u8>)>,
) -> Value {
    let mut obj = Map::new();
    obj.insert("apiVersion".into(), "v1".into());
    obj.insert("kind".into(), kind.into());
    let mut meta = Map::new();
    meta.insert("name".into(), args.name.clone().into());
    if let Some(ns) = args.namespace.as_deref().filter(|n| !n.is_empty()) {
        meta.insert("namespace".into(), ns.into());
    }
    let strings = |m: &BTreeMap<String, String>| {
        Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect(),
        )
    };
    if !opts.labels.is_empty() {
        meta.insert("labels".into(), strings(&opts.labels));
    }
    if !opts.annotations.is_empty() {
        meta.insert("annotations".into(), strings(&opts.annotations));
    }
    obj.insert("metadata".into(), Value::Object(meta));
    let (mut data, mut binary) = (Map::new(), Map::new());
    for (k, v) in pairs {
        if kind == "Secret" {
            data.insert(k, encode_base64(&v).into());
        } else {
            match String::from_utf8(v) {
                Ok(s) => {
                    data.insert(k, s.into());
                }
                Err(e) => {
                    binary.insert(k, encode_base64(e.as_bytes()).into());
                }
            }
        }
    }
    if !data.is_empty() {
        obj.insert("data".into(), Value::Object(data));
    }
    if !binary.is_empty() {
        obj.insert("binaryData".into(), Value::Object(binary));
    }
    if kind == "Secret" {
        obj.insert(
            "type".into(),
            args.kind
                .clone()
                .unwrap_or_else(|| "Opaque".to_owned())
                .into(),
        );
    }
    if opts.immutable == Some(true) {
        obj.insert("immutable".into(), true.into());
    }
    Value::Object(obj)
}

/// kustomize strips one pair of matching quotes around a literal's value.
fn unquote(v: &str) -> &str {
    for q in ['"', '\''] {
        if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
            return &v[1..v.len() - 1];
        }
    }
    v
}

/// Adds a generated resource: create, or merge into / replace the one it names.
fn absorb(ra: &mut Vec<Resource>, mut new: Resource) -> Result<(), String> {
    let behavior = new
        .generated
        .as_ref()
        .map_or(Behavior::Create, |g| g.behavior);
    let id = new.cur_id();
    let matches: Vec<usize> = ra
        .iter()
        .enumerate()
        .filter(|(_, r)| r.all_ids().any(|x| x == id))
        .map(|(i, _)| i)
        .collect();
    match (matches.as_slice(), behavior) {
        ([], Behavior::Create) => {
            ra.push(new);
            Ok(())
        }
        ([], _) => Err(format!("{id} does not exist; cannot merge or replace")),
        ([_], Behavior::Create) => Err(format!("{id} exists; behavior must be merge or replace")),
        ([i], b) => {
            let old = &ra[*i];
            if b == Behavior::Merge {
                for field in ["data", "binaryData"] {
                    if let Some(Value::Object(old_map)) = old.obj.get(field) {
                        let mut merged = old_map.clone();
                        if let Some(Value::Object(m)) = new.obj.get(field) {
                            merged.extend(m.clone());
                        }
                        ensure_object(&mut new.obj).insert(field.into(), Value::Object(merged));
                    }
                }
            }
            // kustomize's CopyMergeMetaDataFieldsFrom: labels and annotations merge (new wins),
            // name, namespace and rename history come from the resource replaced.
            for field in ["labels", "annotations"] {
                let mut merged = old
                    .obj
                    .pointer(&format!("/metadata/{field}"))
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                if let Some(Value::Object(m)) = new.obj.pointer(&format!("/metadata/{field}")) {
                    merged.extend(m.clone());
                }
                // Written back only when something is in them: kustomize adds no empty maps.
                if merged.is_empty() {
                    new.metadata_mut().remove(field);
                } else {
                    new.metadata_mut()
                        .insert(field.into(), Value::Object(merged));
                }
            }
            new.set_name(old.name());
            if old.namespace().is_empty() {
                new.metadata_mut().remove("namespace");
            } else {
                new.set_namespace(old.namespace());
            }
            new.prev.clone_from(&old.prev);
            new.prefixes.clone_from(&old.prefixes);
            new.ref_vars.clone_from(&old.ref_vars);
            new.transformations.clone_from(&old.transformations);
            // A merge keeps where the merged object came from; a replacement is the new one.
            if b == Behavior::Merge {
                new.provenance.clone_from(&old.provenance);
            }
            new.suffixes.clone_from(&old.suffixes);
            // kustomize v5 hashes the name only when both the merged resource and the merging
            // generator want it: an overlay's `disableNameSuffixHash: true` holds for a base's
            // generator, and a plain resource merged into stays unhashed.
            let wants = |r: &Resource| r.generated.as_ref().is_some_and(|g| g.hash_suffix);
            let hash_suffix = wants(old) && wants(&new);
            new.generated = Some(Generated {
                behavior: b,
                hash_suffix,
            });
            ra[*i] = new;
            Ok(())
        }
        _ => Err(format!(
            "found multiple objects that could accept merge of {id}"
        )),
    }
}

/// The root-only load restrictor for a generator's file.
fn restrict(fs: &dyn Fs, dir: &Path, path: &Path, field: &str, given: &str) -> Result<(), String> {
    if !fs.files_root_only() || super::fs::in_kustomization_dir(dir, path) {
        return Ok(());
    }
    Err(super::fs::outside_kustomization(field, given))
}

/// kustomize's `encodeBase64`: standard base64, and once it is 70 characters or longer, cut
/// into lines of 70, each ending in a newline (the last one too). The lines are part of the
/// value, so they change the content hash of the generated name as well.
fn encode_base64(bytes: &[u8]) -> String {
    const LINE: usize = 70;
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    if encoded.len() < LINE {
        return encoded;
    }
    let mut out = String::with_capacity(encoded.len() + encoded.len() / LINE + 1);
    for chunk in encoded.as_bytes().chunks(LINE) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        out.push('\n');
    }
    out
}
