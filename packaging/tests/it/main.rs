//! Integration tests of the packaging crate: one binary, one module per subject.

mod archive;
mod bundles;
mod fetch;
mod fixture;
mod hostile_bundles;
mod hostile_catalog;
mod oci;
mod reader;
mod server;
