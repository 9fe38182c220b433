//! # Parcel Sentinel — the core
//!
//! Everything that decides lives here, in plain Rust with no I/O crate (no HTTP
//! client, no SQLite, no AWS SDK): normalising carrier data ([`normalise`]),
//! merging timelines ([`domain`]), evaluating rules ([`rules`]), choosing the next
//! check ([`schedule`]), the alert lifecycle ([`lifecycle`]), rendering messages and
//! digests ([`message`], [`digest`]), reports ([`report`]) and the configuration
//! ([`config`]).
//!
//! The use cases tie them together: check a parcel ([`tracker`]), deliver the
//! outbox ([`outbox`]), register a parcel ([`registration`]), act on a problem ([`problems`]). They talk to the
//! outside world only through the traits in [`ports`], which the adapter crates
//! beside this one implement (`sentinel-sqlite`, `sentinel-carriers`,
//! `sentinel-chat`, `sentinel-aws`), and through the in-process adapters kept here
//! for tests and local wiring ([`store::memory`], [`bus`], [`clock`]). The Lambda
//! functions and the `sentinel` CLI only wire adapters to these. What the use cases
//! count (parcels checked, carrier queries and errors, alerts, notifications, the
//! outbox's age) goes through [`metrics`], a facade whose recorder the functions
//! install; without one it costs nothing.

pub mod budget;
pub mod bus;
pub mod calibration;
pub mod clip;
pub mod clock;
pub mod config;
pub mod digest;
pub mod domain;
pub mod inhibit;
pub mod lane_rules;
pub mod lanes;
pub mod lifecycle;
pub mod message;
pub mod metrics;
pub mod normalise;
pub mod outbox;
pub mod pace;
pub mod places;
pub mod ports;
pub mod problems;
pub mod registration;
pub mod report;
pub mod rules;
pub mod schedule;
pub mod secret;
pub mod sketch;
pub mod store;
pub mod tally;
pub mod time;
pub mod tracker;
