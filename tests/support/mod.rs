//! What every black-box test shares: the binary's path, a throwaway
//! directory, a running binary with its pipes, and the platform simulator.
//!
//! Each test crate uses a different subset, hence the blanket allowance.
#![allow(dead_code)]

mod binary;
mod child;
pub mod sim;
mod tempdir;

#[allow(unused_imports)]
pub use binary::bin;
#[allow(unused_imports)]
pub use child::Child;
#[allow(unused_imports)]
pub use tempdir::TempDir;

/// The 15 platform tools of mcp-server.md §2: the contract, written out
/// here rather than read from the code it checks.
pub const PLATFORM_TOOLS: [&str; 15] = [
    "delegate_task",
    "delegate_task_async",
    "check_task_status",
    "list_peers",
    "get_workspace_info",
    "get_runtime_identity",
    "update_agent_card",
    "broadcast_message",
    "send_message_to_user",
    "wait_for_message",
    "inbox_peek",
    "inbox_pop",
    "chat_history",
    "commit_memory",
    "recall_memory",
];

/// Polls `check` every 10 ms until it holds or `timeout` passes; returns
/// whether it held. For state that changes without a new request arriving.
pub fn eventually(timeout: std::time::Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}
