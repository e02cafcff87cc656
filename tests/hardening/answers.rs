//! Issue items 13 and 18: an upstream answer over the line cap, or nested
//! deeper than a parser's default limit, fails its call at once with a
//! clear text and never counts against the server; a valid deep
//! `structuredContent` passes through.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::gateway::{is_error, Gateway, WAIT};
use crate::support::launch;

fn gateway(tag: &str, extra_args: &[&str]) -> Gateway {
    let command = launch::example("fixture_answers").display().to_string();
    let servers = json!({"big": {"command": command, "args": extra_args, "timeout": 60,
        "breaker": {"threshold": 3, "cooldownSecs": 30, "maxCooldownSecs": 30,
                    "parkAfter": 10, "parkProbeSecs": 60}}});
    let mut gateway = Gateway::start(tag, servers, &[]);
    assert!(gateway.wait_tool("big__echo", true));
    gateway
}

fn failed_at_once(gateway: &mut Gateway, tool: &str, arguments: Value, needle: &str) {
    let asked = Instant::now();
    let answer = gateway.call(tool, arguments);
    let shown = answer.to_string();
    let shown = &shown[..shown.len().min(2000)];
    assert!(
        is_error(&answer) || answer.get("error").is_some(),
        "{tool}: {shown}"
    );
    assert!(shown.contains(needle), "{tool}: {shown}");
    // The call timeout is 60 s: an answer well before it was not a timeout.
    assert!(asked.elapsed() < Duration::from_secs(30), "{tool} waited");
}

fn still_serves(gateway: &mut Gateway) {
    let answer = gateway.call("big__echo", json!({"text": "still here"}));
    assert!(
        !is_error(&answer) && answer.to_string().contains("still here"),
        "the server was counted against: {answer}"
    );
}

#[test]
fn an_answer_over_the_cap_fails_its_call_at_once_and_is_not_counted() {
    for args in [&[][..], &["--id-last"][..]] {
        let mut gateway = gateway("harden-answers-huge", args);
        for _ in 0..4 {
            failed_at_once(
                &mut gateway,
                "big__huge",
                json!({"bytes": 17 * 1024 * 1024}),
                "16 MiB",
            );
        }
        still_serves(&mut gateway);
    }
}

#[test]
fn deep_answers_pass_and_absurdly_deep_ones_fail_at_once() {
    let mut gateway = gateway("harden-answers-deep", &[]);
    for (n, levels) in [130usize, 500, 990].into_iter().enumerate() {
        // The answer nests deeper than serde_json's default limit: read it
        // raw, parse it without the limit.
        let id = 9000 + n as u64;
        let request = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": "big__deep", "arguments": {"levels": levels}}});
        gateway.child.send_json(&request).expect("send");
        let needle = format!("\"id\":{id}");
        let deadline = Instant::now() + WAIT;
        let line = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match gateway.child.recv_line(left) {
                Some(line) if line.contains(&needle) => break line,
                Some(_) => {}
                None => panic!("{levels}: no answer; stderr:\n{}", gateway.child.stderr()),
            }
        };
        let mut de = serde_json::Deserializer::from_str(&line);
        de.disable_recursion_limit();
        let answer: Value = serde::Deserialize::deserialize(&mut de).expect("JSON");
        assert!(
            !is_error(&answer),
            "{levels}: {}",
            &line[..line.len().min(500)]
        );
        let mut node = answer
            .pointer("/result/structuredContent/nested")
            .unwrap_or_else(|| panic!("{levels}: no structuredContent"));
        let mut depth = 0;
        while let Some(inner) = node.get("n") {
            node = inner;
            depth += 1;
        }
        assert_eq!(depth, levels);
        assert_eq!(node, &json!("bottom"));
    }
    for _ in 0..4 {
        failed_at_once(
            &mut gateway,
            "big__deep",
            json!({"levels": 100_000}),
            "nested",
        );
    }
    still_serves(&mut gateway);
}

/// How deep `value` nests (a scalar: 0).
fn depth(value: &Value) -> usize {
    let mut deepest = 0;
    let mut level = vec![(value, 0usize)];
    while let Some((node, at)) = level.pop() {
        deepest = deepest.max(at);
        match node {
            Value::Object(map) => level.extend(map.values().map(|v| (v, at + 1))),
            Value::Array(items) => level.extend(items.iter().map(|v| (v, at + 1))),
            _ => {}
        }
    }
    deepest
}

#[test]
fn a_tool_schema_as_deep_as_carried_is_listed_whole() {
    let command = launch::example("fixture_answers").display().to_string();
    let servers = json!({"big": {"command": command, "args": ["--deep-schema"]}});
    let mut gateway = Gateway::start("harden-answers-deep-schema", servers, &[]);
    let deadline = Instant::now() + WAIT;
    let mut round = 0;
    let mut found = 0;
    // Listed more than once: the first list may still be built from the
    // definitions as parsed on arrival, the later ones from the catalog.
    let listed = loop {
        assert!(
            Instant::now() < deadline,
            "never listed; stderr:\n{}",
            gateway.child.stderr()
        );
        round += 1;
        let id = format!("deep-list-{round}");
        let request = json!({"jsonrpc": "2.0", "id": id, "method": "tools/list"});
        gateway.child.send_json(&request).expect("send");
        let needle = format!("\"id\":\"{id}\"");
        let line = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match gateway.child.recv_line(left) {
                Some(line) if line.contains(&needle) => break line,
                Some(_) => {}
                None => panic!(
                    "no answer (the process died?); stderr:\n{}",
                    gateway.child.stderr()
                ),
            }
        };
        if line.contains("big__nested") {
            found += 1;
            if found == 3 {
                break line;
            }
            continue;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut de = serde_json::Deserializer::from_str(&listed);
    de.disable_recursion_limit();
    let answer: Value = serde::Deserialize::deserialize(&mut de).expect("JSON");
    let tools = answer["result"]["tools"].as_array().expect("tools");
    let nested = tools
        .iter()
        .find(|tool| tool["name"] == "big__nested")
        .expect("the deep tool");
    // Below inputSchema: 989 objects holding `n` (the first is
    // `properties`), then the empty object.
    assert_eq!(depth(&nested["inputSchema"]), 990);
    still_serves(&mut gateway);
}

#[test]
fn over_the_cap_or_too_deep_from_an_http_upstream_fail_at_once_and_are_not_counted() {
    let server = crate::echo_headers::start();
    let url = server.url("/mcp");
    let servers = json!({"web": {"url": url, "timeout": 60,
        "breaker": {"threshold": 3, "cooldownSecs": 30, "maxCooldownSecs": 30,
                    "parkAfter": 10, "parkProbeSecs": 60}}});
    let mut gateway = Gateway::start("harden-answers-http", servers, &[]);
    assert!(gateway.wait_tool("web__ok", true));
    for _ in 0..2 {
        failed_at_once(
            &mut gateway,
            "web__huge",
            json!({"bytes": 17 * 1024 * 1024}),
            "16 MiB",
        );
        failed_at_once(
            &mut gateway,
            "web__deep",
            json!({"levels": 100_000}),
            "nested",
        );
    }
    let deep = gateway.call("web__deep", json!({"levels": 120}));
    assert!(!is_error(&deep) && deep.get("result").is_some(), "{deep}");
    let answer = gateway.call("web__ok", json!({}));
    assert!(
        !is_error(&answer) && answer.to_string().contains("fine"),
        "the server was counted against: {answer}"
    );
}
