//! The platform tools through the real binary against the simulator: what
//! an agent host sees on stdio (mcp-server.md §2, §3).

mod support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::sim::{Peer, Reply, Simulator};
use support::{tool_is_error as is_error, tool_text as text, Child, TempDir};

fn call_raw(child: &mut Child, name: &str, arguments: Value) -> Value {
    child.call_tool_raw(name, arguments, SOON + SOON)
}

/// The `CallToolResult` of a call that must not be a JSON-RPC error.
fn call(child: &mut Child, name: &str, arguments: Value) -> Value {
    child.call_tool(name, arguments, SOON + SOON)
}

const WS: &str = "7e1d2c3b-1111-4222-8333-444455556666";
const PEER: &str = "7e1d2c3b-9999-4888-8777-666655554444";
const TOKEN: &str = "tok-tools-bb-8f7e6d5c4b3a2918";
const PEER_TOKEN: &str = "tok-tools-peer-1029384756abcd";
const SOON: Duration = Duration::from_secs(10);

fn sim() -> Simulator {
    let sim = Simulator::start();
    sim.add_workspace(WS, Some(TOKEN));
    sim.add_workspace(PEER, Some(PEER_TOKEN));
    sim
}

fn start(sim: &Simulator, home: &TempDir, extra: &[(&str, &str)]) -> (Child, Value) {
    let mut vars = vec![("MOLECULE_MCP_POLL_SECS", "0.2")];
    vars.extend_from_slice(extra);
    let mut child = Child::spawn_workspace(home.path(), &sim.url(), (WS, TOKEN), &vars);
    let result = child.initialize("tools-test");
    (child, result)
}

fn no_token_in(child: &Child, seen: &str) {
    for token in [TOKEN, PEER_TOKEN] {
        assert!(!seen.contains(token), "token on stdout: {seen}");
        assert!(!child.stderr().contains(token), "token on stderr");
    }
}

