//! The platform tools (mcp-server.md §2; the list is `registry::TOOLS`) and
//! the `instructions` text (§3).
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
mod desktop;
mod desktop_host;
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
mod plan_file;
mod plans;
mod plugins;
mod registry;
mod requests;
pub mod result;
mod route;
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
    /// Where the goal and task files live (CONFIGS_DIR).
    state_dir: std::path::PathBuf,
    /// One goal or task change at a time (each is read-modify-write).
    plans: std::sync::Mutex<()>,
    /// The local X desktop, when one was found at start.
    desktop: Option<desktop_host::Desktop>,
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
                state_dir: config.configs_dir.clone(),
                plans: std::sync::Mutex::new(()),
                desktop: desktop_host::Desktop::detect(&config.env),
                attachments: attachments::Policy::from_config(config),
            },
        }
    }

    /// Replaces the delegation timing (tests use short waits).
    pub fn set_delegation_settings(&mut self, settings: DelegationSettings) {
        self.toolbox.delegation = settings;
    }

    /// The tool definitions for `tools/list`, in registry order.
    pub fn list(&self) -> Vec<Value> {
        self.offered().map(registry::Tool::definition).collect()
    }

    fn offered(&self) -> impl Iterator<Item = &'static registry::Tool> + '_ {
        registry::TOOLS
            .iter()
            .filter(|t| self.toolbox.offers(t.offered))
    }

    pub fn has(&self, name: &str) -> bool {
        self.offered().any(|t| t.name == name)
    }

    /// Runs a tool. `Err` only for caller mistakes (`-32602`); failures of
    /// the platform or a peer are `isError` results.
    pub fn call(
        &self,
        name: &str,
        arguments: Map<String, Value>,
        ctx: &CallContext,
    ) -> Result<Value, RpcError> {
        let tool = registry::find(name)
            .filter(|t| self.toolbox.offers(t.offered))
            .ok_or_else(|| RpcError::invalid_params(format!("unknown tool: {name}")))?;
        let args = Args::new(&arguments);
        result::finish((tool.run)(&self.toolbox, &args, ctx))
    }
}

impl Toolbox {
    fn offers(&self, offered: registry::Offered) -> bool {
        match offered {
            registry::Offered::Always => true,
            registry::Offered::WithDesktop => self.desktop.is_some(),
        }
    }

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
