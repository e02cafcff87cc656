//! `molecule-mcp doctor` for upstreams: connect to each configured server
//! once (all at once, each within its connect timeout), list its tools,
//! close it, and say OK / WARN / FAIL. Never hangs: whatever has not
//! answered by the deadline is cancelled and reported as such.

use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{after, bounded, select, unbounded};
use serde_json::json;

use super::config::ServerEntry;
use super::error::CallError;
use super::session;
use crate::config::EnvMap;
use crate::redact::redact;

/// How long the checkup waits on top of the longest connect timeout.
const SLACK: Duration = Duration::from_secs(3);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Ok,
    Warn,
    Fail,
}

#[derive(Debug, Clone)]
pub struct Checkup {
    pub server: String,
    pub health: Health,
    pub detail: String,
    /// What to do about it.
    pub next: Option<String>,
}

/// Checks every entry; the result is in the entries' order.
pub fn run(entries: &[ServerEntry], env: &EnvMap) -> Vec<Checkup> {
    let env = Arc::new(env.clone());
    let (cancel_tx, cancel) = bounded::<()>(0);
    let (done_tx, done) = unbounded();
    let mut results: Vec<Option<Checkup>> = vec![None; entries.len()];
    let mut longest = Duration::ZERO;
    for (index, entry) in entries.iter().enumerate() {
        let spec = match &entry.spec {
            Err(reason) => {
                results[index] = Some(fail(
                    &entry.name,
                    format!("configuration error: {reason}"),
                    "fix this server's entry in the servers file",
                ));
                continue;
            }
            Ok(spec) if !spec.enabled => {
                results[index] = Some(Checkup {
                    server: entry.name.clone(),
                    health: Health::Ok,
                    detail: "disabled in the servers file".into(),
                    next: None,
                });
                continue;
            }
            Ok(spec) => spec.clone(),
        };
        longest = longest.max(spec.connect_timeout.saturating_mul(2));
        let (name, env, cancel, done_tx) = (
            entry.name.clone(),
            env.clone(),
            cancel.clone(),
            done_tx.clone(),
        );
        let group = crate::threads::upstream(&name);
        let spawned = crate::threads::spawn(format!("doctor-{name}"), &group, move || {
            let checkup = check_one(&name, &spec, &env, &cancel);
            let _ = done_tx.send((index, checkup));
        });
        if let Err(refused) = spawned {
            results[index] = Some(fail(&entry.name, refused.to_string(), "try again"));
        }
    }
    drop(done_tx);
    let deadline = after(longest + SLACK);
    while results.iter().any(Option::is_none) {
        select! {
            recv(done) -> message => match message {
                Ok((index, checkup)) => results[index] = Some(checkup),
                Err(_) => break,
            },
            recv(deadline) -> _ => break,
        }
    }
    // Whatever still runs is told to give up (and closes what it started).
    drop(cancel_tx);
    let grace = after(SLACK);
    while results.iter().any(Option::is_none) {
        select! {
            recv(done) -> message => match message {
                Ok((index, checkup)) => results[index] = Some(checkup),
                Err(_) => break,
            },
            recv(grace) -> _ => break,
        }
    }
    results
        .into_iter()
        .zip(entries)
        .map(|(result, entry)| {
            result.unwrap_or_else(|| {
                fail(
                    &entry.name,
                    "did not answer in time".into(),
                    "check that the server starts and answers initialize within its connectTimeout",
                )
            })
        })
        .collect()
}

fn check_one(
    name: &str,
    spec: &super::config::ServerSpec,
    env: &EnvMap,
    cancel: &crossbeam_channel::Receiver<()>,
) -> Checkup {
    let transport = match spec.transport.expanded(env) {
        Ok(t) => t,
        Err(reason) => {
            return fail(
                name,
                format!("configuration error: {reason}"),
                "set the variable in molecule-mcp's environment or fix the servers file",
            )
        }
    };
    let session = match session::connect(name, &transport, env, spec.connect_timeout, cancel) {
        Ok(s) => s,
        Err(error) => return connect_failed(name, &error),
    };
    let tools = session.request("tools/list", json!({}), spec.connect_timeout, cancel);
    let server = session
        .info()
        .pointer("/serverInfo/name")
        .and_then(|v| v.as_str())
        .map(|s| s.chars().take(60).collect::<String>())
        .unwrap_or_else(|| "an unnamed server".into());
    session.close();
    match tools {
        Ok(list) => {
            let count = list
                .get("tools")
                .and_then(|t| t.as_array())
                .map_or(0, Vec::len);
            Checkup {
                server: name.into(),
                health: Health::Ok,
                detail: format!("connected to {server}; {count} tool(s)"),
                next: None,
            }
        }
        Err(error) => Checkup {
            server: name.into(),
            health: Health::Warn,
            detail: redact(&format!(
                "connected to {server}, but tools/list failed: {error}"
            )),
            next: Some("check the server's own logs".into()),
        },
    }
}

fn connect_failed(name: &str, error: &CallError) -> Checkup {
    let next = match error {
        CallError::Spawn { .. } => "check the command and its arguments in the servers file",
        CallError::Auth { .. } => "fix the credentials (headers or the variables they use)",
        CallError::Protocol { .. } => "check that the URL or command is an MCP server",
        CallError::Timeout => "the server is slow to start: raise connectTimeout or check it",
        _ => "check that the server runs and is reachable",
    };
    fail(name, format!("cannot connect: {error}"), next)
}

fn fail(name: &str, detail: String, next: &str) -> Checkup {
    Checkup {
        server: name.into(),
        health: Health::Fail,
        detail: redact(&detail),
        next: Some(next.into()),
    }
}
