//! Fuzz harnesses for the parsers of outside input the carrier adapters own:
//! signed push bodies, tracking-number detection, the provider configuration
//! and the clients' reading of provider failures.
//!
//! Each harness is a bounded-time property test: a modest number of cases in the
//! test command, `PROPTEST_CASES` cases in a long run; each prints how many
//! cases it ran (see [`support::fuzz`]). No test touches the network.

mod detect;
mod failures;
mod push;
mod settings;
mod support;
