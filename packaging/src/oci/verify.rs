//! Our own verifier of an OCI image layout: every blob against its descriptor, and every layer's
//! uncompressed tar against the config's `rootfs.diff_ids`.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{CONFIG_MEDIA_TYPE, LAYER_MEDIA_TYPE, MANIFEST_MEDIA_TYPE, REF_NAME};
use crate::archive::HashingReader;

/// What is wrong with an image layout.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("cannot read `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("`{}` is not valid JSON", path.display())]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("`{}`: {what}", path.display())]
    Invalid { path: PathBuf, what: String },
    #[error("no manifest in `{}` is tagged `{tag}` (found {found:?})", path.display())]
    NoSuchTag { path: PathBuf, tag: String, found: Vec<String> },
    #[error("blob `{}` should be {expected} ({expected_size} bytes) but is {found} ({found_size} bytes)", path.display())]
    BlobMismatch {
        path: PathBuf,
        expected: String,
        expected_size: u64,
        found: String,
        found_size: u64,
    },
    #[error(
        "layer {layer} uncompresses to {found}, but the config's diff_id is {expected}\nhint: diff_ids are digests of the uncompressed tar"
    )]
    DiffIdMismatch { layer: usize, expected: String, found: String },
    #[error("the manifest has {layers} layers but the config has {diff_ids} diff_ids")]
    LayerCount { layers: usize, diff_ids: usize },
}

/// What the verifier checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedImage {
    pub manifest: String,
    pub config: String,
    pub diff_ids: Vec<String>,
}

/// Check the layout in `dir` for the manifest tagged `tag`.
pub fn verify_layout(dir: &Path, tag: &str) -> Result<VerifiedImage, VerifyError> {
    let layout = read_json(&dir.join("oci-layout"))?;
    if layout["imageLayoutVersion"] != "1.0.0" {
        return Err(invalid(&dir.join("oci-layout"), "imageLayoutVersion is not 1.0.0"));
    }
    let index_path = dir.join("index.json");
    let index = read_json(&index_path)?;
    let manifests = index["manifests"].as_array().cloned().unwrap_or_default();
    let found: Vec<String> = manifests
        .iter()
        .filter_map(|m| m["annotations"][REF_NAME].as_str().map(String::from))
        .collect();
    let Some(descriptor) = manifests.iter().find(|m| m["annotations"][REF_NAME] == tag) else {
        return Err(VerifyError::NoSuchTag { path: index_path, tag: tag.to_owned(), found });
    };
    let (manifest_digest, manifest_path) = check_blob(dir, descriptor, MANIFEST_MEDIA_TYPE)?;
    let manifest = read_json(&manifest_path)?;
    if manifest["schemaVersion"] != 2 || manifest["mediaType"] != MANIFEST_MEDIA_TYPE {
        return Err(invalid(&manifest_path, "not an OCI image manifest with schemaVersion 2"));
    }
    let (config_digest, config_path) = check_blob(dir, &manifest["config"], CONFIG_MEDIA_TYPE)?;
    let config = read_json(&config_path)?;
    let diff_ids: Vec<String> = config["rootfs"]["diff_ids"]
        .as_array()
        .map(|ids| ids.iter().filter_map(|id| id.as_str().map(String::from)).collect())
        .unwrap_or_default();
    let layers = manifest["layers"].as_array().cloned().unwrap_or_default();
    if layers.len() != diff_ids.len() {
        return Err(VerifyError::LayerCount { layers: layers.len(), diff_ids: diff_ids.len() });
    }
    for (index, (layer, expected)) in layers.iter().zip(&diff_ids).enumerate() {
        let (path, digest, size) = blob_path(dir, layer, LAYER_MEDIA_TYPE)?;
        let file =
            File::open(&path).map_err(|source| VerifyError::Read { path: path.clone(), source })?;
        let mut compressed = HashingReader::new(file);
        let mut tar = HashingReader::new(flate2::read::GzDecoder::new(&mut compressed));
        io::copy(&mut tar, &mut io::sink())
            .map_err(|source| VerifyError::Read { path: path.clone(), source })?;
        let tar = tar.finish();
        // Drain anything after the gzip member so the blob digest covers the whole file.
        io::copy(&mut compressed, &mut io::sink())
            .map_err(|source| VerifyError::Read { path: path.clone(), source })?;
        let blob = compressed.finish();
        if blob.oci() != digest || blob.size != size {
            return Err(VerifyError::BlobMismatch {
                path,
                expected: digest,
                expected_size: size,
                found: blob.oci(),
                found_size: blob.size,
            });
        }
        if tar.oci() != *expected {
            return Err(VerifyError::DiffIdMismatch {
                layer: index,
                expected: expected.clone(),
                found: tar.oci(),
            });
        }
    }
    Ok(VerifiedImage { manifest: manifest_digest, config: config_digest, diff_ids })
}

fn invalid(path: &Path, what: &str) -> VerifyError {
    VerifyError::Invalid { path: path.to_owned(), what: what.to_owned() }
}

fn read_json(path: &Path) -> Result<Value, VerifyError> {
    let bytes = std::fs::read(path)
        .map_err(|source| VerifyError::Read { path: path.to_owned(), source })?;
    serde_json::from_slice(&bytes)
        .map_err(|source| VerifyError::Json { path: path.to_owned(), source })
}

fn blob_path(
    dir: &Path,
    descriptor: &Value,
    media_type: &str,
) -> Result<(PathBuf, String, u64), VerifyError> {
    let here = dir.join("index.json");
    if descriptor["mediaType"] != media_type {
        return Err(invalid(
            &here,
            &format!("a descriptor is not of media type {media_type}: {descriptor}"),
        ));
    }
    let digest = descriptor["digest"].as_str().unwrap_or_default();
    let Some(hex) = digest.strip_prefix("sha256:").filter(|h| {
        h.len() == 64 && h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    }) else {
        return Err(invalid(
            &here,
            &format!("a descriptor's digest is not sha256:<hex>: {descriptor}"),
        ));
    };
    let size = descriptor["size"].as_u64().unwrap_or(u64::MAX);
    Ok((dir.join("blobs").join("sha256").join(hex), digest.to_owned(), size))
}

fn check_blob(
    dir: &Path,
    descriptor: &Value,
    media_type: &str,
) -> Result<(String, PathBuf), VerifyError> {
    let (path, digest, size) = blob_path(dir, descriptor, media_type)?;
    let file =
        File::open(&path).map_err(|source| VerifyError::Read { path: path.clone(), source })?;
    let mut reader = HashingReader::new(file);
    io::copy(&mut reader, &mut io::sink())
        .map_err(|source| VerifyError::Read { path: path.clone(), source })?;
    let found = reader.finish();
    if found.oci() != digest || found.size != size {
        return Err(VerifyError::BlobMismatch {
            path,
            expected: digest,
            expected_size: size,
            found: found.oci(),
            found_size: found.size,
        });
    }
    Ok((digest, path))
}
