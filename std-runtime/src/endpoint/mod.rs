//! The local broadcast endpoint: see the crate docs.
