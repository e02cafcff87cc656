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
    /// Our tool names, read once: our tool set is fixed at start, and a
    /// call should not rebuild our whole list to learn where it goes.
    our_names: Vec<String>,
    gateway: Arc<Gateway>,
}

impl<H: Handler> Beside<H> {
    pub fn new(ours: Arc<H>, gateway: Arc<Gateway>) -> Self {
        let our_names = ours
            .list_tools()
            .iter()
            .filter_map(|t| t.get("name").and_then(Value::as_str).map(String::from))
            .collect();
        Beside {
            ours,
            our_names,
            gateway,
        }
    }

    fn is_ours(&self, name: &str) -> bool {
        self.our_names.iter().any(|n| n == name)
    }
}

/// What a client is told in gateway-only mode, where none of the platform
/// tools (nor the push channel) exist.
pub const GATEWAY_INSTRUCTIONS: &str = "This server gathers the tools, resources and prompts of \
several MCP servers. A name starting with `<server>__` belongs to that server; a server \
configured without a prefix offers its own names. A server that is down says so in the tool \
result, with when to retry.";

impl<H: Handler> Beside<H> {
    /// Without a platform, none of our tools are offered: a pure gateway.
    fn gateway_only(&self) -> bool {
        self.our_names.is_empty()
    }
}

impl<H: Handler> Handler for Beside<H> {
    fn instructions(&self) -> String {
        if self.gateway_only() {
            GATEWAY_INSTRUCTIONS.into()
        } else {
            self.ours.instructions()
        }
    }

    /// Ours, plus what the upstreams' features need: resources and prompts
    /// when some may offer them, log notes and completions. A pure gateway
    /// has no push channel.
    fn capabilities(&self) -> Value {
        let mut capabilities = self.ours.capabilities();
        if let Some(object) = capabilities.as_object_mut() {
            if self.gateway_only() {
                object.remove("experimental");
            }
            object.insert("logging".into(), json!({}));
            object.insert("completions".into(), json!({}));
            if self.has_resources() {
                object.insert(
                    "resources".into(),
                    json!({"listChanged": true, "subscribe": true}),
                );
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
        crate::mcp::agent::agent().initialized(params, protocol_version);
    }

    fn startup_pending(&self) -> bool {
        self.gateway.startup_pending()
    }

    fn wait_startup(&self, ctx: &CallContext) {
        self.gateway.wait_startup(ctx);
    }

    fn list_tools(&self) -> Vec<Value> {
        let mut tools = self.ours.list_tools();
        tools.extend(self.gateway.list_tools());
        tools
    }

    fn call_group(&self, tool: &str) -> Option<String> {
        if self.is_ours(tool) {
            self.ours.call_group(tool)
        } else {
            self.gateway
                .server_of(tool)
                .map(|server| format!("upstream server {server}"))
        }
    }

    fn call_tool(
        &self,
        name: &str,
        arguments: Map<String, Value>,
        ctx: &CallContext,
    ) -> Result<Value, RpcError> {
        // Ours win; everything else is routed once, by the gateway, which
        // answers an unknown name itself.
        if self.is_ours(name) {
            self.ours.call_tool(name, arguments, ctx)
        } else {
            self.gateway.call_tool(name, arguments, ctx)
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

    fn roots_changed(&self) {
        self.gateway.roots_changed();
    }

    fn subscribe(&self, uri: &str, subscribe: bool, ctx: &CallContext) -> Result<(), RpcError> {
        let method = if subscribe {
            "resources/subscribe"
        } else {
            "resources/unsubscribe"
        };
        self.gateway.subscribe(method, uri, ctx)
    }

    fn set_log_level(&self, level: &str, ctx: &CallContext) -> Result<(), RpcError> {
        self.gateway.set_log_level(level, ctx)
    }

    fn complete(&self, params: Value, ctx: &CallContext) -> Result<Value, RpcError> {
        self.gateway.complete(params, ctx)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mcp::cancel::CancelToken;
    use crate::mcp::outbox::Outbox;
    use crate::shutdown::Shutdown;
    use crate::upstream::config::ServerEntry;

    /// Our side: one tool whose name looks like an upstream's.
    struct Ours;

    impl Handler for Ours {
        fn instructions(&self) -> String {
            "ours".into()
        }

        fn list_tools(&self) -> Vec<Value> {
            vec![json!({"name": "x__mine", "inputSchema": {"type": "object"}})]
        }

        fn call_tool(
            &self,
            name: &str,
            _arguments: Map<String, Value>,
            _ctx: &CallContext,
        ) -> Result<Value, RpcError> {
            Ok(json!({"content": [{"type": "text", "text": format!("ours: {name}")}]}))
        }
    }

    /// A gateway whose only server is misconfigured: no process starts.
    fn beside() -> (Beside<Ours>, CallContext, Shutdown) {
        let (outbox, _rx) = Outbox::channel();
        let shutdown = Shutdown::new();
        let entries = vec![ServerEntry {
            name: "x".into(),
            spec: Err("\"command\" must be a string".into()),
        }];
        let gateway = Gateway::start(entries, &Default::default(), outbox.clone(), &shutdown);
        let ctx = CallContext::new(json!(1), None, CancelToken::new(), outbox);
        (
            Beside::new(Arc::new(Ours), Arc::new(gateway)),
            ctx,
            shutdown,
        )
    }

    fn text(result: &Value) -> &str {
        result["content"][0]["text"].as_str().unwrap_or_default()
    }

    #[test]
    fn our_tools_win_and_the_rest_goes_to_the_gateway() {
        let (both, ctx, _shutdown) = beside();
        let mine = both.call_tool("x__mine", Map::new(), &ctx).expect("ours");
        assert_eq!(text(&mine), "ours: x__mine");
        let theirs = both
            .call_tool("x__other", Map::new(), &ctx)
            .expect("routed");
        assert_eq!(theirs["isError"], json!(true));
        assert!(
            text(&theirs).contains("x is not configured correctly"),
            "{theirs}"
        );
        match both.call_tool("plain", Map::new(), &ctx) {
            Err(e) => assert!(e.message.contains("unknown tool: plain"), "{}", e.message),
            Ok(other) => panic!("a name nobody offers was answered: {other}"),
        }
        assert_eq!(both.list_tools().len(), 1);
        assert_eq!(both.instructions(), "ours");
    }

    #[test]
    fn without_a_running_upstream_no_resources_are_announced() {
        let (both, _ctx, _shutdown) = beside();
        let capabilities = both.capabilities();
        assert!(capabilities.get("resources").is_none(), "{capabilities}");
        assert!(capabilities["tools"].is_object());
    }
}
