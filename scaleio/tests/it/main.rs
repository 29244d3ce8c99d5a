//! Integration tests of the `scaleio` crate: one binary, one module per subject.

mod render;
mod scli;
