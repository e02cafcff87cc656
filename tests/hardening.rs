//! The hardening contract through the real binary: nothing the agent, a
//! peer, an upstream or a state file sends can exfiltrate a secret, starve
//! the process or leave a process behind (README, "Security").
//!
//! The upstream scenarios need the fixtures built: `cargo build --examples`
//! (a plain `cargo test` builds them).

#[path = "tools/fixture/launch.rs"]
mod launch;
mod support;

#[path = "gateway/harness.rs"]
#[allow(dead_code)]
mod harness;

#[path = "hardening/answers.rs"]
mod answers;
#[path = "hardening/attachments.rs"]
mod attachments;
#[path = "hardening/common.rs"]
mod common;
#[path = "hardening/config_texts.rs"]
mod config_texts;
#[path = "hardening/echo_headers.rs"]
mod echo_headers;
#[path = "hardening/exit_race.rs"]
mod exit_race;
#[path = "hardening/framing.rs"]
mod framing;
#[path = "hardening/ids.rs"]
mod ids;
#[path = "hardening/orphans.rs"]
mod orphans;
#[path = "hardening/secrets.rs"]
mod secrets;
#[path = "hardening/sink.rs"]
mod sink;
#[path = "hardening/state_files.rs"]
mod state_files;
#[path = "hardening/uploads.rs"]
mod uploads;
