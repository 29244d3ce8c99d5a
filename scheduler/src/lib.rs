//! `scheduler` library: the pieces of `scaleio-scheduler` (configuration, store, HTTP API, the
//! sans-IO core and the loop), kept in a library so tests reach them without a process.

pub mod config;
pub mod http;
pub mod view;
