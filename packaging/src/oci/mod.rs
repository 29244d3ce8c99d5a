//! Daemon-less OCI images: image definitions as data, layers from the reproducible archive
//! writer, an OCI image layout and a `docker load`-able archive, and a verifier of both digests.
//!
//! Every JSON document is serialised once, hashed as written and never re-serialised. Maps are
//! sorted, times come from `SOURCE_DATE_EPOCH` (or 1970), layers are sorted reproducible tars, so
//! the same inputs give the same manifest digest on every run.

mod elf;
mod verify;

use std::collections::BTreeMap;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::json;

use crate::archive::{ArchiveBuilder, ArchiveError, Digest, Source};

pub use elf::{
    DEFAULT_LIBRARY_DIRS, DynamicInfo, ElfError, RuntimeFile, dynamic_info, runtime_files,
};
pub use verify::{VerifiedImage, VerifyError, verify_layout};

/// Media type of an OCI image manifest.
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// Media type of an OCI image config.
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
/// Media type of a gzip-compressed layer.
pub const LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// Annotation on the index's manifest descriptor that holds the tag.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// Errors building or writing an image.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    #[error("cannot read the image definition `{}`", path.display())]
    ReadDefinition {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the image definition `{}` is not valid", path.display())]
    ParseDefinition {
        path: PathBuf,
        #[source]
        source: Box<toml::de::Error>,
    },
    #[error("image `{image}`: {what}\nhint: fix the image definition in images/")]
    InvalidDefinition { image: String, what: String },
    #[error("image `{image}`: cannot find what `{}` needs at run time", binary.display())]
    Runtime {
        image: String,
        binary: PathBuf,
        #[source]
        source: ElfError,
    },
    #[error("image `{image}`: cannot build layer {layer}")]
    Layer {
        image: String,
        layer: usize,
        #[source]
        source: ArchiveError,
    },
    #[error("cannot write `{}`", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{}` already exists and is not empty\nhint: remove it first; an image layout is written into a fresh directory", path.display())]
    NotEmpty { path: PathBuf },
    #[error("cannot write the docker archive `{}`", path.display())]
    DockerArchive {
        path: PathBuf,
        #[source]
        source: ArchiveError,
    },
}

/// An image as data (`images/<name>.toml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageDefinition {
    /// Image (repository) name, e.g. `scaleio-scheduler`.
    pub name: String,
    /// Name of the cargo binary the image carries.
    pub binary: String,
    pub entrypoint: Vec<String>,
    #[serde(default)]
    pub cmd: Vec<String>,
    /// `uid:gid` (numeric, so no `/etc/passwd` lookup is needed).
    pub user: String,
    #[serde(default = "root_dir")]
    pub working_dir: String,
    #[serde(default)]
    pub env: Vec<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Such as `8080/tcp`.
    #[serde(default)]
    pub exposed_ports: Vec<String>,
    /// Layers, bottom first.
    pub layers: Vec<LayerDefinition>,
}

fn root_dir() -> String {
    "/".to_owned()
}

/// One layer of an [`ImageDefinition`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerDefinition {
    /// Shown in the image history.
    pub comment: String,
    pub contents: Vec<Content>,
}

/// What goes into a layer.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Content {
    /// The image's binary, executable, at `path`.
    Binary { path: String },
    /// The binary's dynamic loader and shared libraries, at the paths the loader looks for them.
    RuntimeLibraries,
    /// A file of the build host (e.g. the CA certificate bundle).
    HostFile {
        host: PathBuf,
        path: String,
        #[serde(default)]
        executable: bool,
    },
    /// A small text file written as given.
    Text {
        path: String,
        text: String,
        #[serde(default)]
        executable: bool,
    },
}

impl ImageDefinition {
    /// Read and check a definition file.
    pub fn load(path: &Path) -> Result<ImageDefinition, OciError> {
        let text = fs::read_to_string(path)
            .map_err(|source| OciError::ReadDefinition { path: path.to_owned(), source })?;
        let def: ImageDefinition = toml::from_str(&text).map_err(|source| {
            OciError::ParseDefinition { path: path.to_owned(), source: Box::new(source) }
        })?;
        def.check()?;
        Ok(def)
    }

