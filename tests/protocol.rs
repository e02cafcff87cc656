//! The MCP protocol through the real binary (mcp-server.md §1): error
//! codes, notifications, versions, concurrency, cancellation, and every
//! kind of bad input in one run followed by a request that is still served.

mod support;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::sim::Simulator;
use support::{Child, TempDir};

const WS: &str = "2b3c4d5e-6f70-4812-9a3b-4c5d6e7f8091";
const TOKEN: &str = "tok-protocol-0123456789abcdef";
const WAIT: Duration = Duration::from_secs(10);

fn start(sim: &Simulator, home: &TempDir) -> Child {
    let url = sim.url();
    let configs = home.join("configs");
    Child::spawn(
        home.path(),
        &[
            ("PLATFORM_URL", &url),
            ("WORKSPACE_ID", WS),
            ("MOLECULE_WORKSPACE_TOKEN", TOKEN),
            ("CONFIGS_DIR", configs.to_str().unwrap()),
            ("MOLECULE_MCP_POLL_SECS", "0.2"),
        ],
    )
}

fn setup(tag: &str) -> (Simulator, TempDir, Child) {
    let sim = Simulator::start();
    sim.add_workspace(WS, Some(TOKEN));
    let home = TempDir::new(tag);
    let child = start(&sim, &home);
    (sim, home, child)
}

fn error_code(answer: &Value) -> Option<i64> {
    answer.pointer("/error/code").and_then(Value::as_i64)
}

/// The next answer line, which must carry `id`.
fn answer_for(child: &mut Child, id: Value) -> Value {
    child
        .wait_answer(&id, WAIT)
        .unwrap_or_else(|| panic!("no answer for id {id}; stderr:\n{}", child.stderr()))
}

