//! Artifact catalog and lock, verified fetching, reproducible bundles (writer, reader, verifier)
//! and daemon-less OCI images.
//!
//! This crate knows nothing about Mesos or ScaleIO provisioning.

pub mod archive;
pub mod build;
pub mod bundle;
pub mod catalog;
pub mod fetch;
pub mod oci;
pub mod reader;

pub use bundle::{Manifest, ManifestArtifact, WrittenBundle};
pub use catalog::{Artifact, Catalog, Component, InputError, Lock, Pin, Platform, Sha256};
pub use reader::{VerifyError, extract_bundle, verify_bundle_file, verify_extracted};
