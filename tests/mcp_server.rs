//! The MCP server core driven through its library API: lines go in over a
//! channel-backed reader, lines come out of a channel-backed writer, and a
//! test handler provides tools that echo, sleep, block, panic and notify.

use crossbeam_channel::{
    after, bounded, never, select, unbounded, Receiver, RecvTimeoutError, Sender,
};
use molecule_mcp::mcp::{
    serve, CallContext, EndReason, Handler, Outbox, RpcError, ServeEnd, Server, ServerOptions,
};
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};
use std::io::{self, Read, Write};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// How long a test waits for anything it expects; never reached when things work.
const PATIENCE: Duration = Duration::from_secs(10);
/// How long a test listens to be sure nothing more comes.
const QUIET: Duration = Duration::from_millis(300);

// ---------------------------------------------------------------- plumbing

/// Input that arrives in chunks over time; the end of input is the sender dropping.
struct ChannelReader {
    chunks: Receiver<Vec<u8>>,
    chunk: Vec<u8>,
    at: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.chunk.len() {
            match self.chunks.recv() {
                Ok(chunk) => {
                    self.chunk = chunk;
                    self.at = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.at);
        buf[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Output split into lines, each sent on a channel as it completes.
struct ChannelWriter {
    lines: Sender<String>,
    partial: Vec<u8>,
}

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.partial.extend_from_slice(buf);
        while let Some(end) = self.partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            let _ = self
                .lines
                .send(String::from_utf8_lossy(&line[..end]).into_owned());
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

struct Session {
    input: Option<Sender<Vec<u8>>>,
    output: Receiver<String>,
    shutdown: Option<Sender<()>>,
    ended: Receiver<ServeEnd>,
    outbox: Outbox,
    events: Receiver<Event>,
}

impl Session {
    fn start(options: ServerOptions) -> Session {
        Self::start_with(options, false)
    }

    fn start_with(options: ServerOptions, offers_resources: bool) -> Session {
        let (input_tx, chunks) = unbounded();
        let (lines_tx, output) = unbounded();
        let (shutdown, shutdown_rx) = bounded(0);
        let (events_tx, events) = unbounded();
        let (ended_tx, ended) = bounded(1);
        let server = Server::new(options);
        let outbox = server.outbox();
        let handler = Arc::new(TestHandler {
            events: events_tx,
            offers_resources,
        });
        thread::spawn(move || {
            let reader = ChannelReader {
                chunks,
                chunk: Vec::new(),
                at: 0,
            };
            let writer = ChannelWriter {
                lines: lines_tx,
                partial: Vec::new(),
            };
            let _ = ended_tx.send(server.serve(reader, writer, handler, shutdown_rx));
        });
        Session {
            input: Some(input_tx),
            output,
            shutdown: Some(shutdown),
            ended,
            outbox,
            events,
        }
    }

    fn send_bytes(&self, bytes: &[u8]) {
        if let Some(input) = &self.input {
            input.send(bytes.to_vec()).expect("the reader is gone");
        }
    }

    fn send_line(&self, line: &str) {
        self.send_bytes(format!("{line}\n").as_bytes());
    }

    fn request(&self, id: Value, method: &str, params: Value) {
        self.send_line(
            &json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string(),
        );
    }

    fn notify(&self, method: &str, params: Value) {
        self.send_line(&json!({"jsonrpc": "2.0", "method": method, "params": params}).to_string());
    }

    fn call(&self, id: Value, tool: &str, arguments: Value) {
        self.request(
            id,
            "tools/call",
            json!({"name": tool, "arguments": arguments}),
        );
    }

    fn next_line(&self) -> Value {
        let line = self
            .output
            .recv_timeout(PATIENCE)
            .expect("no output line in time");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("output is not JSON ({e}): {line}"))
    }

    fn lines(&self, count: usize) -> Vec<Value> {
        (0..count).map(|_| self.next_line()).collect()
    }

    /// The answer with this id; everything before it must be another answer or notification.
    fn answer(&self, id: Value) -> Value {
        for _ in 0..1000 {
            let line = self.next_line();
            if line.get("id") == Some(&id) {
                return line;
            }
        }
        panic!("no answer for {id}");
    }

    fn expect_quiet(&self) {
        if let Ok(line) = self.output.recv_timeout(QUIET) {
            panic!("unexpected output: {line}");
        }
    }

    fn event(&self) -> Event {
        self.events
            .recv_timeout(PATIENCE)
            .expect("no event from the test handler in time")
    }

    fn close_input(&mut self) {
        self.input.take();
    }

    fn end(&self) -> ServeEnd {
        self.ended
            .recv_timeout(PATIENCE)
            .expect("serve did not return")
    }
}

fn error_code(answer: &Value) -> i64 {
    answer["error"]["code"]
        .as_i64()
        .unwrap_or_else(|| panic!("not an error: {answer}"))
}

fn options(workers: usize) -> ServerOptions {
    ServerOptions {
        workers,
        ..ServerOptions::default()
    }
}

// ---------------------------------------------------------------- the handler

#[derive(Debug, PartialEq)]
enum Event {
    Started(Value),
    Ended { id: Value, cancelled: bool },
}

struct TestHandler {
    events: Sender<Event>,
    offers_resources: bool,
}

fn text(text: impl Into<String>) -> Value {
    json!({"content": [{"type": "text", "text": text.into()}]})
}

impl Handler for TestHandler {
    fn instructions(&self) -> String {
        "Call echo to hear yourself.".into()
    }

    fn list_tools(&self) -> Vec<Box<RawValue>> {
        ["echo", "slow", "panic", "block", "stuck", "notify", "quick"]
            .iter()
            .map(|name| {
                let definition = json!({"name": name, "inputSchema": {"type": "object"}});
                serde_json::value::to_raw_value(&definition).unwrap()
            })
            .collect()
    }

    fn call_tool(
        &self,
        name: &str,
        arguments: Map<String, Value>,
        ctx: &CallContext,
    ) -> Result<Value, RpcError> {
        let millis = arguments.get("ms").and_then(Value::as_u64).unwrap_or(100);
        match name {
            "echo" => Ok(
                json!({"content": [{"type": "text", "text": "echo"}], "structuredContent": arguments}),
            ),
            "slow" => Ok(select! {
                recv(ctx.cancelled()) -> _ => text("cancelled"),
                recv(after(Duration::from_millis(millis))) -> _ => text("slept"),
            }),
            "panic" => panic!("the panic tool panics on purpose"),
            "block" => {
                let _ = self.events.send(Event::Started(ctx.request_id().clone()));
                let cancelled = select! {
                    recv(ctx.cancelled()) -> _ => true,
                    recv(after(Duration::from_secs(30))) -> _ => false,
                };
                let _ = self.events.send(Event::Ended {
                    id: ctx.request_id().clone(),
                    cancelled,
                });
                Ok(
                    json!({"content": [{"type": "text", "text": "unblocked"}], "isError": cancelled}),
                )
            }
            "stuck" => {
                let _ = self.events.send(Event::Started(ctx.request_id().clone()));
                thread::sleep(Duration::from_millis(millis));
                Ok(text("done at last"))
            }
            "quick" => Ok(text("from memory")),
            "notify" => {
                ctx.outbox()
                    .notify("notifications/test", json!({"from": "tool"}));
                ctx.progress(1.0, Some(2.0), Some("halfway"));
                Ok(text("notified"))
            }
            _ => Err(RpcError::invalid_params(format!("unknown tool: {name}"))),
        }
    }

    fn has_resources(&self) -> bool {
        self.offers_resources
    }

    fn has_prompts(&self) -> bool {
        self.offers_resources
    }

    fn list_resources(&self, _ctx: &CallContext) -> Result<Vec<Value>, RpcError> {
        Ok(vec![json!({"uri": "test://a", "name": "a"})])
    }

    fn read_resource(&self, uri: &str, _ctx: &CallContext) -> Result<Value, RpcError> {
        Ok(json!({"contents": [{"uri": uri, "text": "A"}]}))
    }
}

// ---------------------------------------------------------------- handshake

#[test]
fn initialize_answers_supported_versions_and_falls_back_to_the_newest() {
    let session = Session::start(ServerOptions::default());
    let asked = [
        json!("2025-11-25"),
        json!("2025-06-18"),
        json!("2025-03-26"),
        json!("2024-11-05"),
        json!("2024-10-07"),
        json!("not a version"),
        json!(20250618),
        Value::Null,
    ];
    let expected = [
        "2025-11-25",
        "2025-06-18",
        "2025-03-26",
        "2024-11-05",
        "2025-11-25",
        "2025-11-25",
        "2025-11-25",
        "2025-11-25",
    ];
    for (n, version) in asked.iter().enumerate() {
        session.request(
            json!(n),
            "initialize",
            json!({"protocolVersion": version, "capabilities": {}}),
        );
        let answer = session.answer(json!(n));
        let result = &answer["result"];
        assert_eq!(
            result["protocolVersion"],
            json!(expected[n]),
            "asked for {version}"
        );
        assert_eq!(
            result["serverInfo"],
            json!({"name": "molecule", "version": env!("CARGO_PKG_VERSION")})
        );
        assert_eq!(
            result["capabilities"]["tools"],
            json!({"listChanged": true})
        );
        assert_eq!(
            result["capabilities"]["experimental"],
            json!({"claude/channel": {}})
        );
        assert!(result["capabilities"].get("resources").is_none());
        assert_eq!(result["instructions"], json!("Call echo to hear yourself."));
    }
    // No params at all is still an initialize.
    session.send_line(r#"{"jsonrpc":"2.0","id":"bare","method":"initialize"}"#);
    assert_eq!(
        session.answer(json!("bare"))["result"]["protocolVersion"],
        json!("2025-11-25")
    );
}

#[test]
fn ping_is_answered_and_notifications_never_are() {
    let session = Session::start(ServerOptions::default());
    session.notify("notifications/initialized", Value::Null);
    session.send_line(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
    session.notify("notifications/whatever", json!({"x": 1}));
    session.notify(
        "notifications/cancelled",
        json!({"requestId": 404, "reason": "not in flight"}),
    );
    session.notify("notifications/cancelled", json!({"requestId": null}));
    session.notify("ping", Value::Null);
    session.notify("tools/call", json!({"name": "echo"}));
    session.send_line(r#"{"jsonrpc":"2.0","id":99,"result":{}}"#);
    session.request(json!("p"), "ping", Value::Null);
    assert_eq!(
        session.next_line(),
        json!({"jsonrpc": "2.0", "id": "p", "result": {}})
    );
    session.expect_quiet();
}

#[test]
fn tools_are_listed_and_called_before_initialize_too() {
    let session = Session::start(ServerOptions::default());
    session.request(json!(1), "tools/list", json!({}));
    let tools = session.answer(json!(1));
    let names: Vec<&str> = tools["result"]["tools"]
        .as_array()
        .expect("tools is an array")
        .iter()
        .filter_map(|tool| tool["name"].as_str())
        .collect();
    assert_eq!(
        names,
        ["echo", "slow", "panic", "block", "stuck", "notify", "quick"]
    );
    session.call(json!(2), "echo", json!({"say": "hi"}));
    assert_eq!(
        session.answer(json!(2))["result"]["structuredContent"],
        json!({"say": "hi"})
    );
}

// ---------------------------------------------------------------- malformed input

/// What a malformed line must get: an error under this id with this code, or nothing.
enum Expect {
    Error(Value, i64),
    Nothing,
}

#[test]
fn malformed_input_is_answered_line_by_line_and_serving_continues() {
    let mut session = Session::start(ServerOptions::default());
    use Expect::{Error, Nothing};
    let cases: &[(&[u8], Expect)] = &[
        (b"this is not json", Error(Value::Null, -32700)),
        (br#"{"jsonrpc":"2.0","id":1,"#, Error(Value::Null, -32700)),
        (b"{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"\xc3\x28\"}", Error(Value::Null, -32700)),
        (b"\xff\xfe\xfd not utf-8", Error(Value::Null, -32700)),
        (br#"[{"jsonrpc":"2.0","id":3,"method":"ping"}]"#, Error(Value::Null, -32600)),
        (b"[]", Error(Value::Null, -32600)),
        (b"17", Error(Value::Null, -32600)),
        (br#""ping""#, Error(Value::Null, -32600)),
        (b"null", Error(Value::Null, -32600)),
        (br#"{"id":10,"method":"ping"}"#, Error(json!(10), -32600)),
        (br#"{"jsonrpc":"1.0","id":11,"method":"ping"}"#, Error(json!(11), -32600)),
        (br#"{"jsonrpc":2,"id":12,"method":"ping"}"#, Error(json!(12), -32600)),
        (br#"{"jsonrpc":"2.0","id":13,"method":42}"#, Error(json!(13), -32600)),
        (br#"{"jsonrpc":"2.0","id":14}"#, Error(json!(14), -32600)),
        (br#"{"jsonrpc":"2.0","id":15,"method":"ping","params":"x"}"#, Error(json!(15), -32600)),
        (br#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#, Error(Value::Null, -32600)),
        (br#"{"jsonrpc":"2.0","id":1.5,"method":"ping"}"#, Error(Value::Null, -32600)),
        (br#"{"jsonrpc":"2.0","id":true,"method":"ping"}"#, Error(Value::Null, -32600)),
        (br#"{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}"#, Error(Value::Null, -32600)),
        (br#"{"jsonrpc":"2.0","method":"nope"}"#, Nothing),
        (br#"{"jsonrpc":"2.0","id":20,"method":"no/such/method"}"#, Error(json!(20), -32601)),
        (br#"{"jsonrpc":"2.0","id":21,"method":"server/discover"}"#, Error(json!(21), -32601)),
        (br#"{"jsonrpc":"2.0","id":22,"method":"tools/call"}"#, Error(json!(22), -32602)),
        (br#"{"jsonrpc":"2.0","id":23,"method":"tools/call","params":{"name":7}}"#, Error(json!(23), -32602)),
        (
            br#"{"jsonrpc":"2.0","id":24,"method":"tools/call","params":{"name":"echo","arguments":"x"}}"#,
            Error(json!(24), -32602),
        ),
        (br#"{"jsonrpc":"2.0","id":25,"method":"tools/call","params":["echo"]}"#, Error(json!(25), -32602)),
        (br#"{"jsonrpc":"2.0","id":26,"method":"tools/call","params":{"name":"nope"}}"#, Error(json!(26), -32602)),
        (br#"{"jsonrpc":"2.0","id":27,"method":"resources/list"}"#, Error(json!(27), -32601)),
        (br#"{"jsonrpc":"2.0","id":28,"method":"prompts/get","params":{"name":"p"}}"#, Error(json!(28), -32601)),
        (b"   ", Nothing),
    ];
    for (line, _) in cases {
        session.send_bytes(&[line, &b"\n"[..]].concat());
    }
    // 20 MiB of one line, streamed in 1 MiB pieces, then the rest of the run.
    let piece = vec![b'x'; 1 << 20];
    for _ in 0..20 {
        session.send_bytes(&piece);
    }
    session.send_bytes(b"\n");
    session.send_line(r#"{"jsonrpc":"2.0","id":"args-null","method":"tools/call","params":{"name":"echo","arguments":null}}"#);
    session.send_line(r#"{"jsonrpc":"2.0","id":"last","method":"ping"}"#);

    let expected: Vec<(&Value, i64)> = cases
        .iter()
        .filter_map(|(_, expect)| match expect {
            Error(id, code) => Some((id, *code)),
            Nothing => None,
        })
        .collect();
    // Every expected error, the overlong line's, the echo and the ping.
    let answers = session.lines(expected.len() + 3);
    session.expect_quiet();

    let mut null_answers = answers.iter().filter(|answer| answer["id"].is_null());
    for &(id, code) in &expected {
        let answer = if id.is_null() {
            null_answers
                .next()
                .expect("fewer id-less errors than expected")
        } else {
            answers
                .iter()
                .find(|answer| answer["id"] == *id)
                .unwrap_or_else(|| panic!("no answer for {id}"))
        };
        assert_eq!(error_code(answer), code, "{answer}");
        assert!(answer["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }
    let overlong = null_answers
        .next()
        .expect("no answer for the overlong line");
    assert_eq!(error_code(overlong), -32600);
    let message = overlong["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("20971520") && message.contains("16777216"),
        "{message}"
    );
    assert!(
        null_answers.next().is_none(),
        "more id-less errors than expected"
    );

    // The fifth id-less case is the batch.
    let batch = answers
        .iter()
        .filter(|a| a["id"].is_null())
        .nth(4)
        .expect("the batch answer");
    assert!(
        batch["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("batch"),
        "{batch}"
    );
    let echo = answers
        .iter()
        .find(|a| a["id"] == "args-null")
        .expect("echo with null arguments");
    assert_eq!(echo["result"]["structuredContent"], json!({}));
    let last = answers
        .iter()
        .find(|a| a["id"] == "last")
        .expect("the last ping");
    assert_eq!(last["result"], json!({}));

    session.close_input();
    assert_eq!(session.end().reason, EndReason::InputClosed);
}

#[test]
fn a_request_cut_off_by_the_end_of_input_is_still_served() {
    let mut session = Session::start(ServerOptions::default());
    session.send_bytes(br#"{"jsonrpc":"2.0","id":7,"method":"ping"}"#);
    session.close_input();
    assert_eq!(
        session.next_line(),
        json!({"jsonrpc": "2.0", "id": 7, "result": {}})
    );
    let end = session.end();
    assert_eq!(end.reason, EndReason::InputClosed);
    assert!(end.output_flushed);
}

#[test]
fn a_torn_last_line_is_a_parse_error_and_serve_returns() {
    let mut session = Session::start(ServerOptions::default());
    session.send_line(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#);
    session.send_bytes(br#"{"jsonrpc":"2.0","id":2,"meth"#);
    session.close_input();
    assert_eq!(session.next_line()["id"], json!(1));
    let torn = session.next_line();
    assert_eq!((error_code(&torn), &torn["id"]), (-32700, &Value::Null));
    assert_eq!(session.end().reason, EndReason::InputClosed);
}

// ---------------------------------------------------------------- concurrency

#[test]
fn a_hundred_concurrent_requests_are_all_answered() {
    let session = Session::start(ServerOptions::default());
    for n in 0..100 {
        match n % 10 {
            0 => session.call(json!(n), "slow", json!({"ms": 200})),
            1 => session.request(json!(n), "ping", Value::Null),
            2 => session.request(json!(n), "tools/list", Value::Null),
            _ => session.call(json!(n), "echo", json!({"n": n})),
        }
    }
    let answers = session.lines(100);
    let mut ids: Vec<i64> = answers.iter().filter_map(|a| a["id"].as_i64()).collect();
    ids.sort_unstable();
    assert_eq!(ids, (0..100).collect::<Vec<_>>());
    for answer in &answers {
        assert!(answer.get("error").is_none(), "{answer}");
        if answer["id"].as_i64().is_some_and(|n| n % 10 >= 3) {
            assert_eq!(answer["result"]["structuredContent"]["n"], answer["id"]);
        }
    }
    session.expect_quiet();
}

#[test]
fn slow_calls_do_not_hold_up_quick_ones() {
    let session = Session::start(options(4));
    session.call(json!("slow"), "slow", json!({"ms": 3000}));
    session.call(json!("quick"), "echo", json!({}));
    assert_eq!(session.next_line()["id"], json!("quick"));
    assert_eq!(session.next_line()["id"], json!("slow"));
}

#[test]
fn cancellation_ends_a_blocking_call_at_once_and_it_gets_no_answer() {
    let session = Session::start(ServerOptions::default());
    session.call(json!("b"), "block", json!({}));
    assert_eq!(session.event(), Event::Started(json!("b")));
    let cancelled_at = Instant::now();
    session.notify(
        "notifications/cancelled",
        json!({"requestId": "b", "reason": "user pressed stop"}),
    );
    assert_eq!(
        session.event(),
        Event::Ended {
            id: json!("b"),
            cancelled: true
        }
    );
    let took = cancelled_at.elapsed();
    assert!(took < Duration::from_secs(2), "cancellation took {took:?}");
    session.request(json!("after"), "ping", Value::Null);
    assert_eq!(session.next_line()["id"], json!("after"));
    session.expect_quiet();
    // Once finished, the id may be used again.
    session.call(json!("b"), "echo", json!({}));
    assert!(session.answer(json!("b")).get("result").is_some());
}

#[test]
fn a_request_cancelled_while_queued_never_runs() {
    let session = Session::start(options(1));
    session.call(json!(1), "block", json!({}));
    assert_eq!(session.event(), Event::Started(json!(1)));
    session.call(json!(2), "block", json!({}));
    session.notify("notifications/cancelled", json!({"requestId": 2}));
    session.notify("notifications/cancelled", json!({"requestId": 1}));
    assert_eq!(
        session.event(),
        Event::Ended {
            id: json!(1),
            cancelled: true
        }
    );
    session.request(json!(3), "ping", Value::Null);
    assert_eq!(session.next_line()["id"], json!(3));
    session.expect_quiet();
    assert!(
        session.events.try_recv().is_err(),
        "the cancelled queued request ran"
    );
}

#[test]
fn ping_initialize_and_cancellation_work_while_every_worker_is_busy() {
    let session = Session::start(options(2));
    for id in [1, 2] {
        session.call(json!(id), "block", json!({}));
    }
    for _ in 0..2 {
        assert!(matches!(session.event(), Event::Started(_)));
    }
    session.call(json!("queued"), "echo", json!({}));
    session.request(json!("ping"), "ping", Value::Null);
    assert_eq!(session.next_line()["id"], json!("ping"));
    session.request(
        json!("init"),
        "initialize",
        json!({"protocolVersion": "2025-06-18"}),
    );
    assert_eq!(
        session.next_line()["result"]["protocolVersion"],
        json!("2025-06-18")
    );
    session.notify("notifications/cancelled", json!({"requestId": 1}));
    assert_eq!(
        session.answer(json!("queued"))["result"]["structuredContent"],
        json!({})
    );
    session.notify("notifications/cancelled", json!({"requestId": 2}));
    session.expect_quiet();
}

#[test]
fn every_tool_call_waits_for_a_worker_but_the_tool_list_does_not() {
    let session = Session::start(options(1));
    session.call(json!(1), "block", json!({}));
    assert!(matches!(session.event(), Event::Started(_)));
    // The only worker is blocked: even a quick call waits in the queue,
    // while the list is answered on the reading thread.
    session.call(json!("queued"), "quick", json!({}));
    session.request(json!("list"), "tools/list", Value::Null);
    let list = session.next_line();
    assert_eq!(list["id"], json!("list"));
    assert!(list["result"]["tools"]
        .as_array()
        .is_some_and(|t| t.len() == 7));
    session.notify("notifications/cancelled", json!({"requestId": 1}));
    let queued = session.next_line();
    assert_eq!(queued["id"], json!("queued"));
    assert_eq!(queued["result"]["content"][0]["text"], json!("from memory"));
    session.expect_quiet();
}

#[test]
fn requests_beyond_the_in_flight_limit_are_refused_at_once() {
    let session = Session::start(ServerOptions {
        workers: 1,
        max_in_flight: 2,
        ..ServerOptions::default()
    });
    session.call(json!(1), "block", json!({}));
    assert_eq!(session.event(), Event::Started(json!(1)));
    session.call(json!(2), "block", json!({}));
    session.call(json!(3), "echo", json!({}));
    let refused = session.next_line();
    assert_eq!(
        (refused["id"].clone(), error_code(&refused)),
        (json!(3), -32000)
    );
    session.request(json!(4), "ping", Value::Null);
    assert_eq!(session.next_line()["id"], json!(4));
    session.notify("notifications/cancelled", json!({"requestId": 1}));
    session.notify("notifications/cancelled", json!({"requestId": 2}));
    // The slots free up as the worker reports the cancelled requests done.
    for attempt in 5..55 {
        session.call(json!(attempt), "echo", json!({}));
        let answer = session.answer(json!(attempt));
        if answer.get("result").is_some() {
            return;
        }
        assert_eq!(error_code(&answer), -32000);
        thread::sleep(Duration::from_millis(20));
    }
    panic!("the cancelled requests never freed their slots");
}

#[test]
fn an_id_already_in_flight_is_refused() {
    let session = Session::start(ServerOptions::default());
    session.call(json!("same"), "block", json!({}));
    assert_eq!(session.event(), Event::Started(json!("same")));
    session.call(json!("same"), "echo", json!({}));
    let refused = session.next_line();
    assert_eq!(
        (refused["id"].clone(), error_code(&refused)),
        (json!("same"), -32600)
    );
    // An integer id that reads the same as the string is another id.
    session.call(json!(1), "block", json!({}));
    assert_eq!(session.event(), Event::Started(json!(1)));
    session.call(json!("1"), "echo", json!({}));
    assert!(session.answer(json!("1")).get("result").is_some());
    session.notify("notifications/cancelled", json!({"requestId": "same"}));
    session.notify("notifications/cancelled", json!({"requestId": 1}));
}

#[test]
fn a_panicking_tool_is_an_internal_error_and_the_server_keeps_serving() {
    // One worker: if a panic killed it, the echo after would never be answered.
    let session = Session::start(options(1));
    for id in [1, 2] {
        session.call(json!(id), "panic", json!({}));
        let answer = session.next_line();
        assert_eq!(
            (answer["id"].clone(), error_code(&answer)),
            (json!(id), -32603)
        );
    }
    session.call(json!(3), "echo", json!({"still": "here"}));
    assert_eq!(
        session.next_line()["result"]["structuredContent"],
        json!({"still": "here"})
    );
}

// ---------------------------------------------------------------- notifications

#[test]
fn notifications_wait_for_initialize_then_reach_the_client() {
    let session = Session::start(ServerOptions::default());
    assert!(session
        .outbox
        .notify("notifications/early", json!({"n": 1})));
    session.request(json!("p"), "ping", Value::Null);
    assert_eq!(session.next_line()["id"], json!("p"));
    session.expect_quiet();

    session.request(
        json!("init"),
        "initialize",
        json!({"protocolVersion": "2025-11-25"}),
    );
    assert_eq!(session.next_line()["id"], json!("init"));
    assert_eq!(
        session.next_line(),
        json!({"jsonrpc": "2.0", "method": "notifications/early", "params": {"n": 1}})
    );

    session.request(
        json!(5),
        "tools/call",
        json!({"name": "notify", "arguments": {}, "_meta": {"progressToken": "tok-5"}}),
    );
    let lines = session.lines(3);
    assert_eq!(
        lines[0],
        json!({"jsonrpc": "2.0", "method": "notifications/test", "params": {"from": "tool"}})
    );
    assert_eq!(lines[1]["method"], json!("notifications/progress"));
    assert_eq!(lines[1]["params"]["progressToken"], json!("tok-5"));
    assert_eq!(lines[1]["params"]["message"], json!("halfway"));
    assert_eq!(lines[2]["id"], json!(5));
}

#[test]
fn resources_and_prompts_are_routed_when_offered() {
    let session = Session::start_with(ServerOptions::default(), true);
    session.request(json!(1), "initialize", json!({}));
    let capabilities = session.next_line()["result"]["capabilities"].clone();
    assert_eq!(capabilities["resources"], json!({"listChanged": true}));
    assert_eq!(capabilities["prompts"], json!({"listChanged": true}));
    session.request(json!(2), "resources/list", Value::Null);
    assert_eq!(
        session.answer(json!(2))["result"]["resources"][0]["uri"],
        json!("test://a")
    );
    session.request(json!(3), "resources/read", json!({"uri": "test://a"}));
    assert_eq!(
        session.answer(json!(3))["result"]["contents"][0]["text"],
        json!("A")
    );
    session.request(json!(4), "resources/read", json!({}));
    assert_eq!(error_code(&session.answer(json!(4))), -32602);
    // Offered, but this handler keeps the default: not found.
    session.request(json!(5), "prompts/list", Value::Null);
    assert_eq!(error_code(&session.answer(json!(5))), -32601);
}

// ---------------------------------------------------------------- shutdown

#[test]
fn end_of_input_returns_promptly_while_a_tool_blocks_and_flushes_its_answer() {
    let mut session = Session::start(ServerOptions {
        shutdown_grace: Duration::from_secs(5),
        ..ServerOptions::default()
    });
    session.call(json!("b"), "block", json!({}));
    assert_eq!(session.event(), Event::Started(json!("b")));
    let closed_at = Instant::now();
    session.close_input();
    let end = session.end();
    let took = closed_at.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "serve took {took:?} to return"
    );
    assert_eq!(
        end,
        ServeEnd {
            reason: EndReason::InputClosed,
            abandoned_workers: 0,
            output_flushed: true
        }
    );
    // Cancelled by shutdown, not by the client: its answer still went out.
    let answer = session.next_line();
    assert_eq!(
        (answer["id"].clone(), answer["result"]["isError"].clone()),
        (json!("b"), json!(true))
    );
}

#[test]
fn a_tool_that_ignores_cancellation_is_left_behind_after_the_grace_period() {
    let mut session = Session::start(ServerOptions {
        shutdown_grace: Duration::from_millis(300),
        ..ServerOptions::default()
    });
    session.call(json!("s"), "stuck", json!({"ms": 5000}));
    assert_eq!(session.event(), Event::Started(json!("s")));
    let closed_at = Instant::now();
    session.close_input();
    let end = session.end();
    let took = closed_at.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "serve took {took:?} to return"
    );
    assert_eq!(
        (end.reason, end.abandoned_workers),
        (EndReason::InputClosed, 1)
    );
}

#[test]
fn the_shutdown_signal_ends_serve_while_the_input_stays_open() {
    let mut session = Session::start(ServerOptions::default());
    session.call(json!("b"), "block", json!({}));
    assert_eq!(session.event(), Event::Started(json!("b")));
    let signalled_at = Instant::now();
    session.shutdown.take();
    let end = session.end();
    assert!(signalled_at.elapsed() < Duration::from_secs(2));
    assert_eq!(
        (end.reason, end.abandoned_workers),
        (EndReason::Shutdown, 0)
    );
    assert!(session.input.is_some(), "the input was still open");
}

#[test]
fn a_failing_output_ends_serve() {
    struct Broken;
    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let (input, chunks) = unbounded::<Vec<u8>>();
    let (ended_tx, ended) = bounded(1);
    thread::spawn(move || {
        let reader = ChannelReader {
            chunks,
            chunk: Vec::new(),
            at: 0,
        };
        let (events, _) = unbounded();
        let handler = Arc::new(TestHandler {
            events,
            offers_resources: false,
        });
        let _ = ended_tx.send(serve(
            reader,
            Broken,
            handler,
            ServerOptions::default(),
            never(),
        ));
    });
    input
        .send(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\n".to_vec())
        .unwrap();
    let end = ended.recv_timeout(PATIENCE).expect("serve did not return");
    assert_eq!(
        (end.reason, end.output_flushed),
        (EndReason::OutputClosed, false)
    );
}

#[test]
fn the_outbox_fails_fast_once_serve_has_returned() {
    let mut session = Session::start(ServerOptions::default());
    session.close_input();
    assert_eq!(session.end().reason, EndReason::InputClosed);
    let started = Instant::now();
    assert!(!session.outbox.notify("notifications/late", Value::Null));
    assert!(started.elapsed() < Duration::from_millis(500));
    assert_eq!(
        session.output.recv_timeout(QUIET),
        Err(RecvTimeoutError::Disconnected)
    );
}
