//! Configuration as a pure function of an environment map and the file
//! system. Nothing else in the program reads the environment: it reads
//! [`Config`], whose `env` keeps the map for the few later uses (runtime
//! identity, host detection, `${VAR}` expansion).
//!
//! Decisions beyond `platform.md` §1:
//! - In multi-workspace mode `PLATFORM_URL` is required unless every entry
//!   of `MOLECULE_WORKSPACES` has its own `platform_url`; [`Platform::url`]
//!   is then the first workspace's URL.
//! - Gateway-only mode needs none of `PLATFORM_URL`, `WORKSPACE_ID`,
//!   `MOLECULE_WORKSPACES`, `MOLECULE_WORKSPACE_TOKEN` or
//!   `MOLECULE_WORKSPACE_TOKEN_FILE` to be set; setting any of them asks
//!   for the platform, and then the set must be complete.
//! - Tokens from every source obey the same rules (one word, no control
//!   characters, at most 16 KiB). Ids are letters, digits, `-`, `_`, `.`.
//! - Paths (`CONFIGS_DIR`, the token file, the servers file) may be any
//!   bytes; every other value must be UTF-8.

mod agent_card;
mod configs_dir;
mod env;
mod error;
mod help;
mod numbers;
mod token;
mod url;
mod workspace_list;
mod workspaces;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

pub use agent_card::AgentCard;
pub use env::path as env_path;
pub use error::ConfigError;
pub use help::ENVIRONMENT as HELP_ENVIRONMENT;
pub use token::{Secret, Token, TokenError, TokenFault, MAX_TOKEN_BYTES};
pub use workspaces::{check_id, AUTH_TOKEN_FILE};

/// The process environment, keys as text.
pub type EnvMap = BTreeMap<String, OsString>;

pub const DEFAULT_HEARTBEAT_SECS: u64 = 20;
pub const DEFAULT_POLL_SECS: u64 = 5;
pub const DEFAULT_POLL_TIMEOUT_SECS: u64 = 2;
/// The platform's stale window: a workspace without a heartbeat this long
/// shows as offline.
const OFFLINE_AFTER: Duration = Duration::from_secs(90);

#[derive(Clone)]
pub struct Config {
    /// `None` only in gateway-only mode.
    pub platform: Option<Platform>,
    pub configs_dir: PathBuf,
    /// Where the inbox cursor files live when not in `configs_dir`
    /// (`MOLECULE_MAILBOX_DIR`, `MOLECULE_MAILBOX_KERNEL`).
    pub mailbox_dir: Option<PathBuf>,
    pub verbose: bool,
    pub heartbeat_interval: Duration,
    pub poll_interval: Duration,
    /// Advised to the agent for `wait_for_message`; 0 means push only.
    pub poll_timeout_secs: u64,
    pub disable_heartbeat: bool,
    pub disable_inbox: bool,
    pub servers_file: Option<PathBuf>,
    pub env: EnvMap,
}

// The environment holds tokens, so it is summarised, never printed.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("platform", &self.platform)
            .field("configs_dir", &self.configs_dir)
            .field("mailbox_dir", &self.mailbox_dir)
            .field("verbose", &self.verbose)
            .field("heartbeat_interval", &self.heartbeat_interval)
            .field("poll_interval", &self.poll_interval)
            .field("poll_timeout_secs", &self.poll_timeout_secs)
            .field("disable_heartbeat", &self.disable_heartbeat)
            .field("disable_inbox", &self.disable_inbox)
            .field("servers_file", &self.servers_file)
            .field("env", &format_args!("[{} variables]", self.env.len()))
            .finish()
    }
}

#[derive(Clone, Debug)]
pub struct Platform {
    /// Normalised: no surrounding whitespace, no trailing `/`.
    pub url: String,
    /// Never empty; the first is the primary workspace.
    pub workspaces: Vec<Workspace>,
    pub multi: bool,
}

#[derive(Clone, Debug)]
pub struct Workspace {
    pub id: String,
    /// Normalised like [`Platform::url`].
    pub platform_url: String,
    pub token: Token,
    pub agent_card: AgentCard,
}

pub fn env_from_process() -> EnvMap {
    std::env::vars_os()
        .map(|(k, v)| (k.to_string_lossy().into_owned(), v))
        .collect()
}

/// Whether info-level logging is asked for; read before [`load`] so that
/// loading can already log.
pub fn verbose(env: &EnvMap) -> bool {
    env::flag(env, "MOLECULE_MCP_VERBOSE")
}

