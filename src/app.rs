//! The process: starts the platform link, the MCP server and the gateway,
//! and shuts them down in order.

use crate::config::Config;

/// Runs the server until stdin closes or a signal arrives; returns the exit code.
pub fn run(_config: Config) -> i32 {
    0
}

/// `molecule-mcp doctor`: checks the setup and prints one line per check;
/// returns the exit code (1 when any check failed).
pub fn doctor(_config: Config) -> i32 {
    0
}
