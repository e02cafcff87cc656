//! molecule-mcp: connects an AI agent to the Molecule platform and to its
//! other MCP servers over one stdio MCP connection.
//!
//! Layout: `machine/` holds the pure state machines (no clock, no I/O);
//! everything else is the shell that drives them with threads and blocking I/O.

pub mod app;
pub mod backend;
pub mod bounded_json;
pub mod cli;
pub mod config;
pub mod doctor;
pub mod fence;
pub mod lines;
pub mod logging;
pub mod machine;
pub mod mcp;
pub mod platform;
pub mod redact;
pub mod resolver;
pub mod seed;
pub mod shutdown;
pub mod statefile;
pub mod sync;
#[cfg(test)]
mod test_clock;
pub mod threads;
pub mod tools;
pub mod upstream;
