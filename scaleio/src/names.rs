//! Validated names and paths that end up in `scli` arguments, gateway bodies and config files:
//! ScaleIO object names (protection domains, storage pools, SDSs, MDMs) and block device paths.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a name or path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("is empty")]
    Empty,
    #[error("`{0}` is longer than 31 characters (the ScaleIO limit)")]
    TooLong(String),
    #[error(
        "`{0}` may only hold letters, digits, `_`, `-` and `.`, and must start with a letter or digit"
    )]
    BadCharacter(String),
    #[error(
        "`{0}` is not an absolute device path under /dev/ (like /dev/xvdf or /dev/disk/by-id/...)"
    )]
    NotADevicePath(String),
}

/// A ScaleIO object name: 1 to 31 characters `[A-Za-z0-9_.-]`, starting with a letter or digit.
/// Stricter than ScaleIO needs, so names are safe in argv, attribute keys, YAML and URLs.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ObjectName(String);

impl ObjectName {
    /// Validates a name.
    pub fn new(name: &str) -> Result<Self, NameError> {
        if name.is_empty() {
            return Err(NameError::Empty);
        }
        if name.chars().count() > 31 {
            return Err(NameError::TooLong(name.to_owned()));
        }
        let first_ok = name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
        let rest_ok =
            name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if !first_ok || !rest_ok {
            return Err(NameError::BadCharacter(name.to_owned()));
        }
        Ok(Self(name.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ObjectName {
    type Error = NameError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(&value)
    }
}

impl From<ObjectName> for String {
    fn from(value: ObjectName) -> Self {
        value.0
    }
}

impl fmt::Display for ObjectName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An absolute block device path under `/dev/` with no `..`, whitespace, commas or shell
/// metacharacters (it is joined with commas in `scli --device_path`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DevicePath(String);

impl DevicePath {
    /// Validates a device path.
    pub fn new(path: &str) -> Result<Self, NameError> {
        if path.is_empty() {
            return Err(NameError::Empty);
        }
        let ok = path.starts_with("/dev/")
            && path.len() > "/dev/".len()
            && !path.ends_with('/')
            && !path.split('/').any(|part| part == ".." || part == ".")
            && path.chars().all(|c| {
                c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-' | '.' | ':' | '+')
            });
        if ok { Ok(Self(path.to_owned())) } else { Err(NameError::NotADevicePath(path.to_owned())) }
    }

    /// The path as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for DevicePath {
    type Error = NameError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(&value)
    }
}

impl From<DevicePath> for String {
    fn from(value: DevicePath) -> Self {
        value.0
    }
}

impl fmt::Display for DevicePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_names() {
        assert!(ObjectName::new("pd_1.a-b").is_ok());
        assert_eq!(ObjectName::new(""), Err(NameError::Empty));
        assert!(matches!(ObjectName::new(&"a".repeat(32)), Err(NameError::TooLong(_))));
        for bad in ["-x", "a b", "a,b", "a/b", "a;rm", "é"] {
            assert!(matches!(ObjectName::new(bad), Err(NameError::BadCharacter(_))), "{bad}");
        }
    }

    #[test]
    fn device_paths() {
        for good in ["/dev/xvdf", "/dev/disk/by-id/nvme-Amazon_EBS_vol0a1:2", "/dev/mapper/x-y"] {
            assert!(DevicePath::new(good).is_ok(), "{good}");
        }
        for bad in [
            "xvdf",
            "/dev/",
            "/dev/../etc/passwd",
            "/dev/a b",
            "/dev/a,b",
            "/tmp/x",
            "/dev/x;y",
            "/dev/x/",
        ] {
            assert!(DevicePath::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn serde_validates() {
        assert!(serde_json::from_str::<ObjectName>("\"ok\"").is_ok());
        assert!(serde_json::from_str::<ObjectName>("\"not ok\"").is_err());
        assert!(serde_json::from_str::<DevicePath>("\"/etc/passwd\"").is_err());
    }
}
