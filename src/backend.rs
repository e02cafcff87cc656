//! What the MCP server serves: the platform tools (none in gateway-only
//! mode) and, when a servers file is configured, the upstream servers'
//! tools, resources and prompts. Our tools keep their plain names and win
//! any clash; every other name goes to the gateway, which answers an
//! unknown one itself.

use std::sync::Arc;
use std::thread::JoinHandle;

use serde_json::value::RawValue;
use serde_json::{json, Map, Value};

use crate::config::Config;
use crate::mcp::context::CallContext;
use crate::mcp::handler::{default_capabilities, Handler};
use crate::mcp::jsonrpc::RpcError;
use crate::mcp::outbox::Outbox;
use crate::platform::http::Client;
use crate::platform::inbox::{Inbox, PollerPlan};
use crate::shutdown::Shutdown;
use crate::tools::{self, PlatformTools};
use crate::upstream::gateway::Gateway;

/// What a client is told in gateway-only mode, where none of the platform
/// tools (nor the push channel) exist.
pub const GATEWAY_INSTRUCTIONS: &str = "This server gathers the tools, resources and prompts of \
several MCP servers. A name starting with `<server>__` belongs to that server; a server \
configured without a prefix offers its own names. A server that is down says so in the tool \
result, with when to retry.";

pub struct Backend {
    platform: Option<PlatformTools>,
    pollers: Option<PollerPlan>,
    poll_timeout_secs: u64,
    gateway: Option<Arc<Gateway>>,
}

impl Backend {
    /// The platform tools when a platform is configured; no upstreams yet
    /// (see [`Backend::with_gateway`]).
    pub fn new(config: &Config, client: Client, outbox: Outbox) -> Self {
        let mut backend = Backend {
            platform: None,
            pollers: None,
            poll_timeout_secs: config.poll_timeout_secs,
            gateway: None,
        };
        if let Some(platform) = &config.platform {
            let inbox = (!config.disable_inbox).then(|| Arc::new(Inbox::open(config, platform)));
            backend.pollers = inbox.clone().map(|inbox| {
                PollerPlan::new(config, platform, inbox, client.clone(), outbox.clone())
            });
            backend.platform = Some(PlatformTools::new(config, platform, client, inbox));
        }
        backend
    }

    /// Serves the upstreams of `gateway` along with the platform tools.
    pub fn with_gateway(mut self, gateway: Option<Arc<Gateway>>) -> Self {
        self.gateway = gateway;
        self
    }

    /// Starts what runs alongside the server (the inbox pollers).
    pub fn start_background(&self, shutdown: &Shutdown) -> Vec<JoinHandle<()>> {
        self.pollers
            .as_ref()
            .map(|plan| plan.spawn(shutdown))
            .unwrap_or_default()
    }

    fn is_ours(&self, tool: &str) -> bool {
        self.platform.as_ref().is_some_and(|p| p.has(tool))
    }

    /// A pure gateway: none of the platform tools, no push channel.
    fn gateway_only(&self) -> bool {
        self.platform.is_none() && self.gateway.is_some()
    }

    /// The gateway, for a method only upstreams answer.
    fn upstreams(&self, method: &str) -> Result<&Gateway, RpcError> {
        self.gateway
            .as_deref()
            .ok_or_else(|| RpcError::method_not_found(method))
    }
}

impl Handler for Backend {
    fn instructions(&self) -> String {
        if self.gateway_only() {
            GATEWAY_INSTRUCTIONS.into()
        } else {
            tools::instructions(self.poll_timeout_secs)
        }
    }

    /// With upstreams: what their features need too (resources and prompts
    /// when some may offer them, log notes and completions).
    fn capabilities(&self) -> Value {
        let mut capabilities = default_capabilities(false, self.has_prompts());
        let (Some(gateway), Some(object)) = (&self.gateway, capabilities.as_object_mut()) else {
            return capabilities;
        };
        if self.platform.is_none() {
            object.remove("experimental");
        }
        object.insert("logging".into(), json!({}));
        object.insert("completions".into(), json!({}));
        if gateway.has_resources() {
            object.insert(
                "resources".into(),
                json!({"listChanged": true, "subscribe": true}),
            );
        }
        capabilities
    }

    fn on_initialize(&self, params: &Map<String, Value>, protocol_version: &str) {
        crate::mcp::agent::agent().initialized(params, protocol_version);
    }

