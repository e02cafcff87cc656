//! The MCP server, measured on the release binary against the simulator:
//! start-up to the first `initialize` answer, tool round trips, throughput,
//! memory after many calls, and inbox delivery latency. Each figure comes
//! with a baseline measured in the same run.
//!
//! `BENCH_CALLS` sets the number of calls of the memory run (default 10 000).

#[path = "procstat.rs"]
mod procstat;
#[path = "../support/sim.rs"]
mod sim;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use procstat::median;
use serde_json::{json, Value};
use sim::Simulator;

const WS: &str = "6e5d4c3b-2a19-4807-b6a5-948372615041";
const TOKEN: &str = "tok-bench-mcp-0123456789abcdef";
const PEER: &str = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d";
const INIT: &str = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}"#;

fn main() {
    let sim = Simulator::start();
    sim.add_workspace(WS, Some(TOKEN));
    sim.add_workspace(PEER, Some("tok-bench-peer-0123456789ab"));
    let home = std::env::temp_dir().join(format!("molecule-bench-mcp-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&home);

    startup(&sim, &home);
    round_trips(&sim, &home);
    memory(&sim, &home);
    inbox_latency(&sim, &home);
    let _ = std::fs::remove_dir_all(&home);
}

fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_molecule-mcp"))
}

fn ours(sim: &Simulator, home: &Path, extra: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(binary());
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("PLATFORM_URL", sim.url())
        .env("WORKSPACE_ID", WS)
        .env("MOLECULE_WORKSPACE_TOKEN", TOKEN)
        .env("CONFIGS_DIR", home.join("configs"))
        .envs(extra.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    cmd
}

/// Time from spawn to the `initialize` answer on stdout.
fn time_to_initialize(mut cmd: Command) -> Option<Duration> {
    let started = Instant::now();
    let mut child = cmd.spawn().ok()?;
    let mut stdin = child.stdin.take()?;
    writeln!(stdin, "{INIT}").ok()?;
    let mut line = String::new();
    BufReader::new(child.stdout.take()?)
        .read_line(&mut line)
        .ok()?;
    let took = started.elapsed();
    drop(stdin);
    let _ = child.kill();
    let _ = child.wait();
    line.contains("\"result\"").then_some(took)
}

fn startup(sim: &Simulator, home: &Path) {
    const RUNS: usize = 40;
    let mut mine: Vec<Duration> = (0..RUNS)
        .filter_map(|_| {
            time_to_initialize(ours(sim, home, &[("MOLECULE_MCP_DISABLE_HEARTBEAT", "1")]))
        })
        .collect();
    println!("start-up to the first initialize answer (median of {RUNS}):");
    let ours_median = median(&mut mine);
    println!(
        "  molecule-mcp:  {:>8.2} ms",
        ours_median.as_secs_f64() * 1e3
    );
    // Baseline: the same handshake answered by a minimal Python responder,
    // the floor of any Python server (the wrapper this replaces is one).
    let script = r#"import sys, json
line = sys.stdin.readline()
req = json.loads(line)
print(json.dumps({"jsonrpc": "2.0", "id": req["id"], "result": {"protocolVersion": "2025-06-18", "capabilities": {}, "serverInfo": {"name": "py", "version": "0"}}}), flush=True)
sys.stdin.readline()
"#;
    let mut python: Vec<Duration> = (0..RUNS / 4)
        .filter_map(|_| {
            let mut cmd = Command::new("python3");
            cmd.args(["-c", script])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::null());
            time_to_initialize(cmd)
        })
        .collect();
    if python.is_empty() {
        println!("  python3 baseline: not available");
        return;
    }
    let py = median(&mut python);
    println!(
        "  minimal python3 responder (baseline): {:>8.2} ms",
        py.as_secs_f64() * 1e3
    );
    println!(
        "  ratio: molecule-mcp starts {:.1}x faster",
        py.as_secs_f64() / ours_median.as_secs_f64().max(1e-9)
    );
}

/// A running binary with one MCP session.
struct Session {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<Value>,
    next: u64,
}

impl Session {
    fn start(cmd: Command) -> Option<Session> {
        let mut cmd = cmd;
        let mut child = cmd.spawn().ok()?;
        let stdin = child.stdin.take()?;
        let stdout = child.stdout.take()?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str(&line) {
                    if tx.send(v).is_err() {
                        break;
                    }
                }
            }
        });
        let mut s = Session {
            child,
            stdin,
            lines,
            next: 1,
        };
        writeln!(s.stdin, "{INIT}").ok()?;
        s.wait_id(0)?;
        Some(s)
    }

    fn send(&mut self, method: &str, params: Value) -> u64 {
        let id = self.next;
        self.next += 1;
        let _ = writeln!(
            self.stdin,
            "{}",
            json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
        );
        id
    }

    fn wait_id(&mut self, id: u64) -> Option<Value> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let v = self
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .ok()?;
            if v["id"] == json!(id) {
                return Some(v);
            }
        }
    }

    fn call(&mut self, method: &str, params: Value) -> Option<Value> {
        let id = self.send(method, params);
        self.wait_id(id)
    }

    /// Sends `total` calls keeping `width` in flight; returns calls/s.
    fn throughput(&mut self, tool: &str, total: usize, width: usize) -> f64 {
        let started = Instant::now();
        let mut sent = 0;
        let mut done = 0;
        while done < total {
            while sent < total && sent - done < width {
                self.send("tools/call", json!({"name": tool, "arguments": {}}));
                sent += 1;
            }
            match self.lines.recv_timeout(Duration::from_secs(30)) {
                Ok(v) if v.get("id").is_some() => done += 1,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        done as f64 / started.elapsed().as_secs_f64()
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn round_trips(sim: &Simulator, home: &Path) {
    let Some(mut s) = Session::start(ours(sim, home, &[("MOLECULE_MCP_DISABLE_HEARTBEAT", "1")]))
    else {
        println!("cannot start molecule-mcp");
        return;
    };
    const N: usize = 2000;
    let time = |s: &mut Session, method: &str, params: Value| {
        let mut v: Vec<Duration> = (0..N)
            .map(|_| {
                let t = Instant::now();
                s.call(method, params.clone());
                t.elapsed()
            })
            .collect();
        median(&mut v)
    };
    let ping = time(&mut s, "ping", json!({}));
    let identity = time(
        &mut s,
        "tools/call",
        json!({"name": "get_runtime_identity", "arguments": {}}),
    );
    println!("round trip (median of {N}):");
    println!(
        "  get_runtime_identity: {:>7.1} µs",
        identity.as_secs_f64() * 1e6
    );
    println!(
        "  ping (baseline, the protocol floor): {:>7.1} µs",
        ping.as_secs_f64() * 1e6
    );
    println!(
        "  ratio: {:.2}x the floor",
        identity.as_secs_f64() / ping.as_secs_f64().max(1e-9)
    );

    println!("throughput of list_peers (one HTTP call to the simulator each):");
    let seq = s.throughput("list_peers", 500, 1);
    let par = s.throughput("list_peers", 2000, 16);
    println!("  sequential:    {seq:>8.0} calls/s");
    println!(
        "  16 in flight:  {par:>8.0} calls/s ({:.1}x sequential)",
        par / seq.max(1e-9)
    );
    let local = s.throughput("get_runtime_identity", 5000, 16);
    println!("  get_runtime_identity, 16 in flight: {local:>8.0} calls/s");
}

fn memory(sim: &Simulator, home: &Path) {
    let total: usize = std::env::var("BENCH_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let Some(mut s) = Session::start(ours(sim, home, &[("MOLECULE_MCP_DISABLE_HEARTBEAT", "1")]))
    else {
        return;
    };
    let at_start = procstat::status_kib(s.pid(), "VmRSS");
    s.throughput("list_peers", total / 10, 16);
    let tenth = procstat::status_kib(s.pid(), "VmRSS");
    s.throughput("list_peers", total - total / 10, 16);
    let end = procstat::status_kib(s.pid(), "VmRSS");
    println!("memory over {total} list_peers calls (VmRSS):");
    println!(
        "  after initialize: {at_start} KiB; after {}: {tenth} KiB; after {total}: {end} KiB",
        total / 10
    );
    println!(
        "  growth over the last {} calls: {:+} KiB ({:.3} KiB per 1000 calls), peak {} KiB",
        total - total / 10,
        end as i64 - tenth as i64,
        (end as f64 - tenth as f64) / ((total - total / 10) as f64 / 1000.0),
        procstat::status_kib(s.pid(), "VmHWM"),
    );
}

fn inbox_latency(sim: &Simulator, home: &Path) {
    const POLL: f64 = 0.5;
    let poll = POLL.to_string();
    let Some(mut s) = Session::start(ours(sim, home, &[("MOLECULE_MCP_POLL_SECS", &poll)])) else {
        return;
    };
    let mut delays = Vec::new();
    for i in 0..10 {
        // A wait is pending before the message exists, as an agent's would be.
        let id = s.send(
            "tools/call",
            json!({"name": "wait_for_message", "arguments": {"timeout_secs": 10}}),
        );
        std::thread::sleep(Duration::from_millis(50 + 37 * i));
        let injected = Instant::now();
        let activity = sim.inject_canvas(WS, &format!("bench message {i}"));
        if s.wait_id(id).is_none() {
            break;
        }
        delays.push(injected.elapsed());
        s.call(
            "tools/call",
            json!({"name": "inbox_pop", "arguments": {"activity_id": activity}}),
        );
    }
    if delays.is_empty() {
        println!("inbox delivery: no message arrived");
        return;
    }
    let max = delays.iter().max().copied().unwrap_or_default();
    let med = median(&mut delays);
    println!(
        "inbox delivery latency at a {POL} s poll interval (10 messages):",
        POL = POLL
    );
    println!(
        "  median {:.0} ms, max {:.0} ms; goal: within the poll interval + 50 ms = {:.0} ms",
        med.as_secs_f64() * 1e3,
        max.as_secs_f64() * 1e3,
        POLL * 1e3 + 50.0
    );
}
