//! A real third-party upstream: the reference `@modelcontextprotocol/
//! server-everything` (npm, installed by `make interop-deps`) behind the
//! gateway, over stdio and over Streamable HTTP. Its tools appear prefixed,
//! answer, keep `structuredContent`, and a kill and restart of the server
//! recovers without restarting molecule-mcp.

mod support;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use serde_json::{json, Value};
use support::gateway::{is_error, text, Gateway, WAIT};
use support::processes::children_of;

fn everything() -> PathBuf {
    let dir = std::env::var_os("MOLECULE_INTEROP_NODE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/interop-node"));
    let entry = dir.join("node_modules/@modelcontextprotocol/server-everything/dist/index.js");
    assert!(
        entry.exists(),
        "{} is missing: run `make interop-deps` (make test does it)",
        entry.display()
    );
    entry
}

/// The checks both transports must pass.
fn exercise(gateway: &mut Gateway) {
    assert!(
        gateway.wait_tool("everything__echo", true),
        "tools never appeared: {:?}",
        gateway.tool_names()
    );
    let names = gateway.tool_names();
    for tool in [
        "everything__echo",
        "everything__get-sum",
        "everything__get-structured-content",
    ] {
        assert!(
            names.iter().any(|n| n == tool),
            "{tool} missing from {names:?}"
        );
    }
    let echo = gateway.call("everything__echo", json!({"message": "hello upstream"}));
    assert!(!is_error(&echo), "{echo}");
    assert!(text(&echo).contains("hello upstream"), "{echo}");

    let sum = gateway.call("everything__get-sum", json!({"a": 2, "b": 40}));
    assert!(text(&sum).contains("42"), "{sum}");

    let weather = gateway.call(
        "everything__get-structured-content",
        json!({"location": "New York"}),
    );
    let structured = &weather["result"]["structuredContent"];
    assert!(
        structured.is_object(),
        "structuredContent was lost: {weather}"
    );
    assert!(structured.get("temperature").is_some(), "{weather}");

    // Progress the upstream reports reaches the agent under the agent's token.
    let token = json!("agent-progress-1");
    let done = gateway.request(
        "tools/call",
        json!({"name": "everything__trigger-long-running-operation",
               "arguments": {"duration": 0.3, "steps": 3},
               "_meta": {"progressToken": token}}),
    );
    assert!(!is_error(&done), "{done}");
    let mut progress = Vec::new();
    while let Some(line) = gateway
        .child
        .recv_json(std::time::Duration::from_millis(200))
    {
        if line["method"] == "notifications/progress" {
            progress.push(line["params"].clone());
        }
    }
    assert!(!progress.is_empty(), "no progress relayed");
    assert!(
        progress.iter().all(|p| p["progressToken"] == token),
        "{progress:?}"
    );
    assert_eq!(
        progress.last().map(|p| p["total"].clone()),
        Some(json!(3)),
        "{progress:?}"
    );

    // The upstream's own schema travels with the prefixed tool.
    let tools = gateway.request("tools/list", json!({}));
    let sum_tool = tools["result"]["tools"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["name"] == "everything__get-sum"))
        .cloned()
        .unwrap_or(Value::Null);
    assert!(
        sum_tool["inputSchema"]["properties"]["a"].is_object(),
        "{sum_tool}"
    );
}

fn echo_works(answer: &Value) -> bool {
    !is_error(answer)
        && answer
            .pointer("/result/content/0/text")
            .and_then(Value::as_str)
            .is_some_and(|t| t.contains("back again"))
}

#[test]
fn server_everything_over_stdio() {
    let entry = everything();
    let servers = json!({"everything": {
        "command": "node",
        "args": [entry.display().to_string(), "stdio"],
        "breaker": {"cooldownSecs": 0.3, "maxCooldownSecs": 1}
    }});
    let mut gateway = Gateway::start("interop-everything-stdio", servers, &[]);
    exercise(&mut gateway);

    // Kill the server behind the gateway's back: the gateway respawns it.
    let node: Vec<u32> = children_of(gateway.child.pid());
    assert!(!node.is_empty(), "no upstream child process found");
    for pid in &node {
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    }
    let (last, ok) = gateway.call_until(
        "everything__echo",
        json!({"message": "back again"}),
        WAIT,
        echo_works,
    );
    assert!(ok, "no recovery after the upstream was killed: {last}");
    let after = children_of(gateway.child.pid());
    assert!(
        after.iter().all(|p| !node.contains(p)),
        "the old process is still there"
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port")
}

fn start_http(entry: &PathBuf, port: u16) -> Child {
    let child = Command::new("node")
        .arg(entry)
        .arg("streamableHttp")
        .env("PORT", port.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("cannot start node");
    // Ready when the port accepts connections (bounded).
    let ready = support::eventually(WAIT, || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    assert!(ready, "server-everything did not listen on {port}");
    child
}

struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn server_everything_over_streamable_http() {
    let entry = everything();
    let port = free_port();
    let mut server = Reaped(start_http(&entry, port));
    let servers = json!({"everything": {
        "url": format!("http://127.0.0.1:{port}/mcp"),
        "breaker": {"cooldownSecs": 0.3, "maxCooldownSecs": 1}
    }});
    let mut gateway = Gateway::start("interop-everything-http", servers, &[]);
    exercise(&mut gateway);

    // A restart loses every session: the gateway reconnects by itself.
    let _ = server.0.kill();
    let _ = server.0.wait();
    let down = gateway.call("everything__echo", json!({"message": "while down"}));
    assert!(
        is_error(&down),
        "a call to a dead server must fail cleanly: {down}"
    );
    server = Reaped(start_http(&entry, port));
    let (last, ok) = gateway.call_until(
        "everything__echo",
        json!({"message": "back again"}),
        WAIT,
        echo_works,
    );
    assert!(ok, "no recovery after the server restarted: {last}");
    drop(server);
}
