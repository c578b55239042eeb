//! Admission in the loop (stages ③ and ⑥, before apply): the registry and workload rules
//! (`cluster::admit`) and signature verification of every image a rendered workload runs, as
//! the config's `SignaturePolicy` demands.
//!
//! Input: the rendered objects with their origin files, the commit's tree (relative key files
//! are read from it, not from disk), the policies, and the config's registry credentials.
//! Output: the sync's refusal (any `enforce` violation: nothing is applied) or its warnings.
//! Verified digest-pinned images are remembered per trusted key set, so the drift pass does not
//! ask the registry again; a tag is resolved on every check, since it can move.

use std::collections::HashSet;
use std::sync::Mutex;

use serde_json::Value;

use crate::artifact::admit::{self, ImageUse, Violation, workload_images};
use crate::config::policy::{Mode, Policy, PolicySpec};
use crate::git::TreeFs;

/// What verification needs beyond the commit: where Secrets are and how registries are reached.
#[derive(Clone, Default)]
pub struct ImageAccess {
    /// gantry's own namespace: `secret:` keys and the registry's credentials Secret live here.
    pub namespace: String,
    /// The cluster gantry runs in, for those Secrets; `None` makes `secret:` sources an error.
    pub kube: Option<kube::Client>,
    /// Registries (`host:port`) reached over plain HTTP; loopback ones always are.
    pub insecure: Vec<String>,
    /// Why signatures are not verified at all (`gantry up`: the example's images are
    /// placeholders); each sync's status says so. `None`: verify.
    pub unverified: Option<String>,
}

/// Verifies images for every sync; shared by all workers.
#[cfg_attr(
    not(feature = "sign"),
    allow(dead_code, reason = "only signature verification reads them")
)]
pub struct Verifier {
    access: ImageAccess,
    /// `image@digest|key ids` of images already verified.
    verified: Mutex<HashSet<String>>,
}

/// One sync's inputs to admission.
pub struct Admission<'a> {
    pub rendered: &'a [(Value, String)],
    /// The environment's namespace, given to workloads that name none.
    pub namespace: &'a str,
    pub policies: &'a [Policy],
    pub tree: &'a TreeFs,
    pub registry: Option<&'a crate::config::Registry>,
    /// Plan only: no registry is asked, and the plan says signatures were not verified.
    pub plan_only: bool,
}

impl Verifier {
    /// Whether `memo` (`image@digest|key ids`) was verified before.
    #[cfg(feature = "sign")]
    fn remembers(&self, memo: &str) -> bool {
        self.verified
            .lock()
            .expect("verified-image memo lock poisoned")
            .contains(memo)
    }

    #[must_use]
    pub fn new(access: ImageAccess) -> Self {
        Self {
            access,
            verified: Mutex::new(HashSet::new()),
        }
    }

    /// `Err(refusal)` when an `enforce` policy is broken; else the warnings, if any.
    #[cfg_attr(
        not(feature = "sign"),
        allow(clippy::unused_async, reason = "verification awaits the registry")
    )]
    pub async fn admit(&self, a: Admission<'_>) -> Result<Option<String>, String> {
        let mut violations = admit::admit(a.rendered, a.policies, a.namespace);
        let images = workload_images(a.rendered, a.namespace);
        let mut notes = Vec::new();
        for p in a.policies {
            let PolicySpec::Signatures(policy) = &p.spec else {
                continue;
            };
            if images.is_empty() {
                continue;
            }
            let skipped = match (&self.access.unverified, a.plan_only) {
                (Some(reason), _) => Some(reason.as_str()),
                (None, true) => Some("plan-only mode"),
                (None, false) => None,
            };
            if let Some(reason) = skipped {
                notes.push(format!(
                    "signatures not verified: {reason} ({} image(s), {})",
                    images.len(),
                    p.file.display()
                ));
                continue;
            }
            let file = p.file.display().to_string();
            #[cfg(feature = "sign")]
            let unaccepted = signed::check(self, policy, &images, &a).await;
            #[cfg(not(feature = "sign"))]
            let unaccepted = unverifiable(&images);
            for (image, message) in unaccepted {
                violations.push(Violation {
                    object: image.object.clone(),
                    origin: image.origin.clone(),
                    policy: file.clone(),
                    rule: "signature",
                    message: format!("container {:?}: {message}", image.container),
                    enforce: policy.mode == Mode::Enforce,
                });
            }
        }
        let refusals: Vec<String> = violations
            .iter()
            .filter(|v| v.enforce)
            .map(ToString::to_string)
            .collect();
        if !refusals.is_empty() {
            return Err(format!(
                "refused by policy, nothing applied:\n{}",
                refusals.join("\n")
            ));
        }
        let mut warnings: Vec<String> = violations.iter().map(ToString::to_string).collect();
        if !warnings.is_empty() {
            warnings.insert(0, "policy warnings:".into());
        }
        warnings.extend(notes);
        Ok((!warnings.is_empty()).then(|| warnings.join("\n")))
    }
}

