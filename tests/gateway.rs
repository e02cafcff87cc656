//! The gateway through the real binary against real fixture upstreams
//! (`tests/tools/fixture_*.rs`), in gateway-only mode: the failures of
//! seeds 003 (expired sessions) and 004 (dead servers, breakers that never
//! close), and what an operator and an agent see around them.
//!
//! Needs the fixtures built: `cargo build --examples` (a plain `cargo test`
//! builds them). Every wait is bounded; no assertion depends on exact
//! timing.

#[path = "tools/fixture/launch.rs"]
mod launch;
mod support;

#[path = "gateway/harness.rs"]
mod harness;

#[path = "gateway/cancel.rs"]
mod cancel;
#[path = "gateway/contain.rs"]
mod contain;
#[path = "gateway/features.rs"]
mod features;
#[path = "gateway/lifecycle.rs"]
mod lifecycle;
#[path = "gateway/names.rs"]
mod names;
#[path = "gateway/recovery.rs"]
mod recovery;
#[path = "gateway/relay.rs"]
mod relay;
#[path = "gateway/restore.rs"]
mod restore;
#[path = "gateway/resume.rs"]
mod resume;
#[path = "gateway/seed003.rs"]
mod seed003;
#[path = "gateway/seed004.rs"]
mod seed004;
#[path = "gateway/startup.rs"]
mod startup;
