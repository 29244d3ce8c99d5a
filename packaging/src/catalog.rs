//! The artifact catalog (`catalog.toml`) and its lock (`catalog.lock`): formats, parsing with
//! file-and-line errors, validation, and rendering of the lock.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Deserialize;
use toml::Spanned;

/// A catalog or lock that cannot be used, located by file and line.
///
/// Raised before any network access: a malformed input is a usage error (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{}:{line}: {message}", file.display())]
pub struct InputError {
    /// The file that is wrong.
    pub file: PathBuf,
    /// 1-based line of the offending item (1 when the whole file is at fault).
    pub line: usize,
    /// What was expected and what was found, with a hint when there is one.
    pub message: String,
}

/// A SHA-256 digest; displays as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sha256([u8; 32]);

impl Sha256 {
    /// Wraps raw digest bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw digest bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The digest of `data`.
    pub fn of(data: &[u8]) -> Self {
        use sha2::Digest as _;
        Self(sha2::Sha256::digest(data).into())
    }

    /// The first `n` hex digits (used in bundle file names).
    pub fn short(&self, n: usize) -> String {
        let mut s = self.to_string();
        s.truncate(n);
        s
    }
}

impl fmt::Display for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{self}")
    }
}

impl FromStr for Sha256 {
    type Err = String;

    /// Accepts exactly 64 lowercase hex digits.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let valid =
            s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !valid {
            return Err(format!("expected 64 lowercase hex digits, found {s:?}"));
        }
        let mut out = [0u8; 32];
        for (i, chunk) in s.as_bytes().chunks(2).enumerate() {
            let hi = hex_value(chunk[0]);
            let lo = hex_value(chunk[1]);
            out[i] = (hi << 4) | lo;
        }
        Ok(Self(out))
    }
}

fn hex_value(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        _ => b - b'a' + 10,
    }
}

impl serde::Serialize for Sha256 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Sha256 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

macro_rules! closed_enum {
    ($(#[$meta:meta])* $name:ident, $what:literal { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &[$name] = &[$($name::$variant),+];

            /// The spelling used in catalog, manifest and file names.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(format!(
                        concat!("unknown ", $what, " {:?}; expected one of: {}"),
                        other,
                        [$($text),+].join(", ")
                    )),
                }
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

closed_enum!(
    /// What an artifact is for.
    Component, "component" {
        Mdm = "mdm",
        Sds = "sds",
        Sdc = "sdc",
        Lia = "lia",
        Gateway = "gateway",
        Rexray = "rexray",
        Dvdcli = "dvdcli",
        DvdiIsolator = "dvdi-isolator",
    }
);

closed_enum!(
    /// The operating-system family an artifact installs on; `any` goes into every bundle.
    Platform, "platform" {
        Ubuntu14 = "ubuntu14",
        Rhel7 = "rhel7",
        Any = "any",
    }
);

/// One downloadable file named by the catalog.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Artifact {
    /// Unique name, `[a-z0-9-]+`.
    pub name: String,
    /// What it is for.
    pub component: Component,
    /// Where it installs.
    pub platform: Platform,
    /// Upstream version string, free-form.
    pub version: String,
    /// File name inside the bundle (`artifacts/<file>`) and in mirrors (`DIR/<file>`).
    pub file: String,
    /// Download URLs (`http`/`https`), tried in order after the mirrors.
    pub urls: Vec<String>,
}

/// The parsed, validated `catalog.toml`.
#[derive(Clone, Debug)]
pub struct Catalog {
    /// Where it was read from (for messages).
    pub path: PathBuf,
    /// Names the bundles: `scaleio-bundle-<release>-<platform>-…`.
    pub release: String,
    /// Artifacts in file order.
    pub artifacts: Vec<Artifact>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalog {
    release: Spanned<String>,
    #[serde(default)]
    artifact: Vec<RawArtifact>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawArtifact {
    name: Spanned<String>,
    component: Spanned<String>,
    platform: Spanned<String>,
    version: Spanned<String>,
    file: Spanned<String>,
    urls: Spanned<Vec<Spanned<String>>>,
}

/// Maps byte offsets of one file to 1-based lines.
struct Located<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Located<'_> {
    fn line_of(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end].iter().filter(|&&b| b == b'\n').count() + 1
    }

    fn error(&self, offset: usize, message: impl Into<String>) -> InputError {
        InputError {
            file: self.path.to_path_buf(),
            line: self.line_of(offset),
            message: message.into(),
        }
    }

