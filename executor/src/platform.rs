//! Platform detection from `<root>/etc/os-release`: Ubuntu 14.04/16.04 (Debian family) and
//! RHEL/CentOS 7 (RPM family); anything else is refused with the OS named.

use scaleio::step::{InitSystem, OsFacts, OsFamily};

use crate::host::{Host, HostError};

/// A supported platform.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Platform {
    /// `ID` and `VERSION_ID` as found.
    pub os: OsFacts,
    /// Package family.
    pub family: OsFamily,
    /// Init system: Ubuntu 14.04 runs upstart/SysV scripts, the others systemd.
    pub init: InitSystem,
}

/// Why the platform is not supported.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    #[error(transparent)]
    Read(#[from] HostError),
    #[error(
        "/etc/os-release is missing\nhint: only Ubuntu 14.04/16.04 and RHEL/CentOS 7 are supported; is this host one of them?"
    )]
    Missing,
    #[error("/etc/os-release has no {0} line")]
    Field(&'static str),
    #[error(
        "unsupported operating system `{pretty}` (ID={id}, VERSION_ID={version_id})\nhint: ScaleIO 2.0.1-2072 runs on Ubuntu 14.04/16.04 and RHEL/CentOS 7 only; run no ScaleIO steps on this agent"
    )]
    Unsupported { pretty: String, id: String, version_id: String },
}

/// Parses the `KEY=value` lines of os-release (values optionally quoted).
pub fn parse_os_release(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.trim().split_once('='))
        .filter(|(k, _)| !k.starts_with('#'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().trim_matches(['"', '\'']).to_owned()))
        .collect()
}

/// Classifies os-release text.
pub fn classify(text: &str) -> Result<Platform, PlatformError> {
    let fields = parse_os_release(text);
    let get = |k: &str| fields.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
    let id = get("ID").ok_or(PlatformError::Field("ID"))?;
    let version_id = get("VERSION_ID").ok_or(PlatformError::Field("VERSION_ID"))?;
    let major = version_id.split('.').next().unwrap_or("");
    let (family, init) = match (id.as_str(), version_id.as_str()) {
        ("ubuntu", "14.04") => (OsFamily::Debian, InitSystem::Sysv),
        ("ubuntu", "16.04") => (OsFamily::Debian, InitSystem::Systemd),
        ("rhel" | "centos", _) if major == "7" => (OsFamily::Rhel, InitSystem::Systemd),
        _ => {
            let pretty = get("PRETTY_NAME").unwrap_or_else(|| format!("{id} {version_id}"));
            return Err(PlatformError::Unsupported { pretty, id, version_id });
        }
    };
    Ok(Platform { os: OsFacts { id, version_id, family: Some(family) }, family, init })
}

/// Detects the platform of `host`.
pub fn detect(host: &Host) -> Result<Platform, PlatformError> {
    let text = host.read("/etc/os-release")?.ok_or(PlatformError::Missing)?;
    classify(&text)
}

/// An os-release text for tests and simulated hosts.
pub fn os_release_text(id: &str, version_id: &str, pretty: &str) -> String {
    format!("NAME=\"{pretty}\"\nID={id}\nVERSION_ID=\"{version_id}\"\nPRETTY_NAME=\"{pretty}\"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supported_and_refused_systems() {
        let ubuntu = "NAME=\"Ubuntu\"\nVERSION=\"14.04.5 LTS, Trusty Tahr\"\nID=ubuntu\nID_LIKE=debian\nPRETTY_NAME=\"Ubuntu 14.04.5 LTS\"\nVERSION_ID=\"14.04\"\n";
        let p = classify(ubuntu).expect("ubuntu 14.04");
        assert_eq!((p.family, p.init), (OsFamily::Debian, InitSystem::Sysv));
        let centos = "NAME=\"CentOS Linux\"\nVERSION=\"7 (Core)\"\nID=\"centos\"\nVERSION_ID=\"7\"\nPRETTY_NAME=\"CentOS Linux 7 (Core)\"\n";
        assert_eq!(classify(centos).expect("centos").family, OsFamily::Rhel);
        let rhel = os_release_text("rhel", "7.9", "Red Hat Enterprise Linux Server 7.9 (Maipo)");
        assert_eq!(classify(&rhel).expect("rhel").init, InitSystem::Systemd);
        let debian = os_release_text("debian", "12", "Debian GNU/Linux 12 (bookworm)");
        let err = classify(&debian).expect_err("debian");
        assert!(
            err.to_string().starts_with(
                "unsupported operating system `Debian GNU/Linux 12 (bookworm)` (ID=debian, VERSION_ID=12)"
            ),
            "{err}"
        );
        assert!(classify(&os_release_text("centos", "8", "CentOS 8")).is_err());
        assert!(matches!(classify("ID=ubuntu\n"), Err(PlatformError::Field("VERSION_ID"))));
    }
}
