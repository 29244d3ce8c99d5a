//! The executor's connection to its agent (subscription stream and calls).
