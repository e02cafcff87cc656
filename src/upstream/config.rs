//! The upstream servers file (gateway.md §1): the `{"mcpServers": {...}}`
//! format every MCP host already reads, plus our optional keys.
//!
//! Two kinds of problem, two outcomes:
//! - the file itself is unusable (unreadable, not JSON, no `mcpServers`
//!   object): [`FileError`], and the binary exits 2 with its text;
//! - one server's entry is wrong: that entry's `spec` is `Err(reason)`, the
//!   gateway parks just that server and the others run.
//!
//! Decisions beyond the spec:
//! - Server names may hold only `[A-Za-z0-9_.-]`, 1 to 64 characters. A name
//!   outside that is an error for its entry rather than silently rewritten,
//!   because the name is what the agent sees in every tool name and two
//!   rewritten names could collide. Such an entry is named
//!   `server#N "raw name"` (N its position in the file, the raw name escaped
//!   and shortened) so that log lines stay on one line and names stay unique.
//! - Entries come back in name order (the order of a JSON object is not kept).
//! - `disabled: true` (the key some hosts use) is read as `enabled: false`.
//! - `type`/`transport` accept `stdio`, `http`, `streamable-http` (also
//!   spelled `streamable_http`, `streamableHttp`); `sse` is refused.
//! - Headers the HTTP transport sets itself (`Accept`, `Content-Type`,
//!   `Mcp-Session-Id`, `MCP-Protocol-Version`, `Host`, `Content-Length`,
//!   `Transfer-Encoding`, `Connection`) are dropped with a warning.
//! - Durations are seconds (fractions allowed), more than 0 and at most one
//!   day; counts are whole numbers from 1.
//! - `tools.include: []` offers no tool at all.
//! - Other top-level keys are ignored silently, so a host's own config file
//!   (which holds other settings) can be used as it is.
//! - `${VAR}` expansion: see [`expand`].

mod expand;
mod fields;
mod file_error;
mod server;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

pub use expand::expand;
pub use file_error::FileError;

/// The largest servers file read; a bigger one is surely a mistake.
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq)]
pub struct ServerEntry {
    pub name: String,
    /// `Err` is a configuration error for this server only: it is parked
    /// with this reason. The reason never quotes a value from the file.
    pub spec: Result<ServerSpec, String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ServerSpec {
    pub transport: TransportSpec,
    pub enabled: bool,
    /// Per call.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub tools: ToolFilter,
    pub breaker: crate::machine::breaker::Config,
    /// Replaces `<server>__` in the names the agent sees; `Some("")` offers
    /// names and resource URIs unchanged.
    pub prefix: Option<String>,
}

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// How to reach a server. As read from the file, `${VAR}` references are
/// still in place; [`TransportSpec::expanded`] resolves them at each
/// (re)connect.
#[derive(Clone, PartialEq)]
pub enum TransportSpec {
    Stdio {
        command: String,
        args: Vec<String>,
        env: BTreeMap<String, String>,
        cwd: Option<PathBuf>,
    },
    Http {
        url: String,
        headers: BTreeMap<String, String>,
    },
}

// Header and environment values are often credentials: only their names are
// shown.
impl fmt::Debug for TransportSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransportSpec::Stdio {
                command,
                args,
                env,
                cwd,
            } => f
                .debug_struct("Stdio")
                .field("command", command)
                .field("args", &format_args!("[{} args]", args.len()))
                .field("env", &env.keys().collect::<Vec<_>>())
                .field("cwd", cwd)
                .finish(),
            TransportSpec::Http { headers, .. } => f
                .debug_struct("Http")
                .field("url", &"[not shown]")
                .field("headers", &headers.keys().collect::<Vec<_>>())
                .finish(),
        }
    }
}

/// Which of a server's tools are offered. Names are exact; when `include`
/// is given, `exclude` is not consulted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolFilter {
    pub include: Option<Vec<String>>,
    pub exclude: Vec<String>,
}

impl ToolFilter {
    pub fn allows(&self, tool: &str) -> bool {
        match &self.include {
            Some(include) => include.iter().any(|t| t == tool),
            None => !self.exclude.iter().any(|t| t == tool),
        }
    }
}

/// Reads the servers file. Warnings (unknown keys, ignored settings) are
/// logged here; per-server errors are returned in the entries and left for
/// the gateway to report when it parks the server.
pub fn load(path: &Path) -> Result<Vec<ServerEntry>, FileError> {
    let bytes = read(path)?;
    let (entries, warnings) = parse(path, &bytes)?;
    for warning in warnings {
        log::warn!("{}", crate::redact::redact(&warning));
    }
    Ok(entries)
}

fn read(path: &Path) -> Result<Vec<u8>, FileError> {
    let cannot = |e: std::io::Error| FileError::new(path, None, format!("cannot read: {e}"));
    let file = std::fs::File::open(path).map_err(cannot)?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(FileError::new(
            path,
            None,
            format!(
                "the file is larger than {} MiB; is this the right file?",
                MAX_FILE_BYTES / (1024 * 1024)
            ),
        ));
    }
    Ok(bytes)
}

/// The file's text → entries and warnings. `path` only names the file in
/// errors.
pub(crate) fn parse(
    path: &Path,
    bytes: &[u8],
) -> Result<(Vec<ServerEntry>, Vec<String>), FileError> {
    // Editors on some systems start UTF-8 files with a byte order mark.
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let top: Value = serde_json::from_slice(bytes).map_err(|e| FileError::from_json(path, &e))?;
    let Value::Object(top) = top else {
        return Err(FileError::new(
            path,
            None,
            r#"the top level must be a JSON object: {"mcpServers": {"name": {...}}}"#,
        ));
    };
    let servers = match top.get("mcpServers") {
        Some(Value::Object(servers)) => servers,
        Some(_) => {
            return Err(FileError::new(
                path,
                None,
                r#""mcpServers" must be an object mapping each server's name to its settings"#,
            ))
        }
        None => {
            let hint = if top.contains_key("servers") {
                r#" (this file has "servers": rename it to "mcpServers")"#
            } else {
                ""
            };
            return Err(FileError::new(
                path,
                None,
                format!(
                    r#"no "mcpServers" object{hint}: expected {{"mcpServers": {{"name": {{...}}}}}}"#
                ),
            ));
        }
    };
    let mut warnings = Vec::new();
    let entries = servers
        .iter()
        .enumerate()
        .map(|(index, (name, value))| server::entry(index, name, value, &mut warnings))
        .collect();
    Ok((entries, warnings))
}
