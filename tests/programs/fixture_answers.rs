//! A stdio MCP server whose answers are hard to carry: `huge {bytes}`
//! answers with a text of that many bytes (one line over the gateway's cap
//! when large enough), `deep {levels}` with a `structuredContent` nested
//! that deep, `echo {text}` plainly. `--id-last` writes the answer's `id`
//! after its `result`, as some servers do. Exits on stdin EOF.

use std::io::{self, BufRead, Write};

use serde_json::{json, Value};

fn main() {
    let id_last = std::env::args().any(|a| a == "--id-last");
    let stdin = io::stdin();
    let mut stdout = io::stdout().lock();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let Ok(message) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        let Some(id) = message.get("id").and_then(Value::as_u64) else {
            continue;
        };
        let method = message["method"].as_str().unwrap_or("");
        let args = &message["params"]["arguments"];
        let result = match method {
            "initialize" => json!({"protocolVersion": "2025-06-18",
                "capabilities": {"tools": {}}, "serverInfo": {"name": "answers", "version": "1"}})
            .to_string(),
            "tools/list" => json!({"tools": [
                {"name": "huge", "inputSchema": {"type": "object"}},
                {"name": "deep", "inputSchema": {"type": "object"}},
                {"name": "echo", "inputSchema": {"type": "object"}}]})
            .to_string(),
            "tools/call" => match message["params"]["name"].as_str().unwrap_or("") {
                "huge" => {
                    let bytes = args["bytes"].as_u64().unwrap_or(0) as usize;
                    format!(
                        "{{\"content\":[{{\"type\":\"text\",\"text\":\"{}\"}}]}}",
                        "a".repeat(bytes)
                    )
                }
                "deep" => {
                    let levels = args["levels"].as_u64().unwrap_or(0) as usize;
                    let nested = format!(
                        "{}\"bottom\"{}",
                        "{\"n\":".repeat(levels),
                        "}".repeat(levels)
                    );
                    format!(
                        "{{\"content\":[{{\"type\":\"text\",\"text\":\"deep\"}}],\"structuredContent\":{{\"nested\":{nested}}}}}"
                    )
                }
                _ => json!({"content": [{"type": "text", "text": args["text"]}]}).to_string(),
            },
            _ => "{}".to_string(),
        };
        let line = if id_last {
            format!("{{\"jsonrpc\":\"2.0\",\"result\":{result},\"id\":{id}}}\n")
        } else {
            format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"result\":{result}}}\n")
        };
        if stdout
            .write_all(line.as_bytes())
            .and_then(|_| stdout.flush())
            .is_err()
        {
            break;
        }
    }
}
