//! Signing and verification keys: where they come from and what identifies them.
//!
//! Input: a key location (file path, `env://VAR` or a Kubernetes Secret) and, for private keys,
//! the password (the Secret's `cosign.password`, else `COSIGN_PASSWORD` as cosign does, else
//! empty). Output: a [`SigningKey`] or a
//! [`TrustedKey`], each with a key id (`sha256:` of the DER public key) that names the key in
//! signatures and messages without revealing anything secret.

use sigstore::crypto::signing_key::SigStoreKeyPair;
use sigstore::crypto::{CosignVerificationKey, SigStoreSigner, SigningScheme};

use super::SignError;
use crate::config::SecretRef;

/// Where a key lives, as written on the command line: a path, `env://VAR`, or
/// `k8s://NAMESPACE/NAME` (a Kubernetes Secret holding cosign's `cosign.key`, `cosign.password`
/// and `cosign.pub`, as `cosign generate-key-pair k8s://…` writes it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    File(std::path::PathBuf),
    Env(String),
    Secret { namespace: String, name: String },
}

impl KeySource {
    pub fn parse(text: &str) -> Result<Self, SignError> {
        if let Some(var) = text.strip_prefix("env://") {
            Ok(Self::Env(var.to_owned()))
        } else if let Some(rest) = text.strip_prefix("k8s://") {
            match rest.split_once('/') {
                Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => {
                    Ok(Self::Secret {
                        namespace: ns.to_owned(),
                        name: name.to_owned(),
                    })
                }
                _ => Err(SignError::Key {
                    source_name: text.to_owned(),
                    message: "expected k8s://NAMESPACE/NAME".into(),
                }),
            }
        } else {
            Ok(Self::File(text.into()))
        }
    }

    /// A policy's key reference: relative files are under `base` (the config repo), Secrets in
    /// `namespace` (gantry's own).
    #[must_use]
    pub fn from_ref(r: &SecretRef, base: &std::path::Path, namespace: &str) -> Self {
        match r {
            SecretRef::File(p) => Self::File(base.join(p)),
            SecretRef::Env(v) => Self::Env(v.clone()),
            SecretRef::Secret(name) => Self::Secret {
                namespace: namespace.to_owned(),
                name: name.clone(),
            },
        }
    }

    #[must_use]
    pub fn needs_cluster(&self) -> bool {
        matches!(self, Self::Secret { .. })
    }

    fn name(&self) -> String {
        match self {
            Self::File(p) => crate::config::secret_path(p),
            Self::Env(v) => format!("env://{v}"),
            Self::Secret { namespace, name } => format!("k8s://{namespace}/{name}"),
        }
    }

    fn fail(&self, message: String) -> SignError {
        SignError::Key {
            source_name: self.name(),
            message,
        }
    }

    /// The PEM text; for a Secret, its `entry` (`cosign.key` or `cosign.pub`).
    async fn read(&self, kube: Option<&kube::Client>, entry: &str) -> Result<String, SignError> {
        match self {
            Self::File(path) => std::fs::read_to_string(path).map_err(|e| self.fail(e.to_string())),
            Self::Env(var) => {
                std::env::var(var).map_err(|_| self.fail(format!("{var} is not set")))
            }
            Self::Secret { .. } => self
                .secret_entry(kube, entry)
                .await?
                .ok_or_else(|| self.fail(format!("the Secret has no `{entry}` entry"))),
        }
    }

    async fn secret_entry(
        &self,
        kube: Option<&kube::Client>,
        entry: &str,
    ) -> Result<Option<String>, SignError> {
        let Self::Secret { namespace, name } = self else {
            return Ok(None);
        };
        let client = kube.ok_or_else(|| {
            self.fail("reading a Kubernetes Secret needs a cluster connection".into())
        })?;
        let api: kube::Api<k8s_openapi::api::core::v1::Secret> =
            kube::Api::namespaced(client.clone(), namespace);
        let secret = api.get(name).await.map_err(|e| match e {
            kube::Error::Api(s) if s.code == 404 => self.fail(format!(
                "the Secret does not exist: create it with `kubectl -n {namespace} create secret generic {name} --from-file={entry}=<file>`"
            )),
            kube::Error::Api(s) => {
                self.fail(format!("cannot read the Secret: {} ({})", s.message, s.code))
            }
            other => self.fail(format!("cannot read the Secret: {other}")),
        })?;
        let Some(bytes) = secret.data.and_then(|mut d| d.remove(entry)) else {
            return Ok(None);
        };
        String::from_utf8(bytes.0)
            .map(Some)
            .map_err(|_| self.fail(format!("`{entry}` is not UTF-8")))
    }
}

