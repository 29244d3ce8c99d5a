//! Workspace end-to-end tests: one integration-test binary, one module per subject.

mod demo_assets;
