//! What the test suites share: the binary's path, a throwaway directory, a
//! running binary with its pipes, the platform simulator, the fixture
//! upstream programs and the gateway started over them, a scripted HTTP/1.1
//! server and a bare HTTP/1.1 client.
//!
//! A suite that is one file includes it with `mod support;`; a suite that is
//! a directory (`tests/<suite>/main.rs`) with
//! `#[path = "../support/mod.rs"] mod support;`. Each suite uses a
//! different subset, hence the blanket allowance.
#![allow(dead_code)]

mod binary;
mod child;
pub mod gateway;
pub mod launch;
pub mod loopback;
pub mod processes;
pub mod raw_http;
pub mod sim;
mod tempdir;

#[allow(unused_imports)]
pub use binary::bin;
#[allow(unused_imports)]
pub use child::{tool_is_error, tool_text, Child};
#[allow(unused_imports)]
pub use tempdir::TempDir;

/// The platform tools in `tools/list` order: the contract (mcp-server.md
/// §2 and the runtime's later additions), written out here rather than
/// read from the code it checks.
pub const PLATFORM_TOOLS: [&str; 31] = [
    "delegate_task",
    "delegate_task_async",
    "check_task_status",
    "list_peers",
    "get_workspace_info",
    "get_runtime_identity",
    "update_agent_card",
    "broadcast_message",
    "send_message_to_user",
    "create_request",
    "create_approval",
    "install_plugin",
    "desktop_status",
    "desktop_screenshot",
    "desktop_click",
    "desktop_type",
    "desktop_key",
    "desktop_open_url",
    "wait_for_message",
    "inbox_peek",
    "inbox_pop",
    "chat_history",
    "commit_memory",
    "recall_memory",
    "goal_get",
    "goal_set",
    "goal_clear",
    "task_list",
    "task_add",
    "task_update",
    "task_complete",
];

/// The tools offered only with a display and `xdotool`.
pub const DESKTOP_TOOLS: [&str; 6] = [
    "desktop_status",
    "desktop_screenshot",
    "desktop_click",
    "desktop_type",
    "desktop_key",
    "desktop_open_url",
];

/// What `tools/list` holds, with or without the desktop tools.
pub fn platform_tools(desktop: bool) -> Vec<String> {
    PLATFORM_TOOLS
        .iter()
        .filter(|t| desktop || !DESKTOP_TOOLS.contains(t))
        .map(|t| t.to_string())
        .collect()
}

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
