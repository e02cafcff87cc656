//! The upstreams served beside our own tools: a `Handler` that answers
//! with the inner handler (the platform tools, in gateway-only mode none)
//! and the gateway together. Our tools keep their plain names and win any
//! clash; everything else named `<server>__...` goes to the gateway.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::gateway::Gateway;
use crate::mcp::context::CallContext;
use crate::mcp::handler::Handler;
use crate::mcp::jsonrpc::RpcError;

pub struct Beside<H: Handler> {
    ours: Arc<H>,
    gateway: Arc<Gateway>,
}

impl<H: Handler> Beside<H> {
    pub fn new(ours: Arc<H>, gateway: Arc<Gateway>) -> Self {
        Beside { ours, gateway }
    }

    fn is_ours(&self, name: &str) -> bool {
        self.ours
            .list_tools()
            .iter()
            .any(|t| t.get("name").and_then(Value::as_str) == Some(name))
    }
}

impl<H: Handler> Handler for Beside<H> {
    fn instructions(&self) -> String {
        self.ours.instructions()
    }

    /// Ours, plus resources and prompts when upstreams may offer them.
    fn capabilities(&self) -> Value {
        let mut capabilities = self.ours.capabilities();
        if let Some(object) = capabilities.as_object_mut() {
            if self.has_resources() {
                object
                    .entry("resources")
                    .or_insert_with(|| json!({"listChanged": true}));
            }
            if self.has_prompts() {
                object
                    .entry("prompts")
                    .or_insert_with(|| json!({"listChanged": true}));
            }
        }
        capabilities
    }

    fn on_initialize(&self, params: &Map<String, Value>, protocol_version: &str) {
        self.ours.on_initialize(params, protocol_version);
    }

    fn list_tools(&self) -> Vec<Value> {
        let mut tools = self.ours.list_tools();
        tools.extend(self.gateway.list_tools());
        tools
    }

    fn call_tool(
        &self,
        name: &str,
        arguments: Map<String, Value>,
        ctx: &CallContext,
    ) -> Result<Value, RpcError> {
        if !self.is_ours(name) && self.gateway.has_tool(name) {
            self.gateway.call_tool(name, arguments, ctx)
        } else {
            self.ours.call_tool(name, arguments, ctx)
        }
    }

    fn has_resources(&self) -> bool {
        self.gateway.has_resources()
    }

    fn has_prompts(&self) -> bool {
        self.gateway.has_prompts()
    }

    fn list_resources(&self, ctx: &CallContext) -> Result<Vec<Value>, RpcError> {
        self.gateway.list_resources(ctx)
    }

    fn list_resource_templates(&self, ctx: &CallContext) -> Result<Vec<Value>, RpcError> {
        self.gateway.list_resource_templates(ctx)
    }

    fn read_resource(&self, uri: &str, ctx: &CallContext) -> Result<Value, RpcError> {
        self.gateway.read_resource(uri, ctx)
    }

    fn list_prompts(&self, ctx: &CallContext) -> Result<Vec<Value>, RpcError> {
        self.gateway.list_prompts(ctx)
    }

    fn get_prompt(
        &self,
        name: &str,
        arguments: Map<String, Value>,
        ctx: &CallContext,
    ) -> Result<Value, RpcError> {
        self.gateway.get_prompt(name, arguments, ctx)
    }
}
