//! One upstream's trouble stays with it: broken servers beside healthy
//! ones, garbage and floods on the wire, streams that never end, rejected
//! credentials.

use std::time::{Duration, Instant};

use serde_json::json;

use super::support::gateway::*;
use super::support::launch::HttpFixture;
use super::support::sim::Simulator;
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

/// A header line longer than the request buffer takes is a configuration
/// error naming the header and the limit, never its value; one that fits
/// is sent. (ureq would call the overlong line invalid HTTP from the server.)
#[test]
fn a_header_longer_than_sent_is_a_configuration_error_naming_it() {
    let dir = TempDir::new("gw-long-header");
    let http = HttpFixture::start(&[]);
    let servers = json!({
        "long": {"url": http.url, "headers": {"Authorization": "Bearer ${LONG_TOKEN}"}},
        "fits": {"url": http.url, "headers": {"Authorization": "Bearer ${FITS_TOKEN}"}},
    });
    // Not a pattern redaction knows, so only the check keeps it out.
    let long = "Kq3".repeat(3 * 1024);
    let fits = "Zt8".repeat(7 * 1024 / 3);
    let mut gw = Gateway::start_in(
        dir,
        servers,
        &[("LONG_TOKEN", &long), ("FITS_TOKEN", &fits)],
    );
    assert!(gw.wait_tool("fits__echo", true));
    assert!(echoed(&gw.call("fits__echo", json!({"text": "ok"})), "ok"));
    assert!(gw.child.wait_stderr_contains("upstream long: parked", WAIT));
    let stderr = gw.child.stderr();
    let parked = gw.child.stderr_line("upstream long: parked");
    assert!(
        parked.contains("header authorization is too long") && parked.contains("at most 8188"),
        "{stderr}"
    );
    assert!(!stderr.contains("not valid HTTP"), "{stderr}");
    assert!(!stderr.contains(&long[..64]), "a secret leaked: {stderr}");
    let answer = gw.call("long__echo", json!({"text": "x"}));
    assert!(is_error(&answer), "{answer}");
    assert!(!answer.to_string().contains(&long[..64]), "{answer}");
}

/// The gateway's messages to the agent until `until` holds for one of them
/// or `quiet` passes without any, bounded by [`WAIT`]: how many were
/// `elicitation/create` requests, and whether `until` held.
fn read_counting_questions(
    gw: &mut Gateway,
    quiet: Duration,
    mut until: impl FnMut(&serde_json::Value) -> bool,
) -> (usize, bool) {
    let deadline = Instant::now() + WAIT;
    let mut questions = 0;
    while Instant::now() < deadline {
        let Some(message) = gw.child.recv_json(quiet) else {
            return (questions, false);
        };
        if message["method"] == "elicitation/create" {
            questions += 1;
        } else if until(&message) {
            return (questions, true);
        }
    }
    (questions, false)
}

#[test]
fn a_server_asking_the_agent_without_end_keeps_its_trouble_to_itself() {
    const WS: &str = "3b1f9a7c-2d4e-4f60-8a1b-9c0d1e2f3a4b";
    const TOKEN: &str = "tok-budget-7a6b5c4d3e2f1a0b";
    let sim = Simulator::start();
    sim.add_workspace(WS, Some(TOKEN));
    let dir = TempDir::new("gw-asker");
    let configs = dir.join("configs").display().to_string();
    let web = HttpFixture::start(&["--name", "web"]);
    // Questions the agent never answers, 300 from each of two servers:
    // more than the 256 places the whole process once had for helper
    // threads, whatever other helpers come and go meanwhile.
    let servers = json!({
        "asker": stdio(&["--name", "asker", "--elicitations", "300"]),
        "asker2": stdio(&["--name", "asker2", "--elicitations", "300"]),
        "web": {"url": web.url},
    });
    let url = sim.url();
    let env = [
        ("PLATFORM_URL", url.as_str()),
        ("WORKSPACE_ID", WS),
        ("MOLECULE_WORKSPACE_TOKEN", TOKEN),
        ("CONFIGS_DIR", configs.as_str()),
        ("MOLECULE_MCP_DISABLE_INBOX", "1"),
    ];
    let mut gw = Gateway::start_as(
        dir,
        servers,
        &env,
        "2025-11-25",
        json!({"elicitation": {"form": {}}}),
    );

    // Both servers list their tools; every question that reaches us stays
    // unanswered (the questions are read here, not by a helper that would
    // drop them).
    let mut questions = 0;
    let mut listed = false;
    for round in 0..100 {
        let id = json!(format!("list-{round}"));
        let list = json!({"jsonrpc": "2.0", "id": id, "method": "tools/list"});
        gw.child.send_json(&list).expect("written");
        let mut names = Vec::new();
        let (asked, _) = read_counting_questions(&mut gw, WAIT, |message| {
            if message["id"] != id {
                return false;
            }
            names = listed_names(message);
            true
        });
        questions += asked;
        if ["asker__echo", "asker2__echo", "web__echo"]
            .iter()
            .all(|tool| names.iter().any(|n| n == tool))
        {
            listed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        listed,
        "the servers never listed; stderr:\n{}",
        gw.child.stderr()
    );
    // Then until the questions stop coming: each server's relays hold all
    // their places.
    questions += read_counting_questions(&mut gw, Duration::from_secs(2), |_| false).0;
    assert!(
        questions >= 2 * molecule_mcp::threads::RELAY_PLACES,
        "only {questions} questions reached the agent; stderr:\n{}",
        gw.child.stderr()
    );

    // The platform and the other server are served as usual, the other
    // server with a few long calls of its own under way.
    for n in 0..5 {
        let params = json!({"name": "web__slow", "arguments": {"ms": 60_000}});
        let call = json!({"jsonrpc": "2.0", "id": format!("slow-{n}"), "method": "tools/call", "params": params});
        gw.child.send_json(&call).expect("written");
    }
    let echo = gw.call("web__echo", json!({"text": "still here"}));
    assert!(echoed(&echo, "still here"), "{echo}");
    let plugin = gw.call(
        "install_plugin",
        json!({"source": "github://molecule-ai/browser-tools"}),
    );
    assert!(!is_error(&plugin), "{plugin}");
}

fn listed_names(answer: &serde_json::Value) -> Vec<String> {
    answer["result"]["tools"]
        .as_array()
        .map(|tools| {
            tools
                .iter()
                .filter_map(|t| t["name"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}
