//! What the gateway scenarios share: a servers file of fixture upstreams,
//! the binary started in gateway-only mode and initialized, calls, lists,
//! recordings. Used by the gateway, hardening and interoperability suites.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::launch;
use super::processes::{children_of, kill9};
use super::{Child, TempDir};

/// The suites that glob-import this module find the shared wait here too.
#[allow(unused_imports)]
pub use super::eventually;

/// Generous bound for what should take milliseconds on a quiet machine
/// (the machine is shared with other builds).
pub const WAIT: Duration = Duration::from_secs(15);

/// A small, fast breaker so scenarios take seconds, not minutes.
pub fn quick_breaker() -> Value {
    json!({"threshold": 3, "cooldownSecs": 0.3, "maxCooldownSecs": 0.6,
           "parkAfter": 10, "parkProbeSecs": 60})
}

/// The stdio fixture as a servers-file entry.
pub fn stdio(args: &[&str]) -> Value {
    json!({"command": launch::example("fixture_stdio").display().to_string(), "args": args})
}

/// The conformance fixture, the upstream that offers every kind of item
/// (tools, prompts, resources, templates), as a servers-file entry;
/// `prefix` as given.
pub fn full(prefix: Option<&str>) -> Value {
    let entry = json!({"command": launch::example("conformance_upstream").display().to_string()});
    match prefix {
        Some(p) => with(entry, "prefix", json!(p)),
        None => entry,
    }
}

/// `entry` with `key` set (breaker, timeout, tools, ...).
pub fn with(mut entry: Value, key: &str, value: Value) -> Value {
    if let Some(object) = entry.as_object_mut() {
        object.insert(key.into(), value);
    }
    entry
}

/// The binary under test, serving upstreams from a servers file.
pub struct Gateway {
    pub child: Child,
    /// Removed when the gateway is dropped (after the child is killed).
    _dir: TempDir,
}

impl Gateway {
    /// Writes the servers file, starts the binary (no platform configured)
    /// and initializes. `extra` adds environment variables.
    pub fn start(tag: &str, servers: Value, extra: &[(&str, &str)]) -> Gateway {
        let dir = TempDir::new(tag);
        Gateway::start_in(dir, servers, extra)
    }

    /// Like [`Gateway::start_in`], as an agent asking for `version` and
    /// declaring `capabilities`.
    pub fn start_as(
        dir: TempDir,
        servers: Value,
        extra: &[(&str, &str)],
        version: &str,
        capabilities: Value,
    ) -> Gateway {
        let child = spawn(&dir, &json!({"mcpServers": servers}), extra);
        let mut gateway = Gateway { child, _dir: dir };
        let init = gateway.request(
            "initialize",
            json!({"protocolVersion": version, "capabilities": capabilities,
                   "clientInfo": {"name": "gateway-test", "version": "1"}}),
        );
        assert!(init.get("result").is_some(), "{init}");
        let ready = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        gateway.child.send_json(&ready).expect("written");
        gateway
    }

    pub fn start_in(dir: TempDir, servers: Value, extra: &[(&str, &str)]) -> Gateway {
        let child = spawn(&dir, &json!({"mcpServers": servers}), extra);
        let mut gateway = Gateway { child, _dir: dir };
        gateway.child.initialize("gateway-test");
        gateway
    }

    /// A request's whole answer; fails the test when none comes.
    pub fn request(&mut self, method: &str, params: Value) -> Value {
        match self.child.request(method, params, WAIT) {
            Some(answer) => answer,
            None => panic!(
                "no answer to {method} within {WAIT:?}; stderr:\n{}",
                self.child.stderr()
            ),
        }
    }

    /// `tools/call`; the whole answer.
    pub fn call(&mut self, tool: &str, arguments: Value) -> Value {
        self.request("tools/call", json!({"name": tool, "arguments": arguments}))
    }

    /// The names `tools/list` offers now; a broken answer fails the test
    /// (an empty list would pass every "tool gone" check).
    pub fn tool_names(&mut self) -> Vec<String> {
        self.child.tool_names(WAIT)
    }

