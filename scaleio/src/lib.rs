//! The ScaleIO domain: topology and personas, the provisioning step vocabulary, `scli` and gateway
//! clients, and renderers for REX-Ray, isolator and agent configuration.
//!
//! This crate knows nothing about Mesos: agents arrive as hostnames, IPs, capacities and plain
//! `(name, value)` attribute pairs.

pub mod devices;
pub mod gateway;
pub mod names;
pub mod render;
pub mod scli;
pub mod secret;
pub mod step;
pub mod topology;

pub use names::{DevicePath, NameError, ObjectName};
pub use secret::{Secret, SecretError, SecretRef};
