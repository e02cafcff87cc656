//! What a driver thread is started with, and the machine it feeds.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use super::agent_setup::AgentSetup;
use super::catalog::Catalog;
use super::config::{ServerSpec, TransportSpec};
use crate::config::EnvMap;
use crate::machine::upstream::{self, Upstream};
use crate::mcp::outbox::Outbox;
use crate::shutdown::Shutdown;

pub struct Settings {
    /// The server's index in the catalog.
    pub index: usize,
    pub name: String,
    pub spec: ServerSpec,
    pub env: Arc<EnvMap>,
    /// Idle time after which a healthy server is pinged.
    pub keepalive: Duration,
    pub outbox: Outbox,
    pub catalog: Arc<RwLock<Catalog>>,
    /// What the agent set up that a new session must be told again.
    pub setup: AgentSetup,
    pub shutdown: Shutdown,
}

impl Settings {
    /// The server's machine; a stdio server that stops answering is
    /// restarted, an HTTP one is not (its process is not ours).
    pub(crate) fn machine(&self) -> Upstream {
        let config = upstream::Config {
            breaker: self.spec.breaker,
            keepalive: self.keepalive,
            restart_hung: matches!(self.spec.transport, TransportSpec::Stdio { .. }),
            ..upstream::Config::default()
        };
        // Breakers of servers started together must not probe together.
        let jitter = crate::seed::jitter(&self.index.to_le_bytes());
        Upstream::new(config, &self.name, jitter, Instant::now())
    }
}