/// Reads and checks the whole configuration, collecting every fault. The
/// state directory is created only when everything else is valid.
pub fn load(env: &EnvMap, servers_flag: Option<PathBuf>) -> Result<Config, ConfigError> {
    let mut errors = ConfigError::default();
    let servers_file = servers_flag.or_else(|| env::path(env, "MOLECULE_MCP_SERVERS"));
    // Read in the order an operator fixes things: where state lives, the
    // required settings, then the tuning knobs.
    let configs_dir = configs_dir::choose(env, &mut errors);
    let card = agent_card::CardSettings::from_env(env, &mut errors);
    let platform = if gateway_only(env, servers_file.is_some()) {
        None
    } else {
        workspaces::resolve(env, configs_dir.as_deref(), &card, &mut errors)
    };
    let heartbeat_interval = numbers::interval(
        env,
        "MOLECULE_MCP_HEARTBEAT_SECS",
        DEFAULT_HEARTBEAT_SECS,
        &mut errors,
    );
    if heartbeat_interval > OFFLINE_AFTER / 2 {
        log::warn!(
            "MOLECULE_MCP_HEARTBEAT_SECS is {} s; the platform shows a workspace as offline \
             after about {} s without a heartbeat",
            heartbeat_interval.as_secs_f64(),
            OFFLINE_AFTER.as_secs()
        );
    }
    let poll_interval = numbers::interval(
        env,
        "MOLECULE_MCP_POLL_SECS",
        DEFAULT_POLL_SECS,
        &mut errors,
    );
    let poll_timeout_secs = numbers::poll_timeout(
        env,
        "MOLECULE_MCP_POLL_TIMEOUT_SECS",
        DEFAULT_POLL_TIMEOUT_SECS,
        &mut errors,
    );
    let configs_dir = match configs_dir {
        Some(dir) if errors.is_empty() => dir,
        _ => return Err(errors),
    };
    configs_dir::create(&configs_dir).map_err(|problem| ConfigError {
        missing: Vec::new(),
        problems: vec![problem],
    })?;
    let mailbox_dir = configs_dir::mailbox(env);
    if let Some(dir) = &mailbox_dir {
        configs_dir::create_for(
            dir,
            "Set MOLECULE_MAILBOX_DIR to a writable directory, or unset it and \
             MOLECULE_MAILBOX_KERNEL.",
        )
        .map_err(|problem| ConfigError {
            missing: Vec::new(),
            problems: vec![problem],
        })?;
    }
    if let Some(warning) = configs_dir::distrust(&configs_dir) {
        log::warn!("{warning}");
    }
    for dir in std::iter::once(&configs_dir).chain(mailbox_dir.as_ref()) {
        let removed = crate::statefile::remove_stale_temps(dir);
        if removed > 0 {
            log::info!(
                "removed {removed} temp file(s) that interrupted writes left in {}",
                dir.display()
            );
        }
    }
    Ok(Config {
        platform,
        configs_dir,
        mailbox_dir,
        verbose: verbose(env),
        heartbeat_interval,
        poll_interval,
        poll_timeout_secs,
        disable_heartbeat: env::flag(env, "MOLECULE_MCP_DISABLE_HEARTBEAT"),
        disable_inbox: env::flag(env, "MOLECULE_MCP_DISABLE_INBOX"),
        servers_file,
        env: env.clone(),
    })
}

/// No platform variable at all, but upstream servers to serve.
fn gateway_only(env: &EnvMap, has_servers_file: bool) -> bool {
    const PLATFORM_VARIABLES: [&str; 5] = [
        "PLATFORM_URL",
        "WORKSPACE_ID",
        "MOLECULE_WORKSPACES",
        "MOLECULE_WORKSPACE_TOKEN",
        "MOLECULE_WORKSPACE_TOKEN_FILE",
    ];
    has_servers_file
        && PLATFORM_VARIABLES
            .iter()
            .all(|name| !env::value(env, name).is_set())
}

/// An environment map of these pairs, for unit tests.
#[cfg(test)]
pub(crate) fn test_env(pairs: &[(&str, &str)]) -> EnvMap {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), OsString::from(v)))
        .collect()
}

/// A fresh directory for one unit test, under the system temp dir.
#[cfg(test)]
pub(crate) fn test_dir(name: &str) -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "molecule-mcp-unit-{name}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create test dir");
    dir
}

#[cfg(test)]
mod tests;
