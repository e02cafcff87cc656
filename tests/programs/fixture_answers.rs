//! A stdio MCP server whose answers are hard to carry: `huge {bytes}`
//! answers with a text of that many bytes (one line over the gateway's cap
//! when large enough), `deep {levels}` with a `structuredContent` nested
//! that deep, `echo {text}` plainly. `--id-last` writes the answer's `id`
//! after its `result`, as some servers do. `--deep-schema` also offers a
//! tool `nested` whose input schema nests as deep as the gateway carries
//! (its `tools/list` line is 995 levels deep). Exits on stdin EOF.

use std::io::{self, BufRead, Write};

use serde_json::{json, Value};

fn main() {
    let id_last = std::env::args().any(|a| a == "--id-last");
    let deep_schema = std::env::args().any(|a| a == "--deep-schema");
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
            "tools/list" => {
                let mut tools = json!([
                    {"name": "huge", "inputSchema": {"type": "object"}},
                    {"name": "deep", "inputSchema": {"type": "object"}},
                    {"name": "echo", "inputSchema": {"type": "object"}}])
                .to_string();
                if deep_schema {
                    // The line's levels: object, result, tools, the tool,
                    // inputSchema, properties, then 989 of `n`.
                    let levels = 989;
                    tools.pop();
                    tools.push_str(&format!(
                        ",{{\"name\":\"nested\",\"inputSchema\":{{\"type\":\"object\",\"properties\":{}{{}}{}}}}}]",
                        "{\"n\":".repeat(levels),
                        "}".repeat(levels)
                    ));
                }
                format!("{{\"tools\":{tools}}}")
            }
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
