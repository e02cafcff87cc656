//! What the gateway costs and how fast it heals, on the release binary
//! against the stdio fixture, in one run:
//!
//! - added latency: a `tools/call` through molecule-mcp to the fixture
//!   against the same call sent to the fixture directly (medians, ratio);
//! - throughput through molecule-mcp with 1 and 16 calls in flight;
//! - recovery: an HTTP upstream down for 3, 20 and 60 s while a client
//!   calls it every 100 ms; from its coming back to the first successful
//!   call (20 runs each), beside the old schedule (the breaker's cooldowns
//!   alone);
//! - peak RSS (VmHWM) of molecule-mcp with 1 and with 11 stdio upstreams,
//!   and with 1 and 10 HTTP upstreams, for the glibc build and, when
//!   `make static` built it, the static musl build, side by side; what an
//!   extra upstream costs beside its baseline: the Python wrapper ran one
//!   `mcp-proxy` per HTTP server, 57.6 MiB each when measured beside it;
//!   the floor under that, measured in the same run, is a minimal Python 3
//!   relay (stdlib only: a stdio line in, one `urllib` POST, the answer
//!   out), which is what any per-server Python process costs at least.
//!
//! Needs the release fixtures: `cargo build --release --examples`, then
//! `cargo bench --bench gateway`. Arguments name the parts to run
//! (`latency`, `recovery`, `memory`); none runs them all:
//! `cargo bench --bench gateway -- memory`.

#[path = "../support/launch.rs"]
mod launch;
mod procstat;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use molecule_mcp::machine::breaker::{self, Breaker};
use molecule_mcp::machine::XorShift;
use serde_json::{json, Value};

const ROUND_TRIPS: usize = 2000;
const THROUGHPUT_CALLS: usize = 5000;
const WAIT: Duration = Duration::from_secs(30);
/// Runs of each peak RSS figure (their median is shown).
const RSS_RUNS: usize = 7;

fn main() {
    let home = std::env::temp_dir().join(format!("molecule-gw-bench-{}", std::process::id()));
    if let Err(e) = std::fs::create_dir_all(&home) {
        println!("cannot create {}: {e}", home.display());
        return;
    }
    let fixture = launch::example("fixture_stdio");
    // Cargo passes `--bench`; any other argument names a part to run.
    let parts: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let runs = |part: &str| parts.is_empty() || parts.iter().any(|p| p == part);
    if runs("latency") {
        latency_and_throughput(&home, &fixture);
    }
    if runs("recovery") {
        recovery(&home);
    }
    if runs("memory") {
        memory(&home, &fixture);
    }
    let _ = std::fs::remove_dir_all(&home);
}

/// A line-oriented JSON-RPC peer on a child's stdio; killed on drop.
struct Peer {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<Value>,
    stash: HashMap<u64, Value>,
    next_id: u64,
}

