//! The client side of `make conformance`: the suite starts this program with
//! its test server's URL as the last argument and the scenario's name in
//! `MCP_CONFORMANCE_SCENARIO`. It configures that URL as molecule-mcp's one
//! HTTP upstream, then drives molecule-mcp over stdio as an agent host would:
//! initialize (declaring sampling, elicitation and roots), list the tools,
//! call the scenario's tool, and answer what the upstream asks through the
//! gateway (elicitation with the schema's defaults, sampling with a fixed
//! text, roots with none).
//!
//! molecule-mcp is `$MOLECULE_MCP_BIN`, else the `molecule-mcp` next to the
//! directory of this program (`target/<profile>/`).

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{exit, Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

/// How long the whole scenario may take; the suite's own timeout is 30 s.
const DEADLINE: Duration = Duration::from_secs(25);

fn main() {
    let Some(url) = std::env::args().skip(1).last() else {
        eprintln!("conformance_client: usage: conformance_client [options] URL");
        exit(2);
    };
    let scenario = std::env::var("MCP_CONFORMANCE_SCENARIO").unwrap_or_default();
    match run(&url, &scenario) {
        Ok(()) => {}
        Err(e) => {
            eprintln!("conformance_client: {scenario}: {e}");
            exit(1);
        }
    }
}

fn run(url: &str, scenario: &str) -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("molecule-conformance-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let servers = dir.join("servers.json");
    let config = json!({"mcpServers": {"suite": {"url": url, "timeout": 20}}});
    std::fs::write(&servers, config.to_string()).map_err(|e| format!("cannot write: {e}"))?;
    let outcome = drive(&servers, &dir, scenario);
    let _ = std::fs::remove_dir_all(&dir);
    outcome
}

fn molecule_mcp() -> PathBuf {
    if let Some(path) = std::env::var_os("MOLECULE_MCP_BIN") {
        return PathBuf::from(path);
    }
    let me = std::env::current_exe().unwrap_or_default();
    let profile = me.parent().and_then(|examples| examples.parent());
    profile
        .map(|p| p.join("molecule-mcp"))
        .unwrap_or_else(|| PathBuf::from("molecule-mcp"))
}

fn drive(servers: &std::path::Path, dir: &std::path::Path, scenario: &str) -> Result<(), String> {
    let mut child = Command::new(molecule_mcp())
        .arg("--servers")
        .arg(servers)
        .env_remove("PLATFORM_URL")
        .env_remove("WORKSPACE_ID")
        .env_remove("MOLECULE_WORKSPACE_TOKEN")
        .env_remove("MOLECULE_WORKSPACE_TOKEN_FILE")
        .env_remove("MOLECULE_WORKSPACES")
        .env("CONFIGS_DIR", dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start molecule-mcp: {e}"))?;
    let result = Agent::start(&mut child).and_then(|agent| agent.play(scenario));
    drop(child.stdin.take());
    let stop = Instant::now() + Duration::from_secs(5);
    while Instant::now() < stop {
        if let Ok(Some(_)) = child.try_wait() {
            return result;
        }
        thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    result
}

struct Agent {
    input: Arc<Mutex<ChildStdin>>,
    answers: Receiver<Value>,
    next_id: u64,
    deadline: Instant,
}

impl Agent {
    fn start(child: &mut Child) -> Result<Agent, String> {
        let input = Arc::new(Mutex::new(child.stdin.take().ok_or("no stdin")?));
        let output = child.stdout.take().ok_or("no stdout")?;
        let (tx, answers) = channel();
        let replies = input.clone();
        thread::spawn(move || {
            for line in BufReader::new(output).lines() {
                let Ok(line) = line else { break };
                let Ok(message) = serde_json::from_str::<Value>(&line) else {
                    eprintln!("conformance_client: not JSON from molecule-mcp: {line:.200}");
                    continue;
                };
                let Some(id) = message.get("id") else {
                    continue;
                };
                if let Some(method) = message.get("method") {
                    let result = answer_request(method.as_str().unwrap_or(""), &message);
                    let reply = json!({"jsonrpc": "2.0", "id": id, "result": result});
                    let mut stdin = replies.lock().unwrap_or_else(|e| e.into_inner());
                    let _ = writeln!(stdin, "{reply}");
                    let _ = stdin.flush();
                } else if tx.send(message).is_err() {
                    break;
                }
            }
        });
        let mut agent = Agent {
            input,
            answers,
            next_id: 0,
            deadline: Instant::now() + DEADLINE,
        };
        agent.request(
            "initialize",
            json!({
                "protocolVersion": "2025-11-25",
                "capabilities": {"sampling": {}, "elicitation": {"form": {}, "url": {}}, "roots": {}},
                "clientInfo": {"name": "molecule-conformance-client", "version": "1.0.0"}
            }),
        )?;
        agent.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        Ok(agent)
    }

    fn send(&self, message: &Value) {
        let mut stdin = self.input.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(stdin, "{message}");
        let _ = stdin.flush();
    }

    fn request(&mut self, method: &str, params: Value) -> Result<Value, String> {
        self.next_id += 1;
        let id = self.next_id;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            let left = self.deadline.saturating_duration_since(Instant::now());
            let message = match self.answers.recv_timeout(left) {
                Ok(message) => message,
                Err(RecvTimeoutError::Timeout) => return Err(format!("no answer to {method}")),
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(format!("molecule-mcp ended before answering {method}"))
                }
            };
            if message.get("id") != Some(&json!(id)) {
                continue;
            }
            return match message.get("result") {
                Some(result) => Ok(result.clone()),
                None => Err(format!("{method} failed: {message}")),
            };
        }
    }

    /// The upstream's tools, waiting (bounded) until it has offered some.
    fn tools(&mut self) -> Result<Vec<Value>, String> {
        loop {
            let listed = self.request("tools/list", json!({}))?;
            let tools = listed
                .get("tools")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if !tools.is_empty() {
                return Ok(tools);
            }
            if Instant::now() >= self.deadline {
                return Err("the upstream's tools never appeared".into());
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    fn play(mut self, scenario: &str) -> Result<(), String> {
        let tools = self.tools()?;
        let named = |suffix: &str| {
            tools
                .iter()
                .filter_map(|t| t.get("name").and_then(Value::as_str))
                .find(|name| name.ends_with(suffix))
                .map(String::from)
        };
        let calls: Vec<(String, Value)> = match scenario {
            "initialize" => Vec::new(),
            "tools_call" => named("add_numbers")
                .map(|n| (n, json!({"a": 5, "b": 3})))
                .into_iter()
                .collect(),
            _ => tools
                .iter()
                .filter_map(|t| t.get("name").and_then(Value::as_str))
                .map(|n| (n.to_string(), json!({})))
                .collect(),
        };
        for (name, arguments) in calls {
            let result =
                self.request("tools/call", json!({"name": name, "arguments": arguments}))?;
            eprintln!("conformance_client: {name}: {result}");
        }
        Ok(())
    }
}

/// What the agent answers to a request relayed from the upstream.
fn answer_request(method: &str, message: &Value) -> Value {
    match method {
        "elicitation/create" => {
            let properties = message
                .pointer("/params/requestedSchema/properties")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            let content: Map<String, Value> = properties
                .iter()
                .filter_map(|(k, v)| v.get("default").map(|d| (k.clone(), d.clone())))
                .collect();
            json!({"action": "accept", "content": content})
        }
        "sampling/createMessage" => json!({
            "role": "assistant",
            "content": {"type": "text", "text": "A fixed answer from the test client."},
            "model": "fixed",
            "stopReason": "endTurn"
        }),
        "roots/list" => json!({"roots": []}),
        _ => json!({}),
    }
}
