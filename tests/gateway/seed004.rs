//! Seed 004: a server that dies or keeps failing is cut off by its breaker
//! and always comes back: the breaker opens, probes after its cooldown,
//! closes on success; a dead child is respawned by the probe; after the
//! probe budget the server parks (tools hidden) and a call or the park
//! timer revives it.

use serde_json::json;

use super::support::gateway::*;
use super::support::processes::*;

#[test]
fn the_breaker_rejects_after_the_threshold_and_one_probe_closes_it() {
    let dir = super::support::TempDir::new("gw-breaker");
    let rec = dir.join("rec.jsonl").display().to_string();
    let ctl = dir.join("control.json").display().to_string();
    let breaker = json!({"threshold": 3, "cooldownSecs": 1.5, "maxCooldownSecs": 1.5,
                         "parkAfter": 10, "parkProbeSecs": 60});
    let entry = with(
        stdio(&["--record", &rec, "--control", &ctl]),
        "breaker",
        breaker,
    );
    let mut gw = Gateway::start_in(dir, json!({"files": entry}), &[]);
    assert!(gw.wait_tool("files__echo", true));

    control(&ctl, json!({"fail_5xx": true}), 0);
    for n in 0..3 {
        let answer = gw.call("files__echo", json!({"text": "x"}));
        assert!(is_error(&answer), "call {n}: {answer}");
        assert!(!text(&answer).contains("unreachable"), "call {n}: {answer}");
    }
    assert_eq!(count_calls(&rec, "echo"), 3);

    // Open: the call probes at once (recovery on demand); the probe fails
    // too, so the call is refused without reaching the server.
    let answer = gw.call("files__echo", json!({"text": "x"}));
    let said = text(&answer);
    assert!(is_error(&answer) && said.contains("unreachable"), "{said}");
    assert!(said.contains("do not retry now"), "{said}");
    assert!(said.contains("4 failures"), "{said}");
    assert_eq!(count_method(&rec, "ping"), 1, "one probe for the call");
    assert_eq!(
        count_calls(&rec, "echo"),
        3,
        "rejected calls never reach it"
    );

    // After the cooldown one probe runs; it fails and the breaker re-arms:
    // calls are still refused without reaching the server.
    assert!(eventually(WAIT, || count_method(&rec, "ping") >= 1));
    let answer = gw.call("files__echo", json!({"text": "x"}));
    let said = text(&answer);
    assert!(
        said.contains("unreachable") || said.contains("reconnecting"),
        "{said}"
    );
    assert_eq!(count_calls(&rec, "echo"), 3);

    // The server recovers; the next probe succeeds and calls go through.
    control(&ctl, json!({"fail_5xx": false}), 1);
    let (answer, ok) = gw.call_until("files__echo", json!({"text": "back"}), WAIT, |a| {
        echoed(a, "back")
    });
    assert!(ok, "{answer}");
    let pings = count_method(&rec, "ping");
    assert!(
        (2..=12).contains(&pings),
        "one probe per cooldown, not a flood: {pings}"
    );
}

#[test]
fn a_dead_child_is_respawned_by_the_probe() {
    let dir = super::support::TempDir::new("gw-dead-child");
    let rec = dir.join("rec.jsonl").display().to_string();
    let entry = with(stdio(&["--record", &rec]), "breaker", quick_breaker());
    let mut gw = Gateway::start_in(dir, json!({"files": entry}), &[]);
    assert!(gw.wait_tool("files__echo", true));

    gw.restart_child();
    let (answer, ok) = gw.call_until("files__echo", json!({"text": "again"}), WAIT, |a| {
        echoed(a, "again")
    });
    assert!(ok, "{answer}");
    assert_eq!(count_method(&rec, "initialize"), 2);
    assert!(
        gw.child
            .wait_stderr_contains("upstream files: unreachable", WAIT),
        "one warning when it died"
    );
    // The warning quotes the dead child's last stderr lines.
    let warning = gw.child.stderr_line("upstream files: unreachable");
    assert!(
        warning.contains("its last stderr lines") && warning.contains("fixture"),
        "{warning}"
    );
}

#[test]
fn a_parked_server_hides_its_tools_and_a_call_or_the_timer_revives_it() {
    let dir = super::support::TempDir::new("gw-park");
    let rec = dir.join("rec.jsonl").display().to_string();
    let ctl = dir.join("control.json").display().to_string();
    let breaker = json!({"threshold": 1, "cooldownSecs": 0.2, "maxCooldownSecs": 0.2,
                         "parkAfter": 2, "parkProbeSecs": 2});
    let entry = with(
        stdio(&["--record", &rec, "--control", &ctl]),
        "breaker",
        breaker,
    );
    let servers = json!({"files": entry, "other": stdio(&[])});
    let mut gw = Gateway::start_in(dir, servers, &[]);
    assert!(gw.wait_tool("files__echo", true));
    assert!(gw.wait_tool("other__echo", true));

    // Failing: open, two failed probes, parked; the tools leave the list
    // with a list_changed.
    control(&ctl, json!({"fail_5xx": true}), 0);
    gw.drain();
    assert!(is_error(&gw.call("files__echo", json!({"text": "x"}))));
    assert!(gw.wait_notification("notifications/tools/list_changed", WAIT));
    assert!(
        gw.wait_tool("files__echo", false),
        "parked tools are hidden"
    );
    assert!(gw.tool_names().iter().any(|t| t == "other__echo"));
    assert!(gw
        .child
        .wait_stderr_contains("upstream files: parked", WAIT));

    // A call revives it: refused now, the tools come back, calls succeed.
    control(&ctl, json!({"fail_5xx": false}), 1);
    let answer = gw.call("files__echo", json!({"text": "x"}));
    let said = text(&answer);
    assert!(is_error(&answer) && said.contains("parked"), "{said}");
    assert!(said.contains("revive"), "{said}");
    assert!(gw.wait_tool("files__echo", true), "revived");
    assert!(echoed(&gw.call("files__echo", json!({"text": "y"})), "y"));

    // Parked again; this time nobody calls: the park timer revives it.
    control(&ctl, json!({"fail_5xx": true}), 2);
    assert!(is_error(&gw.call("files__echo", json!({"text": "x"}))));
    assert!(gw.wait_tool("files__echo", false));
    control(&ctl, json!({"fail_5xx": false}), 3);
    assert!(gw.wait_tool("files__echo", true), "the timer revived it");
}

