//! Integration tests of `scaleio-scheduler`: one binary, one module per subject.

mod check_config;
mod http_api;
mod http_artifacts;
mod http_support;
mod support;
