//! Mesos v1 HTTP APIs (scheduler and executor): typed messages, RecordIO framing and connections.
//!
//! This crate knows nothing about ScaleIO.