    fn list_tools(&self) -> Vec<Box<RawValue>> {
        let mut tools: Vec<Box<RawValue>> = self
            .platform
            .iter()
            .flat_map(PlatformTools::list)
            .filter_map(|definition| serde_json::value::to_raw_value(&definition).ok())
            .collect();
        if let Some(gateway) = &self.gateway {
            tools.extend(gateway.list_tools());
        }
        tools
    }

    fn startup_pending(&self) -> bool {
        self.gateway.as_ref().is_some_and(|g| g.startup_pending())
    }

    fn wait_startup(&self, ctx: &CallContext) {
        if let Some(gateway) = &self.gateway {
            gateway.wait_startup(ctx);
        }
    }

    /// Ours that wait on the inbox or a peer for minutes, and each upstream
    /// server.
    fn call_group(&self, tool: &str) -> Option<String> {
        if self.is_ours(tool) {
            matches!(tool, "wait_for_message" | "delegate_task").then(|| tool.to_string())
        } else {
            let server = self.gateway.as_ref()?.server_of(tool)?;
            Some(format!("upstream server {server}"))
        }
    }

    fn call_tool(
        &self,
        name: &str,
        arguments: Map<String, Value>,
        ctx: &CallContext,
    ) -> Result<Value, RpcError> {
        match (&self.platform, &self.gateway) {
            (Some(platform), _) if platform.has(name) => platform.call(name, arguments, ctx),
            (_, Some(gateway)) => gateway.call_tool(name, arguments, ctx),
            _ => Err(RpcError::invalid_params(format!("unknown tool: {name}"))),
        }
    }

    fn has_resources(&self) -> bool {
        self.gateway.as_ref().is_some_and(|g| g.has_resources())
    }

    fn has_prompts(&self) -> bool {
        self.gateway.as_ref().is_some_and(|g| g.has_prompts())
    }

    fn list_resources(&self, ctx: &CallContext) -> Result<Vec<Value>, RpcError> {
        self.upstreams("resources/list")?.list_resources(ctx)
    }

    fn list_resource_templates(&self, ctx: &CallContext) -> Result<Vec<Value>, RpcError> {
        self.upstreams("resources/templates/list")?
            .list_resource_templates(ctx)
    }

    fn read_resource(&self, uri: &str, ctx: &CallContext) -> Result<Value, RpcError> {
        self.upstreams("resources/read")?.read_resource(uri, ctx)
    }

    fn list_prompts(&self, ctx: &CallContext) -> Result<Vec<Value>, RpcError> {
        self.upstreams("prompts/list")?.list_prompts(ctx)
    }

    fn roots_changed(&self) {
        if let Some(gateway) = &self.gateway {
            gateway.roots_changed();
        }
    }

    fn subscribe(&self, uri: &str, subscribe: bool, ctx: &CallContext) -> Result<(), RpcError> {
        let method = if subscribe {
            "resources/subscribe"
        } else {
            "resources/unsubscribe"
        };
        self.upstreams(method)?.subscribe(method, uri, ctx)
    }

    fn set_log_level(&self, level: &str, ctx: &CallContext) -> Result<(), RpcError> {
        self.upstreams("logging/setLevel")?
            .set_log_level(level, ctx)
    }

    fn complete(&self, params: Value, ctx: &CallContext) -> Result<Value, RpcError> {
        self.upstreams("completion/complete")?.complete(params, ctx)
    }

