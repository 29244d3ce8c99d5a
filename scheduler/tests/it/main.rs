//! Integration tests of `scaleio-scheduler`: one binary, one module per subject.

mod check_config;
mod support;