/// `sha256:<hex>` of a DER public key.
fn key_id(der: &[u8]) -> String {
    crate::core::sha256(der)
}

pub struct SigningKey {
    signer: SigStoreSigner,
    id: String,
    public_pem: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Reads a private key. The password is a Secret's `cosign.password`, else
    /// `COSIGN_PASSWORD`, else empty.
    pub async fn load(source: &KeySource, kube: Option<&kube::Client>) -> Result<Self, SignError> {
        let pem = source.read(kube, "cosign.key").await?;
        let password = match source.secret_entry(kube, "cosign.password").await? {
            Some(p) => p,
            None => std::env::var("COSIGN_PASSWORD").unwrap_or_default(),
        };
        Self::from_pem(&source.name(), pem.as_bytes(), password.as_bytes())
    }

    /// cosign's `ENCRYPTED SIGSTORE/COSIGN PRIVATE KEY` PEM, or a plain PKCS#8 `PRIVATE KEY`.
    pub fn from_pem(name: &str, pem: &[u8], password: &[u8]) -> Result<Self, SignError> {
        let fail = |message: String| SignError::Key {
            source_name: name.to_owned(),
            message,
        };
        let pair = SigStoreKeyPair::from_encrypted_pem(pem, password).map_err(|e| {
            fail(format!(
                "cannot read the private key (wrong COSIGN_PASSWORD, or not a PEM key?): {e}"
            ))
        })?;
        Self::from_pair(&pair).map_err(fail)
    }

    fn from_pair(pair: &SigStoreKeyPair) -> Result<Self, String> {
        let signer = pair
            .to_sigstore_signer(&SigningScheme::ECDSA_P256_SHA256_ASN1)
            .map_err(|e| format!("only ECDSA P-256 keys are supported: {e}"))?;
        let der = pair.public_key_to_der().map_err(|e| e.to_string())?;
        Ok(Self {
            signer,
            id: key_id(&der),
            public_pem: pair.public_key_to_pem().map_err(|e| e.to_string())?,
        })
    }

    /// A new random key; returns it with its private key as cosign's encrypted PEM.
    pub fn generate(password: &[u8]) -> Result<(Self, String), SignError> {
        let fail = |e: sigstore::errors::SigstoreError| SignError::Key {
            source_name: "new key".into(),
            message: e.to_string(),
        };
        let pair = SigningScheme::ECDSA_P256_SHA256_ASN1
            .create_signer()
            .and_then(|s| s.to_sigstore_keypair())
            .map_err(fail)?;
        let private = pair.private_key_to_encrypted_pem(password).map_err(fail)?;
        let key = Self::from_pair(&pair).map_err(|message| SignError::Key {
            source_name: "new key".into(),
            message,
        })?;
        Ok((key, private.to_string()))
    }

    pub(super) fn sign(&self, payload: &[u8]) -> Result<Vec<u8>, SignError> {
        self.signer.sign(payload).map_err(|e| SignError::Key {
            source_name: self.id.clone(),
            message: format!("signing failed: {e}"),
        })
    }

    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The public key (`PUBLIC KEY` PEM), as `cosign.pub`.
    #[must_use]
    pub fn public_pem(&self) -> &str {
        &self.public_pem
    }
}

/// A public key an image may be signed with.
pub struct TrustedKey {
    /// Where it came from, for messages.
    pub name: String,
    pub id: String,
    key: CosignVerificationKey,
}

impl std::fmt::Debug for TrustedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustedKey")
            .field("name", &self.name)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl TrustedKey {
    pub async fn load(source: &KeySource, kube: Option<&kube::Client>) -> Result<Self, SignError> {
        Self::from_pem(&source.name(), &source.read(kube, "cosign.pub").await?)
    }

    pub fn from_pem(name: &str, pem: &str) -> Result<Self, SignError> {
        let fail = |message: String| SignError::Key {
            source_name: name.to_owned(),
            message,
        };
        let parsed = pem::parse(pem).map_err(|e| fail(format!("not a PEM public key: {e}")))?;
        let key = CosignVerificationKey::from_der(
            parsed.contents(),
            &SigningScheme::ECDSA_P256_SHA256_ASN1,
        )
        .map_err(|e| fail(format!("not an ECDSA P-256 public key: {e}")))?;
        Ok(Self {
            name: name.to_owned(),
            id: key_id(parsed.contents()),
            key,
        })
    }

    /// Whether `signature` (raw DER bytes) over `payload` was made with this key.
    #[must_use]
    pub fn verifies(&self, signature: &[u8], payload: &[u8]) -> bool {
        self.key
            .verify_signature(sigstore::crypto::Signature::Raw(signature), payload)
            .is_ok()
    }
}
