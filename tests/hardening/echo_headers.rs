//! An HTTP MCP server (JSON answers, no sessions) whose tool `headers`
//! returns the request headers it received: what a careless or hostile
//! upstream can show the agent; `broken` quotes them in an error. `huge
//! {bytes}` and `deep {levels}` answer with a body that large or nested
//! that deep, `ok` plainly. Served by the scripted test server; the MCP
//! endpoint is `/mcp`.

use serde_json::{json, Value};

use crate::support::loopback::{Loopback, Reply, Seen};

/// Serves until dropped.
pub fn start() -> Loopback {
    Loopback::start(|seen: &Seen| {
        if seen.method != "POST" {
            return Reply::status(405, "text/plain", "");
        }
        let headers: Vec<String> = seen
            .headers
            .iter()
            .map(|(name, value)| format!("{name}: {value}"))
            .collect();
        let (status, body) = answer(&seen.json(), &headers.join("\n"));
        Reply::status(status, "application/json", &body)
    })
}

fn answer(message: &Value, headers: &str) -> (u16, String) {
    let Some(id) = message.get("id").cloned() else {
        return (202, String::new());
    };
    let result = match message["method"].as_str().unwrap_or("") {
        "initialize" => json!({"protocolVersion": "2025-06-18", "capabilities": {"tools": {}},
            "serverInfo": {"name": "echo-headers", "version": "1"}}),
        "tools/list" => json!({"tools": [
            {"name": "headers", "inputSchema": {"type": "object"}},
            {"name": "broken", "inputSchema": {"type": "object"}},
            {"name": "huge", "inputSchema": {"type": "object"}},
            {"name": "deep", "inputSchema": {"type": "object"}},
            {"name": "ok", "inputSchema": {"type": "object"}}]}),
        "tools/call" if message["params"]["name"] == "broken" => {
            let error = json!({"code": -32000, "message": format!("bad request with {headers}")});
            return (
                200,
                json!({"jsonrpc": "2.0", "id": id, "error": error}).to_string(),
            );
        }
        "tools/call" if message["params"]["name"] == "huge" => {
            let bytes = message["params"]["arguments"]["bytes"]
                .as_u64()
                .unwrap_or(0) as usize;
            json!({"content": [{"type": "text", "text": "a".repeat(bytes)}]})
        }
        "tools/call" if message["params"]["name"] == "deep" => {
            let levels = message["params"]["arguments"]["levels"]
                .as_u64()
                .unwrap_or(0) as usize;
            let nested = format!("{}1{}", "[".repeat(levels), "]".repeat(levels));
            let text = format!(
                "{{\"jsonrpc\":\"2.0\",\"id\":{id},\"result\":{{\"content\":[],\"structuredContent\":{{\"n\":{nested}}}}}}}"
            );
            return (200, text);
        }
        "tools/call" if message["params"]["name"] == "ok" => {
            json!({"content": [{"type": "text", "text": "fine"}]})
        }
        "tools/call" => json!({"content": [{"type": "text", "text": headers}],
            "structuredContent": {"headers": headers}}),
        _ => json!({}),
    };
    (
        200,
        json!({"jsonrpc": "2.0", "id": id, "result": result}).to_string(),
    )
}