#[test]
fn tool_errors_never_open_the_breaker() {
    let dir = super::support::TempDir::new("gw-tool-errors");
    let rec = dir.join("rec.jsonl").display().to_string();
    let breaker = json!({"threshold": 2, "cooldownSecs": 30, "maxCooldownSecs": 30,
                         "parkAfter": 10, "parkProbeSecs": 60});
    let entry = with(stdio(&["--record", &rec]), "breaker", breaker);
    let mut gw = Gateway::start_in(dir, json!({"files": entry}), &[]);
    assert!(gw.wait_tool("files__fail", true));
    for _ in 0..5 {
        let answer = gw.call("files__fail", json!({}));
        assert!(is_error(&answer), "{answer}");
        // Passed through unchanged: the tool's own words.
        assert_eq!(text(&answer), "the tool failed, as it always does");
    }
    assert_eq!(
        count_calls(&rec, "fail"),
        5,
        "every call reached the server"
    );
    assert!(echoed(&gw.call("files__echo", json!({"text": "ok"})), "ok"));
}

#[test]
fn a_child_killed_mid_call_gives_an_uncertain_outcome_then_comes_back() {
    let dir = super::support::TempDir::new("gw-killed");
    let rec = dir.join("rec.jsonl").display().to_string();
    let marker = dir.join("crashed-once").display().to_string();
    let entry = with(stdio(&["--record", &rec]), "breaker", quick_breaker());
    let mut gw = Gateway::start_in(dir, json!({"files": entry}), &[]);
    assert!(gw.wait_tool("files__slow", true));

    // SIGKILL while a call runs.
    let id = json!("slow-1");
    gw.child
        .send_json(&json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                           "params": {"name": "files__slow", "arguments": {"ms": 30000}}}))
        .expect("send");
    assert!(eventually(WAIT, || count_calls(&rec, "slow") == 1));
    let pid = children_of(gw.child.pid());
    assert_eq!(pid.len(), 1);
    kill9(pid[0]);
    let answer = gw.child.wait_answer(&id, WAIT).expect("an answer");
    assert!(is_error(&answer), "{answer}");
    assert!(text(&answer).contains("uncertain"), "{answer}");
    assert_eq!(count_calls(&rec, "slow"), 1, "not replayed");
    let (answer, ok) = gw.call_until("files__echo", json!({"text": "fine"}), WAIT, |a| {
        echoed(a, "fine")
    });
    assert!(ok, "{answer}");

    // A read-only tool lost the same way is replayed once on the respawned
    // child (the marker makes the second run survive).
    let answer = gw.call("files__readonly_crash", json!({"marker": marker}));
    assert_eq!(text(&answer), "survived: the marker exists", "{answer}");
    assert_eq!(count_calls(&rec, "readonly_crash"), 2);
}

#[test]
fn a_hung_child_times_out_is_told_and_counts_against_the_breaker() {
    let dir = super::support::TempDir::new("gw-hung");
    let rec = dir.join("rec.jsonl").display().to_string();
    let breaker = json!({"threshold": 2, "cooldownSecs": 30, "maxCooldownSecs": 30,
                         "parkAfter": 10, "parkProbeSecs": 60});
    let entry = with(
        with(stdio(&["--record", &rec]), "breaker", breaker),
        "timeout",
        json!(1),
    );
    let mut gw = Gateway::start_in(dir, json!({"files": entry}), &[]);
    assert!(gw.wait_tool("files__hang", true));
    for _ in 0..2 {
        let answer = gw.call("files__hang", json!({}));
        assert!(
            is_error(&answer) && text(&answer).contains("no answer within 1 seconds"),
            "{answer}"
        );
    }
    assert!(eventually(WAIT, || count_method(
        &rec,
        "notifications/cancelled"
    ) == 2));
    let cancelled: Vec<_> = recorded(&rec)
        .into_iter()
        .filter(|m| m["method"] == "notifications/cancelled")
        .collect();
    assert!(
        cancelled
            .iter()
            .all(|m| m.pointer("/params/requestId").is_some()),
        "{cancelled:?}"
    );
    // Two timeouts opened the breaker.
    assert!(gw
        .child
        .wait_stderr_contains("upstream files: unreachable", WAIT));
    // The next call probes at once (recovery on demand): the child still
    // answers a ping, so the breaker closes and the call goes through.
    let answer = gw.call("files__echo", json!({"text": "x"}));
    assert!(echoed(&answer, "x"), "{answer}");
    assert_eq!(count_method(&rec, "ping"), 1);
}
