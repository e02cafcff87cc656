//! Start, serve, shut down: initialize is answered before upstreams are
//! up, gateway-only mode serves their tools unchanged, a broken servers
//! file stops the start, shutdown leaves no child behind, doctor reports
//! each upstream.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::support::gateway::*;
use super::support::launch;
use super::support::processes::*;
use super::support::{Child, TempDir};

#[test]
fn initialize_is_answered_at_once_while_an_upstream_is_slow_to_start() {
    let fixture = launch::example("fixture_stdio").display().to_string();
    // Far slower than start-up can be on a busy machine, so the checks
    // below always run before the upstream is up.
    let slow = json!({"command": "sh", "args": ["-c", format!("sleep 5; exec '{fixture}'")]});
    let started = Instant::now();
    // The first list waits for it only this long (see startup.rs).
    let wait = [("MOLECULE_MCP_STARTUP_WAIT_SECS", "0.3")];
    let mut gw = Gateway::start("gw-slow-start", json!({"slow": slow}), &wait);
    let answered = started.elapsed();
    assert!(
        answered < Duration::from_millis(2500),
        "initialize waited for the upstream: {answered:?}"
    );
    assert!(!gw.tool_names().iter().any(|t| t.starts_with("slow__")));
    assert!(gw.wait_notification("notifications/tools/list_changed", WAIT));
    assert!(gw.wait_tool("slow__echo", true));
}

