//! `molecule-mcp doctor`: one line per check, OK / WARN / FAIL, each failure
//! with a "next:" hint. Never registers (that would overwrite the agent
//! card): token validity is checked with a heartbeat of the correct body.

use std::io::{IsTerminal, Write};
use std::time::Instant;

use crate::config::{Config, EnvMap};
use crate::platform::http::{self, Call, Client};
use crate::platform::registry;
use crate::statefile::probe_writable;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    Warn,
    Fail,
}

/// One check's result.
#[derive(Debug, Clone)]
pub struct Check {
    pub verdict: Verdict,
    pub name: String,
    pub detail: String,
    pub next: Option<String>,
}

impl Check {
    fn ok(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Check {
            verdict: Verdict::Ok,
            name: name.into(),
            detail: detail.into(),
            next: None,
        }
    }

    fn bad(
        verdict: Verdict,
        name: impl Into<String>,
        detail: impl Into<String>,
        next: impl Into<String>,
    ) -> Self {
        Check {
            verdict,
            name: name.into(),
            detail: detail.into(),
            next: Some(next.into()),
        }
    }
}

/// Runs every check, prints them to stdout (no protocol runs under doctor),
/// and returns 1 when any failed.
pub fn run(config: &Config) -> i32 {
    let checks = checks(config, &Client::new());
    let colour = std::io::stdout().is_terminal() && !no_color(&config.env);
    let mut out = std::io::stdout().lock();
    for check in &checks {
        let _ = writeln!(out, "{}", render(check, colour));
    }
    let _ = out.flush();
    exit_code(&checks)
}

pub fn exit_code(checks: &[Check]) -> i32 {
    if checks.iter().any(|c| c.verdict == Verdict::Fail) {
        1
    } else {
        0
    }
}

/// `NO_COLOR` set to anything non-empty turns colour off (no-color.org).
fn no_color(env: &EnvMap) -> bool {
    env.get("NO_COLOR").is_some_and(|v| !v.is_empty())
}

pub fn render(check: &Check, colour: bool) -> String {
    let (word, code) = match check.verdict {
        Verdict::Ok => ("OK  ", "32"),
        Verdict::Warn => ("WARN", "33"),
        Verdict::Fail => ("FAIL", "31"),
    };
    let word = if colour {
        format!("\x1b[{code}m{word}\x1b[0m")
    } else {
        word.to_string()
    };
    let mut line = format!("{word} {}: {}", check.name, check.detail);
    if let Some(next) = &check.next {
        line.push_str(&format!("\n     next: {next}"));
    }
    line
}

pub fn checks(config: &Config, client: &Client) -> Vec<Check> {
    let mut checks = Vec::new();
    match &config.platform {
        Some(p) => checks.push(Check::ok(
            "configuration",
            format!("{} workspace(s), platform {}", p.workspaces.len(), p.url),
        )),
        None => checks.push(Check::ok(
            "configuration",
            "gateway-only mode (no platform configured)",
        )),
    }
    checks.push(match probe_writable(&config.configs_dir) {
        Ok(()) => Check::ok("CONFIGS_DIR", format!("{} is writable", config.configs_dir.display())),
        Err(e) => Check::bad(
            Verdict::Fail,
            "CONFIGS_DIR",
            format!("{} is not writable: {e}", config.configs_dir.display()),
            "set CONFIGS_DIR to a directory this user can write (the inbound secret and inbox state live there)",
        ),
    });
    checks.extend(upstream_checks(config));
    let Some(platform) = &config.platform else {
        return checks;
    };
    checks.push(reachability(client, &platform.url));
    for ws in &platform.workspaces {
        checks.push(token_check(client, ws));
    }
    checks
}

