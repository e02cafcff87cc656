//! The hardening contract through the real binary: nothing the agent, a
//! peer, an upstream or a state file sends can exfiltrate a secret, starve
//! the process or leave a process behind (README, "Security").

mod support;

#[path = "hardening/attachments.rs"]
mod attachments;
#[path = "hardening/common.rs"]
mod common;
#[path = "hardening/exit_race.rs"]
mod exit_race;
#[path = "hardening/sink.rs"]
mod sink;
#[path = "hardening/uploads.rs"]
mod uploads;
