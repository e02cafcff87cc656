//! Soak: `MOLECULE_MCP_SOAK_SECS` (default 600) of mixed traffic through
//! the release binary — platform tools against the simulator, calls to a
//! healthy stdio upstream and to a flaky one that is made to crash and to
//! hang at random — with up to 8 calls in flight. Reports RSS, open fds and
//! threads after a warm-up and at the end (goal: flat within 10 %), and the
//! calls never answered (goal: 0).
//!
//! Needs the release fixtures: `cargo build --release --examples`, then
//! `cargo bench --bench soak`.

#[path = "../support/launch.rs"]
mod launch;
mod procstat;
#[path = "../support/sim/mod.rs"]
mod sim;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sim::{Peer, Simulator};

const WS: &str = "50a50a50-1111-4222-8333-444455556666";
const PEER: &str = "50a50a50-9999-4888-8777-666655554444";
const TOKEN: &str = "tok-soak-5e5e5e5e5e5e5e5e";
const IN_FLIGHT: usize = 8;
/// Longer than any call may take (the flaky server's timeout is 2 s, the
/// platform's 10 s): an answer later than this never comes.
const LAST_CALL: Duration = Duration::from_secs(40);
const WARM_UP: Duration = Duration::from_secs(20);
const REPORT_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy)]
struct Figures {
    rss_kib: u64,
    fds: usize,
    threads: usize,
}

fn figures(pid: u32) -> Figures {
    let count = |dir: String| std::fs::read_dir(dir).map_or(0, |d| d.count());
    Figures {
        rss_kib: procstat::status_kib(pid, "VmRSS"),
        fds: count(format!("/proc/{pid}/fd")),
        threads: count(format!("/proc/{pid}/task")),
    }
}

/// A deterministic generator for the mix (xorshift64*).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

/// One call of the mix: the method and its params.
fn pick(rng: &mut Rng) -> (&'static str, Value) {
    let tool = |name: &str, arguments: Value| json!({"name": name, "arguments": arguments});
    match rng.below(100) {
        0..=14 => ("tools/call", tool("get_runtime_identity", json!({}))),
        15..=24 => ("tools/call", tool("list_peers", json!({}))),
        25..=29 => (
            "tools/call",
            tool(
                "delegate_task",
                json!({"workspace_id": PEER, "task": "soak"}),
            ),
        ),
        30..=37 => ("tools/call", tool("inbox_peek", json!({}))),
        38..=39 => (
            "tools/call",
            tool("wait_for_message", json!({"timeout_secs": 1})),
        ),
        40..=64 => ("tools/call", tool("good__echo", json!({"text": "soak"}))),
        65..=84 => ("tools/call", tool("flaky__echo", json!({"text": "soak"}))),
        85..=86 => ("tools/call", tool("flaky__crash", json!({}))),
        87..=88 => ("tools/call", tool("flaky__hang", json!({}))),
        89..=93 => ("tools/list", json!({})),
        _ => ("ping", json!({})),
    }
}

