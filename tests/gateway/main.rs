//! The gateway through the real binary against real fixture upstreams
//! (`tests/programs/fixture_*.rs`), in gateway-only mode: the failures of
//! seeds 003 (expired sessions) and 004 (dead servers, breakers that never
//! close), and what an operator and an agent see around them.
//!
//! Needs the fixtures built: `cargo build --examples` (a plain `cargo test`
//! builds them). Every wait is bounded; no assertion depends on exact
//! timing.

#[path = "../support/mod.rs"]
mod support;

mod cancel;
mod contain;
mod features;
mod lifecycle;
mod names;
mod recovery;
mod relay;
mod restore;
mod resume;
mod seed003;
mod seed004;
mod startup;
