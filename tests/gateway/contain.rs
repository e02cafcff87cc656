//! One upstream's trouble stays with it: broken servers beside healthy
//! ones, garbage and floods on the wire, streams that never end, rejected
//! credentials.

use std::time::{Duration, Instant};

use serde_json::json;

use super::support::gateway::*;
use super::support::launch::HttpFixture;
use super::support::TempDir;

#[test]
fn fifteen_healthy_upstreams_answer_normally_beside_five_broken_ones() {
    let dir = TempDir::new("gw-twenty");
    let mut servers = serde_json::Map::new();
    for i in 0..15 {
        servers.insert(format!("h{i}"), stdio(&["--name", &format!("h{i}")]));
    }
    let quick = |entry| {
        with(
            with(entry, "connectTimeout", json!(2)),
            "breaker",
            quick_breaker(),
        )
    };
    servers.insert(
        "missing".into(),
        quick(json!({"command": dir.join("no-such-command").display().to_string()})),
    );
    servers.insert("noinit1".into(), quick(stdio(&["--fail-initialize"])));
    servers.insert("noinit2".into(), quick(stdio(&["--fail-initialize"])));
    servers.insert("mute".into(), quick(stdio(&["--delay-ms", "600000"])));
    servers.insert(
        "quitter".into(),
        quick(json!({"command": "sh", "args": ["-c", "exit 1"]})),
    );
    let mut gw = Gateway::start_in(dir, serde_json::Value::Object(servers), &[]);
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut all_up = false;
    while !all_up && Instant::now() < deadline {
        let names = gw.tool_names();
        all_up = (0..15).all(|i| names.contains(&format!("h{i}__echo")));
        if !all_up {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    assert!(
        all_up,
        "the 15 healthy upstreams never all listed their tools"
    );
    let mut slowest = Duration::ZERO;
    for round in 0..3 {
        for i in 0..15 {
            let started = Instant::now();
            let answer = gw.call(&format!("h{i}__echo"), json!({"text": format!("{round}")}));
            slowest = slowest.max(started.elapsed());
            assert!(
                echoed(&answer, &round.to_string()),
                "h{i} round {round}: {answer}"
            );
        }
        // The broken ones answer too: with an error, and soon.
        for broken in ["missing", "noinit1", "noinit2", "quitter"] {
            let started = Instant::now();
            let answer = gw.call(&format!("{broken}__echo"), json!({"text": "x"}));
            assert!(is_error(&answer), "{broken}: {answer}");
            assert!(started.elapsed() < Duration::from_secs(8), "{broken}");
        }
    }
    assert!(
        slowest < Duration::from_secs(5),
        "a healthy call took {slowest:?}"
    );
}

#[test]
fn garbage_floods_and_endless_streams_stay_with_their_upstream() {
    let dir = TempDir::new("gw-garbage");
    let http = HttpFixture::start(&["--sse", "--sse-never-end", "echo"]);
    let servers = json!({
        "good": stdio(&[]),
        "garbage": stdio(&["--garbage"]),
        "flood": stdio(&["--flood", "5000"]),
        "stream": {"url": http.url},
    });
    let mut gw = Gateway::start_in(dir, servers, &[]);
    for name in ["good", "garbage", "flood", "stream"] {
        assert!(gw.wait_tool(&format!("{name}__echo"), true), "{name}");
    }
    for round in 0..3 {
        for name in ["good", "garbage", "flood", "stream"] {
            let text = format!("{name}-{round}");
            let answer = gw.call(&format!("{name}__echo"), json!({"text": text}));
            assert!(echoed(&answer, &text), "{name}: {answer}");
        }
    }
    assert!(echoed(
        &gw.call("good__echo", json!({"text": "end"})),
        "end"
    ));
}

#[test]
fn rejected_credentials_give_one_error_naming_the_header_and_park_the_server() {
    let dir = TempDir::new("gw-auth");
    let http = HttpFixture::start(&["--status", "401"]);
    let servers = json!({
        "web": {"url": http.url, "headers": {
            "Authorization": "Bearer ${WEB_TOKEN}",
            "X-Api-Key": "${WEB_KEY}"
        }},
        "good": stdio(&[]),
    });
    // Values no redaction pattern recognises: only their registration at
    // expansion keeps them out of the log and the answers.
    let secret = "q7Zr4mW9xK2pL8vN3bT6Hd";
    let key = "Jc5Ns8Pa1Xe4Wu7Ri0Ly3Q";
    let mut gw = Gateway::start_in(
        dir,
        servers,
        &[
            ("WEB_TOKEN", secret),
            ("WEB_KEY", key),
            ("MOLECULE_MCP_VERBOSE", "1"),
        ],
    );
    assert!(gw.wait_tool("good__echo", true));
    // The first connect and the one reconnect with fresh credentials are
    // warnings; with no session the breaker's probe meets the third
    // rejection, which is the error and parks the server.
    assert!(gw
        .child
        .wait_stderr_contains("(HTTP 401, 2/3 in a row)", WAIT));
    assert!(gw.child.wait_stderr_contains("3 times in a row", WAIT));
    assert!(gw.child.wait_stderr_contains("upstream web: parked", WAIT));
    let answer = gw.call("web__echo", json!({"text": "x"}));
    assert!(is_error(&answer), "{answer}");
    assert!(text(&answer).contains("credentials"), "{answer}");
    let stderr = gw.child.stderr();
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("[ERROR]") && l.contains("upstream web"))
        .collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(errors[0].contains("Authorization") && errors[0].contains("$WEB_TOKEN"));
    assert!(
        !stderr.contains(secret) && !stderr.contains(key),
        "a secret leaked: {stderr}"
    );
    assert!(!answer.to_string().contains(secret) && !answer.to_string().contains(key));
    assert!(gw.child.wait_stderr_contains("upstream web: parked", WAIT));
    assert!(echoed(&gw.call("good__echo", json!({"text": "ok"})), "ok"));
}
