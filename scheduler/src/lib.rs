//! `scheduler` library: the pieces of `scaleio-scheduler` (configuration, store, HTTP API, the
//! sans-IO core and the loop), kept in a library so tests reach them without a process.

pub mod app;
pub mod capacity;
pub mod config;
pub mod core;
pub mod http;
pub mod outbox;
pub mod runtime;
pub mod snapshot;
pub mod store;
pub mod view;
