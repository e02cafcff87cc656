//! The loss-free inbox (platform.md §7) and push notifications
//! (mcp-server.md §4).
//!
//! A poller thread per workspace reads the workspace's `a2a_receive` feed;
//! rows become [`Message`]s in the one [`Inbox`] of the process, which the
//! tools `wait_for_message`, `inbox_peek` and `inbox_pop` read.
//!
//! No message is lost and none comes back once popped:
//! - Each workspace has a queue file in `CONFIGS_DIR`,
//!   `.mcp_inbox_queue_<workspace id>.json`, holding its pending messages
//!   and the last 1000 ids it popped. It is named by the full id in both
//!   modes, so switching between single and multi mode keeps it.
//! - A poll first records its messages and writes the queue file
//!   atomically, and only then writes the cursor (`.mcp_inbox_cursor`, or
//!   `.mcp_inbox_cursor_<first 8 of id>` in multi mode). A crash between
//!   the two re-reads rows the queue already holds or has popped, and the
//!   dedupe drops them.
//! - A pop writes the queue file before it returns (when that fails
//!   twice, the pop says so and the next successful write carries it).
//! - The queue is bounded (10 000 messages or 32 MiB as stored in the
//!   queue file, per workspace), which bounds the file too. When full,
//!   the cursor stops before the first message that did not fit: the
//!   platform keeps the rest until there is room.
//!
//! Unusable state files are moved aside as `<name>.corrupt-<unix seconds>`
//! and the inbox starts empty for that workspace.

mod ack;
mod attachment;
mod feed;
mod files;
mod health;
mod message;
mod peers;
mod poller;
pub mod push;
mod queue;
mod row;
mod safe;
mod state_file;
mod store;

pub use message::{Kind, Message, MAX_TEXT_BYTES};
pub use poller::PollerPlan;
pub use row::EMPTY_TEXT;
pub use store::{Inbox, Popped};

#[cfg(test)]
mod tests;