fn main() {
    let secs: u64 = std::env::var("MOLECULE_MCP_SOAK_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(600);
    let sim = Simulator::start();
    sim.add_workspace(WS, Some(TOKEN));
    sim.add_workspace(PEER, Some("tok-soak-peer-0a0a0a0a0a"));
    sim.set_peer(PEER, Peer::Echo);
    let home = std::env::temp_dir().join(format!("molecule-soak-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&home);
    let fixture = launch::example("fixture_stdio").display().to_string();
    let breaker = json!({"threshold": 3, "cooldownSecs": 0.3, "maxCooldownSecs": 2,
                         "parkAfter": 1000, "parkProbeSecs": 5});
    let servers = json!({"mcpServers": {
        "good": {"command": fixture, "args": ["--name", "good"]},
        "flaky": {"command": fixture, "args": ["--name", "flaky"], "timeout": 2, "breaker": breaker},
    }});
    let servers_file = home.join("servers.json");
    if std::fs::write(&servers_file, servers.to_string()).is_err() {
        println!("cannot write {}", servers_file.display());
        return;
    }
    let mut child = match Command::new(env!("CARGO_BIN_EXE_molecule-mcp"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("PLATFORM_URL", sim.url())
        .env("WORKSPACE_ID", WS)
        .env("MOLECULE_WORKSPACE_TOKEN", TOKEN)
        .env("CONFIGS_DIR", home.join("configs"))
        .env("MOLECULE_MCP_SERVERS", &servers_file)
        .env("MOLECULE_MCP_POLL_SECS", "1")
        .current_dir(&home)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            println!("cannot start molecule-mcp: {e}");
            return;
        }
    };
    let pid = child.id();
    let mut stdin = child.stdin.take().expect("stdin");
    let stdout = child.stdout.take().expect("stdout");
    let (answers_tx, answers) = mpsc::channel::<u64>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let Ok(message) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if message.get("method").is_none() {
                if let Some(id) = message.get("id").and_then(Value::as_u64) {
                    if answers_tx.send(id).is_err() {
                        break;
                    }
                }
            }
        }
    });
    let write = |stdin: &mut std::process::ChildStdin, message: Value| {
        writeln!(stdin, "{message}")
            .and_then(|()| stdin.flush())
            .is_ok()
    };
    let init = json!({"protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "soak", "version": "1"}});
    write(
        &mut stdin,
        json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": init}),
    );
    if answers.recv_timeout(Duration::from_secs(10)) != Ok(0) {
        println!("no initialize answer");
        let _ = child.kill();
        return;
    }
    write(
        &mut stdin,
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    );

    println!("soak: {secs} s of mixed traffic, {IN_FLIGHT} calls in flight");
    let mut rng = Rng(0x5eed_50a4);
    let mut pending: HashMap<u64, (Instant, &'static str)> = HashMap::new();
    let (mut next_id, mut done, mut late) = (1u64, 0u64, 0u64);
    let started = Instant::now();
    let end = started + WARM_UP + Duration::from_secs(secs);
    let mut first: Option<Figures> = None;
    let mut messages = 0u64;
    let mut injected: Vec<(Instant, String)> = Vec::new();
    let mut to_pop: Vec<String> = Vec::new();
    let mut last_clear = Instant::now();
    let mut last_report = Instant::now();
    while Instant::now() < end {
        while pending.len() < IN_FLIGHT {
            // Messages are popped once handled, as an agent does.
            let (method, params) = match to_pop.pop() {
                Some(id) => (
                    "tools/call",
                    json!({"name": "inbox_pop", "arguments": {"activity_id": id}}),
                ),
                None => pick(&mut rng),
            };
            let request =
                json!({"jsonrpc": "2.0", "id": next_id, "method": method, "params": params});
            if !write(&mut stdin, request) {
                println!("molecule-mcp stopped reading its input");
                break;
            }
            pending.insert(next_id, (Instant::now(), method));
            next_id += 1;
        }
        if let Ok(id) = answers.recv_timeout(Duration::from_millis(200)) {
            if let Some((at, _)) = pending.remove(&id) {
                done += 1;
                if at.elapsed() > LAST_CALL {
                    late += 1;
                }
            }
        }
        if rng.below(500) == 0 {
            let id = sim.inject_peer(WS, PEER, "a soak message");
            injected.push((Instant::now(), id));
            messages += 1;
        }
        // Popped after the poller (1 s) surely delivered them.
        while injected
            .first()
            .is_some_and(|(at, _)| at.elapsed() > Duration::from_secs(3))
        {
            to_pop.push(injected.remove(0).1);
        }
        // The simulator keeps every request it saw; only ours is measured.
        if last_clear.elapsed() > Duration::from_secs(1) {
            sim.clear_requests();
            last_clear = Instant::now();
        }
        if first.is_none() && started.elapsed() >= WARM_UP {
            first = Some(figures(pid));
        }
        // The curve, not only its ends: a plateau and a leak differ.
        if last_report.elapsed() >= REPORT_EVERY {
            let now = figures(pid);
            println!(
                "  at {:>4} s: RSS {:>6} KiB, fds {:>3}, threads {:>3}, {done} answered",
                started.elapsed().as_secs(),
                now.rss_kib,
                now.fds,
                now.threads
            );
            last_report = Instant::now();
        }
    }
    // Every call still open gets the longest call time to finish.
    let deadline = Instant::now() + LAST_CALL;
    while !pending.is_empty() && Instant::now() < deadline {
        if let Ok(id) = answers.recv_timeout(Duration::from_millis(200)) {
            if pending.remove(&id).is_some() {
                done += 1;
            }
        }
    }
    let last = figures(pid);
    let first = first.unwrap_or(last);
    let ratio = |a: f64, b: f64| if a > 0.0 { b / a } else { 0.0 };
    println!(
        "  calls answered: {done} ({:.0}/s), never answered: {}, answered after {} s: {late}",
        done as f64 / (started.elapsed().as_secs_f64()),
        pending.len(),
        LAST_CALL.as_secs()
    );
    println!("  inbox messages injected: {messages}");
    println!(
        "  RSS:     {:>6} KiB after warm-up, {:>6} KiB at the end ({:.2}x)",
        first.rss_kib,
        last.rss_kib,
        ratio(first.rss_kib as f64, last.rss_kib as f64)
    );
    println!(
        "  fds:     {:>6} after warm-up, {:>6} at the end ({:.2}x)",
        first.fds,
        last.fds,
        ratio(first.fds as f64, last.fds as f64)
    );
    println!(
        "  threads: {:>6} after warm-up, {:>6} at the end ({:.2}x)",
        first.threads,
        last.threads,
        ratio(first.threads as f64, last.threads as f64)
    );
    drop(stdin);
    let exit_by = Instant::now() + Duration::from_secs(10);
    while Instant::now() < exit_by && matches!(child.try_wait(), Ok(None)) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&home);
}
