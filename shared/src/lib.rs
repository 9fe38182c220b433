//! # Parcel Sentinel — the shared domain
//!
//! Everything that decides lives here, in plain Rust with no AWS types: normalising
//! carrier data ([`normalise`]), merging timelines ([`domain`]), evaluating rules
//! ([`rules`]), choosing the next check ([`schedule`]), deduplicating and escalating
//! alerts ([`alerts`]), rendering messages ([`message`]), and the pipeline that ties
//! them together ([`pipeline`]). Adapters implement small ports: [`carrier::Carrier`],
//! [`store::Store`], [`clock::Clock`]. The `sentinel` CLI and (later) the Lambda
//! functions only wire adapters to these.

pub mod alerts;
pub mod bench;
pub mod carrier;
pub mod channels;
pub mod clock;
pub mod config;
pub mod delivery;
pub mod digest;
pub mod domain;
pub mod message;
pub mod normalise;
pub mod pipeline;
pub mod providers;
pub mod registration;
pub mod report;
pub mod rules;
pub mod schedule;
pub mod sim;
pub mod store;
pub mod time;