    fn check(&self) -> Result<(), OciError> {
        let invalid =
            |what: String| Err(OciError::InvalidDefinition { image: self.name.clone(), what });
        if self.entrypoint.is_empty() {
            return invalid("the entrypoint is empty".into());
        }
        if self.layers.is_empty() {
            return invalid("there are no layers".into());
        }
        let user_ok = self
            .user
            .split_once(':')
            .is_some_and(|(u, g)| u.parse::<u32>().is_ok() && g.parse::<u32>().is_ok());
        if !user_ok {
            return invalid(format!("user is `{}`, expected numeric `uid:gid`", self.user));
        }
        for content in self.layers.iter().flat_map(|l| &l.contents) {
            let path = match content {
                Content::Binary { path }
                | Content::HostFile { path, .. }
                | Content::Text { path, .. } => path,
                Content::RuntimeLibraries => continue,
            };
            if !path.starts_with('/') {
                return invalid(format!("`{path}` is not an absolute image path"));
            }
        }
        Ok(())
    }
}

/// What to build an image from besides its definition.
#[derive(Debug, Clone)]
pub struct BuildInputs {
    /// The binary to put at [`Content::Binary`].
    pub binary: PathBuf,
    /// The tag (`org.opencontainers.image.ref.name`).
    pub tag: String,
    /// Seconds since 1970 for `created` and every file's mtime.
    pub source_date_epoch: u64,
    /// Directories searched for shared libraries (see [`DEFAULT_LIBRARY_DIRS`]).
    pub library_dirs: Vec<PathBuf>,
}

/// One layer as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrittenLayer {
    /// Digest of the gzip blob.
    pub blob: Digest,
    /// Digest of the uncompressed tar (`rootfs.diff_ids`).
    pub diff_id: Digest,
}

/// An image layout as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenImage {
    pub dir: PathBuf,
    pub name: String,
    pub tag: String,
    pub manifest: Digest,
    pub config: Digest,
    pub layers: Vec<WrittenLayer>,
    /// The mtime of every file in the layers (and in the docker archive).
    pub source_date_epoch: u64,
}

/// Build the layers of `def` and write its OCI image layout into `dir` (absent or empty).
pub fn build_image(
    def: &ImageDefinition,
    inputs: &BuildInputs,
    dir: &Path,
) -> Result<WrittenImage, OciError> {
    def.check()?;
    let mut layers = Vec::new();
    for (index, layer) in def.layers.iter().enumerate() {
        let layer_err = |source| OciError::Layer { image: def.name.clone(), layer: index, source };
        let mut archive = ArchiveBuilder::new(inputs.source_date_epoch);
        for content in &layer.contents {
            match content {
                Content::Binary { path } => {
                    let source = Source::Path(canonical(&inputs.binary)?);
                    archive.add_file(relative(path), true, source).map_err(layer_err)?;
                }
                Content::RuntimeLibraries => {
                    let files =
                        runtime_files(&inputs.binary, &inputs.library_dirs).map_err(|source| {
                            OciError::Runtime {
                                image: def.name.clone(),
                                binary: inputs.binary.clone(),
                                source,
                            }
                        })?;
                    for file in files {
                        let source = Source::Path(file.host);
                        archive.add_file(relative(&file.path), true, source).map_err(layer_err)?;
                    }
                }
                Content::HostFile { host, path, executable } => {
                    let source = Source::Path(canonical(host)?);
                    archive.add_file(relative(path), *executable, source).map_err(layer_err)?;
                }
                Content::Text { path, text, executable } => {
                    let source = Source::Bytes(text.clone().into_bytes());
                    archive.add_file(relative(path), *executable, source).map_err(layer_err)?;
                }
            }
        }
        layers.push((layer.comment.clone(), archive));
    }
    let mut labels = def.labels.clone();
    labels.insert("org.opencontainers.image.version".into(), inputs.tag.clone());
    let created = rfc3339(inputs.source_date_epoch);
    let config = ImageConfig {
        entrypoint: def.entrypoint.clone(),
        cmd: def.cmd.clone(),
        env: def.env.clone(),
        user: def.user.clone(),
        working_dir: def.working_dir.clone(),
        labels,
        exposed_ports: def.exposed_ports.clone(),
        created,
    };
    let mut image = write_layout(dir, &def.name, &inputs.tag, &config, layers)?;
    image.source_date_epoch = inputs.source_date_epoch;
    Ok(image)
}

