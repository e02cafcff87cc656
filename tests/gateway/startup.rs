//! The first lists are complete: `tools/list`, `resources/list`,
//! `prompts/list` sent right after `initialize` wait (bounded by
//! `MOLECULE_MCP_STARTUP_WAIT_SECS`) for every upstream's first connect
//! attempt; a server still connecting after that joins with `list_changed`;
//! no list fails because some server is down or slow.

use serde_json::{json, Value};

use super::support::gateway::*;

/// The conformance upstream, started after `secs` seconds.
fn late(secs: u32) -> Value {
    let command = full(None)["command"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    json!({"command": "sh", "args": ["-c", format!("sleep {secs}; exec '{command}'")]})
}

#[test]
fn the_first_lists_wait_for_an_upstream_that_is_slow_to_start() {
    let mut gw = Gateway::start("gw-startup-wait", json!({"slow": late(1)}), &[]);
    // No polling: the very first answers are complete.
    assert!(gw
        .tool_names()
        .contains(&"slow__test_simple_text".to_string()));
    let prompts = gw.request("prompts/list", json!({}));
    assert!(listed(&prompts, "prompts", "name").contains(&"slow__test_simple_prompt".to_string()));
    let resources = gw.request("resources/list", json!({}));
    assert!(listed(&resources, "resources", "uri")
        .contains(&"molecule://slow/test://static-text".to_string()));
}

#[test]
fn the_wait_is_bounded_and_a_late_upstream_joins_with_list_changed() {
    let wait = [("MOLECULE_MCP_STARTUP_WAIT_SECS", "0.5")];
    let mut gw = Gateway::start("gw-startup-bounded", json!({"slow": late(4)}), &wait);
    assert!(!gw.tool_names().iter().any(|n| n.starts_with("slow__")));
    let prompts = gw.request("prompts/list", json!({}));
    assert_eq!(prompts["result"]["prompts"], json!([]), "{prompts}");
    assert!(gw.wait_notification("notifications/tools/list_changed", WAIT));
    assert!(gw.wait_tool("slow__test_simple_text", true));
}

#[test]
fn a_dead_or_hung_upstream_never_fails_the_lists() {
    let wait = [("MOLECULE_MCP_STARTUP_WAIT_SECS", "1")];
    let servers = json!({
        "dead": {"command": "/nonexistent/molecule-test-upstream"},
        // Never answers initialize.
        "hung": {"command": "sh", "args": ["-c", "sleep 60"]},
    });
    let mut gw = Gateway::start("gw-startup-dead", servers, &wait);
    for (method, list) in [
        ("resources/list", "resources"),
        ("resources/templates/list", "resourceTemplates"),
        ("prompts/list", "prompts"),
    ] {
        let answer = gw.request(method, json!({}));
        assert_eq!(answer["result"][list], json!([]), "{method}: {answer}");
    }
    assert!(gw.tool_names().is_empty());
}
