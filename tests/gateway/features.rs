//! The rest of MCP through the gateway: upstream log notes reach the agent
//! (named after the server, filtered by `logging/setLevel`) before the
//! call's result; `completion/complete` goes to the server owning the ref;
//! gateway-only mode says what it is and claims no platform feature.

use serde_json::{json, Value};

use super::support::gateway::*;
use super::support::TempDir;

/// Calls `tool` and returns the log notes that arrived before its answer,
/// and the answer.
fn notes_before_answer(gw: &mut Gateway, tool: &str) -> (Vec<Value>, Value) {
    let id = json!("logged");
    let call = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                      "params": {"name": tool, "arguments": {}}});
    gw.child.send_json(&call).expect("written");
    let mut notes = Vec::new();
    while let Some(message) = gw.child.recv_json(WAIT) {
        if message.get("id") == Some(&id) {
            return (notes, message);
        }
        if message["method"] == "notifications/message" {
            notes.push(message["params"].clone());
        }
    }
    panic!("no answer to {tool}; stderr:\n{}", gw.child.stderr());
}

#[test]
fn upstream_log_notes_reach_the_agent_before_the_result_and_follow_its_level() {
    let mut gw = Gateway::start("gw-logging", json!({"conf": full(None)}), &[]);
    assert!(gw.wait_tool("conf__test_tool_with_logging", true));
    let (notes, answer) = notes_before_answer(&mut gw, "conf__test_tool_with_logging");
    assert!(!is_error(&answer), "{answer}");
    let data: Vec<&str> = notes.iter().filter_map(|n| n["data"].as_str()).collect();
    assert_eq!(
        data,
        [
            "Tool execution started",
            "Tool processing data",
            "Tool execution completed"
        ]
    );
    assert!(notes
        .iter()
        .all(|n| n["logger"] == "conf/conformance" && n["level"] == "info"));

    let set = gw.request("logging/setLevel", json!({"level": "error"}));
    assert_eq!(set["result"], json!({}), "{set}");
    let (notes, _) = notes_before_answer(&mut gw, "conf__test_tool_with_logging");
    assert!(notes.is_empty(), "{notes:?}");
    let bad = gw.request("logging/setLevel", json!({"level": "loud"}));
    assert_eq!(bad["error"]["code"], -32602, "{bad}");
}

#[test]
fn completions_go_to_the_server_that_owns_the_ref() {
    let mut gw = Gateway::start("gw-complete", json!({"conf": full(None)}), &[]);
    assert!(gw.wait_tool("conf__test_simple_text", true));
    let by_prompt = gw.request(
        "completion/complete",
        json!({"ref": {"type": "ref/prompt", "name": "conf__test_prompt_with_arguments"},
               "argument": {"name": "arg1", "value": "par"}}),
    );
    assert_eq!(
        by_prompt["result"]["completion"]["values"],
        json!(["paris", "park", "party"]),
        "{by_prompt}"
    );
    let by_template = gw.request(
        "completion/complete",
        json!({"ref": {"type": "ref/resource", "uri": "molecule://conf/test://template/{id}/data"},
               "argument": {"name": "id", "value": "park"}}),
    );
    assert_eq!(
        by_template["result"]["completion"]["values"],
        json!(["park"]),
        "{by_template}"
    );
    let unknown = gw.request(
        "completion/complete",
        json!({"ref": {"type": "ref/prompt", "name": "nobody__x"}, "argument": {"name": "a", "value": ""}}),
    );
    assert_eq!(unknown["error"]["code"], -32602, "{unknown}");
}

#[test]
fn gateway_only_mode_has_its_own_instructions_and_no_platform_capability() {
    let dir = TempDir::new("gw-only-init");
    let servers = dir.join("servers.json");
    let file = json!({"mcpServers": {"conf": full(None)}});
    std::fs::write(&servers, file.to_string()).expect("written");
    let servers = servers.display().to_string();
    let mut child =
        super::support::Child::spawn(dir.path(), &[("MOLECULE_MCP_SERVERS", servers.as_str())]);
    let result = child.initialize("gateway-only");
    let instructions = result["instructions"].as_str().unwrap_or_default();
    assert!(
        instructions.contains("several MCP servers"),
        "{instructions}"
    );
    assert!(!instructions.contains("wait_for_message"), "{instructions}");
    let capabilities = &result["capabilities"];
    assert!(capabilities.get("experimental").is_none(), "{capabilities}");
    assert_eq!(capabilities["logging"], json!({}));
    assert_eq!(capabilities["completions"], json!({}));
}

#[test]
fn subscriptions_are_routed_and_updates_come_back_with_the_agents_uri() {
    let mut gw = Gateway::start("gw-subscribe", json!({"conf": full(None)}), &[]);
    assert!(gw.wait_tool("conf__test_simple_text", true));
    let uri = "molecule://conf/test://watched-resource";
    let answer = gw.request("resources/subscribe", json!({"uri": uri}));
    assert_eq!(answer["result"], json!({}), "{answer}");
    let mut updated = None;
    while let Some(message) = gw.child.recv_json(WAIT) {
        if message["method"] == "notifications/resources/updated" {
            updated = Some(message);
            break;
        }
    }
    let updated = updated.expect("an update notification");
    assert_eq!(updated["params"]["uri"], uri, "{updated}");
    let answer = gw.request("resources/unsubscribe", json!({"uri": uri}));
    assert_eq!(answer["result"], json!({}), "{answer}");
    let unknown = gw.request("resources/subscribe", json!({"uri": "molecule://nobody/x"}));
    assert_eq!(unknown["error"]["code"], -32602, "{unknown}");
}

/// Calls `tool` with a progress token; the progress values that arrived
/// before the answer, and whether any arrived after it.
fn progress_of(gw: &mut Gateway, tool: &str, round: usize) -> (Vec<f64>, bool) {
    let id = json!(format!("progress-{round}"));
    let token = json!(format!("token-{round}"));
    let call = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": tool, "arguments": {}, "_meta": {"progressToken": token}}});
    gw.child.send_json(&call).expect("written");
    let mut values = Vec::new();
    let mut answered = false;
    let mut late = false;
    let deadline = std::time::Instant::now() + WAIT;
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        // After the answer, a short look for stragglers.
        let wait = if answered {
            std::time::Duration::from_millis(200)
        } else {
            left
        };
        let Some(message) = gw.child.recv_json(wait) else {
            break;
        };
        if message.get("id") == Some(&id) {
            answered = true;
        } else if message["method"] == "notifications/progress"
            && message["params"]["progressToken"] == token
        {
            if answered {
                late = true;
            }
            values.extend(message["params"]["progress"].as_f64());
        }
    }
    assert!(
        answered,
        "no answer to {tool}; stderr:\n{}",
        gw.child.stderr()
    );
    (values, late)
}

#[test]
fn every_progress_note_comes_before_the_result_in_increasing_order() {
    let mut gw = Gateway::start("gw-progress", json!({"conf": full(Some(""))}), &[]);
    assert!(gw.wait_tool("test_tool_with_progress", true));
    for round in 0..20 {
        let (values, late) = progress_of(&mut gw, "test_tool_with_progress", round);
        assert!(!late, "round {round}: progress after the result");
        assert_eq!(values, [0.0, 50.0, 100.0], "round {round}");
    }
}