    /// Waits until `tools/list` offers `tool` (or stops offering it when
    /// `present` is false).
    pub fn wait_tool(&mut self, tool: &str, present: bool) -> bool {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if self.tool_names().iter().any(|t| t == tool) == present {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// Calls `tool` until an answer satisfies `good`, at most until `limit`;
    /// returns the last answer and whether it was good.
    pub fn call_until(
        &mut self,
        tool: &str,
        arguments: Value,
        limit: Duration,
        good: impl Fn(&Value) -> bool,
    ) -> (Value, bool) {
        let deadline = Instant::now() + limit;
        loop {
            let answer = self.call(tool, arguments.clone());
            if good(&answer) {
                return (answer, true);
            }
            if Instant::now() >= deadline {
                return (answer, false);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Reads notifications (and anything else) until one has `method`.
    pub fn wait_notification(&mut self, method: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.child.recv_json(left) {
                Some(message) if message.get("method").and_then(Value::as_str) == Some(method) => {
                    return true
                }
                Some(_) => {}
                None => return false,
            }
        }
        false
    }

    /// Ends the one upstream child with `kill -9` and waits for the child
    /// that replaces it.
    pub fn restart_child(&mut self) {
        let first = children_of(self.child.pid());
        assert_eq!(first.len(), 1, "{first:?}");
        kill9(first[0]);
        assert!(
            eventually(WAIT, || {
                let now = children_of(self.child.pid());
                now.len() == 1 && now[0] != first[0]
            }),
            "no new child; stderr:\n{}",
            self.child.stderr()
        );
    }

    /// Drops what arrived so far without a request waiting for it.
    pub fn drain(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline && self.child.recv_line(Duration::from_millis(20)).is_some()
        {
        }
    }
}

fn spawn(dir: &TempDir, file: &Value, extra: &[(&str, &str)]) -> Child {
    let servers = dir.join("servers.json");
    if let Err(e) = std::fs::write(&servers, file.to_string()) {
        panic!("cannot write {}: {e}", servers.display());
    }
    let servers = servers.display().to_string();
    let mut env: Vec<(&str, &str)> = vec![("MOLECULE_MCP_SERVERS", servers.as_str())];
    env.extend_from_slice(extra);
    Child::spawn(dir.path(), &env)
}

/// The `key` of every item of a list answer (`tools`, `prompts`,
/// `resources`, ...); an answer without that list fails the test.
pub fn listed(answer: &Value, list: &str, key: &str) -> Vec<String> {
    answer["result"][list]
        .as_array()
        .unwrap_or_else(|| panic!("no {list} in {answer}"))
        .iter()
        .filter_map(|item| item[key].as_str().map(String::from))
        .collect()
}

/// The tool result's first text.
pub fn text(answer: &Value) -> String {
    answer
        .pointer("/result/content/0/text")
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no text in {answer}"))
        .to_string()
}

pub fn is_error(answer: &Value) -> bool {
    answer.pointer("/result/isError").and_then(Value::as_bool) == Some(true)
}

/// A successful echo of `expected`.
pub fn echoed(answer: &Value, expected: &str) -> bool {
    !is_error(answer)
        && answer
            .pointer("/result/content/0/text")
            .and_then(Value::as_str)
            == Some(expected)
}

pub fn recorded(path: &str) -> Vec<Value> {
    launch::recorded(Path::new(path))
}

pub fn count_method(path: &str, method: &str) -> usize {
    launch::count_method(&recorded(path), method)
}

pub fn count_calls(path: &str, tool: &str) -> usize {
    launch::count_calls(&recorded(path), tool)
}

/// Writes a stdio fixture's control file. `salt` makes the content new so
/// the fixture applies it again (it applies a changed file once).
pub fn control(path: &str, control: Value, salt: usize) {
    let text = format!("{control}{}", " ".repeat(salt));
    if let Err(e) = std::fs::write(path, text) {
        panic!("cannot write control file {path}: {e}");
    }
}