    fn get_prompt(
        &self,
        name: &str,
        arguments: Map<String, Value>,
        ctx: &CallContext,
    ) -> Result<Value, RpcError> {
        self.upstreams("prompts/get")?
            .get_prompt(name, arguments, ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{test_dir, test_env};
    use crate::mcp::cancel::CancelToken;
    use crate::upstream::config::ServerEntry;

    const WS: &str = "6e5d4c3b-2a19-4807-b6a5-948372615041";

    struct Rig {
        backend: Backend,
        ctx: CallContext,
        _shutdown: Shutdown,
    }

    /// The platform tools when `platform`, and a gateway whose only server
    /// is misconfigured (no process starts) when `upstreams`.
    fn rig(platform: bool, upstreams: bool) -> Rig {
        let dir = test_dir("backend");
        let dir = dir.display().to_string();
        let mut pairs = vec![("CONFIGS_DIR", dir.as_str())];
        if platform {
            pairs.extend([
                // Never contacted: the calls below are answered locally.
                ("PLATFORM_URL", "http://127.0.0.1:9"),
                ("WORKSPACE_ID", WS),
                ("MOLECULE_WORKSPACE_TOKEN", "tok-backend-0123456789abcdef"),
                ("MOLECULE_MCP_DISABLE_INBOX", "1"),
            ]);
        }
        let servers = upstreams.then(|| dir.clone().into());
        let config = match crate::config::load(&test_env(&pairs), servers) {
            Ok(config) => config,
            Err(e) => panic!("test configuration refused: {e}"),
        };
        let (outbox, _rx) = Outbox::channel();
        let shutdown = Shutdown::new();
        let gateway = upstreams.then(|| {
            let entries = vec![ServerEntry {
                name: "x".into(),
                spec: Err("\"command\" must be a string".into()),
            }];
            Arc::new(Gateway::start(
                entries,
                &Default::default(),
                outbox.clone(),
                &shutdown,
            ))
        });
        let backend = Backend::new(&config, Client::new(), outbox.clone()).with_gateway(gateway);
        let ctx = CallContext::new(json!(1), None, CancelToken::new(), outbox);
        Rig {
            backend,
            ctx,
            _shutdown: shutdown,
        }
    }

    fn text(result: &Value) -> &str {
        result["content"][0]["text"].as_str().unwrap_or_default()
    }

    fn unknown(outcome: Result<Value, RpcError>, name: &str) {
        match outcome {
            Err(e) => assert!(
                e.message.contains(&format!("unknown tool: {name}")),
                "{e:?}"
            ),
            Ok(other) => panic!("a name nobody offers was answered: {other}"),
        }
    }

    #[test]
    fn our_tools_are_ours_and_the_rest_goes_to_the_gateway() {
        let Rig { backend, ctx, .. } = rig(true, true);
        let ours = backend
            .call_tool("get_runtime_identity", Map::new(), &ctx)
            .expect("ours");
        assert!(text(&ours).contains(WS), "{ours}");
        let theirs = backend
            .call_tool("x__other", Map::new(), &ctx)
            .expect("routed");
        assert_eq!(theirs["isError"], json!(true));
        assert!(
            text(&theirs).contains("x is not configured correctly"),
            "{theirs}"
        );
        unknown(backend.call_tool("plain", Map::new(), &ctx), "plain");

        assert_eq!(
            backend.call_group("wait_for_message").as_deref(),
            Some("wait_for_message")
        );
        assert_eq!(
            backend.call_group("x__other").as_deref(),
            Some("upstream server x")
        );
        assert_eq!(backend.call_group("get_runtime_identity"), None);
        let platform = backend.platform.as_ref().map(PlatformTools::list);
        let listed: Vec<Value> = backend
            .list_tools()
            .iter()
            .map(|t| serde_json::from_str(t.get()).unwrap())
            .collect();
        assert_eq!(Some(listed), platform);
        assert_eq!(
            backend.instructions(),
            tools::instructions(backend.poll_timeout_secs)
        );
    }

    #[test]
    fn upstream_capabilities_are_announced_only_with_upstreams() {
        let both = rig(true, true).backend.capabilities();
        // No upstream runs: no resources nor prompts to offer.
        assert!(both.get("resources").is_none(), "{both}");
        assert!(both.get("prompts").is_none(), "{both}");
        for key in ["tools", "experimental", "logging", "completions"] {
            assert!(both[key].is_object(), "{key}: {both}");
        }

        let platform_only = rig(true, false).backend.capabilities();
        assert_eq!(platform_only, default_capabilities(false, false));
    }

    #[test]
    fn a_pure_gateway_has_no_push_channel_and_says_what_it_is() {
        let Rig { backend, ctx, .. } = rig(false, true);
        assert_eq!(backend.instructions(), GATEWAY_INSTRUCTIONS);
        let capabilities = backend.capabilities();
        assert!(capabilities.get("experimental").is_none(), "{capabilities}");
        assert!(backend.list_tools().is_empty());
        unknown(
            backend.call_tool("get_runtime_identity", Map::new(), &ctx),
            "get_runtime_identity",
        );
    }

    #[test]
    fn without_upstreams_their_methods_do_not_exist() {
        let Rig { backend, ctx, .. } = rig(true, false);
        assert!(!backend.has_resources() && !backend.has_prompts());
        assert!(!backend.startup_pending());
        unknown(backend.call_tool("x__other", Map::new(), &ctx), "x__other");
        assert_eq!(backend.call_group("x__other"), None);
        let refused = [
            backend.list_prompts(&ctx).err(),
            backend.read_resource("file:///a", &ctx).err(),
            backend.set_log_level("info", &ctx).err(),
        ];
        for error in refused {
            assert_eq!(
                error.map(|e| e.code),
                Some(crate::mcp::jsonrpc::METHOD_NOT_FOUND)
            );
        }
    }
}