#[test]
fn gateway_only_mode_offers_upstream_tools_and_passes_results_through() {
    let mut gw = Gateway::start("gw-only", json!({"files": stdio(&[])}), &[]);
    assert!(gw.wait_tool("files__add", true));
    let answer = gw.request("tools/list", json!({}));
    let tools = answer["result"]["tools"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(!tools.is_empty());
    assert!(
        tools
            .iter()
            .all(|t| t["name"].as_str().is_some_and(|n| n.starts_with("files__"))),
        "only upstream tools without a platform: {tools:?}"
    );
    let echo = tools
        .iter()
        .find(|t| t["name"] == "files__echo")
        .expect("echo");
    assert_eq!(echo["annotations"], json!({"readOnlyHint": true}));
    assert_eq!(echo["inputSchema"]["required"], json!(["text"]));
    let add = tools
        .iter()
        .find(|t| t["name"] == "files__add")
        .expect("add");
    assert_eq!(add["outputSchema"]["required"], json!(["sum"]));

    let answer = gw.call("files__add", json!({"a": 2, "b": 3}));
    assert_eq!(
        answer["result"],
        json!({"content": [{"type": "text", "text": "5"}], "isError": false,
               "structuredContent": {"sum": 5.0}})
    );
    let unknown = gw.call("files__nope", json!({}));
    assert_eq!(
        unknown.pointer("/error/code"),
        Some(&json!(-32602)),
        "{unknown}"
    );
    let unknown = gw.call("nobody__echo", json!({}));
    assert_eq!(
        unknown.pointer("/error/code"),
        Some(&json!(-32602)),
        "{unknown}"
    );
}

#[test]
fn a_malformed_servers_file_exits_2_naming_the_place() {
    let dir = TempDir::new("gw-bad-file");
    let path = dir.join("servers.json");
    std::fs::write(&path, "{\"mcpServers\": {\n  \"a\": }\n}").expect("write");
    let shown = path.display().to_string();
    let mut child = Child::spawn(dir.path(), &[("MOLECULE_MCP_SERVERS", &shown)]);
    let status = child.wait_exit(WAIT).expect("exits");
    assert_eq!(status.code(), Some(2), "stderr: {}", child.stderr());
    // The pipe may still hold the text when the exit is seen.
    let place = format!("{shown}:2:");
    assert!(
        child.wait_stderr_contains(&place, WAIT),
        "{place} missing: {}",
        child.stderr()
    );
}

#[test]
fn shutdown_during_backoff_starts_no_reconnect_and_leaves_no_child() {
    let dir = TempDir::new("gw-shutdown");
    let marker = dir.path().display().to_string();
    let good_rec = dir.join("good.jsonl").display().to_string();
    let bad_rec = dir.join("bad.jsonl").display().to_string();
    let bad = with(
        stdio(&["--record", &bad_rec, "--fail-initialize"]),
        "breaker",
        json!({"threshold": 3, "cooldownSecs": 0.2, "maxCooldownSecs": 0.4,
               "parkAfter": 50, "parkProbeSecs": 60}),
    );
    let servers = json!({"good": stdio(&["--record", &good_rec]), "bad": bad});
    let mut gw = Gateway::start_in(dir, servers, &[]);
    assert!(gw.wait_tool("good__echo", true));
    assert!(
        eventually(WAIT, || count_method(&bad_rec, "initialize") >= 3),
        "in backoff"
    );
    assert!(!processes_with(&marker).is_empty());

    gw.child.close_stdin();
    let status = gw.child.wait_exit(WAIT).expect("exits");
    assert_eq!(status.code(), Some(0), "stderr: {}", gw.child.stderr());
    let attempts = count_method(&bad_rec, "initialize");
    assert!(
        eventually(WAIT, || processes_with(&marker).is_empty()),
        "children left: {:?}",
        processes_with(&marker)
    );
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(
        count_method(&bad_rec, "initialize"),
        attempts,
        "no reconnect"
    );
}

#[test]
fn doctor_reports_each_upstream() {
    let dir = TempDir::new("gw-doctor");
    let servers = json!({"mcpServers": {
        "good": stdio(&["--name", "fine"]),
        "missing": {"command": dir.join("no-such-command").display().to_string()},
        "off": with(stdio(&[]), "enabled", json!(false)),
    }});
    let path = dir.join("servers.json");
    std::fs::write(&path, servers.to_string()).expect("write");
    let shown = path.display().to_string();
    let started = Instant::now();
    let mut child = Child::spawn_args(&["doctor"], dir.path(), &[("MOLECULE_MCP_SERVERS", &shown)]);
    let status = child
        .wait_exit(Duration::from_secs(60))
        .expect("doctor ends");
    // Each upstream is checked within its connect timeout (30 s), at once.
    assert!(
        started.elapsed() < Duration::from_secs(40),
        "{:?}",
        started.elapsed()
    );
    let mut out = String::new();
    while let Some(line) = child.recv_line(Duration::from_millis(200)) {
        out.push_str(&line);
        out.push('\n');
    }
    assert_eq!(
        status.code(),
        Some(1),
        "a failed server fails doctor:\n{out}"
    );
    let line = |start: &str| out.lines().find(|l| l.starts_with(start)).map(String::from);
    let good = line("OK   upstream good").unwrap_or_else(|| panic!("{out}"));
    assert!(good.contains("fine") && good.contains("tool"), "{good}");
    assert!(line("FAIL upstream missing").is_some(), "{out}");
    assert!(
        line("OK   upstream off").is_some_and(|l| l.contains("disabled")),
        "{out}"
    );
}

#[test]
fn an_upstreams_list_change_is_passed_on() {
    let dir = TempDir::new("gw-list-changed");
    let ctl = dir.join("control.json").display().to_string();
    let servers = json!({"files": stdio(&["--control", &ctl])});
    let mut gw = Gateway::start_in(dir, servers, &[]);
    assert!(gw.wait_tool("files__add", true));
    gw.drain();
    control(&ctl, json!({"tools": ["echo"], "list_changed": true}), 0);
    // The fixture reads its control file when a message arrives.
    assert!(echoed(&gw.call("files__echo", json!({"text": "t"})), "t"));
    assert!(gw.wait_notification("notifications/tools/list_changed", WAIT));
    assert!(gw.wait_tool("files__add", false));
    let names: Vec<Value> = gw.tool_names().into_iter().map(Value::from).collect();
    assert_eq!(names, [json!("files__echo")]);
}

#[test]
fn an_idle_upstream_is_pinged_and_a_failed_ping_counts() {
    let dir = TempDir::new("gw-keepalive");
    let rec = dir.join("rec.jsonl").display().to_string();
    let ctl = dir.join("control.json").display().to_string();
    let breaker = json!({"threshold": 1, "cooldownSecs": 30, "maxCooldownSecs": 30,
                         "parkAfter": 10, "parkProbeSecs": 60});
    let entry = with(
        stdio(&["--record", &rec, "--control", &ctl]),
        "breaker",
        breaker,
    );
    let mut gw = Gateway::start_in(
        dir,
        json!({"files": entry}),
        &[("MOLECULE_MCP_KEEPALIVE_SECS", "0.3")],
    );
    assert!(gw.wait_tool("files__echo", true));
    assert!(
        eventually(WAIT, || count_method(&rec, "ping") >= 2),
        "idle pings"
    );
    control(&ctl, json!({"fail_5xx": true}), 0);
    assert!(
        gw.child
            .wait_stderr_contains("upstream files: unreachable", WAIT),
        "a failed keep-alive opens the breaker (threshold 1)"
    );
    let answer = gw.call("files__echo", json!({"text": "x"}));
    assert!(text(&answer).contains("unreachable"), "{answer}");
}

#[test]
fn a_misconfigured_server_is_parked_and_the_others_run() {
    let dir = TempDir::new("gw-misconfigured");
    let servers = json!({
        "good": stdio(&[]),
        "broken": {"command": 42},
        "unset": stdio(&["--name", "${MOLECULE_TEST_SURELY_UNSET}"]),
    });
    let mut gw = Gateway::start_in(dir, servers, &[]);
    assert!(gw.wait_tool("good__echo", true));
    let answer = gw.call("broken__echo", json!({}));
    assert!(is_error(&answer), "{answer}");
    assert!(
        text(&answer).contains("not configured correctly"),
        "{answer}"
    );
    assert!(gw
        .child
        .wait_stderr_contains("upstream broken: parked (configuration error", WAIT));
    // An unset variable is found at connect time: parked, named, no crash.
    assert!(gw
        .child
        .wait_stderr_contains("upstream unset: parked", WAIT));
    assert!(gw.child.stderr().contains("MOLECULE_TEST_SURELY_UNSET"));
    let answer = gw.call("unset__echo", json!({}));
    assert!(
        is_error(&answer) && text(&answer).contains("parked"),
        "{answer}"
    );
    assert!(echoed(&gw.call("good__echo", json!({"text": "ok"})), "ok"));
}

#[test]
fn an_http_upstream_restarted_on_its_port_is_reconnected_with_a_new_session() {
    // A restarted server knows none of the old session ids: the probe's
    // ping on the old session is rejected as expired, and the probe must
    // then start a new session instead of failing until the server parks.
    for expiry in ["404", "400"] {
        let first = launch::HttpFixture::start(&["--expiry", expiry]);
        let port = first.port.to_string();
        let servers = json!({"web": with(
            json!({"url": first.url}),
            "breaker",
            json!({"threshold": 1, "cooldownSecs": 0.2, "maxCooldownSecs": 0.4, "parkAfter": 3}),
        )});
        let mut gw = Gateway::start(&format!("gw-http-restart-{expiry}"), servers, &[]);
        assert!(gw.wait_tool("web__echo", true), "{expiry}");
        assert!(echoed(&gw.call("web__echo", json!({"text": "a"})), "a"));
        drop(first);
        let down = gw.call("web__echo", json!({"text": "down"}));
        assert!(is_error(&down), "{expiry}: {down}");
        let _second = launch::HttpFixture::start_exact(&["--port", &port, "--expiry", expiry]);
        let (last, ok) = gw.call_until("web__echo", json!({"text": "b"}), WAIT, |a| echoed(a, "b"));
        assert!(
            ok,
            "{expiry}: never reconnected: {last}\n{}",
            gw.child.stderr()
        );
        assert!(
            !gw.child.stderr().contains("parked"),
            "{expiry}: parked instead of renewing the session:\n{}",
            gw.child.stderr()
        );
    }
}

#[test]
fn eof_with_a_call_hanging_upstream_exits_within_two_seconds_leaving_no_child() {
    let dir = TempDir::new("gw-eof-hang");
    let marker = dir.path().display().to_string();
    let rec = dir.join("rec.jsonl").display().to_string();
    let servers = json!({"files": stdio(&["--record", &rec])});
    let mut gw = Gateway::start_in(dir, servers, &[]);
    assert!(gw.wait_tool("files__hang", true));
    gw.child
        .send_json(
            &json!({"jsonrpc": "2.0", "id": "stuck", "method": "tools/call",
            "params": {"name": "files__hang", "arguments": {}}}),
        )
        .expect("stdin");
    assert!(eventually(WAIT, || count_calls(&rec, "hang") == 1));
    let asked = Instant::now();
    gw.child.close_stdin();
    let status = gw.child.wait_exit(Duration::from_secs(5)).expect("exits");
    let took = asked.elapsed();
    assert_eq!(status.code(), Some(0));
    assert!(took < Duration::from_millis(2500), "shutdown took {took:?}");
    assert!(
        processes_with(&marker).is_empty(),
        "children left: {:?}",
        processes_with(&marker)
    );
}

#[test]
fn an_http_upstream_rejecting_initialize_with_401_is_parked_for_auth() {
    // Two 401s at connect (the second after the one reconnect with fresh
    // credentials) must not leave the server closed with no session and
    // nothing calling it: the breaker opens, its probe counts the third.
    let fixture = launch::HttpFixture::start(&["--status", "401"]);
    let servers = json!({"web": with(json!({"url": fixture.url}), "breaker", quick_breaker())});
    let mut gw = Gateway::start("gw-http-401", servers, &[]);
    assert!(
        gw.child
            .wait_stderr_contains("upstream web: parked, credentials rejected", WAIT),
        "never parked for auth:\n{}",
        gw.child.stderr()
    );
    let answer = gw.call("web__echo", json!({"text": "x"}));
    assert!(is_error(&answer), "{answer}");
}

#[test]
fn a_keepalive_finding_the_session_expired_renews_it_without_a_failure() {
    let dir = TempDir::new("gw-keepalive-expired");
    let rec = dir.join("rec.jsonl").display().to_string();
    let fixture = launch::HttpFixture::start(&["--record", &rec, "--expire-session-after", "1"]);
    let breaker = json!({"threshold": 1, "cooldownSecs": 30, "maxCooldownSecs": 30,
                         "parkAfter": 10, "parkProbeSecs": 60});
    let servers = json!({"web": with(json!({"url": fixture.url}), "breaker", breaker)});
    let mut gw = Gateway::start_in(dir, servers, &[("MOLECULE_MCP_KEEPALIVE_SECS", "0.3")]);
    assert!(gw.wait_tool("web__echo", true));
    assert!(echoed(&gw.call("web__echo", json!({"text": "a"})), "a"));
    assert!(
        eventually(WAIT, || count_method(&rec, "initialize") >= 2),
        "the expired idle session was not renewed:\n{}",
        gw.child.stderr()
    );
    // Let the new session's own keep-alive run too.
    assert!(eventually(WAIT, || count_method(&rec, "ping") >= 2));
    assert!(
        !gw.child.stderr().contains("unreachable"),
        "an expired idle session counted as a failure:\n{}",
        gw.child.stderr()
    );
    assert!(echoed(&gw.call("web__echo", json!({"text": "b"})), "b"));
}