impl Peer {
    fn start(mut command: Command) -> Peer {
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start: {e}"));
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Ok(value) = serde_json::from_str::<Value>(&line) {
                    if tx.send(value).is_err() {
                        break;
                    }
                }
            }
        });
        Peer {
            child,
            stdin,
            lines,
            stash: HashMap::new(),
            next_id: 1,
        }
    }

    fn send(&mut self, method: &str, params: Value) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let line = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        // One write per line, as hosts send them (see the mcp bench).
        let _ = self.stdin.write_all(format!("{line}\n").as_bytes());
        id
    }

    fn notify(&mut self, method: &str) {
        let _ = writeln!(
            self.stdin,
            "{}",
            json!({"jsonrpc": "2.0", "method": method})
        );
        let _ = self.stdin.flush();
    }

    /// The next answer (any id), or `None` after the timeout.
    fn next_answer(&mut self, timeout: Duration) -> Option<(u64, Value)> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            let message = self.lines.recv_timeout(left).ok()?;
            if message.get("method").is_none() {
                if let Some(id) = message.get("id").and_then(Value::as_u64) {
                    return Some((id, message));
                }
            }
        }
    }

    fn wait(&mut self, id: u64) -> Option<Value> {
        if let Some(answer) = self.stash.remove(&id) {
            return Some(answer);
        }
        let deadline = Instant::now() + WAIT;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let (got, answer) = self.next_answer(left)?;
            if got == id {
                return Some(answer);
            }
            self.stash.insert(got, answer);
        }
        None
    }

    fn call(&mut self, method: &str, params: Value) -> Option<Value> {
        let id = self.send(method, params);
        self.wait(id)
    }

    fn initialize(&mut self) -> bool {
        let params = json!({"protocolVersion": "2025-06-18", "capabilities": {},
                            "clientInfo": {"name": "bench", "version": "0"}});
        let ok = self.call("initialize", params).is_some();
        self.notify("notifications/initialized");
        ok
    }

    /// Calls per second over `total` calls with `width` in flight.
    fn throughput(&mut self, tool: &str, total: usize, width: usize) -> f64 {
        let params = json!({"name": tool, "arguments": {"text": "x"}});
        let started = Instant::now();
        let mut sent = 0;
        let mut done = 0;
        while sent < width.min(total) {
            self.send("tools/call", params.clone());
            sent += 1;
        }
        while done < total {
            if self.next_answer(WAIT).is_none() {
                println!("  (stalled after {done} answers)");
                break;
            }
            done += 1;
            if sent < total {
                self.send("tools/call", params.clone());
                sent += 1;
            }
        }
        done as f64 / started.elapsed().as_secs_f64()
    }

    fn round_trips(&mut self, tool: &str, n: usize) -> Duration {
        let mut times = Vec::with_capacity(n);
        for _ in 0..n {
            let started = Instant::now();
            let answer = self.call(
                "tools/call",
                json!({"name": tool, "arguments": {"text": "x"}}),
            );
            times.push(started.elapsed());
            if answer.is_none() {
                println!("  (no answer)");
                break;
            }
        }
        procstat::median(&mut times)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn tools(&mut self) -> Vec<String> {
        self.call("tools/list", json!({}))
            .and_then(|a| {
                a.pointer("/result/tools")
                    .and_then(Value::as_array)
                    .cloned()
            })
            .unwrap_or_default()
            .iter()
            .filter_map(|t| t.get("name").and_then(Value::as_str).map(String::from))
            .collect()
    }

    /// Waits until every name in `wanted` is offered.
    fn wait_tools(&mut self, wanted: &[String]) -> bool {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            let tools = self.tools();
            if wanted.iter().all(|w| tools.contains(w)) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// molecule-mcp in gateway-only mode with `servers` (the mcpServers map).
fn gateway(home: &Path, tag: &str, servers: Value) -> Peer {
    gateway_of(
        Path::new(env!("CARGO_BIN_EXE_molecule-mcp")),
        home,
        tag,
        servers,
    )
}

fn gateway_of(bin: &Path, home: &Path, tag: &str, servers: Value) -> Peer {
    let path = home.join(format!("{tag}.json"));
    let _ = std::fs::write(&path, json!({"mcpServers": servers}).to_string());
    let mut command = Command::new(bin);
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("MOLECULE_MCP_SERVERS", &path)
        .current_dir(home);
    let mut peer = Peer::start(command);
    if !peer.initialize() {
        panic!("molecule-mcp did not initialize");
    }
    peer
}

fn entry(fixture: &Path) -> Value {
    json!({"command": fixture.display().to_string(), "args": []})
}

fn latency_and_throughput(home: &Path, fixture: &Path) {
    let mut direct = Peer::start(Command::new(fixture));
    if !direct.initialize() {
        println!("the fixture did not initialize");
        return;
    }
    let mut through = gateway(home, "one", json!({"files": entry(fixture)}));
    if !through.wait_tools(&["files__echo".into()]) {
        println!("the upstream's tools never appeared");
        return;
    }
    // Warm both paths up before measuring.
    direct.round_trips("echo", 100);
    through.round_trips("files__echo", 100);
    let alone = direct.round_trips("echo", ROUND_TRIPS);
    let with = through.round_trips("files__echo", ROUND_TRIPS);
    let added = with.saturating_sub(alone);
    println!("tools/call round trip, median of {ROUND_TRIPS}:");
    println!("  fixture directly:       {:>8.1} µs", micros(alone));
    println!("  through molecule-mcp:   {:>8.1} µs", micros(with));
    println!(
        "  added by the gateway:   {:>8.1} µs  (ratio {:.2}x)",
        micros(added),
        ratio(with, alone)
    );
    let seq_direct = direct.throughput("echo", THROUGHPUT_CALLS, 1);
    let seq = through.throughput("files__echo", THROUGHPUT_CALLS, 1);
    let wide = through.throughput("files__echo", THROUGHPUT_CALLS, 16);
    let wide_direct = direct.throughput("echo", THROUGHPUT_CALLS, 16);
    println!("throughput over {THROUGHPUT_CALLS} calls:");
    println!(
        "  1 in flight:   {seq:>8.0} calls/s through, {seq_direct:>8.0} direct ({:.2}x)",
        seq / seq_direct.max(1.0)
    );
    println!(
        "  16 in flight:  {wide:>8.0} calls/s through, {wide_direct:>8.0} direct ({:.2}x)",
        wide / wide_direct.max(1.0)
    );
}

/// How fast a called server comes back: an HTTP upstream goes down for
/// `outage` while a client calls one of its tools every 100 ms, then comes
/// back on the same port; measured is the time from its being back to the
/// first successful call. Beside it, the old schedule (calls are refused
/// until the breaker's own jittered, doubling cooldown ends), played with
/// the real breaker machine and a client calling every 100 ms, an instant
/// probe and the same number of jitter seeds.
///
/// `BENCH_RECOVERY_RUNS` (default 20) runs per outage, `BENCH_RECOVERY_PARALLEL`
/// (default 5) of them at once (each its own gateway and upstream).
fn recovery(home: &Path) {
    let runs = env_number("BENCH_RECOVERY_RUNS", 20);
    let parallel = env_number("BENCH_RECOVERY_PARALLEL", 5).max(1);
    println!(
        "recovery of an HTTP upstream, a client calling every 100 ms (first successful call \
         after the upstream is back; {runs} runs each, {parallel} at a time):"
    );
    for outage in [3, 20, 60].map(Duration::from_secs) {
        let mut now = Vec::new();
        let mut failed = 0;
        for batch in (0..runs).collect::<Vec<_>>().chunks(parallel) {
            let handles: Vec<_> = batch
                .iter()
                .map(|run| {
                    let home = home.join(format!("recover-{}-{run}", outage.as_secs()));
                    std::thread::spawn(move || {
                        let _ = std::fs::create_dir_all(&home);
                        recover_once(&home, outage)
                    })
                })
                .collect();
            for handle in handles {
                match handle.join().ok().flatten() {
                    Some(took) => now.push(took),
                    None => failed += 1,
                }
            }
        }
        let old: Vec<Duration> = (0..runs as u64)
            .map(|seed| old_schedule(outage, seed + 1))
            .collect();
        println!(
            "  {:>2} s outage: now {} ; old schedule {}{}",
            outage.as_secs(),
            spread(&mut now),
            spread(&mut old.clone()),
            if failed > 0 {
                format!("; {failed} run(s) did not recover within 60 s")
            } else {
                String::new()
            }
        );
    }
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `median M s, min A s, max B s`.
fn spread(times: &mut [Duration]) -> String {
    if times.is_empty() {
        return "no figures".into();
    }
    times.sort();
    format!(
        "median {:.2} s, min {:.2} s, max {:.2} s",
        times[times.len() / 2].as_secs_f64(),
        times[0].as_secs_f64(),
        times[times.len() - 1].as_secs_f64()
    )
}

fn recover_once(home: &Path, outage: Duration) -> Option<Duration> {
    let first = launch::HttpFixture::start(&[]);
    let port = first.port.to_string();
    let servers = json!({"web": {"url": first.url}});
    let mut peer = gateway(home, "recover", servers);
    if !peer.wait_tools(&["web__echo".into()]) {
        return None;
    }
    let call = |peer: &mut Peer| {
        peer.call(
            "tools/call",
            json!({"name": "web__echo", "arguments": {"text": "x"}}),
        )
        .as_ref()
        .and_then(|a| a.pointer("/result/isError"))
        .and_then(Value::as_bool)
            == Some(false)
    };
    drop(first);
    let down = Instant::now();
    while down.elapsed() < outage {
        call(&mut peer);
        std::thread::sleep(Duration::from_millis(100));
    }
    let _second = launch::HttpFixture::start_exact(&["--port", &port]);
    let back = Instant::now();
    while back.elapsed() < Duration::from_secs(60) {
        if call(&mut peer) {
            return Some(back.elapsed());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

/// The old schedule: the breaker alone decides when to probe. The server
/// fails from 0 to `outage`; a client calls every 100 ms; a probe's answer
/// is instant. Returns the time from `outage` to the first successful call.
fn old_schedule(outage: Duration, seed: u64) -> Duration {
    let t0 = Instant::now();
    let back = t0 + outage;
    let mut breaker = Breaker::new(breaker::Config::default(), Box::new(XorShift::new(seed)));
    // A probe's answer is instant: failed while down, then good.
    let probe = |breaker: &mut Breaker, effects: Vec<breaker::Effect>, at: Instant| {
        if effects.contains(&breaker::Effect::StartProbe) {
            let event = if at >= back {
                breaker::Event::ProbeSucceeded
            } else {
                breaker::Event::ProbeFailed(breaker::Ending::Transport)
            };
            breaker.handle(event, at);
        }
    };
    let mut call_at = t0;
    while call_at < back + Duration::from_secs(600) {
        while let Some(due) = breaker.next_deadline().filter(|d| *d <= call_at) {
            let effects = breaker.handle(breaker::Event::Tick, due);
            probe(&mut breaker, effects, due);
        }
        let (admission, effects) = breaker.admit(call_at);
        probe(&mut breaker, effects, call_at);
        if admission == breaker::Admission::Go {
            if call_at >= back {
                return call_at - back;
            }
            breaker.handle(
                breaker::Event::CallFailed(breaker::Ending::Transport),
                call_at,
            );
        }
        call_at += Duration::from_millis(100);
    }
    Duration::from_secs(600)
}

/// Peak RSS with 1 and with more upstreams of each kind, per build, then
/// one table: what an extra upstream costs in each build, beside what a
/// Python process per server costs.
fn memory(home: &Path, fixture: &Path) {
    let http = launch::HttpFixture::start(&[]);
    let http_entry = json!({"url": http.url});
    let mut columns = Vec::new();
    for (build, bin) in procstat::builds(Path::new(env!("CARGO_BIN_EXE_molecule-mcp"))) {
        println!(
            "peak RSS of molecule-mcp, {build} build (VmHWM, median of {RSS_RUNS}; the upstream processes not included):"
        );
        let one = peak_rss(&bin, home, &entry(fixture), 1);
        let eleven = peak_rss(&bin, home, &entry(fixture), 11);
        println!("  1 stdio upstream:    {one:>7} KiB");
        println!("  11 stdio upstreams:  {eleven:>7} KiB");
        let stdio = per_extra(one, eleven, 10);
        let one = peak_rss(&bin, home, &http_entry, 1);
        let ten = peak_rss(&bin, home, &http_entry, 10);
        println!("  1 HTTP upstream:     {one:>7} KiB");
        println!("  10 HTTP upstreams:   {ten:>7} KiB");
        columns.push((build, per_extra(one, ten, 9), stdio));
    }
    let floor = python_relay_rss(&http.url);
    println!("RSS per extra upstream (VmHWM, 10 vs 1 HTTP, 11 vs 1 stdio):");
    for (build, http, stdio) in &columns {
        println!(
            "  {build:<12} HTTP {:>7} KiB   stdio {:>7} KiB (plus the child)",
            shown(*http),
            shown(*stdio)
        );
    }
    match floor {
        Some(floor) => {
            println!("  baseline: one Python process per HTTP server; the minimal python3 relay measured now: {floor} KiB");
            for (build, http, _) in &columns {
                if let Some(http) = http.filter(|h| *h > 0.0) {
                    println!(
                        "    {build}: {:.0}x less than the minimal relay",
                        floor as f64 / http
                    );
                }
            }
        }
        None => println!("  baseline: python3 not available, the minimal relay was not measured"),
    }
    println!("  (the Python wrapper's mcp-proxy per server, measured beside it: 57.6 MiB)");
}

/// KiB per extra upstream, `None` when a run failed.
fn per_extra(one: u64, more: u64, extra: u64) -> Option<f64> {
    (one > 0 && more > 0).then(|| (more as f64 - one as f64) / extra as f64)
}

fn shown(value: Option<f64>) -> String {
    value.map_or_else(|| "failed".into(), |v| format!("{v:.0}"))
}

/// The floor under a Python process per server: the interpreter with
/// `json` and `urllib` imported, relaying `initialize` and 200 calls from
/// stdin to the HTTP fixture. Its peak RSS in KiB.
fn python_relay_rss(url: &str) -> Option<u64> {
    let script = r#"import sys, json, urllib.request
url, session = sys.argv[1], None
for line in sys.stdin:
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    if session:
        headers["Mcp-Session-Id"] = session
    with urllib.request.urlopen(urllib.request.Request(url, line.encode(), headers)) as answer:
        session = answer.headers.get("Mcp-Session-Id") or session
        body = answer.read().decode()
    if answer.headers.get("Content-Type", "").startswith("text/event-stream"):
        body = "".join(l[5:].strip() for l in body.splitlines() if l.startswith("data:"))
    if body:
        print(json.dumps(json.loads(body)), flush=True)
"#;
    let present = Command::new("python3")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !present {
        return None;
    }
    let mut command = Command::new("python3");
    command.args(["-c", script, url]);
    let mut peer = Peer::start(command);
    if !peer.initialize() {
        return None;
    }
    for _ in 0..200 {
        peer.call(
            "tools/call",
            json!({"name": "echo", "arguments": {"text": "x"}}),
        )?;
    }
    Some(procstat::status_kib(peer.pid(), "VmHWM"))
}

/// The median over [`RSS_RUNS`] runs of [`peak_rss_once`]: one run's
/// figure moves by a few pages either way.
fn peak_rss(bin: &Path, home: &Path, upstream: &Value, n: usize) -> u64 {
    let mut runs: Vec<u64> = (0..RSS_RUNS)
        .map(|_| peak_rss_once(bin, home, upstream, n))
        .collect();
    runs.sort_unstable();
    runs[runs.len() / 2]
}

fn peak_rss_once(bin: &Path, home: &Path, upstream: &Value, n: usize) -> u64 {
    let mut servers = serde_json::Map::new();
    let mut names = Vec::new();
    for i in 0..n {
        servers.insert(format!("u{i}"), upstream.clone());
        names.push(format!("u{i}__echo"));
    }
    let mut peer = gateway_of(bin, home, &format!("rss-{n}"), Value::Object(servers));
    if !peer.wait_tools(&names) {
        return 0;
    }
    for name in &names {
        for _ in 0..20 {
            peer.call(
                "tools/call",
                json!({"name": name, "arguments": {"text": "x"}}),
            );
        }
    }
    procstat::status_kib(peer.pid(), "VmHWM")
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64().max(1e-9)
}
