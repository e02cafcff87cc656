//! SEP-1699 polling: a Streamable HTTP server that ends a POST's event
//! stream after a priming event (an id and a `retry` delay) is not a lost
//! connection: the stream is resumed with a GET carrying `Last-Event-ID`,
//! and the call gets its answer there.
//!
//! The server is the scripted test server on 127.0.0.1, so the test
//! controls exactly when streams end.

use std::sync::Mutex;

use serde_json::{json, Value};

use super::support::gateway::*;
use super::support::loopback::{Loopback, Reply, Seen};

/// Starts the server; it keeps the id of the call whose stream it cut.
fn start() -> Loopback {
    let pending = Mutex::new(None);
    Loopback::start(move |request: &Seen| serve(request, &pending))
}

fn reply(status: u16, content_type: &str, body: &str) -> Reply {
    Reply::status(status, content_type, body).with_header("Mcp-Session-Id", "s1")
}

fn serve(request: &Seen, pending: &Mutex<Option<Value>>) -> Reply {
    let pending = || pending.lock().unwrap_or_else(|e| e.into_inner());
    if request.method == "GET" {
        if request.header("last-event-id").is_none() {
            // No standalone stream here.
            return reply(405, "text/plain", "");
        }
        let mut events = "id: e2\ndata: \n\n".to_string();
        if let Some(id) = pending().take() {
            let answer = json!({"jsonrpc": "2.0", "id": id,
                "result": {"content": [{"type": "text", "text": "resumed"}]}});
            events.push_str(&format!("id: e3\ndata: {answer}\n\n"));
        }
        return reply(200, "text/event-stream", &events);
    }
    let message = request.json();
    if message.is_null() {
        return reply(400, "text/plain", "");
    }
    let Some(id) = message.get("id").cloned() else {
        return reply(202, "text/plain", "");
    };
    let result = match message["method"].as_str().unwrap_or("") {
        "initialize" => json!({"protocolVersion": "2025-11-25", "capabilities": {"tools": {}},
                               "serverInfo": {"name": "polling", "version": "1"}}),
        "tools/list" => json!({"tools": [{"name": "poll", "inputSchema": {"type": "object"}}]}),
        "tools/call" => {
            // Prime the stream, then end it: the answer comes on a GET.
            *pending() = Some(id);
            return reply(200, "text/event-stream", "id: e1\nretry: 100\ndata: \n\n");
        }
        _ => json!({}),
    };
    let answer = json!({"jsonrpc": "2.0", "id": id, "result": result});
    reply(200, "application/json", &answer.to_string())
}

#[test]
fn a_stream_ended_after_a_priming_event_is_resumed_not_failed() {
    let server = start();
    let url = server.url("/mcp");
    let mut gw = Gateway::start("gw-resume", json!({"poll": {"url": url}}), &[]);
    assert!(gw.wait_tool("poll__poll", true), "{}", gw.child.stderr());
    for round in 1..=3 {
        let answer = gw.call("poll__poll", json!({}));
        assert!(!is_error(&answer), "round {round}: {answer}");
        assert_eq!(text(&answer), "resumed", "round {round}");
    }
    // `Last-Event-ID` of each GET: every cut stream was resumed from its
    // priming event.
    let resumed_from: Vec<String> = server
        .seen()
        .iter()
        .filter(|r| r.method == "GET")
        .filter_map(|r| r.header("last-event-id").map(String::from))
        .collect();
    assert_eq!(resumed_from, ["e1", "e1", "e1"]);
}
