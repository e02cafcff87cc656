//! What the server serves: tools and, when some upstream offers them,
//! resources and prompts. The server owns the protocol; a `Handler` only
//! answers for content.

use super::context::CallContext;
use super::jsonrpc::RpcError;
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};

/// Called from several threads at once. Methods without a `CallContext` run on
/// the thread that reads the input: they must return quickly. The others run
/// on a worker and may block, watching `ctx.cancelled()`.
///
/// A panic in any method is caught and answered as `-32603`.
pub trait Handler: Send + Sync + 'static {
    /// The `instructions` text of the `initialize` answer.
    fn instructions(&self) -> String;

    /// The `capabilities` of the `initialize` answer.
    fn capabilities(&self) -> Value {
        default_capabilities(self.has_resources(), self.has_prompts())
    }

    /// Told of each `initialize`: the client's params and the revision we answered.
    fn on_initialize(&self, _params: &Map<String, Value>, _protocol_version: &str) {}

    /// The `tools` of a `tools/list` answer, each definition as JSON text.
    fn list_tools(&self) -> Vec<Box<RawValue>>;

    /// Whether the first lists are still incomplete (upstreams still making
    /// their first connect attempt): then `tools/list` goes to a worker,
    /// which calls [`Handler::wait_startup`] before listing. Quick.
    fn startup_pending(&self) -> bool {
        false
    }

    /// Waits, bounded, until the first lists are complete.
    fn wait_startup(&self, _ctx: &CallContext) {}

    /// What a call of `tool` may wait on for long (one upstream server, the
    /// inbox, a peer), as a name the agent can read. Calls of one group, and
    /// of all groups together, are capped well below the workers, so that
    /// one hung server or many long waits never leave other tools without
    /// one; the excess is answered at once with a busy result.
    fn call_group(&self, _tool: &str) -> Option<String> {
        None
    }

    /// A `tools/call`, always on a worker: returns a `CallToolResult`
    /// (`content`, and `isError` when the tool failed). `Err` only for caller
    /// errors such as an unknown tool or bad arguments (`-32602`).
    fn call_tool(
        &self,
        name: &str,
        arguments: Map<String, Value>,
        ctx: &CallContext,
    ) -> Result<Value, RpcError>;

    fn has_resources(&self) -> bool {
        false
    }

    fn has_prompts(&self) -> bool {
        false
    }

    /// The `resources` of a `resources/list` answer.
    fn list_resources(&self, _ctx: &CallContext) -> Result<Vec<Value>, RpcError> {
        Err(RpcError::method_not_found("resources/list"))
    }

    /// The `resourceTemplates` of a `resources/templates/list` answer.
    fn list_resource_templates(&self, _ctx: &CallContext) -> Result<Vec<Value>, RpcError> {
        Err(RpcError::method_not_found("resources/templates/list"))
    }

    /// The whole `resources/read` answer (`{contents: [...]}`).
    fn read_resource(&self, _uri: &str, _ctx: &CallContext) -> Result<Value, RpcError> {
        Err(RpcError::method_not_found("resources/read"))
    }

    /// The `prompts` of a `prompts/list` answer.
    fn list_prompts(&self, _ctx: &CallContext) -> Result<Vec<Value>, RpcError> {
        Err(RpcError::method_not_found("prompts/list"))
    }

    /// `notifications/roots/list_changed` from the client. Quick: runs on
    /// the reading thread.
    fn roots_changed(&self) {}

    /// `resources/subscribe` (`subscribe`) or `resources/unsubscribe`.
    fn subscribe(&self, _uri: &str, subscribe: bool, _ctx: &CallContext) -> Result<(), RpcError> {
        let method = if subscribe {
            "resources/subscribe"
        } else {
            "resources/unsubscribe"
        };
        Err(RpcError::method_not_found(method))
    }

    /// `logging/setLevel`; `Err` for a capability not offered or a bad level.
    fn set_log_level(&self, _level: &str, _ctx: &CallContext) -> Result<(), RpcError> {
        Err(RpcError::method_not_found("logging/setLevel"))
    }

    /// The whole `completion/complete` answer (`{completion: {...}}`).
    fn complete(&self, _params: Value, _ctx: &CallContext) -> Result<Value, RpcError> {
        Err(RpcError::method_not_found("completion/complete"))
    }

    /// The whole `prompts/get` answer (`{description?, messages: [...]}`).
    fn get_prompt(
        &self,
        _name: &str,
        _arguments: Map<String, Value>,
        _ctx: &CallContext,
    ) -> Result<Value, RpcError> {
        Err(RpcError::method_not_found("prompts/get"))
    }
}

/// Tools that may change (upstreams come and go), the push channel, and
/// resources and prompts when offered.
pub fn default_capabilities(resources: bool, prompts: bool) -> Value {
    let mut capabilities = json!({
        "tools": {"listChanged": true},
        "experimental": {"claude/channel": {}},
    });
    if let Some(object) = capabilities.as_object_mut() {
        if resources {
            object.insert("resources".into(), json!({"listChanged": true}));
        }
        if prompts {
            object.insert("prompts".into(), json!({"listChanged": true}));
        }
    }
    capabilities
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_name_resources_and_prompts_only_when_offered() {
        let bare = default_capabilities(false, false);
        assert_eq!(bare["tools"], json!({"listChanged": true}));
        assert_eq!(bare["experimental"], json!({"claude/channel": {}}));
        assert!(bare.get("resources").is_none() && bare.get("prompts").is_none());

        let full = default_capabilities(true, true);
        assert_eq!(full["resources"], json!({"listChanged": true}));
        assert_eq!(full["prompts"], json!({"listChanged": true}));
    }
}
