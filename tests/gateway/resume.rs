//! SEP-1699 polling: a Streamable HTTP server that ends a POST's event
//! stream after a priming event (an id and a `retry` delay) is not a lost
//! connection: the stream is resumed with a GET carrying `Last-Event-ID`,
//! and the call gets its answer there.
//!
//! The server here is a few lines of raw HTTP on 127.0.0.1, so the test
//! controls exactly when streams end.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

use serde_json::{json, Value};

use super::support::gateway::*;

#[derive(Default)]
struct Seen {
    /// `Last-Event-ID` of each GET.
    resumed_from: Vec<String>,
    /// The id of the call whose stream was cut.
    pending: Option<Value>,
}

struct Request {
    method: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn read_request(stream: &TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let method = line.split_whitespace().next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let length = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        headers,
        body,
    })
}

fn respond(mut stream: &TcpStream, status: &str, content_type: &str, body: &str) {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nMcp-Session-Id: s1\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body.as_bytes());
}

fn serve(stream: TcpStream, seen: &Mutex<Seen>) {
    let Some(request) = read_request(&stream) else {
        return;
    };
    let lock = || seen.lock().unwrap_or_else(|e| e.into_inner());
    if request.method == "GET" {
        let from = request
            .headers
            .iter()
            .find(|(n, _)| n == "last-event-id")
            .map(|(_, v)| v.clone());
        let Some(from) = from else {
            // No standalone stream here.
            return respond(&stream, "405 Method Not Allowed", "text/plain", "");
        };
        let pending = {
            let mut seen = lock();
            seen.resumed_from.push(from);
            seen.pending.take()
        };
        let mut events = "id: e2\ndata: \n\n".to_string();
        if let Some(id) = pending {
            let answer = json!({"jsonrpc": "2.0", "id": id,
                "result": {"content": [{"type": "text", "text": "resumed"}]}});
            events.push_str(&format!("id: e3\ndata: {answer}\n\n"));
        }
        return respond(&stream, "200 OK", "text/event-stream", &events);
    }
    let Ok(message) = serde_json::from_slice::<Value>(&request.body) else {
        return respond(&stream, "400 Bad Request", "text/plain", "");
    };
    let Some(id) = message.get("id").cloned() else {
        return respond(&stream, "202 Accepted", "text/plain", "");
    };
    let result = match message["method"].as_str().unwrap_or("") {
        "initialize" => json!({"protocolVersion": "2025-11-25", "capabilities": {"tools": {}},
                               "serverInfo": {"name": "polling", "version": "1"}}),
        "tools/list" => json!({"tools": [{"name": "poll", "inputSchema": {"type": "object"}}]}),
        "tools/call" => {
            // Prime the stream, then end it: the answer comes on a GET.
            lock().pending = Some(id);
            return respond(
                &stream,
                "200 OK",
                "text/event-stream",
                "id: e1\nretry: 100\ndata: \n\n",
            );
        }
        _ => json!({}),
    };
    let answer = json!({"jsonrpc": "2.0", "id": id, "result": result});
    respond(&stream, "200 OK", "application/json", &answer.to_string());
}

/// Starts the server; its URL and what it saw.
fn start() -> (String, Arc<Mutex<Seen>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bound");
    let url = format!("http://{}/mcp", listener.local_addr().expect("address"));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let shared = seen.clone();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let seen = shared.clone();
            thread::spawn(move || serve(stream, &seen));
        }
    });
    (url, seen)
}

#[test]
fn a_stream_ended_after_a_priming_event_is_resumed_not_failed() {
    let (url, seen) = start();
    let mut gw = Gateway::start("gw-resume", json!({"poll": {"url": url}}), &[]);
    assert!(gw.wait_tool("poll__poll", true), "{}", gw.child.stderr());
    for round in 1..=3 {
        let answer = gw.call("poll__poll", json!({}));
        assert!(!is_error(&answer), "round {round}: {answer}");
        assert_eq!(text(&answer), "resumed", "round {round}");
    }
    let seen = seen.lock().unwrap_or_else(|e| e.into_inner());
    assert_eq!(seen.resumed_from, ["e1", "e1", "e1"]);
}