/// One line per upstream server: connected once within its connect
/// timeout (all at once, never hanging), or why not.
fn upstream_checks(config: &Config) -> Vec<Check> {
    use crate::upstream::checkup::{self, Health};
    let Some(path) = &config.servers_file else {
        return Vec::new();
    };
    let entries = match crate::upstream::config::load(path) {
        Ok(entries) => entries,
        Err(e) => {
            return vec![Check::bad(
                Verdict::Fail,
                "servers file",
                e.to_string(),
                "fix the file at the place named (it must be {\"mcpServers\": {...}})",
            )]
        }
    };
    let mut checks = vec![Check::ok(
        "servers file",
        format!("{}: {} server(s)", path.display(), entries.len()),
    )];
    for checkup in checkup::run(&entries, &config.env) {
        let name = format!("upstream {}", checkup.server);
        checks.push(match (checkup.health, checkup.next) {
            (Health::Ok, _) | (_, None) => Check::ok(name, checkup.detail),
            (Health::Warn, Some(next)) => Check::bad(Verdict::Warn, name, checkup.detail, next),
            (Health::Fail, Some(next)) => Check::bad(Verdict::Fail, name, checkup.detail, next),
        });
    }
    checks
}

fn reachability(client: &Client, base: &str) -> Check {
    let started = Instant::now();
    let call = Call::new("GET", http::url(base, &["health"]), base);
    match client.send(call) {
        Ok(r) if r.is_success() => Check::ok(
            "platform reachable",
            format!("GET /health answered {} in {} ms", r.status, started.elapsed().as_millis()),
        ),
        Ok(r) => Check::bad(
            Verdict::Warn,
            "platform reachable",
            format!("GET /health answered HTTP {}", r.status),
            "check PLATFORM_URL: it must be the tenant's base URL, e.g. https://acme.moleculesai.app",
        ),
        Err(e) => Check::bad(
            Verdict::Fail,
            "platform reachable",
            e.to_string(),
            "check PLATFORM_URL and the network (proxy, DNS, firewall)",
        ),
    }
}

fn token_check(client: &Client, ws: &crate::config::Workspace) -> Check {
    let name = format!("token of workspace {}", ws.id);
    let token = match ws.token.current() {
        Ok(t) => t,
        Err(e) => {
            return Check::bad(
                Verdict::Fail,
                name,
                e.to_string(),
                "fix the token file or MOLECULE_WORKSPACE_TOKEN",
            )
        }
    };
    crate::redact::register_secret(token.expose());
    match registry::heartbeat(client, ws, &token, std::time::Duration::ZERO, None) {
        registry::Answer::Ok { .. } => Check::ok(name, "a heartbeat was accepted"),
        registry::Answer::Status {
            status: status @ (401 | 403),
            snippet,
        } => Check::bad(
            Verdict::Fail,
            name,
            format!("the platform rejected the token (HTTP {status}: {snippet})"),
            "regenerate the workspace token in the canvas Tokens tab and update the MCP configuration",
        ),
        registry::Answer::Status { status: 404, snippet } => Check::bad(
            Verdict::Fail,
            name,
            format!("the platform does not know this workspace (HTTP 404: {snippet})"),
            "check WORKSPACE_ID against the canvas, or start molecule-mcp once so it registers",
        ),
        registry::Answer::Status { status, snippet } => Check::bad(
            Verdict::Warn,
            name,
            format!("heartbeat answered HTTP {status}: {snippet}"),
            "the platform may be having trouble; try again in a minute",
        ),
        registry::Answer::Transport(why) => Check::bad(
            Verdict::Fail,
            name,
            format!("heartbeat failed: {why}"),
            "check PLATFORM_URL and the network",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_fail_exits_1() {
        let ok = Check::ok("a", "fine");
        let warn = Check::bad(Verdict::Warn, "b", "meh", "x");
        let fail = Check::bad(Verdict::Fail, "c", "bad", "y");
        assert_eq!(exit_code(&[ok.clone(), warn.clone()]), 0);
        assert_eq!(exit_code(&[ok, warn, fail]), 1);
    }

    #[test]
    fn colour_only_when_asked() {
        let fail = Check::bad(Verdict::Fail, "c", "bad", "do this");
        let plain = render(&fail, false);
        assert!(plain.starts_with("FAIL c: bad"), "{plain}");
        assert!(plain.contains("next: do this"));
        assert!(!plain.contains('\x1b'));
        assert!(render(&fail, true).contains("\x1b[31m"));
    }
}
