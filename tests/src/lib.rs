//! Test kit: the mini-mesos master and agent emulator, ScaleIO and host stand-ins, and helpers
//! shared by the end-to-end tests.

pub mod bins;
pub mod deployment;
pub mod emulator;
pub mod fixtures;
pub mod standins;
