//! The async tokio client: see the crate docs.
