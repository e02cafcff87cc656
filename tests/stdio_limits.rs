//! What the agent's side of stdio can do to the process, through the real
//! binary: hung upstream calls and long waits cannot take every worker,
//! oversized request ids are refused and admitted requests are bounded in
//! bytes, and the end of the input is noticed even while the client does
//! not read its answers.
//!
//! Needs the fixtures built: `cargo build --examples` (a plain `cargo test`
//! builds them). Every wait is bounded.

mod support;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::launch;
use support::sim::Simulator;
use support::{Child, TempDir};

const WS: &str = "5c4d3e2f-1a2b-4c3d-8e4f-5a6b7c8d9e0f";
const TOKEN: &str = "tok-limits-0f1e2d3c4b5a6978";
const WAIT: Duration = Duration::from_secs(15);
/// A liveness bound (the process is not starved), not a speed claim.
const LIVE: Duration = Duration::from_secs(1);

fn platform_env(sim: &Simulator, home: &TempDir) -> Vec<(String, String)> {
    vec![
        ("PLATFORM_URL".into(), sim.url()),
        ("WORKSPACE_ID".into(), WS.into()),
        ("MOLECULE_WORKSPACE_TOKEN".into(), TOKEN.into()),
        (
            "CONFIGS_DIR".into(),
            home.join("configs").to_string_lossy().into_owned(),
        ),
    ]
}

fn spawn(home: &TempDir, vars: &[(String, String)]) -> Child {
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut child = Child::spawn(home.path(), &vars);
    child.initialize("limits-test");
    child
}

fn send(child: &mut Child, id: &Value, method: &str, params: Value) {
    let message = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
    if let Err(e) = child.send_json(&message) {
        panic!("cannot send {method}: {e}");
    }
}

fn is_busy_result(answer: &Value) -> bool {
    answer.pointer("/result/isError") == Some(&json!(true))
        && answer
            .pointer("/result/content/0/text")
            .and_then(Value::as_str)
            .is_some_and(|t| t.starts_with("Busy:"))
}