/// Without the `sign` feature nothing can be verified: every image is reported, and an
/// `enforce` policy refuses rather than deploy unverified images.
#[cfg(not(feature = "sign"))]
fn unverifiable(images: &[ImageUse]) -> Vec<(&ImageUse, String)> {
    images
        .iter()
        .map(|i| {
            (
                i,
                format!(
                    "{}: cannot verify: this gantry was built without signature verification \
                     (cargo feature `sign`)",
                    i.image
                ),
            )
        })
        .collect()
}

#[cfg(feature = "sign")]
mod signed {
    use std::collections::HashMap;
    use std::collections::hash_map::Entry;

    use oci_client::Reference;

    use super::{Admission, ImageUse, Verifier};
    use crate::artifact::registry::{Registry, RegistryCredentials, RegistryOptions};
    use crate::artifact::sign::TrustedKey;
    use crate::artifact::sign::verify::{self, KeyContext, Verdict};
    use crate::config::policy::SignaturePolicy;

    /// How many verified images are remembered; past it the memory starts over (a miss costs
    /// one registry round trip per image, nothing else).
    const REMEMBERED: usize = 4096;

    /// Verifies each distinct image once; keys are loaded once per rule.
    pub(super) async fn check<'i>(
        verifier: &Verifier,
        policy: &SignaturePolicy,
        images: &'i [ImageUse],
        a: &Admission<'_>,
    ) -> Vec<(&'i ImageUse, String)> {
        let mut out = Vec::new();
        let mut parsed = Vec::new();
        for i in images {
            match crate::core::ImageRef::parse(&i.image) {
                Ok(r) => parsed.push((i, r.to_oci())),
                Err(e) => out.push((
                    i,
                    format!("{}: not an image reference: {}", i.image, e.message),
                )),
            }
        }
        let mut session = Session {
            verifier,
            admission: a,
            references: parsed.iter().map(|(_, r)| r.clone()).collect(),
            connected: None,
            keys: HashMap::new(),
        };
        let mut verdicts: HashMap<&str, Option<String>> = HashMap::new();
        for (i, r) in &parsed {
            if !verdicts.contains_key(i.image.as_str()) {
                let verdict = session.verdict(policy, r).await;
                verdicts.insert(&i.image, verdict);
            }
            if let Some(Some(message)) = verdicts.get(i.image.as_str()) {
                out.push((*i, message.clone()));
            }
        }
        out
    }

    /// One admission's verification: the registry connection and each rule's keys, made on
    /// first use, so a drift pass over verified digests reads no credentials Secret and asks
    /// no registry.
    struct Session<'v, 'a> {
        verifier: &'v Verifier,
        admission: &'v Admission<'a>,
        references: Vec<Reference>,
        /// The registry, and why its credentials could not be loaded.
        connected: Option<(Registry, Option<String>)>,
        /// By rule index: the trusted keys and their sorted ids, or why they cannot load.
        keys: HashMap<usize, Result<(Vec<TrustedKey>, String), String>>,
    }

    impl Session<'_, '_> {
        /// `None` when `r` may run; else why not.
        async fn verdict(&mut self, policy: &SignaturePolicy, r: &Reference) -> Option<String> {
            let rule = match verify::rule_for(policy, r) {
                Ok(rule) => rule,
                Err(refusal) => return Some(refusal.to_string()),
            };
            let index = policy
                .rules
                .iter()
                .position(|x| std::ptr::eq(x, rule))
                .expect("the rule comes from this policy");
            if let Entry::Vacant(slot) = self.keys.entry(index) {
                let ctx = KeyContext {
                    base: std::path::Path::new(""),
                    tree: Some(self.admission.tree),
                    namespace: &self.verifier.access.namespace,
                    kube: self.verifier.access.kube.as_ref(),
                };
                let loaded = verify::trusted_keys(rule, ctx).await.map(|k| {
                    let mut ids: Vec<&str> = k.iter().map(|k| k.id.as_str()).collect();
                    ids.sort_unstable();
                    let fingerprint = ids.join(",");
                    (k, fingerprint)
                });
                slot.insert(loaded.map_err(|e| e.to_string()));
            }
            let fingerprint = match &self.keys[&index] {
                Err(e) => return Some(format!("{}: {e}", r.whole())),
                Ok((_, fingerprint)) => fingerprint.clone(),
            };
            // Only a digest names content for good; a tag is checked every time.
            let memo = r.digest().map(|_| format!("{}|{fingerprint}", r.whole()));
            if memo.as_ref().is_some_and(|m| self.verifier.remembers(m)) {
                return None;
            }
            self.connect().await;
            let (registry, credentials_error) = self.connected.as_ref().expect("connected above");
            let Ok((trusted, _)) = &self.keys[&index] else {
                return Some(format!("{}: its keys did not load", r.whole()));
            };
            one(self.verifier, registry, r, trusted, memo)
                .await
                .map(|m| match (credentials_error, m.contains("cannot verify")) {
                    (Some(c), true) => format!("{m} ({c})"),
                    _ => m,
                })
        }

        async fn connect(&mut self) {
            if self.connected.is_none() {
                let (options, credentials_error) = registry_options(
                    self.verifier,
                    self.admission.registry,
                    self.references.iter(),
                )
                .await;
                let registry = Registry::new(options, self.references.iter());
                self.connected = Some((registry, credentials_error));
            }
        }
    }

    /// `None` when `image` is signed by one of `trusted`; else why not. A verified image with a
    /// `memo` key is remembered.
    async fn one(
        verifier: &Verifier,
        registry: &Registry,
        image: &Reference,
        trusted: &[TrustedKey],
        memo: Option<String>,
    ) -> Option<String> {
        match verify::verify(registry, image, trusted).await {
            Ok(Verdict::Verified { .. }) => {
                if let Some(m) = memo {
                    let mut memory = verifier
                        .verified
                        .lock()
                        .expect("verified-image memo lock poisoned");
                    if memory.len() >= REMEMBERED {
                        memory.clear();
                    }
                    memory.insert(m);
                }
                None
            }
            Ok(Verdict::Refused(refusal)) => Some(refusal.to_string()),
            Err(e) => Some(format!("{}: cannot verify: {e}", image.whole())),
        }
    }

    /// The verifier's registry options plus the config registry's credentials, when an image
    /// is on that registry; a credentials error is returned to explain failed verifications.
    async fn registry_options<'r>(
        verifier: &Verifier,
        config: Option<&crate::config::Registry>,
        mut references: impl Iterator<Item = &'r Reference>,
    ) -> (RegistryOptions, Option<String>) {
        let mut options = RegistryOptions {
            insecure: verifier.access.insecure.clone(),
            ..RegistryOptions::default()
        };
        let Some((config, source)) = config.and_then(|c| Some((c, c.credentials.as_ref()?))) else {
            return (options, None);
        };
        let host = host(&config.url);
        if !references.any(|r| r.registry() == host) {
            return (options, None);
        }
        let access = &verifier.access;
        match RegistryCredentials::load(host, source, access.kube.as_ref(), &access.namespace).await
        {
            Ok(c) => {
                options.credentials.insert(host.to_owned(), c);
                (options, None)
            }
            Err(e) => (options, Some(e.to_string())),
        }
    }

    /// `harbor.example.com` of `https://harbor.example.com/`.
    fn host(url: &str) -> &str {
        let rest = url.split_once("://").map_or(url, |(_, r)| r);
        rest.split('/').next().unwrap_or(rest)
    }
}
