//! One `mcpServers` entry → a [`ServerEntry`]: its problems become the
//! entry's error, its oddities become warnings.

use std::path::PathBuf;

use serde_json::Value;

use super::fields::{shown_key, Fields};
use super::{
    ServerEntry, ServerSpec, ToolFilter, TransportSpec, DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT,
};
use crate::machine::breaker;

const MAX_NAME_CHARS: usize = 64;

const KNOWN_KEYS: &[&str] = &[
    "command",
    "args",
    "env",
    "cwd",
    "url",
    "headers",
    "type",
    "transport",
    "enabled",
    "disabled",
    "timeout",
    "connectTimeout",
    "tools",
    "breaker",
    "prefix",
];

/// Set by the HTTP transport itself; a configured value would break the
/// protocol or the framing.
const RESERVED_HEADERS: &[&str] = &[
    "accept",
    "content-type",
    "content-length",
    "transfer-encoding",
    "connection",
    "host",
    "mcp-session-id",
    "mcp-protocol-version",
];

pub(super) fn entry(
    index: usize,
    raw_name: &str,
    value: &Value,
    warnings: &mut Vec<String>,
) -> ServerEntry {
    if let Err(why) = check_name(raw_name) {
        let mut short: String = raw_name.chars().take(40).collect();
        if raw_name.chars().nth(40).is_some() {
            short.push_str("...");
        }
        return ServerEntry {
            name: format!("server#{} {short:?}", index + 1),
            spec: Err(why),
        };
    }
    let mut server_warnings = Vec::new();
    let spec = spec(value, &mut server_warnings);
    warnings.extend(
        server_warnings
            .into_iter()
            .map(|w| format!("servers file: server {raw_name}: {w}")),
    );
    ServerEntry {
        name: raw_name.to_string(),
        spec,
    }
}

fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err(
            "the server name is empty; give it a name of letters, digits, '_', '.' or '-'".into(),
        );
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(format!(
            "the server name is longer than {MAX_NAME_CHARS} characters; shorten it"
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
    {
        return Err(
            "the server name may hold only letters, digits, '_', '.' and '-' (it becomes part of tool names); rename it"
                .into(),
        );
    }
    if name.contains("__") {
        return Err(
            "the server name holds \"__\", which separates server and tool in tool names (\"a__b\" with tool \"c\" and \"a\" with tool \"b__c\" would both be a__b__c); rename it"
                .into(),
        );
    }
    Ok(())
}

/// `prefix`: what starts the names of the server's tools and prompts instead
/// of `<server>__`; `""` offers them, and its resource URIs, unchanged.
fn prefix(fields: &mut Fields<'_>) -> Option<String> {
    let prefix = fields.string("prefix")?;
    if prefix.chars().count() > MAX_NAME_CHARS
        || !prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
    {
        fields.problem(
            "prefix",
            &format!("may hold only letters, digits, '_', '.' and '-', at most {MAX_NAME_CHARS}"),
        );
        return None;
    }
    Some(prefix)
}

fn spec(value: &Value, warnings: &mut Vec<String>) -> Result<ServerSpec, String> {
    let Value::Object(object) = value else {
        return Err("the entry must be a JSON object with a command or a url".into());
    };
    let mut fields = Fields::new(object, "");
    for key in fields.unknown(KNOWN_KEYS) {
        warnings.push(format!("unknown key {key} ignored"));
    }
    let transport = transport(&mut fields, warnings)?;
    let enabled = fields.boolean("enabled").unwrap_or(true);
    let disabled = fields.boolean("disabled").unwrap_or(false);
    let timeout = fields.seconds("timeout").unwrap_or(DEFAULT_TIMEOUT);
    let connect_timeout = fields
        .seconds("connectTimeout")
        .unwrap_or(DEFAULT_CONNECT_TIMEOUT);
    let tools = tool_filter(&mut fields, warnings);
    let breaker = breaker_config(&mut fields, warnings);
    let prefix = prefix(&mut fields);
    match transport {
        Some(transport) if fields.problems.is_empty() => Ok(ServerSpec {
            transport,
            enabled: enabled && !disabled,
            timeout,
            connect_timeout,
            tools,
            breaker,
            prefix,
        }),
        _ => Err(fields.problems.join("; ")),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Stdio,
    Http,
}

/// `Err` only for the legacy SSE transport, which ends the reading of the
/// entry; other problems land in `fields`.
fn transport(
    fields: &mut Fields<'_>,
    warnings: &mut Vec<String>,
) -> Result<Option<TransportSpec>, String> {
    let mut hint = None;
    for key in ["type", "transport"] {
        let Some(text) = fields.string(key) else {
            continue;
        };
        let kind = match normalised(&text).as_str() {
            "stdio" => Kind::Stdio,
            "http" | "streamablehttp" => Kind::Http,
            "sse" => {
                return Err("legacy SSE transport not supported: point url at the server's Streamable HTTP endpoint and drop the type".into())
            }
            _ => {
                fields.problems.push(format!(
                    "{key} must be \"stdio\", \"http\" or \"streamable-http\""
                ));
                continue;
            }
        };
        if hint.is_some_and(|h| h != kind) {
            fields
                .problems
                .push("type and transport disagree; keep one".into());
        }
        hint = Some(kind);
    }
    let kind = match (fields.has("command"), fields.has("url")) {
        (true, true) => {
            fields.problems.push(
                "has both command and url; keep one (command for stdio, url for HTTP)".into(),
            );
            return Ok(None);
        }
        (false, false) => {
            fields
                .problems
                .push("needs a command (a stdio server) or a url (an HTTP server)".into());
            return Ok(None);
        }
        (true, false) => Kind::Stdio,
        (false, true) => Kind::Http,
    };
    if hint.is_some_and(|h| h != kind) {
        fields.problems.push(match kind {
            Kind::Stdio => "type says HTTP but there is no url".into(),
            Kind::Http => "type says stdio but there is no command".into(),
        });
        return Ok(None);
    }
    Ok(match kind {
        Kind::Stdio => stdio(fields, warnings),
        Kind::Http => http(fields, warnings),
    })
}

fn normalised(text: &str) -> String {
    text.trim()
        .chars()
        .filter(|c| !matches!(c, '-' | '_'))
        .flat_map(char::to_lowercase)
        .collect()
}

fn stdio(fields: &mut Fields<'_>, warnings: &mut Vec<String>) -> Option<TransportSpec> {
    for key in ["headers"] {
        if fields.has(key) {
            warnings.push(format!("{key} applies only to HTTP servers; ignored"));
        }
    }
    let command = fields.string("command");
    let args = fields.strings("args").unwrap_or_default();
    let env = fields.string_map("env", env_name_ok).unwrap_or_default();
    let cwd = fields.string("cwd");
    let command = command?;
    if command.trim().is_empty() {
        fields.problems.push("command is empty".into());
        return None;
    }
    if cwd.as_deref().is_some_and(|c| c.trim().is_empty()) {
        fields
            .problems
            .push("cwd is empty; remove it or name a directory".into());
        return None;
    }
    Some(TransportSpec::Stdio {
        command,
        args,
        env,
        cwd: cwd.map(PathBuf::from),
    })
}

fn env_name_ok(name: &str) -> Result<(), &'static str> {
    if name.is_empty() || name.contains('=') || name.contains('\0') {
        Err("is not a valid environment variable name")
    } else {
        Ok(())
    }
}

fn http(fields: &mut Fields<'_>, warnings: &mut Vec<String>) -> Option<TransportSpec> {
    for key in ["args", "env", "cwd"] {
        if fields.has(key) {
            warnings.push(format!("{key} applies only to stdio servers; ignored"));
        }
    }
    let url = fields.string("url");
    let mut headers = fields
        .string_map("headers", header_name_ok)
        .unwrap_or_default();
    headers.retain(|name, _| {
        let reserved = RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str());
        if reserved {
            warnings.push(format!(
                "header {} is set by molecule-mcp itself; ignored",
                shown_key(name)
            ));
        }
        !reserved
    });
    for (name, value) in &headers {
        if let Err(what) = header_value_ok(value) {
            fields
                .problems
                .push(format!("headers.{} {what}", shown_key(name)));
        }
    }
    let url = url?.trim().to_string();
    // A url built from variables is checked once expanded.
    if !url.contains("${") {
        if let Err(what) = check_url(&url) {
            fields.problems.push(what);
            return None;
        }
    }
    Some(TransportSpec::Http { url, headers })
}

