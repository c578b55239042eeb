//! The ids every stage passes around (no stage): an app, an environment, and a config-repo
//! revision, each its own type so that an app name cannot be handed where an environment is
//! expected, and a revision prints shortened in one way only.
//!
//! Input: names validated by `config` (DNS labels) and commit ids read by `git`. Output:
//! [`AppId`], [`EnvId`], [`Revision`] and the pair [`AppEnv`], the key of per-app work.

use std::fmt;

macro_rules! id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s)
            }
        }

        impl From<&String> for $name {
            fn from(s: &String) -> Self {
                Self(s.clone())
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }
    };
}

id!(
    /// An app's name from gantry.yaml (`apps[].name`).
    AppId
);
id!(
    /// An environment's name from gantry.yaml (`environments[].name`).
    EnvId
);
id!(
    /// A config-repo commit id (40 hex digits once read from git).
    Revision
);

impl Revision {
    /// The first 12 characters, as logs, notes and trailers show a commit.
    #[must_use]
    pub fn short(&self) -> &str {
        self.0.get(..12).unwrap_or(&self.0)
    }
}

/// One app in one environment: the key of a sync, a rollout, a promotion target.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AppEnv {
    pub app: AppId,
    pub env: EnvId,
}

impl AppEnv {
    #[must_use]
    pub fn new(app: impl Into<AppId>, env: impl Into<EnvId>) -> Self {
        Self {
            app: app.into(),
            env: env.into(),
        }
    }
}

impl fmt::Display for AppEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} in {}", self.app, self.env)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_compare_with_text_and_revisions_shorten_once() {
        let key = AppEnv::new("web", "prod");
        assert_eq!(key.app, "web");
        assert_eq!(key.to_string(), "web in prod");
        let rev = Revision::from("0123456789abcdef0123");
        assert_eq!(rev.short(), "0123456789ab");
        assert_eq!(Revision::from("abc").short(), "abc");
        assert_eq!(serde_json::to_string(&key.env).expect("json"), "\"prod\"");
    }
}
