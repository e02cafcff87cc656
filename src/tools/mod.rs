//! The 15 platform tools (mcp-server.md §2) and the `instructions` text (§3).
//!
//! Choices where the spec leaves room:
//! - `source_workspace_id` (and `workspace_id` of `broadcast_message` and
//!   `send_message_to_user`) naming a workspace this server does not act for
//!   is a caller error (`-32602`) listing the ones it does.
//! - `check_task_status` requires `task_id` as the contract says; an empty
//!   `task_id` lists the 10 newest delegations to `workspace_id`.
//! - `delegate_task` refuses a target that is the acting workspace itself.
//! - Platform failures are `isError` results saying what happened and what
//!   to do; only argument mistakes are JSON-RPC errors.

mod a2a;
mod args;
mod attachment_policy;
mod attachments;
mod delegate;
mod delegations;
mod errors;
mod history;
mod identity;
mod inbox_tools;
mod instructions;
mod memory;
mod messaging;
mod multipart;
mod peer_text;
mod peers;
mod result;
mod route;
mod schema;
mod uuid;

use std::sync::Arc;

use serde_json::{Map, Value};

pub use a2a::RetryPolicy;
pub use delegate::Settings as DelegationSettings;
pub use inbox_tools::MessageSource;
pub use instructions::instructions;

use crate::config::{Config, EnvMap, Platform, Workspace};
use crate::mcp::context::CallContext;
use crate::mcp::jsonrpc::RpcError;
use crate::platform::http::Client;
use crate::platform::inbox::Inbox;
use args::Args;
use result::Outcome;
use route::Acting;

/// The platform tools of one process.
pub struct PlatformTools {
    toolbox: Toolbox,
}

/// What every tool may use.
pub(crate) struct Toolbox {
    /// Never empty; the first is the primary workspace.
    workspaces: Vec<Workspace>,
    multi: bool,
    client: Client,
    /// `None` when the inbox is disabled.
    inbox: Option<Arc<dyn MessageSource>>,
    env: EnvMap,
    delegation: DelegationSettings,
    attachments: attachments::Policy,
}

impl PlatformTools {
    /// `inbox` is `None` when the inbox is disabled: the inbox tools then
    /// answer that it is.
    pub fn new(
        config: &Config,
        platform: &Platform,
        client: Client,
        inbox: Option<Arc<Inbox>>,
    ) -> Self {
        let inbox = inbox.map(|i| i as Arc<dyn MessageSource>);
        Self::with_source(config, platform, client, inbox)
    }

    /// As [`PlatformTools::new`], for any message source (tests use a
    /// scripted one).
    pub fn with_source(
        config: &Config,
        platform: &Platform,
        client: Client,
        inbox: Option<Arc<dyn MessageSource>>,
    ) -> Self {
        PlatformTools {
            toolbox: Toolbox {
                workspaces: platform.workspaces.clone(),
                multi: platform.multi,
                client,
                inbox,
                env: config.env.clone(),
                delegation: DelegationSettings::from_env(&config.env),
                attachments: attachments::Policy::from_config(config),
            },
        }
    }

    /// Replaces the delegation timing (tests use short waits).
    pub fn set_delegation_settings(&mut self, settings: DelegationSettings) {
        self.toolbox.delegation = settings;
    }

    /// The tool definitions for `tools/list`.
    pub fn list(&self) -> Vec<Value> {
        schema::definitions()
    }

    /// Tools that answer from memory alone (see `Handler::is_instant`).
    pub fn is_instant(&self, name: &str) -> bool {
        name == "get_runtime_identity"
    }

    pub fn has(&self, name: &str) -> bool {
        schema::NAMES.contains(&name)
    }

    /// Runs a tool. `Err` only for caller mistakes (`-32602`); failures of
    /// the platform or a peer are `isError` results.
    pub fn call(
        &self,
        name: &str,
        arguments: Map<String, Value>,
        ctx: &CallContext,
    ) -> Result<Value, RpcError> {
        let args = Args::new(&arguments);
        let tools = &self.toolbox;
        let outcome: Outcome = match name {
            "delegate_task" => delegate::delegate_task(tools, &args, ctx),
            "delegate_task_async" => delegations::delegate_task_async(tools, &args, ctx),
            "check_task_status" => delegations::check_task_status(tools, &args, ctx),
            "list_peers" => peers::list_peers(tools, &args, ctx),
            "get_workspace_info" => peers::get_workspace_info(tools, &args, ctx),
            "get_runtime_identity" => identity::get_runtime_identity(tools, &args, ctx),
            "update_agent_card" => identity::update_agent_card(tools, &args, ctx),
            "broadcast_message" => messaging::broadcast_message(tools, &args, ctx),
            "send_message_to_user" => messaging::send_message_to_user(tools, &args, ctx),
            "wait_for_message" => inbox_tools::wait_for_message(tools, &args, ctx),
            "inbox_peek" => inbox_tools::inbox_peek(tools, &args, ctx),
            "inbox_pop" => inbox_tools::inbox_pop(tools, &args, ctx),
            "chat_history" => history::chat_history(tools, &args, ctx),
            "commit_memory" => memory::commit_memory(tools, &args, ctx),
            "recall_memory" => memory::recall_memory(tools, &args, ctx),
            _ => return Err(RpcError::invalid_params(format!("unknown tool: {name}"))),
        };
        result::finish(outcome)
    }
}

impl Toolbox {
    fn primary(&self) -> Option<&Workspace> {
        self.workspaces.first()
    }

    fn find(&self, id: &str) -> Option<&Workspace> {
        self.workspaces.iter().find(|w| w.id == id)
    }

    fn is_ours(&self, id: &str) -> bool {
        self.find(id).is_some()
    }

    /// The workspace a call acts as: `explicit` (an argument, which must
    /// name one of ours), else the workspace `peer` last wrote to, else the
    /// primary.
    fn acting(
        &self,
        argument: &str,
        explicit: Option<&str>,
        peer: Option<&str>,
    ) -> Result<Acting<'_>, RpcError> {
        let ws = match explicit {
            Some(id) => self.find(id).ok_or_else(|| {
                let ours: Vec<&str> = self.workspaces.iter().map(|w| w.id.as_str()).collect();
                RpcError::invalid_params(format!(
                    "`{argument}` {id:?} is not a workspace this server acts for; use one of: {}",
                    ours.join(", ")
                ))
            })?,
            None => peer
                .and_then(|p| self.inbox.as_ref()?.peer_workspace(p))
                .and_then(|id| self.find(&id))
                .or_else(|| self.primary())
                // The configuration never yields an empty list.
                .ok_or_else(|| RpcError::internal("no workspace is configured"))?,
        };
        Ok(Acting::new(ws, &self.client))
    }
}
