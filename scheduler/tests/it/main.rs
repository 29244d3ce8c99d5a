//! Integration tests of `scaleio-scheduler`: one binary, one module per subject.

mod check_config;
mod http_api;
mod http_artifacts;
mod http_page;
mod http_support;
mod store_file;
mod store_zk;
mod support;
