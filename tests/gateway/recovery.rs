//! Coming back: a stdio child that is alive but no longer answers is ended
//! and replaced, and a call to a server whose breaker is open probes at
//! once instead of being told to come back after the cooldown.

use std::time::Duration;

use serde_json::json;

use super::support::gateway::*;
use super::support::launch;
use super::support::processes::*;

#[test]
fn a_child_that_stops_answering_is_ended_and_a_new_one_started() {
    let dir = super::support::TempDir::new("gw-frozen");
    let rec = dir.join("rec.jsonl").display().to_string();
    let ctl = dir.join("control.json").display().to_string();
    let entry = stdio(&["--record", &rec, "--control", &ctl]);
    let entry = with(entry, "breaker", quick_breaker());
    let entry = with(with(entry, "timeout", json!(1)), "connectTimeout", json!(1));
    let mut gw = Gateway::start_in(dir, json!({"files": entry}), &[]);
    assert!(gw.wait_tool("files__echo", true));
    let first = children_of(gw.child.pid());
    assert_eq!(first.len(), 1, "{first:?}");

    // Alive, reading its stdin, answering nothing.
    control(&ctl, json!({"frozen": true}), 0);
    for n in 0..3 {
        let answer = gw.call("files__echo", json!({"text": "x"}));
        assert!(is_error(&answer), "call {n}: {answer}");
    }
    assert!(
        gw.child.wait_stderr_contains("no longer answers", WAIT),
        "the hung child was never given up on:\n{}",
        gw.child.stderr()
    );
    assert!(
        eventually(WAIT, || !children_of(gw.child.pid()).contains(&first[0])),
        "the hung child {} still runs",
        first[0]
    );

    control(&ctl, json!({"frozen": false}), 1);
    let (answer, ok) = gw.call_until("files__echo", json!({"text": "back"}), WAIT, |a| {
        echoed(a, "back")
    });
    assert!(ok, "{answer}\n{}", gw.child.stderr());
    let now = children_of(gw.child.pid());
    assert!(now.len() == 1 && now[0] != first[0], "{first:?} -> {now:?}");
}

#[test]
fn a_call_to_a_server_that_is_back_probes_at_once_instead_of_waiting_out_the_cooldown() {
    let first = launch::HttpFixture::start(&[]);
    let port = first.port.to_string();
    // A cooldown far longer than the test: only a probe started by the
    // call itself can bring the server back in time.
    let breaker = json!({"threshold": 1, "cooldownSecs": 120, "maxCooldownSecs": 120,
                         "parkAfter": 10, "parkProbeSecs": 600});
    let servers = json!({"web": with(json!({"url": first.url}), "breaker", breaker)});
    let mut gw = Gateway::start("gw-on-demand", servers, &[]);
    assert!(gw.wait_tool("web__echo", true));
    assert!(echoed(&gw.call("web__echo", json!({"text": "a"})), "a"));

    drop(first);
    let down = gw.call("web__echo", json!({"text": "down"}));
    assert!(is_error(&down), "{down}");
    assert!(gw
        .child
        .wait_stderr_contains("upstream web: unreachable", WAIT));

    let _second = launch::HttpFixture::start_exact(&["--port", &port]);
    // Past the one-probe-a-second limit, each call may probe; a few tries
    // allow for a loaded machine, all far inside the 120 s cooldown.
    let mut answer = json!(null);
    for _ in 0..5 {
        std::thread::sleep(Duration::from_millis(1100));
        answer = gw.call("web__echo", json!({"text": "b"}));
        if echoed(&answer, "b") {
            break;
        }
    }
    assert!(echoed(&answer, "b"), "{answer}\n{}", gw.child.stderr());
}

#[test]
fn a_dead_server_that_keeps_being_called_is_not_parked_by_the_calls_probes() {
    let first = launch::HttpFixture::start(&[]);
    // Only the scheduled probes (none within the test: the cooldown is 120 s)
    // count towards parkAfter; the calls' own probes must not park it.
    let breaker = json!({"threshold": 1, "cooldownSecs": 120, "maxCooldownSecs": 120,
                         "parkAfter": 2, "parkProbeSecs": 600});
    let servers = json!({"web": with(json!({"url": first.url}), "breaker", breaker)});
    let mut gw = Gateway::start("gw-called-dead", servers, &[]);
    assert!(gw.wait_tool("web__echo", true));
    drop(first);

    for n in 0..4 {
        std::thread::sleep(Duration::from_millis(1100));
        let answer = gw.call("web__echo", json!({"text": "x"}));
        assert!(is_error(&answer), "call {n}: {answer}");
    }
    assert!(
        gw.child.stderr().matches("a call's probe failed").count() >= 2,
        "the calls did not probe:\n{}",
        gw.child.stderr()
    );
    // The log says what happens: a call does not wait out the cooldown.
    assert!(
        gw.child
            .stderr()
            .contains("but a call probes it sooner (at most once a second)"),
        "{}",
        gw.child.stderr()
    );
    assert!(
        !gw.child.stderr().contains("upstream web: parked"),
        "the calls' probes parked the server:\n{}",
        gw.child.stderr()
    );
    assert!(
        gw.tool_names().iter().any(|t| t == "web__echo"),
        "the tools left tools/list during the outage"
    );
}