#[test]
fn a_hung_upstream_and_long_waits_leave_workers_for_every_other_tool() {
    let sim = Simulator::start();
    sim.add_workspace(WS, Some(TOKEN));
    let home = TempDir::new("limits-starve");
    let fixture = launch::example("fixture_stdio").display().to_string();
    let servers = json!({"mcpServers": {
        "stuck": {"command": fixture, "args": ["--name", "stuck"], "timeout": 120},
        "other": {"command": fixture, "args": ["--name", "other"]},
    }});
    let servers_file = home.join("servers.json");
    std::fs::write(&servers_file, servers.to_string()).expect("write the servers file");
    let mut vars = platform_env(&sim, &home);
    vars.push((
        "MOLECULE_MCP_SERVERS".into(),
        servers_file.to_string_lossy().into_owned(),
    ));
    let mut child = spawn(&home, &vars);

    // Both upstreams are up before the flood.
    let deadline = Instant::now() + WAIT;
    loop {
        let answer = child.request("tools/list", json!({}), WAIT);
        let names: Vec<String> = answer
            .as_ref()
            .and_then(|a| a.pointer("/result/tools"))
            .and_then(Value::as_array)
            .map(|tools| {
                tools
                    .iter()
                    .filter_map(|t| t["name"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        if names.iter().any(|n| n == "stuck__hang") && names.iter().any(|n| n == "other__echo") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the upstreams never came up: {names:?}; stderr:\n{}",
            child.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    for n in 0..64 {
        let params = json!({"name": "stuck__hang", "arguments": {}});
        send(
            &mut child,
            &json!(format!("hang-{n}")),
            "tools/call",
            params,
        );
    }
    for n in 0..16 {
        let params = json!({"name": "wait_for_message", "arguments": {"timeout_secs": 300}});
        send(
            &mut child,
            &json!(format!("wait-{n}")),
            "tools/call",
            params,
        );
    }

    // Every other kind of tool still gets a worker at once.
    let probes = [
        ("list_peers", json!({})),
        ("other__echo", json!({"text": "still here"})),
        ("inbox_peek", json!({})),
    ];
    for (tool, arguments) in probes {
        let id = json!(format!("probe-{tool}"));
        let sent = Instant::now();
        send(
            &mut child,
            &id,
            "tools/call",
            json!({"name": tool, "arguments": arguments}),
        );
        let answer = child.wait_answer(&id, WAIT);
        let took = sent.elapsed();
        let Some(answer) = answer else {
            panic!("{tool} got no answer; stderr:\n{}", child.stderr());
        };
        assert!(answer.get("result").is_some(), "{tool}: {answer}");
        assert!(took < LIVE, "{tool} waited {took:?} for a worker");
    }

    // The excess was told to retry, at once: no hung call holds more than
    // its share, and the waits beyond theirs are refused too.
    let busy_hangs = (0..64)
        .filter(|n| {
            child
                .wait_answer(&json!(format!("hang-{n}")), Duration::from_millis(200))
                .is_some_and(|a| is_busy_result(&a))
        })
        .count();
    assert!(
        busy_hangs >= 48,
        "only {busy_hangs} of 64 hung calls were refused"
    );
    let busy_waits = (0..16)
        .filter(|n| {
            child
                .wait_answer(&json!(format!("wait-{n}")), Duration::from_millis(200))
                .is_some_and(|a| is_busy_result(&a))
        })
        .count();
    assert!(busy_waits >= 1, "no wait was refused");
}

#[test]
fn request_ids_over_1_kib_are_refused() {
    let sim = Simulator::start();
    sim.add_workspace(WS, Some(TOKEN));
    let home = TempDir::new("limits-ids");
    let mut child = spawn(&home, &platform_env(&sim, &home));

    let longest = json!("i".repeat(1024));
    send(&mut child, &longest, "ping", json!({}));
    let answer = child.wait_answer(&longest, WAIT);
    assert_eq!(
        answer.as_ref().and_then(|a| a.get("result")),
        Some(&json!({})),
        "a 1 KiB id is fine: {answer:?}"
    );

    let too_long = "i".repeat(1025);
    send(&mut child, &json!(too_long), "ping", json!({}));
    let answer = child.wait_answer(&Value::Null, WAIT);
    let Some(answer) = answer else {
        panic!("no answer to an over-long id; stderr:\n{}", child.stderr());
    };
    assert_eq!(
        answer.pointer("/error/code"),
        Some(&json!(-32600)),
        "{answer}"
    );
    assert!(
        !answer.to_string().contains(&too_long),
        "the over-long id was echoed back"
    );
}

#[test]
fn admitted_requests_are_bounded_in_bytes() {
    let sim = Simulator::start();
    sim.add_workspace(WS, Some(TOKEN));
    let home = TempDir::new("limits-bytes");
    let mut child = spawn(&home, &platform_env(&sim, &home));

    // Requests held in flight are bounded in bytes (64 MiB), not only in
    // number: four 15 MiB waits are admitted, a fifth is refused.
    let pad = "p".repeat(15 << 20);
    for n in 0..5 {
        let params = json!({"name": "wait_for_message",
                            "arguments": {"timeout_secs": 60, "pad": pad}});
        send(&mut child, &json!(n), "tools/call", params);
    }
    let refused = child.wait_answer(&json!(4), WAIT);
    let Some(refused) = refused else {
        panic!("the fifth big request was neither refused nor answered");
    };
    assert_eq!(
        refused.pointer("/error/code"),
        Some(&json!(-32000)),
        "{refused}"
    );
    for n in 0..4 {
        assert!(
            child
                .wait_answer(&json!(n), Duration::from_millis(100))
                .is_none(),
            "request {n} should still be waiting"
        );
    }
}

#[test]
fn the_end_of_input_stops_the_process_while_the_client_reads_no_answers() {
    let sim = Simulator::start();
    sim.add_workspace(WS, Some(TOKEN));
    let home = TempDir::new("limits-eof");
    // Enough pings that their answers fill the output pipe and the outbox,
    // and few enough that the input pipe and the reader's buffer hold the
    // rest: the client's writes complete, then it closes its end.
    const PINGS: usize = 4000;
    let mut proc = Command::new(support::bin())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .envs(platform_env(&sim, &home))
        .current_dir(home.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the binary");
    let mut stdin = proc.stdin.take().expect("stdin");
    // Kept open and never read.
    let _stdout = proc.stdout.take();
    let writer = std::thread::spawn(move || {
        let mut input = String::new();
        for n in 0..PINGS {
            input.push_str(&format!(r#"{{"jsonrpc":"2.0","id":{n},"method":"ping"}}"#));
            input.push('\n');
        }
        let written = stdin.write_all(input.as_bytes());
        drop(stdin);
        written
    });
    let deadline = Instant::now() + WAIT;
    let exited = loop {
        match proc.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => break None,
        }
    };
    if exited.is_none() {
        let _ = proc.kill();
        let _ = proc.wait();
    }
    let written = writer.join().expect("the writer thread");
    assert!(
        written.is_ok(),
        "the pings could not all be written: {written:?}"
    );
    assert!(
        exited.is_some(),
        "still running {WAIT:?} after the input ended"
    );
}

#[test]
fn requests_nested_to_the_parse_limit_are_served() {
    let sim = Simulator::start();
    sim.add_workspace(WS, Some(TOKEN));
    let home = TempDir::new("limits-deep");
    let mut child = spawn(&home, &platform_env(&sim, &home));
    // The message, params and arguments take three levels; serde_json
    // refuses a 129th.
    let deep = format!("{}{}", "[".repeat(124), "]".repeat(124));
    for (n, tool) in ["get_runtime_identity", "list_peers"].iter().enumerate() {
        let line = format!(
            r#"{{"jsonrpc":"2.0","id":"deep-{n}","method":"tools/call","params":{{"name":"{tool}","arguments":{{"x":{deep}}}}}}}"#
        );
        child.send_line(&line).expect("send");
        let answer = child.wait_answer(&json!(format!("deep-{n}")), WAIT);
        let Some(answer) = answer else {
            panic!(
                "no answer to a deep {tool} call; stderr:\n{}",
                child.stderr()
            );
        };
        assert!(
            answer.get("result").is_some() || answer.get("error").is_some(),
            "{answer}"
        );
    }
    let pong = child.request("ping", json!({}), WAIT);
    assert_eq!(pong.and_then(|p| p.get("result").cloned()), Some(json!({})));
}
