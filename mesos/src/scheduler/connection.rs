//! The scheduler's connection to the Mesos master (subscription stream and calls).