    fn toml_error(&self, err: &toml::de::Error) -> InputError {
        let offset = err.span().map_or(0, |s| s.start);
        self.error(offset, format!("invalid toml: {}", err.message().trim_end()))
    }

    fn read(path: &Path) -> Result<String, InputError> {
        std::fs::read_to_string(path).map_err(|err| InputError {
            file: path.to_path_buf(),
            line: 1,
            message: format!("cannot read file: {err}"),
        })
    }
}

/// `[a-z0-9-]+`, not starting or ending with `-`.
fn is_valid_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('-')
        && !s.ends_with('-')
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// A single path component safe in archives, mirrors and URLs: `[A-Za-z0-9._+-]`, not `.`-led.
fn is_valid_file_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('.')
        && s.len() <= 200
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'+'))
}

/// `[a-z0-9._-]`: the characters allowed in a bundle file name.
fn is_valid_release(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(['.', '-'])
        && s.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        })
}

fn check_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|err| format!("invalid url {url:?}: {err}"))?;
    match parsed.scheme() {
        "http" | "https" => {}
        other => {
            return Err(format!(
                "unsupported url scheme {other:?} in {url:?}; expected http or https (use --mirror DIR for local files)"
            ));
        }
    }
    // `https:///x/y.deb` parses (WHATWG) as host `x`: a typo must not become another host.
    let written_host = url.split_once("://").map_or("", |(_, rest)| rest);
    if parsed.host_str().is_none_or(str::is_empty) || written_host.starts_with('/') {
        return Err(format!("url {url:?} has no host"));
    }
    Ok(())
}

impl Catalog {
    /// Reads and validates a catalog file.
    pub fn load(path: &Path) -> Result<Self, InputError> {
        let text = Located::read(path)?;
        Self::parse(&text, path)
    }

    /// Validates catalog text; `path` is used in messages only.
    pub fn parse(text: &str, path: &Path) -> Result<Self, InputError> {
        let at = Located { path, text };
        let raw: RawCatalog = toml::from_str(text).map_err(|err| at.toml_error(&err))?;
        let release = raw.release.get_ref();
        if !is_valid_release(release) {
            return Err(at.error(
                raw.release.span().start,
                format!(
                    "invalid release {release:?}; expected [a-z0-9._-] (it names the bundle files)"
                ),
            ));
        }
        let mut names: BTreeMap<String, usize> = BTreeMap::new();
        let mut files: BTreeMap<String, usize> = BTreeMap::new();
        let mut artifacts = Vec::with_capacity(raw.artifact.len());
        for a in raw.artifact {
            let name = a.name.get_ref().clone();
            let name_line = at.line_of(a.name.span().start);
            if !is_valid_name(&name) {
                return Err(at.error(
                    a.name.span().start,
                    format!("invalid artifact name {name:?}; expected [a-z0-9-]"),
                ));
            }
            if let Some(first) = names.insert(name.clone(), name_line) {
                return Err(at.error(
                    a.name.span().start,
                    format!("duplicate artifact name {name:?} (first defined on line {first})"),
                ));
            }
            let component: Component = a
                .component
                .get_ref()
                .parse()
                .map_err(|msg: String| at.error(a.component.span().start, msg))?;
            let platform: Platform = a
                .platform
                .get_ref()
                .parse()
                .map_err(|msg: String| at.error(a.platform.span().start, msg))?;
            let version = a.version.get_ref().trim().to_owned();
            if version.is_empty() {
                return Err(at.error(
                    a.version.span().start,
                    format!("artifact {name:?} has an empty version"),
                ));
            }
            let file = a.file.get_ref().clone();
            if !is_valid_file_name(&file) {
                return Err(at.error(
                    a.file.span().start,
                    format!(
                        "invalid file name {file:?}; expected one path component of [A-Za-z0-9._+-]"
                    ),
                ));
            }
            if let Some(first) = files.insert(file.clone(), name_line) {
                return Err(at.error(
                    a.file.span().start,
                    format!("duplicate file name {file:?} (first used on line {first})"),
                ));
            }
            let mut urls = Vec::new();
            for url in a.urls.get_ref() {
                check_url(url.get_ref()).map_err(|msg| at.error(url.span().start, msg))?;
                urls.push(url.get_ref().clone());
            }
            artifacts.push(Artifact { name, component, platform, version, file, urls });
        }
        Ok(Self { path: path.to_path_buf(), release: release.clone(), artifacts })
    }

