//! An HTTP MCP server (JSON answers, no sessions) whose tool `headers`
//! returns the request headers it received: what a careless or hostile
//! upstream can show the agent; `broken` quotes them in an error. `huge
//! {bytes}` and `deep {levels}` answer with a body that large or nested
//! that deep, `ok` plainly.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;

use serde_json::{json, Value};

pub fn start() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/mcp", listener.local_addr().expect("addr"));
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            thread::spawn(move || serve(stream));
        }
    });
    url
}

fn serve(stream: TcpStream) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut headers = Vec::new();
        let mut len = 0usize;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end().to_string();
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            headers.push(line);
        }
        let mut body = vec![0u8; len.min(1 << 20)];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let (status, answer) = if request_line.starts_with("POST") {
            answer(&body, &headers.join("\n"))
        } else {
            (405, String::new())
        };
        let reason = match status {
            200 => "OK",
            202 => "Accepted",
            _ => "Method Not Allowed",
        };
        let head = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            answer.len()
        );
        if writer.write_all(head.as_bytes()).is_err()
            || writer.write_all(answer.as_bytes()).is_err()
        {
            return;
        }
    }
}

fn answer(body: &[u8], headers: &str) -> (u16, String) {
    let Ok(message) = serde_json::from_slice::<Value>(body) else {
        return (202, String::new());
    };
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