#[test]
fn versions_are_negotiated() {
    let (_sim, _home, mut child) = setup("proto-versions");
    for (asked, expected) in [
        ("2025-11-25", "2025-11-25"),
        ("2025-06-18", "2025-06-18"),
        ("2024-11-05", "2024-11-05"),
        ("1999-01-01", "2025-11-25"),
    ] {
        let answer = child
            .request(
                "initialize",
                json!({"protocolVersion": asked, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}),
                WAIT,
            )
            .expect("initialize");
        let result = &answer["result"];
        assert_eq!(result["protocolVersion"], expected, "asked {asked}");
        assert_eq!(result["serverInfo"]["name"], "molecule");
        assert_eq!(result["serverInfo"]["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(result["capabilities"]["tools"]["listChanged"], true);
        assert!(result["capabilities"]["experimental"]["claude/channel"].is_object());
        assert!(result["instructions"]
            .as_str()
            .is_some_and(|t| t.contains("wait_for_message")));
    }
    let ping = child.request("ping", json!({}), WAIT).expect("ping");
    assert_eq!(ping["result"], json!({}));
    let discover = child
        .request("server/discover", json!({}), WAIT)
        .expect("answer");
    assert_eq!(error_code(&discover), Some(-32601));
}

#[test]
fn bad_input_of_every_kind_is_answered_and_the_next_request_served() {
    let (_sim, _home, mut child) = setup("proto-bad-input");
    child.request(
        "initialize",
        json!({"protocolVersion": "2025-06-18", "capabilities": {}}),
        WAIT,
    );

    // Each bad line with the error it must get (id null where none can be read).
    let cases: Vec<(&[u8], Value, i64)> = vec![
        (b"this is not json", Value::Null, -32700),
        (b"{\"jsonrpc\": \"2.0\", \"id\": 1, ", Value::Null, -32700),
        (b"[1, 2, 3]", Value::Null, -32600),
        (b"[{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"ping\"}]", Value::Null, -32600),
        (b"42", Value::Null, -32600),
        (b"\"a string\"", Value::Null, -32600),
        (b"{\"jsonrpc\": \"1.0\", \"id\": 2, \"method\": \"ping\"}", json!(2), -32600),
        (b"{\"jsonrpc\": \"2.0\", \"id\": 3, \"method\": 7}", json!(3), -32600),
        (b"{\"jsonrpc\": \"2.0\", \"id\": {\"x\": 1}, \"method\": \"ping\"}", Value::Null, -32600),
        (b"{\"jsonrpc\": \"2.0\", \"id\": 4, \"method\": \"no/such\"}", json!(4), -32601),
        (b"{\"jsonrpc\": \"2.0\", \"id\": 5, \"method\": \"tools/call\", \"params\": {\"name\": 5}}", json!(5), -32602),
        (b"{\"jsonrpc\": \"2.0\", \"id\": 6, \"method\": \"tools/call\", \"params\": {\"name\": \"nope\", \"arguments\": {}}}", json!(6), -32602),
        (b"{\"jsonrpc\": \"2.0\", \"id\": 7, \"method\": \"tools/call\", \"params\": {\"name\": \"inbox_pop\", \"arguments\": [1]}}", json!(7), -32602),
        (b"{\"jsonrpc\": \"2.0\", \"id\": 8, \"method\": \"tools/call\", \"params\": {\"name\": \"inbox_pop\", \"arguments\": {\"activity_id\": 12}}}", json!(8), -32602),
        (b"{\"jsonrpc\": \"2.0\", \"id\": 10, \"method\": \"tools/call\", \"params\": \"x\"}", json!(10), -32600),
        (b"{\"jsonrpc\": \"2.0\", \"id\": 11, \"method\": \"tools/call\", \"params\": {\"name\": \"inbox_peek\", \"arguments\": {\"limit\": \"ten\"}}}", json!(11), -32602),
        (b"\xff\xfe{\"jsonrpc\": \"2.0\", \"id\": 12, \"method\": \"ping\"}", Value::Null, -32700),
    ];
    for (line, id, code) in &cases {
        let mut bytes = line.to_vec();
        bytes.push(b'\n');
        child.send_raw(&bytes).expect("write");
        let answer = child
            .recv_json(WAIT)
            .unwrap_or_else(|| panic!("no answer to {:?}", String::from_utf8_lossy(line)));
        assert_eq!(
            &answer["id"],
            id,
            "{:?}: {answer}",
            String::from_utf8_lossy(line)
        );
        assert_eq!(
            error_code(&answer),
            Some(*code),
            "{:?}: {answer}",
            String::from_utf8_lossy(line)
        );
    }

    // `arguments: null` is an empty argument map, not a crash.
    child.send_line(r#"{"jsonrpc":"2.0","id":20,"method":"tools/call","params":{"name":"get_runtime_identity","arguments":null}}"#).unwrap();
    let answer = answer_for(&mut child, json!(20));
    assert!(answer["result"]["content"].is_array(), "{answer}");

    // A notification of any kind, known or not, gets no answer.
    child
        .send_line(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
        .unwrap();
    child
        .send_line(r#"{"jsonrpc":"2.0","method":"notifications/whatever","params":{"x":1}}"#)
        .unwrap();
    child
        .send_line(r#"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"nope"}}"#)
        .unwrap();

    // A 20 MiB line: refused without being buffered whole.
    let mut huge = br#"{"jsonrpc":"2.0","id":30,"method":"tools/call","params":{"name":"commit_memory","arguments":{"content":""#.to_vec();
    huge.extend(std::iter::repeat_n(b'x', 20 << 20));
    huge.extend_from_slice(b"\"}}}\n");
    child.send_raw(&huge).expect("write the huge line");
    let answer = child.recv_json(WAIT).expect("an answer to the huge line");
    assert_eq!(error_code(&answer), Some(-32600), "{answer}");

    // After all of it, a valid request is still served, and nothing else
    // was written (no answer to the notifications).
    let ping = child
        .request("ping", json!({}), WAIT)
        .expect("ping after bad input");
    assert_eq!(ping["result"], json!({}));
    assert!(
        child.recv_line(Duration::from_millis(300)).is_none(),
        "an unexpected line"
    );
    assert!(!child.stderr().contains("panicked"));
}

#[test]
fn stdin_closed_mid_line_ends_cleanly() {
    let sim = Simulator::start();
    sim.add_workspace(WS, Some(TOKEN));
    let home = TempDir::new("proto-midline");
    let configs = home.join("configs");
    let mut proc = Command::new(support::bin())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("PLATFORM_URL", sim.url())
        .env("WORKSPACE_ID", WS)
        .env("MOLECULE_WORKSPACE_TOKEN", TOKEN)
        .env("CONFIGS_DIR", &configs)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = proc.stdin.take().unwrap();
    stdin.write_all(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\n{\"jsonrpc\":\"2.0\",\"id\":2,\"meth").unwrap();
    drop(stdin);
    let started = Instant::now();
    let out = proc.wait_with_output().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "shutdown took {:?}",
        started.elapsed()
    );
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["id"], 1);
    assert!(lines.len() <= 2, "{stdout}");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
}

#[test]
fn a_hundred_concurrent_requests_with_a_blocking_wait_are_all_answered() {
    let (_sim, _home, mut child) = setup("proto-concurrent");
    child.request(
        "initialize",
        json!({"protocolVersion": "2025-06-18", "capabilities": {}}),
        WAIT,
    );
    // A wait that blocks for long, then 99 quick requests behind it.
    child
        .send_json(
            &json!({"jsonrpc": "2.0", "id": "wait", "method": "tools/call",
            "params": {"name": "wait_for_message", "arguments": {"timeout_secs": 60}}}),
        )
        .unwrap();
    for i in 0..99 {
        let (method, params) = match i % 3 {
            0 => ("ping", json!({})),
            1 => ("tools/list", json!({})),
            _ => (
                "tools/call",
                json!({"name": "get_runtime_identity", "arguments": {}}),
            ),
        };
        child
            .send_json(&json!({"jsonrpc": "2.0", "id": i, "method": method, "params": params}))
            .unwrap();
    }
    let mut seen = std::collections::HashSet::new();
    let deadline = Instant::now() + WAIT;
    while seen.len() < 99 && Instant::now() < deadline {
        let Some(line) = child.recv_json(WAIT) else {
            break;
        };
        assert!(line.get("error").is_none(), "{line}");
        if let Some(id) = line["id"].as_i64() {
            seen.insert(id);
        }
    }
    assert_eq!(seen.len(), 99, "the blocking wait held up other requests");

    // Cancelling the wait ends it at once, with no answer (MCP: a cancelled
    // request is not answered), and the server goes on serving.
    let asked = Instant::now();
    child
        .send_json(
            &json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
            "params": {"requestId": "wait", "reason": "test"}}),
        )
        .unwrap();
    let ping = child
        .request("ping", json!({}), WAIT)
        .expect("ping after cancel");
    assert_eq!(ping["result"], json!({}));
    assert!(asked.elapsed() < Duration::from_secs(2));
    assert!(
        child.recv_line(Duration::from_millis(300)).is_none(),
        "the cancelled wait was answered"
    );
}

#[test]
fn sigint_ends_the_process_like_eof() {
    let (_sim, _home, mut child) = setup("proto-sigint");
    child.request("ping", json!({}), WAIT).expect("ping");
    let status = Command::new("kill")
        .args(["-INT", &child.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child
        .wait_exit(Duration::from_secs(3))
        .expect("SIGINT did not end it");
    assert_eq!(exit.code(), Some(0));
}
