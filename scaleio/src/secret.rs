//! Secrets (the ScaleIO admin password, gateway tokens): a value that never prints, and a reference
//! that says where the executor or scheduler reads it from.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// A secret value. `Debug` and `Display` print `***`; the value is only reachable through
/// [`Secret::expose`], so every place that uses it is easy to find.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value. Never log or return what this gives you.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Where a secret comes from. Steps carry references, never values, so a step (which travels in
/// `TaskInfo.data` and is stored in the plan) never holds a password.
///
/// JSON: `{"env":"SCALEIO_ADMIN_PASSWORD"}` or `{"file":"/run/secrets/scaleio-admin"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum SecretRef {
    /// An environment variable of the process that resolves it (the executor gets it through the
    /// `ExecutorInfo` command environment).
    Env(String),
    /// A file whose content (one trailing newline trimmed) is the secret.
    File(PathBuf),
}

/// The environment variable the admin password is read from when nothing else is said.
pub const DEFAULT_ADMIN_PASSWORD_ENV: &str = "SCALEIO_ADMIN_PASSWORD";

impl Default for SecretRef {
    fn default() -> Self {
        SecretRef::Env(DEFAULT_ADMIN_PASSWORD_ENV.to_owned())
    }
}

/// Why a secret could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error(
        "secret environment variable `{0}` is not set or empty\nhint: set it in the environment of the scheduler/executor (never on a command line)"
    )]
    EnvMissing(String),
    #[error("cannot read secret file {path}")]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("secret file {0} is empty")]
    FileEmpty(PathBuf),
}

impl SecretRef {
    /// Reads the secret. `env` looks an environment variable up (pass `|k| std::env::var(k).ok()`
    /// in production, a map in tests).
    pub fn resolve(&self, env: impl Fn(&str) -> Option<String>) -> Result<Secret, SecretError> {
        match self {
            SecretRef::Env(name) => match env(name) {
                Some(v) if !v.is_empty() => Ok(Secret::new(v)),
                _ => Err(SecretError::EnvMissing(name.clone())),
            },
            SecretRef::File(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|source| SecretError::File { path: path.clone(), source })?;
                let value = text.strip_suffix('\n').unwrap_or(&text);
                let value = value.strip_suffix('\r').unwrap_or(value);
                if value.is_empty() {
                    return Err(SecretError::FileEmpty(path.clone()));
                }
                Ok(Secret::new(value))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints() {
        let s = Secret::new("Scaleio123");
        assert_eq!(format!("{s:?} {s}"), "*** ***");
        assert_eq!(s.expose(), "Scaleio123");
    }

    #[test]
    fn env_reference_resolves_and_names_the_missing_variable() {
        let r = SecretRef::Env("PW".into());
        let got = r.resolve(|k| (k == "PW").then(|| "x".to_owned())).expect("set");
        assert_eq!(got.expose(), "x");
        let err = r.resolve(|_| None).expect_err("unset");
        assert!(err.to_string().contains("`PW`"), "{err}");
    }

    #[test]
    fn file_reference_trims_one_newline() {
        let dir = std::env::temp_dir().join(format!("secret-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("tmp");
        let path = dir.join("pw");
        std::fs::write(&path, "p w\n").expect("write");
        let got = SecretRef::File(path.clone()).resolve(|_| None).expect("read");
        assert_eq!(got.expose(), "p w");
        std::fs::write(&path, "\n").expect("write");
        assert!(matches!(SecretRef::File(path).resolve(|_| None), Err(SecretError::FileEmpty(_))));
        std::fs::remove_dir_all(&dir).ok();
    }
}
