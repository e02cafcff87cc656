//! What upstreams ask the agent goes to the agent: `sampling/createMessage`
//! and `elicitation/create` under our own ids, the agent's answer back to
//! the upstream under its id; a capability the agent did not declare is
//! refused at once. The upstream is told of exactly the capabilities the
//! agent declared, in the revision the agent agreed.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::support::gateway::*;
use super::support::launch;
use super::support::TempDir;

/// Starts the gateway with the conformance upstream under its own names,
/// as an agent declaring `capabilities`.
fn start(tag: &str, capabilities: Value) -> Gateway {
    Gateway::start_as(
        TempDir::new(tag),
        json!({"conf": full(Some(""))}),
        &[],
        "2025-11-25",
        capabilities,
    )
}

/// Sends a call and plays the agent until its answer: each request from
/// the gateway is answered with `answer(method, params)`. Returns the
/// call's answer and the requests seen.
fn call_as_agent(
    gw: &mut Gateway,
    tool: &str,
    arguments: Value,
    answer: impl Fn(&str, &Value) -> Value,
) -> (Value, Vec<Value>) {
    let id = json!("call-1");
    let call = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                      "params": {"name": tool, "arguments": arguments}});
    gw.child.send_json(&call).expect("written");
    let mut asked = Vec::new();
    let deadline = Instant::now() + WAIT;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        let Some(message) = gw.child.recv_json(left) else {
            break;
        };
        match (
            message.get("id"),
            message.get("method").and_then(Value::as_str),
        ) {
            (Some(ours), Some(method)) => {
                let result = answer(method, &message["params"]);
                let reply = json!({"jsonrpc": "2.0", "id": ours, "result": result});
                gw.child.send_json(&reply).expect("written");
                asked.push(message.clone());
            }
            (Some(got), None) if *got == id => return (message, asked),
            _ => {}
        }
    }
    panic!("no answer to {tool}; stderr:\n{}", gw.child.stderr());
}

#[test]
fn sampling_reaches_the_agent_and_its_answer_the_upstream() {
    let mut gw = start("gw-relay-sampling", json!({"sampling": {}}));
    let (answer, asked) = call_as_agent(
        &mut gw,
        "test_sampling",
        json!({"prompt": "2+2?"}),
        |_, _| {
            json!({"role": "assistant", "content": {"type": "text", "text": "four"},
               "model": "test", "stopReason": "endTurn"})
        },
    );
    assert_eq!(text(&answer), "LLM response: four", "{answer}");
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert_eq!(asked[0]["method"], "sampling/createMessage");
    assert_eq!(asked[0]["params"]["messages"][0]["content"]["text"], "2+2?");
    assert!(asked[0]["id"].is_string(), "our own id: {}", asked[0]);
}

#[test]
fn elicitation_reaches_the_agent_and_its_answer_the_upstream() {
    let mut gw = start("gw-relay-elicit", json!({"elicitation": {"form": {}}}));
    let (answer, asked) = call_as_agent(
        &mut gw,
        "test_elicitation",
        json!({"message": "Who are you?"}),
        |_, _| json!({"action": "accept", "content": {"username": "ada", "email": "a@b.c"}}),
    );
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0]["method"], "elicitation/create");
    assert_eq!(asked[0]["params"]["message"], "Who are you?");
    let said = text(&answer);
    assert!(
        said.contains("action=accept") && said.contains("ada"),
        "{said}"
    );
}