fn relative(path: &str) -> &str {
    path.trim_start_matches('/')
}

fn canonical(path: &Path) -> Result<PathBuf, OciError> {
    fs::canonicalize(path).map_err(|source| OciError::Write { path: path.to_owned(), source })
}

/// The runtime configuration of an image.
#[derive(Debug, Clone)]
pub struct ImageConfig {
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub user: String,
    pub working_dir: String,
    pub labels: BTreeMap<String, String>,
    pub exposed_ports: Vec<String>,
    /// RFC 3339, e.g. `1970-01-01T00:00:00Z`.
    pub created: String,
}

/// Write an OCI image layout (linux/amd64) into `dir`, which must be absent or empty. The layers
/// carry their own mtime; the returned `source_date_epoch` is [`crate::archive::DEFAULT_MTIME`]
/// (set it before [`write_docker_archive`] to date that tar's entries otherwise).
pub fn write_layout(
    dir: &Path,
    name: &str,
    tag: &str,
    config: &ImageConfig,
    layers: Vec<(String, ArchiveBuilder)>,
) -> Result<WrittenImage, OciError> {
    let write_err = |path: &Path| {
        let path = path.to_owned();
        move |source| OciError::Write { path, source }
    };
    if fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(OciError::NotEmpty { path: dir.to_owned() });
    }
    let blobs = dir.join("blobs").join("sha256");
    fs::create_dir_all(&blobs).map_err(write_err(&blobs))?;

    let mut written = Vec::new();
    let mut history = Vec::new();
    for (index, (comment, archive)) in layers.into_iter().enumerate() {
        let partial = blobs.join(".layer.partial");
        let file = fs::File::create(&partial).map_err(write_err(&partial))?;
        let (file, digests) = archive
            .write_tar_gz(std::io::BufWriter::new(file))
            .map_err(|source| OciError::Layer { image: name.to_owned(), layer: index, source })?;
        let file = file.into_inner().map_err(|e| write_err(&partial)(e.into_error()))?;
        file.sync_all().map_err(write_err(&partial))?;
        let blob = blobs.join(digests.gz.hex());
        fs::rename(&partial, &blob).map_err(write_err(&blob))?;
        written.push(WrittenLayer { blob: digests.gz, diff_id: digests.tar });
        history.push(json!({
            "created": config.created,
            "created_by": "cargo xtask image",
            "comment": comment,
        }));
    }

    let ports: BTreeMap<&str, serde_json::Value> =
        config.exposed_ports.iter().map(|p| (p.as_str(), json!({}))).collect();
    let mut runtime = json!({
        "User": config.user,
        "Env": config.env,
        "Entrypoint": config.entrypoint,
        "WorkingDir": config.working_dir,
        "Labels": config.labels,
    });
    if !ports.is_empty() {
        runtime["ExposedPorts"] = json!(ports);
    }
    if !config.cmd.is_empty() {
        runtime["Cmd"] = json!(config.cmd);
    }
    let config_json = json!({
        "created": config.created,
        "architecture": "amd64",
        "os": "linux",
        "config": runtime,
        "rootfs": {
            "type": "layers",
            "diff_ids": written.iter().map(|l| l.diff_id.oci()).collect::<Vec<_>>(),
        },
        "history": history,
    });
    let config_digest = write_json_blob(&blobs, &config_json)?;
    let manifest_json = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": descriptor(CONFIG_MEDIA_TYPE, config_digest),
        "layers": written.iter().map(|l| descriptor(LAYER_MEDIA_TYPE, l.blob)).collect::<Vec<_>>(),
    });
    let manifest_digest = write_json_blob(&blobs, &manifest_json)?;
    write_index(dir, name, tag, manifest_digest)?;
    Ok(WrittenImage {
        dir: dir.to_owned(),
        name: name.to_owned(),
        tag: tag.to_owned(),
        manifest: manifest_digest,
        config: config_digest,
        layers: written,
        source_date_epoch: crate::archive::DEFAULT_MTIME,
    })
}

