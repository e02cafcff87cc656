//! Seed 003: a server forgets its session. The gateway renews it once and
//! retries once; an unrelated error is passed on without a reconnect; a
//! retry that fails too ends in one error, not a loop. Resources and prompts
//! take the same path as tool calls. Only HTTP has transport sessions: a
//! stdio error that speaks of one is the tool's own answer.

use std::time::Duration;

use serde_json::{json, Value};

use super::support::gateway::*;
use super::support::launch::HttpFixture;

/// How long "nothing more happens" is watched for.
const QUIET: Duration = Duration::from_millis(800);

#[test]
fn a_stdio_error_naming_a_session_is_the_tools_answer_and_keeps_the_child() {
    // stdio has no transport session: an error that says "expired session"
    // comes from the tool itself, and restarting the child would not help.
    let dir = super::support::TempDir::new("gw-stdio-session-text");
    let rec = dir.join("rec.jsonl").display().to_string();
    let servers = json!({"files": stdio(&["--record", &rec, "--expire-session-after", "1"])});
    let mut gw = Gateway::start_in(dir, servers, &[]);
    assert!(gw.wait_tool("files__echo", true));
    assert!(echoed(
        &gw.call("files__echo", json!({"text": "one"})),
        "one"
    ));
    let answer = gw.call("files__echo", json!({"text": "two"}));
    assert_eq!(
        answer.pointer("/error/code"),
        Some(&json!(-32602)),
        "the server's error is passed on: {answer}"
    );
    std::thread::sleep(QUIET);
    assert_eq!(count_calls(&rec, "echo"), 2, "no retry");
    assert_eq!(count_method(&rec, "initialize"), 1, "no restart");
}

#[test]
fn expired_http_sessions_are_renewed_whatever_way_the_server_says_so() {
    for expiry in ["404", "400", "rpc"] {
        let dir = super::support::TempDir::new("gw-expire-http");
        let rec = dir.join("rec.jsonl").display().to_string();
        let fixture = HttpFixture::start(&[
            "--record",
            &rec,
            "--expire-session-after",
            "1",
            "--expiry",
            expiry,
        ]);
        let servers = json!({"web": {"url": fixture.url}});
        let mut gw = Gateway::start_in(dir, servers, &[]);
        assert!(gw.wait_tool("web__echo", true), "{expiry}");
        assert!(echoed(&gw.call("web__echo", json!({"text": "a"})), "a"));
        let answer = gw.call("web__echo", json!({"text": "b"}));
        assert!(echoed(&answer, "b"), "{expiry}: {answer}");
        assert_eq!(count_calls(&rec, "echo"), 3, "{expiry}");
        assert_eq!(count_method(&rec, "initialize"), 2, "{expiry}");
    }
}

#[test]
fn an_unrelated_error_is_passed_on_without_a_reconnect() {
    let dir = super::support::TempDir::new("gw-unrelated");
    let rec = dir.join("rec.jsonl").display().to_string();
    let ctl = dir.join("control.json").display().to_string();
    let servers = json!({"files": stdio(&["--record", &rec, "--control", &ctl])});
    let mut gw = Gateway::start_in(dir, servers, &[]);
    assert!(gw.wait_tool("files__echo", true));

    // Bad arguments: the server's -32602 goes to the agent as it is.
    let answer = gw.call("files__echo", json!({}));
    assert_eq!(
        answer.pointer("/error/code"),
        Some(&json!(-32602)),
        "{answer}"
    );

    // A server error: an error result that says to retry later.
    control(&ctl, json!({"fail_5xx": true}), 0);
    let answer = gw.call("files__echo", json!({"text": "x"}));
    assert!(is_error(&answer), "{answer}");
    assert!(text(&answer).contains("retry later"), "{answer}");

    std::thread::sleep(QUIET);
    assert_eq!(count_method(&rec, "initialize"), 1, "no reconnect");
    assert_eq!(count_calls(&rec, "echo"), 2, "no retry");
}