#[test]
fn initialize_carries_the_instructions_and_tools_list_the_platform_tools() {
    let sim = sim();
    let home = TempDir::new("tools-bb-list");
    let (mut child, init) = start(&sim, &home, &[("MOLECULE_MCP_POLL_TIMEOUT_SECS", "7")]);
    let instructions = init["instructions"].as_str().unwrap_or_default();
    for needle in [
        "wait_for_message with timeout_secs = 7",
        "send_message_to_user",
        "inbox_pop",
        "untrusted",
    ] {
        assert!(
            instructions.contains(needle),
            "{needle:?} not in {instructions:?}"
        );
    }
    let listed = child
        .request("tools/list", json!({}), SOON)
        .expect("tools/list answer");
    let tools = listed["result"]["tools"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let names: Vec<&str> = tools.iter().filter_map(|t| t["name"].as_str()).collect();
    // No DISPLAY here: the desktop tools are not offered.
    assert_eq!(names, support::platform_tools(false), "{names:?}");
    for tool in &tools {
        assert_eq!(tool["inputSchema"]["type"], "object", "{tool}");
    }
    child.close_stdin();
    assert!(child.wait_exit(SOON).is_some_and(|s| s.success()));
}

#[test]
fn delegate_task_answers_with_fenced_peer_output_and_failures_are_is_error() {
    let sim = sim();
    sim.set_peer(PEER, Peer::Reply("the peer's answer".into()));
    let home = TempDir::new("tools-bb-delegate");
    let (mut child, _) = start(&sim, &home, &[]);

    let result = call(
        &mut child,
        "delegate_task",
        json!({"workspace_id": PEER, "task": "go"}),
    );
    assert!(!is_error(&result), "{result}");
    assert!(
        text(&result).contains("(untrusted) ---\nthe peer's answer\n--- end peer output "),
        "{result}"
    );

    sim.set_peer(PEER, Peer::Forbidden);
    let refused = call(
        &mut child,
        "delegate_task",
        json!({"workspace_id": PEER, "task": "go"}),
    );
    assert!(is_error(&refused), "{refused}");
    assert!(
        text(&refused).contains("not allowed to talk to"),
        "{refused}"
    );

    sim.script_always(
        "GET",
        &format!("/registry/{WS}/peers"),
        Reply::json(401, json!({})),
    );
    let peers = call(&mut child, "list_peers", json!({}));
    assert!(
        is_error(&peers) && text(&peers).contains("Tokens tab"),
        "{peers}"
    );

    let bad = call_raw(&mut child, "delegate_task", json!({"workspace_id": PEER}));
    assert_eq!(bad["error"]["code"], -32602, "{bad}");
    assert!(
        bad["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("`task`"),
        "{bad}"
    );

    let all = format!("{result}{refused}{peers}{bad}");
    no_token_in(&child, &all);
}

#[test]
fn delegate_task_to_a_poll_mode_peer_returns_the_completed_delegation() {
    let sim = sim();
    sim.set_peer(PEER, Peer::PollMode);
    sim.set_delegation_delay(Some(Duration::from_millis(200)));
    let home = TempDir::new("tools-bb-poll");
    let (mut child, _) = start(&sim, &home, &[("DELEGATION_TIMEOUT", "20")]);
    let result = call(
        &mut child,
        "delegate_task",
        json!({"workspace_id": PEER, "task": "later"}),
    );
    assert!(!is_error(&result), "{result}");
    assert!(text(&result).contains("echo: later"), "{result}");
    assert_eq!(sim.delegations(WS).len(), 1);
}

#[test]
fn a_cancelled_delegation_stops_and_the_server_keeps_serving() {
    let sim = sim();
    sim.set_peer(PEER, Peer::Queued);
    let home = TempDir::new("tools-bb-cancel");
    let (mut child, _) = start(&sim, &home, &[("DELEGATION_TIMEOUT", "120")]);
    child
        .send_json(
            &json!({"jsonrpc": "2.0", "id": "slow", "method": "tools/call",
            "params": {"name": "delegate_task", "arguments": {"workspace_id": PEER, "task": "t"}}}),
        )
        .expect("stdin");
    assert!(
        sim.wait_for_requests(&format!("/workspaces/{WS}/delegate"), 1, SOON),
        "the delegation was never filed"
    );
    child
        .send_json(
            &json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
            "params": {"requestId": "slow", "reason": "user gave up"}}),
        )
        .expect("stdin");
    // The polling stops: no more reads of the delegations after the cancel.
    std::thread::sleep(Duration::from_millis(300));
    let reads = sim
        .requests_to(&format!("/workspaces/{WS}/delegations"))
        .len();
    let ping = child.request("ping", json!({}), SOON).expect("ping answer");
    assert_eq!(ping["result"], json!({}));
    std::thread::sleep(Duration::from_millis(3500));
    let later = sim
        .requests_to(&format!("/workspaces/{WS}/delegations"))
        .len();
    assert_eq!(reads, later, "delegations still polled after the cancel");
    // A cancelled request gets no answer.
    assert!(child
        .wait_answer(&json!("slow"), Duration::from_millis(300))
        .is_none());
    let started = Instant::now();
    child.close_stdin();
    assert!(child.wait_exit(SOON).is_some_and(|s| s.success()));
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn send_message_to_user_delivers_text_and_files() {
    let sim = sim();
    let home = TempDir::new("tools-bb-notify");
    let (mut child, _) = start(&sim, &home, &[]);
    let file = home.join("chart.png");
    std::fs::write(&file, [0x89, b'P', b'N', b'G', 0, 1, 2]).expect("write file");
    let result = call(
        &mut child,
        "send_message_to_user",
        json!({"message": "done, see chart", "attachments": [file.display().to_string()]}),
    );
    assert!(!is_error(&result), "{result}");
    let uploads = sim.uploads(WS);
    assert_eq!(uploads.len(), 1);
    assert_eq!(uploads[0].mime_type, "image/png");
    assert_eq!(uploads[0].bytes, [0x89, b'P', b'N', b'G', 0, 1, 2]);
    let notes = sim.notifications(WS);
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["message"], "done, see chart");
    assert_eq!(notes[0]["attachments"][0]["uri"], uploads[0].uri.as_str());
}

#[test]
fn with_the_inbox_disabled_the_inbox_tools_say_so() {
    let sim = sim();
    let home = TempDir::new("tools-bb-noinbox");
    let (mut child, _) = start(&sim, &home, &[("MOLECULE_MCP_DISABLE_INBOX", "1")]);
    for (tool, arguments) in [
        ("wait_for_message", json!({"timeout_secs": 1})),
        ("inbox_peek", json!({})),
        ("inbox_pop", json!({"activity_id": "a"})),
    ] {
        let result = call(&mut child, tool, arguments);
        assert!(is_error(&result), "{tool}: {result}");
        assert!(
            text(&result).contains("inbox is disabled"),
            "{tool}: {result}"
        );
    }
    // Other tools still work.
    let info = call(&mut child, "get_runtime_identity", json!({}));
    assert!(!is_error(&info) && text(&info).contains(WS), "{info}");
}
