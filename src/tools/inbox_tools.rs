//! `wait_for_message`, `inbox_peek`, `inbox_pop`: the agent's view of the
//! inbox the pollers fill.

use std::time::Duration;

use crossbeam_channel::Receiver;
use serde_json::{json, Value};

use super::args::Args;
use super::result::{json_value, Fault, Outcome};
use super::Toolbox;
use crate::fence::Fence;
use crate::mcp::context::CallContext;
use crate::platform::inbox::{Inbox, Kind, Message, Popped};

/// What the inbox tools need of the inbox; messages in their public JSON
/// shape (mcp-server.md §2).
pub trait MessageSource: Send + Sync {
    /// The oldest pending message once there is one, or `None` after
    /// `timeout` or as soon as `cancel` becomes ready.
    fn wait(&self, timeout: Duration, cancel: &Receiver<()>) -> Option<Value>;
    /// Up to `limit` pending messages, oldest first.
    fn peek(&self, limit: usize) -> Vec<Value>;
    /// Removes a handled message, saying whether the removal is on disk.
    fn pop(&self, activity_id: &str) -> Popped;
    /// The workspace a peer's messages last arrived at.
    fn peer_workspace(&self, peer_id: &str) -> Option<String>;
}

impl MessageSource for Inbox {
    fn wait(&self, timeout: Duration, cancel: &Receiver<()>) -> Option<Value> {
        Inbox::wait(self, timeout, cancel).map(|m| for_agent(&m))
    }

    fn peek(&self, limit: usize) -> Vec<Value> {
        Inbox::peek(self, limit).iter().map(for_agent).collect()
    }

    fn pop(&self, activity_id: &str) -> Popped {
        Inbox::pop(self, activity_id)
    }

    fn peer_workspace(&self, peer_id: &str) -> Option<String> {
        Inbox::peer_workspace(self, peer_id)
    }
}

/// A message as the agent sees it: another agent's words are fenced like
/// every other piece of peer text we return, so they cannot pass for ours;
/// a canvas user's text is the user's own and stays as written.
fn for_agent(message: &Message) -> Value {
    let mut shown = message.to_json();
    if matches!(message.kind, Kind::PeerAgent | Kind::DelegationResult) {
        shown["text"] = Value::String(Fence::new().wrap(&message.text));
    }
    shown
}

pub const WAIT_DEFAULT_SECS: u64 = 60;
pub const WAIT_MAX_SECS: u64 = 300;
pub const PEEK_DEFAULT: u64 = 10;
pub const PEEK_MAX: u64 = 100;

fn source(tools: &Toolbox) -> Result<&dyn MessageSource, Fault> {
    tools.inbox.as_deref().ok_or_else(|| {
        Fault::Tool(
            "The inbox is disabled on this server (MOLECULE_MCP_DISABLE_INBOX is set), so no \
             messages are received. Unset it and restart to receive messages."
                .into(),
        )
    })
}

pub fn wait_for_message(tools: &Toolbox, args: &Args, ctx: &CallContext) -> Outcome {
    let secs = args.number("timeout_secs", WAIT_DEFAULT_SECS, 0, WAIT_MAX_SECS)?;
    let inbox = source(tools)?;
    match inbox.wait(Duration::from_secs(secs), ctx.cancelled()) {
        Some(message) => Ok(json_value(message)),
        None if ctx.is_cancelled() => Err(Fault::Tool("wait_for_message was cancelled.".into())),
        None => Ok(json_value(json!({"timeout": true, "timeout_secs": secs}))),
    }
}

pub fn inbox_peek(tools: &Toolbox, args: &Args, _ctx: &CallContext) -> Outcome {
    let limit = args.number("limit", PEEK_DEFAULT, 1, PEEK_MAX)?;
    let inbox = source(tools)?;
    let messages = inbox.peek(limit as usize);
    Ok(json_value(json!({"messages": messages})))
}

pub fn inbox_pop(tools: &Toolbox, args: &Args, _ctx: &CallContext) -> Outcome {
    let id = args.required_id("activity_id")?;
    let inbox = source(tools)?;
    let answer = match inbox.pop(id) {
        Popped::Saved => json!({"removed": true, "activity_id": id}),
        Popped::NotPending => json!({"removed": false, "activity_id": id}),
        Popped::Unsaved => json!({
            "removed": true,
            "saved": false,
            "activity_id": id,
            "warning": "The message is removed, but the inbox file could not be written yet; \
                        a restart before it can be written brings the message back.",
        }),
    };
    Ok(json_value(answer))
}
