//! The scheduler function's handler, as a library so that it is tested with in-memory
//! adapters and JSON fixtures (`tests/`); `main.rs` only wires the AWS adapters.

pub mod handler;
