//! Fuzz harnesses for every parser of outside input the core owns: carrier
//! replies and push bodies, times, identities, registration JSON and the
//! configuration read from the environment.
//!
//! Each harness is a bounded-time property test: a modest number of cases in the
//! test command (all of them together take a few seconds), `PROPTEST_CASES` cases
//! in a long run; each prints how many cases it ran (see [`support::fuzz`]).

mod config;
mod normalise;
mod registration;
mod support;
mod values;
