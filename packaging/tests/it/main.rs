//! Integration tests of the packaging crate: one binary, one module per subject.

mod archive;
mod bundles;
mod fetch;
mod fixture;
mod reader;
mod server;
