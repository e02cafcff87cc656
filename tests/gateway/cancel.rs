//! The agent's `notifications/cancelled` reaches the upstream that runs the
//! request, under the upstream's own request id, while that request is
//! still running (stdio and HTTP).

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::support::gateway::*;
use super::support::launch::HttpFixture;
use super::support::TempDir;

/// Starts a long call, cancels it, and returns what the upstream recorded
/// once it was told (or the deadline passed).
fn cancel_a_call(gw: &mut Gateway, tool: &str, record: &str) -> Vec<Value> {
    assert!(gw.wait_tool(tool, true), "{:?}", gw.tool_names());
    let id = json!("to-cancel");
    let call = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                      "params": {"name": tool, "arguments": {"ms": 30000}}});
    gw.child.send_json(&call).expect("written");
    // Until the upstream has the request.
    let deadline = Instant::now() + WAIT;
    while count_calls(record, "slow") == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
                        "params": {"requestId": id, "reason": "changed my mind"}});
    gw.child.send_json(&cancel).expect("written");
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        let seen = recorded(record);
        if seen
            .iter()
            .any(|m| m["method"] == "notifications/cancelled")
        {
            return seen;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!(
        "the upstream was never told; stderr:\n{}",
        gw.child.stderr()
    );
}

fn check(seen: &[Value]) {
    let call = seen
        .iter()
        .find(|m| m["method"] == "tools/call")
        .expect("the call reached the upstream");
    let cancelled = seen
        .iter()
        .find(|m| m["method"] == "notifications/cancelled")
        .expect("told");
    assert_eq!(cancelled["params"]["requestId"], call["id"], "{cancelled}");
}

#[test]
fn a_cancellation_reaches_a_stdio_upstream_under_its_request_id() {
    let dir = TempDir::new("gw-cancel-stdio-rec");
    let record = dir.join("record.jsonl").display().to_string();
    let servers = json!({"files": stdio(&["--record", &record])});
    let mut gw = Gateway::start("gw-cancel-stdio", servers, &[]);
    let seen = cancel_a_call(&mut gw, "files__slow", &record);
    check(&seen);
}

#[test]
fn a_cancellation_reaches_an_http_upstream_under_its_request_id() {
    let dir = TempDir::new("gw-cancel-http-rec");
    let record = dir.join("record.jsonl").display().to_string();
    let http = HttpFixture::start(&["--record", &record]);
    let mut gw = Gateway::start("gw-cancel-http", json!({"web": {"url": http.url}}), &[]);
    let seen = cancel_a_call(&mut gw, "web__slow", &record);
    check(&seen);
}
