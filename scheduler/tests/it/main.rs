//! Integration tests of `scaleio-scheduler`: one binary, one module per subject.

mod attributes;
mod check_config;
mod core_capacity_target;
mod core_index;
mod core_loop;
mod core_loop_master;
mod core_loop_store;
mod core_lost_agents;
mod core_main;
mod core_offers;
mod core_plan;
mod core_recovery;
mod core_silent_agents;
mod core_support;
mod http_api;
mod http_artifacts;
mod http_page;
mod http_support;
mod store_file;
mod store_zk;
mod support;
