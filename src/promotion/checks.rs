//! The registry-side gates (stage ⑧ through ③): the digest's vulnerability scan under the
//! config's `VulnerabilityPolicy`, and its signature under the `SignaturePolicy` — the same
//! verification a sync runs before it applies, so a promotion is not proposed that the
//! target's sync would refuse.
//!
//! Input: the config, the image (with its digest), the config tree, and how registries and
//! Secrets are reached. Output: a [`Check`] each. No policy: `NotRequired` (unless the target's
//! promotion rule demands a signature).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::json;

use super::gates::Check;
use crate::artifact::admission::{Admission, Verifier};
use crate::artifact::harbor::{Artifact, Harbor};
use crate::artifact::registry::RegistryCredentials;
use crate::config::Config;
use crate::config::policy::PolicySpec;
use crate::core::ImageRef;
use crate::git::TreeFs;

/// How long a scan verdict is reused: Harbor rescans on every request, and a promotion is
/// assessed after every sync of its source.
pub const SCAN_TTL: Duration = Duration::from_mins(10);

/// Scan verdicts by image, each reused for [`SCAN_TTL`].
#[derive(Default)]
pub struct ScanMemo(Mutex<HashMap<String, (Check, Instant)>>);

impl ScanMemo {
    /// [`scan`], or its verdict for `image` from the last [`SCAN_TTL`].
    ///
    /// # Panics
    ///
    /// When the memo's lock is poisoned.
    pub async fn scan(
        &self,
        config: &Config,
        image: &ImageRef,
        access: &crate::artifact::admission::ImageAccess,
    ) -> Check {
        let key = image.to_string();
        let now = Instant::now();
        {
            let mut memo = self.0.lock().expect("scan memo lock");
            memo.retain(|_, (_, at)| now.duration_since(*at) < SCAN_TTL);
            if let Some((check, _)) = memo.get(&key) {
                return check.clone();
            }
        }
        let check = scan(config, image, access).await;
        if check != Check::NotRequired {
            self.0
                .lock()
                .expect("scan memo lock")
                .insert(key, (check.clone(), Instant::now()));
        }
        check
    }
}

/// Scans `image` in Harbor and applies the config's vulnerability policy.
pub async fn scan(
    config: &Config,
    image: &ImageRef,
    access: &crate::artifact::admission::ImageAccess,
) -> Check {
    let Some((file, policy)) = config.policies.iter().find_map(|p| match &p.spec {
        PolicySpec::Vulnerabilities(v) => Some((p.file.display().to_string(), v)),
        _ => None,
    }) else {
        return Check::NotRequired;
    };
    let Some(registry) = &config.registry else {
        return Check::Failed(format!(
            "{file} asks for a scan, but gantry.yaml has no registry to ask"
        ));
    };
    let host = image.registry().to_owned();
    let credentials = match &registry.credentials {
        Some(source) => {
            match RegistryCredentials::load(&host, source, access.kube.as_ref(), &access.namespace)
                .await
            {
                Ok(c) => c,
                Err(e) => return Check::Failed(e.to_string()),
            }
        }
        None => RegistryCredentials::Anonymous,
    };
    let RegistryCredentials::Basic { username, password } = credentials else {
        return Check::Failed(
            "Harbor's scan API needs a user or robot account in registry.credentials".into(),
        );
    };
    let repo = image.repository();
    let Some((project, repository)) = repo.split_once('/') else {
        return Check::Failed(format!(
            "{repo}: Harbor repositories are PROJECT/REPOSITORY"
        ));
    };
    let base = if registry.url.contains("://") {
        registry.url.clone()
    } else {
        format!("https://{}", registry.url)
    };
    let artifact = Artifact {
        project: project.to_owned(),
        repository: repository.to_owned(),
        reference: image.digest().map(ToString::to_string).unwrap_or_default(),
    };
    let report = match Harbor::new(&base, &username, password) {
        Ok(h) => h.scan(&artifact).await,
        Err(e) => Err(e),
    };
    match report {
        Ok(report) => {
            let verdict =
                crate::artifact::scan::gate(&report, policy, chrono::Utc::now().date_naive());
            if verdict.passed() {
                Check::Passed(format!("{} ({file})", verdict.summary()))
            } else {
                Check::Failed(format!(
                    "{} with {} finding(s) above the policy ({file})",
                    verdict.summary(),
                    verdict.blocking.len()
                ))
            }
        }
        Err(e) => Check::Failed(format!("no scan report: {e}")),
    }
}

/// Verifies `image`'s signature as a sync would, through the daemon's [`Verifier`].
/// `required`: the target's promotion rule says `requireSignature` (no signature policy is
/// then a closed gate, not "not required").
pub async fn signature(
    config: &Config,
    image: &ImageRef,
    (verifier, tree, namespace): (&Verifier, &TreeFs, &str),
    required: bool,
) -> Check {
    let policies: Vec<_> = config
        .policies
        .iter()
        .filter(|p| matches!(p.spec, PolicySpec::Signatures(_)))
        .cloned()
        .collect();
    if policies.is_empty() {
        return if required {
            Check::Failed("requireSignature, but no SignaturePolicy is configured".into())
        } else {
            Check::NotRequired
        };
    }
    let files: Vec<String> = policies
        .iter()
        .map(|p| p.file.display().to_string())
        .collect();
    // One Pod running the image: what a sync admits for every workload it renders.
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "promotion", "namespace": namespace},
        "spec": {"containers": [{"name": "app", "image": image.to_string()}]}});
    let rendered = [(pod, "promotion".to_owned())];
    let admitted = verifier
        .admit(Admission {
            rendered: &rendered,
            namespace,
            policies: &policies,
            tree,
            registry: config.registry.as_ref(),
            plan_only: false,
        })
        .await;
    match admitted {
        // The refusal a sync would print, minus its "nothing applied" header.
        Err(refusal) => Check::Failed(
            refusal
                .lines()
                .filter(|l| !l.starts_with("refused by policy"))
                .collect::<Vec<_>>()
                .join(" "),
        ),
        Ok(Some(note)) if note.contains("not verified") || note.contains("signature") => {
            Check::Failed(note.replace('\n', " "))
        }
        Ok(_) => Check::Passed(format!("verified ({})", files.join(", "))),
    }
}