#[test]
fn a_retry_that_fails_too_ends_in_one_error() {
    let dir = super::support::TempDir::new("gw-retry-fails");
    let rec = dir.join("rec.jsonl").display().to_string();
    let fixture = HttpFixture::start(&["--record", &rec, "--expire-session-after", "1"]);
    let servers = json!({"web": with(json!({"url": fixture.url}), "timeout", json!(1))});
    let mut gw = Gateway::start_in(dir, servers, &[]);
    assert!(gw.wait_tool("web__hang", true));
    assert!(echoed(&gw.call("web__echo", json!({"text": "one"})), "one"));

    // Expired, renewed, and the retry hangs past the timeout.
    let answer = gw.call("web__hang", json!({}));
    assert!(is_error(&answer), "{answer}");
    let said = text(&answer);
    assert!(said.contains("no answer within 1 seconds"), "{said}");
    std::thread::sleep(QUIET * 2);
    assert_eq!(count_calls(&rec, "hang"), 2, "the original and one retry");
    assert_eq!(
        count_method(&rec, "initialize"),
        2,
        "one reconnect, no loop"
    );
}

/// A method, its params, and what a good answer looks like.
type Case = (&'static str, Value, fn(&Value) -> bool);

#[test]
fn resources_and_prompts_renew_an_expired_session_the_same_way() {
    let dir = super::support::TempDir::new("gw-expire-lists");
    let rec = dir.join("rec.jsonl").display().to_string();
    let fixture = HttpFixture::start(&[
        "--name",
        "up",
        "--record",
        &rec,
        "--expire-session-after",
        "1",
    ]);
    let servers = json!({"files": {"url": fixture.url}});
    let mut gw = Gateway::start_in(dir, servers, &[]);
    assert!(gw.wait_tool("files__echo", true));
    // The first connect's list refresh has read every list.
    assert!(eventually(WAIT, || count_method(&rec, "prompts/list") >= 1));

    // The lists are answered from what the refresh read: the server is not
    // asked, so its forgotten session does not matter to them.
    assert!(echoed(&gw.call("files__echo", json!({"text": "x"})), "x"));
    let inits = count_method(&rec, "initialize");
    let lists: [Case; 2] = [
        ("resources/list", json!({}), |r| {
            r.pointer("/result/resources/0/uri")
                == Some(&json!("molecule://files/fixture://readme"))
        }),
        ("prompts/list", json!({}), |r| {
            r.pointer("/result/prompts/0/name") == Some(&json!("files__greet"))
        }),
    ];
    for (method, params, good) in lists {
        let before = count_method(&rec, method);
        let answer = gw.request(method, params);
        assert!(good(&answer), "{method}: {answer}");
        std::thread::sleep(QUIET);
        assert_eq!(
            count_method(&rec, method),
            before,
            "{method} reached the server"
        );
    }
    assert_eq!(count_method(&rec, "initialize"), inits);

    let cases: [Case; 2] = [
        (
            "resources/read",
            json!({"uri": "molecule://files/fixture://readme"}),
            |r| r.pointer("/result/contents/0/text") == Some(&json!("readme of up")),
        ),
        (
            "prompts/get",
            json!({"name": "files__greet", "arguments": {"who": "Ann"}}),
            |r| {
                r.pointer("/result/messages/0/content/text") == Some(&json!("Hello, Ann, from up."))
            },
        ),
    ];
    for (method, params, good) in cases {
        // One tool call and the fixture forgets the session.
        assert!(echoed(&gw.call("files__echo", json!({"text": "x"})), "x"));
        let inits = count_method(&rec, "initialize");
        let before = count_method(&rec, method);
        let refreshes = count_method(&rec, "prompts/list");
        let answer = gw.request(method, params);
        assert!(good(&answer), "{method}: {answer}");
        assert_eq!(count_method(&rec, "initialize"), inits + 1, "{method}");
        // The renewed session's list refresh runs beside the retry; once it
        // is done every request can be counted.
        assert!(
            eventually(WAIT, || count_method(&rec, "prompts/list") == refreshes + 1),
            "{method}"
        );
        assert_eq!(
            count_method(&rec, method),
            before + 2,
            "{method}: the rejected request and one retry"
        );
    }

    // An unknown resource is the server's answer: no reconnect.
    let inits = count_method(&rec, "initialize");
    let answer = gw.request(
        "resources/read",
        json!({"uri": "molecule://files/fixture://nothing"}),
    );
    assert_eq!(
        answer.pointer("/error/code"),
        Some(&json!(-32002)),
        "{answer}"
    );
    std::thread::sleep(QUIET);
    assert_eq!(count_method(&rec, "initialize"), inits);
}
