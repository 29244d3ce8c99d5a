//! Mesos v1 HTTP APIs (scheduler and executor): typed messages, RecordIO framing and connections.
//!
//! This crate knows nothing about ScaleIO.
//!
//! - [`v1`]: the shared messages of `mesos.proto` (ids, `FrameworkInfo`, `Offer`, `Resource`,
//!   `TaskInfo`, `TaskStatus`, ...), re-exported at the crate root.
//! - [`scheduler`] and [`executor`]: `Call`/`Event` of each API and its connection.
//! - [`recordio`]: the framing of the event streams.
//! - [`http`]: what both connections share: [`http::Secret`], [`http::Credentials`],
//!   [`http::Backoff`], TLS and client setup.

pub mod executor;
pub mod http;
pub(crate) mod json;
pub mod recordio;
pub mod scheduler;
pub mod v1;

pub use json::{decode_base64, quote_non_finite};
pub use v1::*;