#[test]
fn an_undeclared_capability_is_refused_at_once_never_a_hang() {
    let mut gw = start("gw-relay-undeclared", json!({}));
    let started = Instant::now();
    // An upstream that asks although it was told the agent offers nothing.
    let arguments = json!({"prompt": "x", "askAnyway": true});
    let (answer, asked) = call_as_agent(&mut gw, "test_sampling", arguments, |_, _| json!({}));
    assert!(asked.is_empty(), "{asked:?}");
    assert!(is_error(&answer), "{answer}");
    let said = text(&answer);
    assert!(said.contains("does not support sampling"), "{said}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn the_upstream_is_told_what_the_agent_declared_and_the_agreed_revision() {
    let record = TempDir::new("gw-relay-record");
    let path = record.join("record.jsonl");
    let path = path.display().to_string();
    let servers = json!({"files": stdio(&["--record", &path])});
    let mut gw = Gateway::start_as(
        TempDir::new("gw-relay-declared"),
        servers,
        &[],
        "2025-11-25",
        json!({"sampling": {}, "roots": {"listChanged": true}, "experimental": {"x": {}}}),
    );
    assert!(gw.wait_tool("files__echo", true));
    let init = recorded(&path)
        .into_iter()
        .find(|m| m["method"] == "initialize")
        .expect("initialize recorded");
    assert_eq!(init["params"]["protocolVersion"], "2025-11-25");
    assert_eq!(
        init["params"]["capabilities"],
        json!({"sampling": {}, "roots": {"listChanged": true}})
    );
}

#[test]
fn an_http_upstreams_request_on_its_get_stream_reaches_the_agent() {
    let dir = TempDir::new("gw-relay-get-rec");
    let record = dir.join("record.jsonl").display().to_string();
    let http = launch::HttpFixture::start(&["--server-requests", "--record", &record]);
    let mut gw = Gateway::start_as(
        TempDir::new("gw-relay-get"),
        json!({"web": {"url": http.url}}),
        &[],
        "2025-11-25",
        json!({"roots": {}}),
    );
    // The fixture asks `roots/list` once initialized: play the agent.
    let mut asked = None;
    let deadline = Instant::now() + WAIT;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        let Some(message) = gw.child.recv_json(left) else {
            break;
        };
        if message["method"] == "roots/list" {
            let reply = json!({"jsonrpc": "2.0", "id": message["id"],
                               "result": {"roots": [{"uri": "file:///work", "name": "work"}]}});
            gw.child.send_json(&reply).expect("written");
            asked = Some(message);
            break;
        }
    }
    assert!(
        asked.is_some(),
        "roots/list never reached the agent; stderr:\n{}",
        gw.child.stderr()
    );
    let deadline = Instant::now() + WAIT;
    let answered = loop {
        let seen = recorded(&record);
        if let Some(answer) = seen
            .iter()
            .find(|m| m.get("result").is_some_and(|r| r.get("roots").is_some()))
        {
            break Some(answer.clone());
        }
        if Instant::now() >= deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let answered = answered.expect("the upstream got the agent's answer");
    assert_eq!(answered["result"]["roots"][0]["uri"], "file:///work");
}

#[test]
fn what_an_http_upstream_sends_on_its_own_arrives_on_the_get_stream() {
    let dir = TempDir::new("gw-get-stream-rec");
    let record = dir.join("record.jsonl").display().to_string();
    // Told later that its tools changed, with no request of ours in flight:
    // only a GET stream can carry that.
    let http = launch::HttpFixture::start(&["--list-changed-after-ms", "300", "--record", &record]);
    let mut gw = Gateway::start("gw-get-stream", json!({"web": {"url": http.url}}), &[]);
    assert!(gw.wait_tool("web__echo", true));
    let deadline = Instant::now() + WAIT;
    while count_method(&record, "tools/list") < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        count_method(&record, "tools/list") >= 2,
        "the list_changed never arrived; stderr:\n{}",
        gw.child.stderr()
    );
}

#[test]
fn the_agents_roots_change_reaches_every_upstream() {
    let dir = TempDir::new("gw-roots-rec");
    let stdio_record = dir.join("stdio.jsonl").display().to_string();
    let http_record = dir.join("http.jsonl").display().to_string();
    let http = launch::HttpFixture::start(&["--record", &http_record]);
    let servers = json!({
        "files": stdio(&["--record", &stdio_record]),
        "web": {"url": http.url},
    });
    let mut gw = Gateway::start_as(
        TempDir::new("gw-roots"),
        servers,
        &[],
        "2025-11-25",
        json!({"roots": {"listChanged": true}}),
    );
    assert!(gw.wait_tool("files__echo", true) && gw.wait_tool("web__echo", true));
    let changed = json!({"jsonrpc": "2.0", "method": "notifications/roots/list_changed"});
    gw.child.send_json(&changed).expect("written");
    for record in [&stdio_record, &http_record] {
        let deadline = Instant::now() + WAIT;
        while count_method(record, "notifications/roots/list_changed") == 0
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(
            count_method(record, "notifications/roots/list_changed"),
            1,
            "{record}"
        );
    }
}
