//! The machinery behind `tests/state_tables.rs`: the table format, the
//! checker that drives the real machines through a table, the mutations
//! that prove the checker notices a changed cell, and one model per machine
//! (its vocabulary of states and events, and how to render them).

pub mod auth;
pub mod breaker;
pub mod check;
pub mod heartbeat;
pub mod log_limit;
pub mod mutate;
pub mod progress;
pub mod resumption;
pub mod session;
pub mod startup_wait;
pub mod table;
pub mod upstream;
