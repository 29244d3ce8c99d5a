//! Integration tests of the `mesos` crate: wire fixtures, JSON round-trips, RecordIO, connections.

mod bad_input_events;
mod bad_input_recordio;
mod executor_connection;
mod fake_master;
mod json_shapes;
mod recordio;
mod scheduler_connection;
mod wire;