/// RFC 9110 token characters.
pub(super) fn header_name_ok(name: &str) -> Result<(), &'static str> {
    let tchar = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if !name.is_empty() && name.chars().all(tchar) {
        Ok(())
    } else {
        Err("is not a valid header name")
    }
}

pub(super) fn header_value_ok(value: &str) -> Result<(), &'static str> {
    if value.chars().any(|c| c.is_control() && c != '\t') {
        Err("holds a line break or control character")
    } else {
        Ok(())
    }
}

/// `http://` or `https://` with a host. The message never quotes the url:
/// it may carry credentials.
pub(super) fn check_url(url: &str) -> Result<(), String> {
    let lower = url.to_ascii_lowercase();
    let rest = if let Some(rest) = lower.strip_prefix("https://") {
        rest
    } else if let Some(rest) = lower.strip_prefix("http://") {
        rest
    } else if let Some((scheme, _)) = lower.split_once("://") {
        let scheme: String = scheme.chars().take(20).collect();
        return Err(format!(
            "url scheme {scheme:?} is not supported; use http:// or https://"
        ));
    } else {
        return Err("url must start with http:// or https://".into());
    };
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("url holds a space or control character".into());
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit('@').next().unwrap_or("");
    if host.is_empty() || host.starts_with(':') {
        return Err("url has no host".into());
    }
    Ok(())
}

fn tool_filter(fields: &mut Fields<'_>, warnings: &mut Vec<String>) -> ToolFilter {
    let Some(mut tools) = fields.object("tools") else {
        return ToolFilter::default();
    };
    for key in tools.unknown(&["include", "exclude"]) {
        warnings.push(format!("unknown key {key} ignored"));
    }
    let include = tools.strings("include");
    let exclude = tools.strings("exclude").unwrap_or_default();
    if include.is_some() && !exclude.is_empty() {
        warnings.push("tools.exclude is ignored because tools.include is given".into());
    }
    if include.as_ref().is_some_and(Vec::is_empty) {
        warnings.push("tools.include is empty: none of this server's tools is offered".into());
    }
    fields.absorb(tools);
    ToolFilter { include, exclude }
}

fn breaker_config(fields: &mut Fields<'_>, warnings: &mut Vec<String>) -> breaker::Config {
    let mut config = breaker::Config::default();
    let Some(mut b) = fields.object("breaker") else {
        return config;
    };
    for key in b.unknown(&[
        "threshold",
        "cooldownSecs",
        "maxCooldownSecs",
        "parkAfter",
        "parkProbeSecs",
    ]) {
        warnings.push(format!("unknown key {key} ignored"));
    }
    if let Some(v) = b.count("threshold") {
        config.threshold = v;
    }
    if let Some(v) = b.seconds("cooldownSecs") {
        config.cooldown = v;
    }
    if let Some(v) = b.seconds("maxCooldownSecs") {
        config.max_cooldown = v;
    }
    if let Some(v) = b.count("parkAfter") {
        config.park_after = v;
    }
    if let Some(v) = b.seconds("parkProbeSecs") {
        config.park_probe = v;
    }
    if config.max_cooldown < config.cooldown {
        b.problems.push(format!(
            "breaker.maxCooldownSecs ({} s) is below breaker.cooldownSecs ({} s)",
            config.max_cooldown.as_secs_f64(),
            config.cooldown.as_secs_f64()
        ));
    }
    fields.absorb(b);
    config
}

/// Header names that usually carry credentials, whatever their value looks
/// like.
pub(super) fn secret_header(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    ["auth", "token", "key", "secret", "cookie", "password"]
        .iter()
        .any(|word| lower.contains(word))
}

/// Environment variables that usually carry credentials.
pub(super) fn secret_env(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    ["TOKEN", "SECRET", "KEY", "PASSWORD", "AUTH", "CREDENTIAL"]
        .iter()
        .any(|word| upper.contains(word))
}
