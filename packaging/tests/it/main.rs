//! Integration tests of the packaging crate: one binary, one module per subject.

mod archive;
