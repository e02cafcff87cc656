//! What the MCP server serves: the platform tools, routed by name.

use std::thread::JoinHandle;

use serde_json::{Map, Value};

use crate::config::Config;
use crate::mcp::context::CallContext;
use crate::mcp::handler::Handler;
use crate::mcp::jsonrpc::RpcError;
use crate::mcp::outbox::Outbox;
use crate::platform::http::Client;
use crate::shutdown::Shutdown;

pub struct Service {}

impl Service {
    pub fn new(_config: &Config, _client: Client, _outbox: Outbox, _shutdown: Shutdown) -> Self {
        Service {}
    }

    /// Starts what runs beside the server (the inbox pollers).
    pub fn start_background(&self, _shutdown: &Shutdown) -> Vec<JoinHandle<()>> {
        Vec::new()
    }
}

impl Handler for Service {
    fn instructions(&self) -> String {
        String::new()
    }

    fn list_tools(&self) -> Vec<Value> {
        Vec::new()
    }

    fn call_tool(
        &self,
        name: &str,
        _arguments: Map<String, Value>,
        _ctx: &CallContext,
    ) -> Result<Value, RpcError> {
        Err(RpcError::invalid_params(format!("unknown tool: {name}")))
    }
}
