//! What the MCP server serves: the platform tools, routed by name.

use std::sync::Arc;
use std::thread::JoinHandle;

use serde_json::{Map, Value};

use crate::config::Config;
use crate::mcp::context::CallContext;
use crate::mcp::handler::Handler;
use crate::mcp::jsonrpc::RpcError;
use crate::mcp::outbox::Outbox;
use crate::platform::http::Client;
use crate::platform::inbox::{Inbox, PollerPlan};
use crate::shutdown::Shutdown;
use crate::tools::{self, PlatformTools};

pub struct Service {
    platform: Option<PlatformTools>,
    pollers: Option<PollerPlan>,
    poll_timeout_secs: u64,
}

impl Service {
    pub fn new(config: &Config, client: Client, outbox: Outbox, _shutdown: Shutdown) -> Self {
        let mut service = Service {
            platform: None,
            pollers: None,
            poll_timeout_secs: config.poll_timeout_secs,
        };
        if let Some(platform) = &config.platform {
            let inbox = (!config.disable_inbox).then(|| Arc::new(Inbox::open(config, platform)));
            service.pollers = inbox.clone().map(|inbox| {
                PollerPlan::new(config, platform, inbox, client.clone(), outbox.clone())
            });
            service.platform = Some(PlatformTools::new(config, platform, client, inbox));
        }
        service
    }

    /// Starts what runs beside the server (the inbox pollers).
    pub fn start_background(&self, shutdown: &Shutdown) -> Vec<JoinHandle<()>> {
        self.pollers
            .as_ref()
            .map(|plan| plan.spawn(shutdown))
            .unwrap_or_default()
    }
}

impl Handler for Service {
    fn instructions(&self) -> String {
        tools::instructions(self.poll_timeout_secs)
    }

    fn list_tools(&self) -> Vec<Value> {
        self.platform
            .as_ref()
            .map(PlatformTools::list)
            .unwrap_or_default()
    }

    /// The tools that wait on the inbox or on a peer for minutes.
    fn call_group(&self, tool: &str) -> Option<String> {
        matches!(tool, "wait_for_message" | "delegate_task").then(|| tool.to_string())
    }

    fn call_tool(
        &self,
        name: &str,
        arguments: Map<String, Value>,
        ctx: &CallContext,
    ) -> Result<Value, RpcError> {
        match &self.platform {
            Some(p) if p.has(name) => p.call(name, arguments, ctx),
            _ => Err(RpcError::invalid_params(format!("unknown tool: {name}"))),
        }
    }
}