/// Write `oci-layout` and an `index.json` naming one manifest by `tag`.
pub fn write_index(dir: &Path, name: &str, tag: &str, manifest: Digest) -> Result<(), OciError> {
    let mut manifest_descriptor = descriptor(MANIFEST_MEDIA_TYPE, manifest);
    manifest_descriptor["annotations"] = json!({
        REF_NAME: tag,
        "io.containerd.image.name": format!("{name}:{tag}"),
    });
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [manifest_descriptor],
    });
    write_file(&dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    write_file(&dir.join("index.json"), &to_bytes(&index))
}

fn descriptor(media_type: &str, digest: Digest) -> serde_json::Value {
    json!({ "mediaType": media_type, "digest": digest.oci(), "size": digest.size })
}

fn to_bytes(value: &serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(value).expect("a JSON value always serialises")
}

/// Serialise `value` once, write those bytes as a blob and return their digest.
pub fn write_json_blob(blobs: &Path, value: &serde_json::Value) -> Result<Digest, OciError> {
    let bytes = to_bytes(value);
    let digest = Digest::of(&bytes);
    write_file(&blobs.join(digest.hex()), &bytes)?;
    Ok(digest)
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), OciError> {
    let write_err = |source| OciError::Write { path: path.to_owned(), source };
    let partial = path.with_extension("partial");
    let mut file = fs::File::create(&partial).map_err(write_err)?;
    file.write_all(bytes).map_err(write_err)?;
    file.sync_all().map_err(write_err)?;
    fs::rename(&partial, path).map_err(write_err)
}

/// Write a tar that `docker load` (and `skopeo … docker-archive:`) accepts: the image layout plus
/// a top-level `manifest.json` naming the config, layers and `name:tag`. Returns the tar's digest.
pub fn write_docker_archive(image: &WrittenImage, out: &Path) -> Result<Digest, OciError> {
    let archive_err = |source| OciError::DockerArchive { path: out.to_owned(), source };
    let blob = |digest: Digest| format!("blobs/sha256/{}", digest.hex());
    let manifest = json!([{
        "Config": blob(image.config),
        "RepoTags": [format!("{}:{}", image.name, image.tag)],
        "Layers": image.layers.iter().map(|l| blob(l.blob)).collect::<Vec<_>>(),
    }]);
    let mut archive = ArchiveBuilder::new(image.source_date_epoch);
    archive
        .add_file("manifest.json", false, Source::Bytes(to_bytes(&manifest)))
        .map_err(archive_err)?;
    for file in ["oci-layout", "index.json"] {
        archive.add_file(file, false, Source::Path(image.dir.join(file))).map_err(archive_err)?;
    }
    let mut digests = vec![image.manifest, image.config];
    digests.extend(image.layers.iter().map(|l| l.blob));
    for digest in digests {
        let path = blob(digest);
        if archive.add_file(&path, false, Source::Path(image.dir.join(&path))).is_err() {
            // The same blob twice (two identical layers): already added.
            continue;
        }
    }
    let partial = out.with_extension("tar.partial");
    let file = fs::File::create(&partial)
        .map_err(|source| OciError::Write { path: partial.clone(), source })?;
    let (file, digest) = archive.write_tar(std::io::BufWriter::new(file)).map_err(archive_err)?;
    let file = file
        .into_inner()
        .map_err(|e| OciError::Write { path: partial.clone(), source: e.into_error() })?;
    file.sync_all().map_err(|source| OciError::Write { path: partial.clone(), source })?;
    fs::rename(&partial, out).map_err(|source| OciError::Write { path: out.to_owned(), source })?;
    Ok(digest)
}

/// RFC 3339 UTC time of `secs` since 1970 (civil-from-days, proleptic Gregorian).
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem / 60 % 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_of_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn definition_checks_name_the_problem() {
        let def: ImageDefinition = toml::from_str(
            r#"
            name = "x"
            binary = "x"
            entrypoint = ["/x"]
            user = "scaleio"
            [[layers]]
            comment = "c"
            contents = [{ kind = "binary", path = "usr/bin/x" }]
            "#,
        )
        .unwrap();
        let err = def.check().unwrap_err().to_string();
        assert!(err.contains("expected numeric `uid:gid`"), "{err}");
        let def = ImageDefinition { user: "1:1".into(), ..def };
        let err = def.check().unwrap_err().to_string();
        assert!(err.contains("`usr/bin/x` is not an absolute image path"), "{err}");
    }
}