    /// The concrete platforms named by the catalog (`any` excluded), sorted.
    pub fn platforms(&self) -> Vec<Platform> {
        let set: BTreeSet<Platform> =
            self.artifacts.iter().map(|a| a.platform).filter(|p| *p != Platform::Any).collect();
        set.into_iter().collect()
    }

    /// The artifacts a `platform` bundle holds: its own plus the `any` ones, sorted by name.
    pub fn artifacts_for(&self, platform: Platform) -> Vec<&Artifact> {
        let mut out: Vec<&Artifact> = self
            .artifacts
            .iter()
            .filter(|a| a.platform == platform || a.platform == Platform::Any)
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// The artifact called `name`.
    pub fn get(&self, name: &str) -> Option<&Artifact> {
        self.artifacts.iter().find(|a| a.name == name)
    }
}

/// What the lock knows about one artifact.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pin {
    /// SHA-256 of the file.
    pub sha256: Sha256,
    /// Exact size in bytes.
    pub size: u64,
}

/// The parsed `catalog.lock`: pins by artifact name.
#[derive(Clone, Debug, Default)]
pub struct Lock {
    /// Where it was read from (for messages).
    pub path: PathBuf,
    /// Pins by artifact name.
    pub pins: BTreeMap<String, Pin>,
    lines: BTreeMap<String, usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLock {
    #[serde(default)]
    artifact: Vec<RawPin>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPin {
    name: Spanned<String>,
    sha256: Spanned<String>,
    size: Spanned<u64>,
}

/// The header written at the top of every lock file.
pub const LOCK_HEADER: &str = "# Pinned SHA-256 digests and sizes of the artifacts in catalog.toml.\n\
# Written by `cargo xtask bundle lock`; do not edit by hand.\n";

impl Lock {
    /// Reads and validates a lock file; a missing file is an empty lock.
    pub fn load(path: &Path) -> Result<Self, InputError> {
        match std::fs::metadata(path) {
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Self { path: path.to_path_buf(), ..Self::default() });
            }
            _ => {}
        }
        let text = Located::read(path)?;
        Self::parse(&text, path)
    }

    /// Validates lock text; `path` is used in messages only.
    pub fn parse(text: &str, path: &Path) -> Result<Self, InputError> {
        let at = Located { path, text };
        let raw: RawLock = toml::from_str(text).map_err(|err| at.toml_error(&err))?;
        let mut lock = Self { path: path.to_path_buf(), ..Self::default() };
        for p in raw.artifact {
            let name = p.name.get_ref().clone();
            let line = at.line_of(p.name.span().start);
            if !is_valid_name(&name) {
                return Err(at.error(
                    p.name.span().start,
                    format!("invalid artifact name {name:?}; expected [a-z0-9-]"),
                ));
            }
            let sha256: Sha256 = p.sha256.get_ref().parse().map_err(|msg: String| {
                at.error(p.sha256.span().start, format!("bad sha256 for {name:?}: {msg}"))
            })?;
            if let Some(first) = lock.lines.insert(name.clone(), line) {
                return Err(at.error(
                    p.name.span().start,
                    format!("duplicate lock entry {name:?} (first on line {first})"),
                ));
            }
            lock.pins.insert(name, Pin { sha256, size: *p.size.get_ref() });
        }
        Ok(lock)
    }

    /// Fails on entries that name no artifact of `catalog` (a stale lock).
    pub fn check_against(&self, catalog: &Catalog) -> Result<(), InputError> {
        for (name, line) in &self.lines {
            if catalog.get(name).is_none() {
                return Err(InputError {
                    file: self.path.clone(),
                    line: *line,
                    message: format!(
                        "lock entry {name:?} names no artifact in {}; hint: run `cargo xtask bundle lock` to drop it",
                        catalog.path.display()
                    ),
                });
            }
        }
        Ok(())
    }

    /// The pin of `name`, if any.
    pub fn pin(&self, name: &str) -> Option<Pin> {
        self.pins.get(name).copied()
    }

    /// Sets (or replaces) the pin of `name`.
    pub fn set(&mut self, name: &str, pin: Pin) {
        self.pins.insert(name.to_owned(), pin);
    }

    /// Keeps only the pins of artifacts in `catalog`.
    pub fn retain_catalog(&mut self, catalog: &Catalog) {
        self.pins.retain(|name, _| catalog.get(name).is_some());
        self.lines.retain(|name, _| catalog.get(name).is_some());
    }

