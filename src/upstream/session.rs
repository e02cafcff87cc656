//! One live connection to an upstream server, whatever the transport, and
//! the MCP handshake that opens it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use serde_json::{json, Value};

use super::config::TransportSpec;
use super::error::CallError;
use super::http::HttpSession;
use super::stdio::{self, StdioSession};
use crate::config::EnvMap;

/// The protocol revision we ask upstream servers for when the agent has not
/// agreed on one with us; any revision we speak is accepted in answer.
pub const PROTOCOL_VERSION: &str = crate::mcp::version::LATEST;
/// How long an upstream's handshake waits for the agent's `initialize`, to
/// pass on what the agent declared (hosts initialize at once).
const AGENT_WAIT: Duration = Duration::from_secs(3);

pub trait Session: Send + Sync {
    /// One JSON-RPC request; returns the `result` value. Safe to call from
    /// several threads at once (stdio multiplexes by id; HTTP posts
    /// independently). Returns early with `CallError::Cancelled` when
    /// `cancel` becomes ready (and tells the server with
    /// `notifications/cancelled`).
    fn request(
        &self,
        method: &str,
        params: Value,
        timeout: Duration,
        cancel: &Receiver<()>,
    ) -> Result<Value, CallError>;
    fn notify(&self, method: &str, params: Value) -> Result<(), CallError>;
    /// Server→client notifications (tools/list_changed, progress,
    /// message...). The server's own requests never show up here: the
    /// transport answers them (`ping` → `{}`, anything else → -32601).
    fn events(&self) -> Receiver<Value>;
    /// Ready (disconnected) when the connection died or was closed; lets the
    /// driver notice a dead child at once.
    fn closed(&self) -> Receiver<()>;
    /// What initialize returned: serverInfo, capabilities, protocolVersion,
    /// instructions.
    fn info(&self) -> &Value;
    /// Graceful teardown: stdio → close stdin, wait briefly, SIGTERM the
    /// process group, SIGKILL, reap; HTTP → DELETE the session. Idempotent;
    /// bounded (≤ 2 s).
    fn close(&self);
    /// Last lines of a stdio child's stderr (for the log line when it
    /// dies); empty for HTTP.
    fn stderr_tail(&self) -> Vec<String>;
    /// What the transport reads besides the answers to our requests, until
    /// the session closes (HTTP: the GET stream), to be run by the thread
    /// that connected the session once it has handed the session over:
    /// no thread of its own. `None` when there is nothing to read.
    fn listener(&self) -> Option<Box<dyn FnOnce() + Send>> {
        None
    }
}

/// Starts the transport and runs the MCP handshake: `initialize` (answered
/// within `connect_timeout`, counted from the start), then
/// `notifications/initialized`. Any failure closes what was started.
///
/// `spec` is already `${VAR}`-expanded; `ours` is our own environment, of
/// which a stdio server inherits only the harmless part (never our tokens).
pub fn connect(
    name: &str,
    spec: &TransportSpec,
    ours: &EnvMap,
    connect_timeout: Duration,
    cancel: &Receiver<()>,
) -> Result<Arc<dyn Session>, CallError> {
    let started = Instant::now();
    let remaining = || connect_timeout.saturating_sub(started.elapsed());
    match spec {
        TransportSpec::Stdio {
            command,
            args,
            env,
            cwd,
        } => {
            let what = stdio::Spawn {
                command,
                args,
                env,
                cwd: cwd.as_deref(),
            };
            let session = StdioSession::start(name, what, ours)?;
            let info = open(&session, remaining(), cancel)?;
            session.set_info(info);
            Ok(Arc::new(session))
        }
        TransportSpec::Http { url, headers } => {
            let session = HttpSession::new(name, url, headers)?;
            let info = open(&session, remaining(), cancel)?;
            session.set_info(info);
            Ok(Arc::new(session))
        }
    }
}

/// The handshake; on failure the session is closed before returning.
fn open(
    session: &dyn Session,
    timeout: Duration,
    cancel: &Receiver<()>,
) -> Result<Value, CallError> {
    let result = handshake(session, timeout, cancel);
    if result.is_err() {
        session.close();
    }
    result
}

fn handshake(
    session: &dyn Session,
    timeout: Duration,
    cancel: &Receiver<()>,
) -> Result<Value, CallError> {
    let params = initialize_params(crate::mcp::agent::agent().declared(AGENT_WAIT).as_ref());
    let info = session.request("initialize", params, timeout, cancel)?;
    check_initialize(&info)?;
    session.notify("notifications/initialized", Value::Null)?;
    Ok(info)
}

/// Our `initialize` to an upstream: the revision the agent agreed with us
/// (else our newest), and the client capabilities we relay, as the agent
/// declared them, and nothing more.
pub fn initialize_params(declared: Option<&crate::mcp::agent::Declared>) -> Value {
    let (version, capabilities) = match declared {
        Some(d) => (
            crate::mcp::version::negotiate(Some(&d.protocol_version)),
            crate::mcp::agent::Agent::relayed_capabilities(d),
        ),
        None => (PROTOCOL_VERSION, json!({})),
    };
    json!({
        "protocolVersion": version,
        "capabilities": capabilities,
        "clientInfo": {"name": "molecule-mcp", "version": env!("CARGO_PKG_VERSION")},
    })
}

/// An `initialize` answer must be an object naming a protocol revision we
/// speak; anything else is not an MCP server (or one we cannot talk to).
pub fn check_initialize(info: &Value) -> Result<(), CallError> {
    let Some(version) = info.get("protocolVersion").and_then(Value::as_str) else {
        return Err(CallError::protocol(
            "not an MCP server: the initialize answer names no protocolVersion",
        ));
    };
    if !crate::mcp::version::SUPPORTED.contains(&version) {
        let shown: String = version.chars().take(40).collect();
        return Err(CallError::protocol(format!(
            "the server speaks protocol revision {shown:?}, which we do not"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initialize_answers_are_checked() {
        assert!(check_initialize(&json!({"protocolVersion": "2025-06-18"})).is_ok());
        assert!(check_initialize(&json!({"protocolVersion": "2024-11-05"})).is_ok());
        assert!(matches!(
            check_initialize(&json!({"protocolVersion": "1999-01-01"})),
            Err(CallError::Protocol { .. })
        ));
        assert!(matches!(
            check_initialize(&json!({"serverInfo": {}})),
            Err(CallError::Protocol { .. })
        ));
        assert!(matches!(
            check_initialize(&json!("hello")),
            Err(CallError::Protocol { .. })
        ));
    }
}
