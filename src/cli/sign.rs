//! `gantry sign`, `gantry verify` and `gantry generate-key-pair`: cosign-compatible keyed
//! signatures. Keys are files or `env://VAR`; private keys are decrypted with `COSIGN_PASSWORD`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context as _;

use super::image::RegistryArgs;
use crate::artifact::registry::parse_reference;
use crate::artifact::sign::verify::{KeyContext, Verdict, verify, verify_with_policy};
use crate::artifact::sign::{KeySource, SigningKey, TrustedKey, sign};
use crate::config::SecretRef;
use crate::config::policy::{Mode, PolicySpec};

#[derive(Debug, clap::Args)]
pub struct SignArgs {
    /// The image to sign; a tag is resolved to its digest first.
    pub image: String,
    /// Private key: cosign's encrypted PEM or a PKCS#8 PEM, as a path, `env://VAR` or
    /// `k8s://NAMESPACE/NAME` (a Secret with `cosign.key` and `cosign.password`).
    #[arg(long)]
    pub key: String,
    /// Source commit, recorded as the `gantry.dev/source` annotation (e.g. `shop@3f2a9c1`).
    #[arg(long)]
    pub source: Option<String>,
    /// Pipeline run id, recorded as the `gantry.dev/run` annotation.
    #[arg(long)]
    pub run: Option<String>,
    /// Further annotation `K=V` in the signed payload. Repeatable.
    #[arg(short = 'a', long = "annotation", value_name = "K=V")]
    pub annotations: Vec<String>,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// A client for the current kubeconfig context, when a key lives in a Kubernetes Secret.
async fn cluster_for(needed: bool) -> anyhow::Result<Option<kube::Client>> {
    if !needed {
        return Ok(None);
    }
    let client = kube::Client::try_default().await.context(
        "keys in Kubernetes Secrets need a cluster: no usable kubeconfig or in-cluster config",
    )?;
    Ok(Some(client))
}

pub fn run_sign(args: &SignArgs) -> anyhow::Result<()> {
    let image = parse_reference(&args.image)?;
    let source = KeySource::parse(&args.key)?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let key = runtime.block_on(async {
        let kube = cluster_for(source.needs_cluster()).await?;
        anyhow::Ok(SigningKey::load(&source, kube.as_ref()).await?)
    })?;
    let mut annotations = BTreeMap::new();
    for a in &args.annotations {
        let (k, v) = a
            .split_once('=')
            .with_context(|| format!("--annotation {a:?}: expected K=V"))?;
        annotations.insert(k.to_owned(), v.to_owned());
    }
    if let Some(s) = &args.source {
        annotations.insert("gantry.dev/source".into(), s.clone());
    }
    if let Some(r) = &args.run {
        annotations.insert("gantry.dev/run".into(), r.clone());
    }
    let registry = args.registry.client(&[&image])?;
    let signed = runtime.block_on(sign(&registry, &image, &key, &annotations))?;
    eprintln!(
        "signed {} with key {} ({} signature(s) at {})",
        signed.digest,
        key.id(),
        signed.signatures,
        signed.signature_ref
    );
    println!(
        "{}/{}@{}",
        image.registry(),
        image.repository(),
        signed.digest
    );
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The image to verify (`repo:tag`, `repo@sha256:…`, or `repo:tag@sha256:…` to also check
    /// that the tag still points at the digest).
    pub image: String,
    /// Trust exactly this public key (path, `env://VAR` or `k8s://NAMESPACE/NAME`) instead of
    /// the policy.
    #[arg(long, conflicts_with = "policy")]
    pub key: Option<String>,
    /// The signature policy; relative key files are read from the current directory.
    #[arg(long, default_value = "policies/signatures.yaml")]
    pub policy: PathBuf,
    /// Namespace of the policy's `secret:` keys (gantry's own namespace).
    #[arg(long, default_value = "gantry")]
    pub namespace: String,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// Verification refused the image: exit 1 after the reason, without an `error:` line.
#[derive(Debug, thiserror::Error)]
#[error("signature verification refused the image")]
pub struct Refused;

pub fn run_verify(args: &VerifyArgs) -> anyhow::Result<()> {
    let image = parse_reference(&args.image)?;
    let registry = args.registry.client(&[&image])?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let (verdict, mode) = if let Some(key) = &args.key {
        let source = KeySource::parse(key)?;
        let verdict = runtime.block_on(async {
            let kube = cluster_for(source.needs_cluster()).await?;
            let key = TrustedKey::load(&source, kube.as_ref()).await?;
            anyhow::Ok(verify(&registry, &image, &[key]).await?)
        })?;
        (verdict, Mode::Enforce)
    } else {
        let (shown, spec) = super::read_policy(&args.policy)?;
        let PolicySpec::Signatures(policy) = spec else {
            anyhow::bail!("{shown} is not a SignaturePolicy");
        };
        let base = std::env::current_dir().context("cannot read the current directory")?;
        let secrets = policy
            .rules
            .iter()
            .flat_map(|r| &r.keys)
            .any(|k| matches!(k, SecretRef::Secret(_)));
        let verdict = runtime.block_on(async {
            let kube = cluster_for(secrets).await?;
            let keys = KeyContext {
                base: &base,
                tree: None,
                namespace: &args.namespace,
                kube: kube.as_ref(),
            };
            anyhow::Ok(verify_with_policy(&registry, &image, &policy, keys).await?)
        })?;
        (verdict, policy.mode)
    };
    match verdict {
        Verdict::Verified { digest, key } => {
            println!(
                "verified: {}/{}@{digest} signed by {key}",
                image.registry(),
                image.repository()
            );
            Ok(())
        }
        Verdict::Refused(reason) if mode == Mode::Warn => {
            eprintln!("warning: {reason} (policy mode is warn: not refused)");
            Ok(())
        }
        Verdict::Refused(reason) => {
            eprintln!("refused: {reason}");
            Err(Refused.into())
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct KeyPairArgs {
    /// Writes `PREFIX.key` (encrypted with `COSIGN_PASSWORD`, else a password asked on the
    /// terminal) and `PREFIX.pub`.
    #[arg(long, default_value = "cosign")]
    pub output_prefix: PathBuf,
    /// Write the private key with an empty password: anyone who reads the file can sign.
    #[arg(long)]
    pub no_password: bool,
}

/// The private key's password: `COSIGN_PASSWORD` when set (even empty, as cosign reads it),
/// else asked twice on the terminal; with neither, only `--no-password` gives the empty one.
fn key_password(no_password: bool) -> anyhow::Result<String> {
    use std::io::IsTerminal as _;
    if no_password {
        return Ok(String::new());
    }
    if let Ok(p) = std::env::var("COSIGN_PASSWORD") {
        return Ok(p);
    }
    anyhow::ensure!(
        std::io::stdin().is_terminal(),
        "COSIGN_PASSWORD is not set and there is no terminal to ask for a password on: set it, or pass --no-password to write a key anyone who reads the file can use"
    );
    let first = rpassword::prompt_password("Enter password for private key: ")
        .context("cannot read the password from the terminal")?;
    let second = rpassword::prompt_password("Enter password for private key again: ")
        .context("cannot read the password from the terminal")?;
    anyhow::ensure!(
        first == second,
        "the passwords do not match; nothing written"
    );
    Ok(first)
}

pub fn run_generate_key_pair(args: &KeyPairArgs) -> anyhow::Result<()> {
    let private_path = args.output_prefix.with_extension("key");
    let public_path = args.output_prefix.with_extension("pub");
    for p in [&private_path, &public_path] {
        anyhow::ensure!(!p.exists(), "{} exists; not overwriting a key", p.display());
    }
    let password = key_password(args.no_password)?;
    let (key, private) = SigningKey::generate(password.as_bytes())?;
    write_private(&private_path, &private)?;
    std::fs::write(&public_path, key.public_pem())
        .with_context(|| format!("cannot write {}", public_path.display()))?;
    eprintln!(
        "wrote {} and {} (key id {})",
        private_path.display(),
        public_path.display(),
        key.id()
    );
    if password.is_empty() {
        eprintln!(
            "warning: {} has an empty password: anyone who reads it can sign",
            private_path.display()
        );
    }
    Ok(())
}

/// Creates the private key file readable by its owner only, never clobbering.
fn write_private(path: &std::path::Path, pem: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(pem.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}
