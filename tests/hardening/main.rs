//! The hardening contract through the real binary: nothing the agent, a
//! peer, an upstream or a state file sends can exfiltrate a secret, starve
//! the process or leave a process behind (README, "Security").
//!
//! The upstream scenarios need the fixtures built: `cargo build --examples`
//! (a plain `cargo test` builds them).

#[path = "../support/mod.rs"]
mod support;

mod answers;
mod attachments;
mod common;
mod config_texts;
mod echo_headers;
mod exit_race;
mod framing;
mod ids;
mod orphans;
mod secrets;
mod state_files;
mod uploads;
