//! Integration tests of the `mesos` crate: wire fixtures, JSON round-trips, RecordIO, connections.

mod recordio;
mod wire;
