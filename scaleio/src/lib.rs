//! The ScaleIO domain: topology and personas, the provisioning step vocabulary, `scli` and gateway
//! clients, and renderers for REX-Ray, isolator and agent configuration.
//!
//! This crate knows nothing about Mesos.