    /// The lock file text, entries in catalog order (then any others by name).
    pub fn render(&self, catalog: &Catalog) -> String {
        let mut out = String::from(LOCK_HEADER);
        let mut seen = BTreeSet::new();
        let ordered = catalog
            .artifacts
            .iter()
            .map(|a| a.name.as_str())
            .chain(self.pins.keys().map(String::as_str));
        for name in ordered {
            let Some(pin) = self.pins.get(name) else { continue };
            if !seen.insert(name) {
                continue;
            }
            out.push_str(&format!(
                "\n[[artifact]]\nname = \"{name}\"\nsha256 = \"{}\"\nsize = {}\n",
                pin.sha256, pin.size
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"release = "1.0"

[[artifact]]
name = "a-deb"
component = "sds"
platform = "ubuntu14"
version = "1"
file = "a.deb"
urls = ["https://example.com/a.deb"]
"#;

    fn catalog_err(text: &str) -> String {
        Catalog::parse(text, Path::new("cat.toml")).expect_err("must fail").to_string()
    }

    #[test]
    fn good_catalog_parses() {
        let c = Catalog::parse(GOOD, Path::new("cat.toml")).expect("valid");
        assert_eq!(c.artifacts[0].component, Component::Sds);
        assert_eq!(c.platforms(), vec![Platform::Ubuntu14]);
    }

    #[test]
    fn catalog_errors_carry_file_and_line() {
        let dup = format!(
            "{GOOD}\n[[artifact]]\nname = \"a-deb\"\ncomponent = \"sds\"\nplatform = \"rhel7\"\nversion = \"1\"\nfile = \"b.rpm\"\nurls = []\n"
        );
        assert_eq!(
            catalog_err(&dup),
            "cat.toml:12: duplicate artifact name \"a-deb\" (first defined on line 4)"
        );
        let plat = GOOD.replace("\"ubuntu14\"", "\"debian12\"");
        assert_eq!(
            catalog_err(&plat),
            "cat.toml:6: unknown platform \"debian12\"; expected one of: ubuntu14, rhel7, any"
        );
        let scheme = GOOD.replace("https://example.com", "ftp://example.com");
        assert!(
            catalog_err(&scheme).starts_with("cat.toml:9: unsupported url scheme \"ftp\""),
            "{}",
            catalog_err(&scheme)
        );
        let name = GOOD.replace("a-deb", "A_deb");
        assert!(catalog_err(&name).starts_with("cat.toml:4: invalid artifact name"));
        let syntax = GOOD.replace("version = \"1\"", "version = ");
        assert!(
            catalog_err(&syntax).starts_with("cat.toml:7: invalid toml"),
            "{}",
            catalog_err(&syntax)
        );
    }

    #[test]
    fn lock_round_trips_and_rejects_bad_hex() {
        let c = Catalog::parse(GOOD, Path::new("cat.toml")).expect("valid");
        let mut lock = Lock::default();
        lock.set("a-deb", Pin { sha256: Sha256::of(b"x"), size: 1 });
        let text = lock.render(&c);
        let back = Lock::parse(&text, Path::new("l")).expect("round trip");
        assert_eq!(back.pin("a-deb"), lock.pin("a-deb"));
        let bad = text.replace(&Sha256::of(b"x").to_string(), &"A".repeat(64));
        let err = Lock::parse(&bad, Path::new("l")).expect_err("bad hex").to_string();
        assert!(err.starts_with("l:6: bad sha256 for \"a-deb\""), "{err}");
    }
}

#[cfg(test)]
mod shipped {
    use super::*;

    #[test]
    fn the_shipped_catalog_and_lock_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let catalog = Catalog::load(&dir.join("catalog.toml")).expect("shipped catalog is valid");
        assert_eq!(catalog.release, "2.0.1-2072");
        assert_eq!(catalog.platforms(), vec![Platform::Ubuntu14, Platform::Rhel7]);
        let scaleio = catalog.artifacts.iter().filter(|a| a.name.starts_with("scaleio-")).count();
        assert_eq!(scaleio, 10, "five ScaleIO packages for each of two platforms");
        for p in [Platform::Ubuntu14, Platform::Rhel7] {
            let comps: BTreeSet<Component> =
                catalog.artifacts_for(p).iter().map(|a| a.component).collect();
            assert_eq!(comps.len(), Component::ALL.len(), "{p} bundle has every component");
        }
        let lock = Lock::load(&dir.join("catalog.lock")).expect("shipped lock is valid");
        lock.check_against(&catalog).expect("lock matches catalog");
    }
}
