//! Registry credentials (stage ③): where they come from and how they are kept out of logs.
//!
//! Input: a [`SecretRef`] (file, environment variable or Kubernetes Secret) holding either
//! `username:password` or a Docker `config.json` (a `kubernetes.io/dockerconfigjson` Secret). Output:
//! [`RegistryCredentials`] for one registry host. Values are wrapped in [`Secret`] so a `{:?}`
//! never prints them.

use base64::Engine as _;
use serde_json::Value;

use super::RegistryError;
use crate::config::SecretRef;
use crate::git::Secret;

/// How gantry authenticates to one registry. Basic credentials also drive the bearer-token flow:
/// on a `WWW-Authenticate: Bearer realm=…` challenge (Harbor's `/service/token`, distribution's
/// token server) they are exchanged for a token scoped to the repository and action.
#[derive(Debug, Clone, Default)]
pub enum RegistryCredentials {
    #[default]
    Anonymous,
    Basic {
        username: String,
        password: Secret,
    },
    /// A ready-made bearer token (e.g. an identity token from a cloud provider).
    Bearer(Secret),
}

impl RegistryCredentials {
    pub(super) fn to_oci(&self) -> oci_client::secrets::RegistryAuth {
        use oci_client::secrets::RegistryAuth;
        match self {
            Self::Anonymous => RegistryAuth::Anonymous,
            Self::Basic { username, password } => {
                RegistryAuth::Basic(username.clone(), password.expose().to_owned())
            }
            Self::Bearer(token) => RegistryAuth::Bearer(token.expose().to_owned()),
        }
    }

    /// Reads credentials for `registry` from a file, an env var, or a Kubernetes Secret in
    /// `namespace` (`kubernetes.io/dockerconfigjson`'s `.dockerconfigjson`, or `username` and
    /// `password` entries).
    pub async fn load(
        registry: &str,
        source: &SecretRef,
        kube: Option<&kube::Client>,
        namespace: &str,
    ) -> Result<Self, RegistryError> {
        let SecretRef::Secret(name) = source else {
            return Self::from_ref(registry, source);
        };
        let fail = |message: String| RegistryError::Credentials {
            registry: registry.to_owned(),
            message: format!("Secret {namespace}/{name}: {message}"),
        };
        let client = kube.ok_or_else(|| fail("reading it needs a cluster connection".into()))?;
        let api: kube::Api<k8s_openapi::api::core::v1::Secret> =
            kube::Api::namespaced(client.clone(), namespace);
        let mut data = api
            .get(name)
            .await
            .map_err(|e| fail(format!("cannot read it: {e}")))?
            .data
            .unwrap_or_default();
        let mut entry = |key: &str| {
            data.remove(key)
                .map(|v| String::from_utf8(v.0).map_err(|_| fail(format!("`{key}` is not UTF-8"))))
                .transpose()
        };
        if let Some(config) = entry(".dockerconfigjson")? {
            return docker_config(registry, &config).map_err(fail);
        }
        match (entry("username")?, entry("password")?) {
            (Some(username), Some(password)) => Ok(Self::Basic {
                username,
                password: Secret::new(password),
            }),
            _ => Err(fail(
                "has neither `.dockerconfigjson` nor `username` and `password`".into(),
            )),
        }
    }

    /// Reads credentials for `registry` (a host, `host:port`) from a file or env var.
    pub fn from_ref(registry: &str, source: &SecretRef) -> Result<Self, RegistryError> {
        let fail = |message: String| RegistryError::Credentials {
            registry: registry.to_owned(),
            message,
        };
        let text = source.read_local().map_err(fail)?;
        Self::parse(registry, text.trim()).map_err(fail)
    }

    /// `username:password`, or a Docker `config.json` with an `auths` entry for `registry`.
    pub fn parse(registry: &str, text: &str) -> Result<Self, String> {
        if text.starts_with('{') {
            return docker_config(registry, text);
        }
        let (username, password) = text
            .split_once(':')
            .ok_or("expected `username:password` or a Docker config.json")?;
        if username.is_empty() {
            return Err("the username before `:` is empty".into());
        }
        Ok(Self::Basic {
            username: username.to_owned(),
            password: Secret::new(password),
        })
    }
}

fn docker_config(registry: &str, text: &str) -> Result<RegistryCredentials, String> {
    let config: Value =
        serde_json::from_str(text).map_err(|e| format!("invalid Docker config.json: {e}"))?;
    let auths = config
        .get("auths")
        .and_then(Value::as_object)
        .ok_or("Docker config.json has no `auths` object")?;
    // Keys are written as `host`, `host:port` or `https://host/v1/`; compare hosts only.
    let host_of = |key: &str| {
        let key = key
            .trim_start_matches("https://")
            .trim_start_matches("http://");
        key.split('/').next().unwrap_or(key).to_owned()
    };
    let entry = auths
        .iter()
        .find(|(key, _)| host_of(key) == registry)
        .map(|(_, v)| v)
        .ok_or_else(|| format!("Docker config.json has no `auths` entry for {registry}"))?;
    if let Some(token) = entry.get("registrytoken").and_then(Value::as_str) {
        return Ok(RegistryCredentials::Bearer(Secret::new(token)));
    }
    if let Some(auth) = entry.get("auth").and_then(Value::as_str) {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth)
            .map_err(|e| format!("`auths.{registry}.auth` is not base64: {e}"))?;
        let decoded = String::from_utf8(decoded)
            .map_err(|_| format!("`auths.{registry}.auth` is not UTF-8"))?;
        return RegistryCredentials::parse(registry, &decoded)
            .map_err(|e| format!("`auths.{registry}.auth`: {e}"));
    }
    match (
        entry.get("username").and_then(Value::as_str),
        entry.get("password").and_then(Value::as_str),
    ) {
        (Some(username), Some(password)) => Ok(RegistryCredentials::Basic {
            username: username.to_owned(),
            password: Secret::new(password),
        }),
        _ => Err(format!(
            "`auths.{registry}` has neither `auth` nor `username` and `password`"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_user_password_and_docker_config() {
        let basic = RegistryCredentials::parse("r.example", "robot$ci:s3cret").expect("basic");
        assert!(
            matches!(&basic, RegistryCredentials::Basic { username, password } if username == "robot$ci" && password.expose() == "s3cret")
        );
        assert!(!format!("{basic:?}").contains("s3cret"));

        let auth = base64::engine::general_purpose::STANDARD.encode("u:p");
        let json = format!(
            r#"{{"auths":{{"https://other/v1/":{{"auth":"eDp5"}},"harbor.example:8443":{{"auth":"{auth}"}}}}}}"#
        );
        let docker = RegistryCredentials::parse("harbor.example:8443", &json).expect("docker");
        assert!(
            matches!(&docker, RegistryCredentials::Basic { username, password } if username == "u" && password.expose() == "p")
        );
        let missing = RegistryCredentials::parse("absent", &json).expect_err("no entry");
        assert!(missing.contains("no `auths` entry for absent"), "{missing}");
        assert!(RegistryCredentials::parse("r", "no-colon").is_err());
    }
}
