//! What the agent set up on an upstream outlives that upstream's session:
//! after a restart its subscriptions are made again and it is told the
//! agent's logging level.

use std::time::{Duration, Instant};

use serde_json::json;

use super::support::gateway::*;
use super::support::TempDir;

/// Whether `notifications/resources/updated` for `uri` arrives within WAIT.
fn updated(gw: &mut Gateway, uri: &str) -> bool {
    let deadline = Instant::now() + WAIT;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        let Some(message) = gw.child.recv_json(left) else {
            return false;
        };
        if message["method"] == "notifications/resources/updated" && message["params"]["uri"] == uri
        {
            return true;
        }
    }
    false
}

#[test]
fn a_subscription_is_made_again_on_the_session_after_a_restart() {
    let entry = with(full(None), "breaker", quick_breaker());
    let mut gw = Gateway::start("gw-resubscribe", json!({"conf": entry}), &[]);
    assert!(gw.wait_tool("conf__test_simple_text", true));
    let uri = "molecule://conf/test://watched-resource";
    let answer = gw.request("resources/subscribe", json!({"uri": uri}));
    assert_eq!(answer["result"], json!({}), "{answer}");
    assert!(updated(&mut gw, uri), "no update before the restart");

    // The fixture sends one update right after each subscribe it gets, so
    // an update now means the new process was subscribed again.
    gw.restart_child();
    assert!(
        updated(&mut gw, uri),
        "no update after the restart; stderr:\n{}",
        gw.child.stderr()
    );

    // Unsubscribed, it is not made again.
    let answer = gw.request("resources/unsubscribe", json!({"uri": uri}));
    assert_eq!(answer["result"], json!({}), "{answer}");
    gw.drain();
    gw.restart_child();
    assert!(gw.wait_tool("conf__test_simple_text", true));
    assert!(!updated_soon(&mut gw, uri), "an unsubscribed URI came back");
}

fn updated_soon(gw: &mut Gateway, uri: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(1);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match gw.child.recv_json(left) {
            Some(m) if m["method"] == "notifications/resources/updated" => {
                return m["params"]["uri"] == uri
            }
            Some(_) => {}
            None => return false,
        }
    }
    false
}

#[test]
fn the_agents_log_level_is_sent_to_an_upstream_that_connects_after_it_was_set() {
    let dir = TempDir::new("gw-relevel");
    let record = dir.join("rec.jsonl").display().to_string();
    let entry = with(stdio(&["--record", &record]), "breaker", quick_breaker());
    let mut gw = Gateway::start_in(dir, json!({"files": entry}), &[]);
    assert!(gw.wait_tool("files__echo", true));
    let set = gw.request("logging/setLevel", json!({"level": "error"}));
    assert_eq!(set["result"], json!({}), "{set}");
    assert!(eventually(WAIT, || count_method(
        &record,
        "logging/setLevel"
    ) == 1));

    gw.restart_child();
    assert!(
        eventually(WAIT, || count_method(&record, "logging/setLevel") == 2),
        "the new process was not told the level; stderr:\n{}",
        gw.child.stderr()
    );
    let sent: Vec<_> = recorded(&record)
        .into_iter()
        .filter(|m| m["method"] == "logging/setLevel")
        .collect();
    assert!(
        sent.iter().all(|m| m["params"]["level"] == "error"),
        "{sent:?}"
    );
}
