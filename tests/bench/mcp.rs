//! The MCP server, measured on the release binary against the simulator:
//! start-up to the first `initialize` answer, tool round trips, throughput,
//! memory after many calls, threads and CPU at idle, and inbox delivery
//! latency. Each figure comes with a baseline measured in the same run.
//! The footprint figures (start-up, memory, idle) are measured for the
//! glibc build and, when `make static` built it, the static musl build.
//!
//! The baselines are minimal Python 3 programs (stdlib only) doing the least
//! any Python server must do: start the interpreter, read a line, answer
//! (and, for the register-on figure, one `urllib` POST first). They are a
//! floor under the Python wrapper this binary replaces, which also imports
//! its MCP SDK and HTTP client: measured beside it on the same machine,
//! that wrapper took 141-216 ms to start without register, 197-260 ms with,
//! and peaked at 32 MiB after 10 000 calls with 4-5 threads. The floor is
//! below it on every count, so a ratio against the floor understates the
//! gain over the real wrapper.
//!
//! A glibc program pays for the dynamic loader and libc's start-up before
//! `main`: the start-up figures come with that floor too, the spawn of
//! `/bin/true` (a dynamically linked C program that does nothing).
//!
//! The run ends with the footprint figures of issue 13 for both builds,
//! each beside its goal and the baselines of this run.
//!
//! `BENCH_CALLS` sets the number of calls of the memory run (default
//! 10 000); `BENCH_IDLE_SECS` the idle window (default 60).

mod procstat;
#[path = "../support/sim/mod.rs"]
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

    let builds = procstat::builds(&binary());
    let mut goals = Goals::default();
    for (build, bin) in &builds {
        println!("== {build} build ==");
        startup(build, bin, &sim, &home, &mut goals);
        memory(build, bin, &sim, &home, &mut goals);
    }
    goals.c_floor = c_runtime_floor();
    python_startup(&sim, &mut goals);
    goals.python_rss = python_memory();
    for (build, bin) in &builds {
        println!("== {build} build ==");
        idle(build, bin, &sim, &home, &mut goals);
    }
    println!("== glibc build ==");
    let bin = binary();
    round_trips(&bin, &sim, &home);
    inbox_latency(&bin, &sim, &home);
    goals.print();
    let _ = std::fs::remove_dir_all(&home);
}

/// The Python wrapper's figures, measured beside it on the same machine
/// (issue 13): what the minimal Python floors of this run stand in for.
const WRAPPER_NO_REGISTER: &str = "141-216 ms";
const WRAPPER_REGISTER: (f64, f64) = (197.0, 260.0);
const WRAPPER_PEAK_MIB: &str = "32.2-32.4 MiB";

/// The goals of issue 13.
const GOAL_NO_REGISTER_MS: f64 = 1.5;
const GOAL_REGISTER_RATIO: f64 = 100.0;
/// The peak goal is for calls made one at a time: the issue's figures (the
/// wrapper's 32 MiB, this binary's 4.9-5.0 MiB then) came from a Python
/// stdlib client making one call at a time, while the binary of that time
/// peaked at 7.2 MiB in this bench's run with 16 in flight. That run is
/// reported beside it, without a goal.
const GOAL_PEAK_KIB: u64 = 3 * 1024 + 205; // 3.2 MiB
const GOAL_IDLE_THREADS: u64 = 8;

/// One memory run's peak RSS and the peak of each of its parts.
struct Peak {
    /// Calls in flight.
    width: usize,
    total: u64,
    parts: procstat::Resident,
    /// Of the file-backed part, the pages of libc, the loader and libgcc_s.
    c_runtime: u64,
}

/// Runs of the peak measured one call at a time, per build. Each run loads
/// the binary and libc at other addresses (ASLR), so other 64 KiB windows
/// of their code fall around the pages a session runs, and the peaks of
/// identical runs differ by up to 300 KiB: the goal is judged on the
/// median.
const PEAK_RUNS: usize = 3;

/// The footprint figures of each build and the baselines of the same run.
#[derive(Default)]
struct Goals {
    /// Per build: (start-up without register, with register).
    startup: Vec<(&'static str, Duration, Duration)>,
    /// Per build: the peaks of the memory runs, one call at a time first.
    memory: Vec<(&'static str, Vec<Peak>)>,
    idle_threads: Vec<(&'static str, u64)>,
    c_floor: Option<Duration>,
    python_startup: Option<(Duration, Duration)>,
    python_rss: Option<u64>,
}

impl Goals {
    fn print(&self) {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let met = |ok: bool| if ok { "met" } else { "NOT met" };
        println!("== footprint against the goals of issue 13 (both builds, this run) ==");
        let c_floor = self
            .c_floor
            .map(|d| {
                format!(
                    "; a glibc C program doing nothing (/bin/true): {:.2} ms",
                    ms(d)
                )
            })
            .unwrap_or_default();
        let (py_quiet, py_register) = match self.python_startup {
            Some((q, r)) => (format!("{:.1} ms", ms(q)), format!("{:.1} ms", ms(r))),
            None => ("n/a".to_string(), "n/a".to_string()),
        };
        println!(
            "spawn -> initialize answer, no register (goal <= {GOAL_NO_REGISTER_MS} ms; \
             minimal python3 floor {py_quiet}, the wrapper {WRAPPER_NO_REGISTER}{c_floor}):"
        );
        for (build, quiet, _) in &self.startup {
            println!(
                "  {build:<12} {:>7.2} ms  {}",
                ms(*quiet),
                met(ms(*quiet) <= GOAL_NO_REGISTER_MS)
            );
        }
        println!(
            "spawn -> initialize answer, register on (goal >= {GOAL_REGISTER_RATIO:.0}x faster than the \
             wrapper's {:.0}-{:.0} ms; minimal python3 floor with one urllib register {py_register}):",
            WRAPPER_REGISTER.0, WRAPPER_REGISTER.1
        );
        for (build, _, registering) in &self.startup {
            let (low, high) = (
                WRAPPER_REGISTER.0 / ms(*registering).max(1e-9),
                WRAPPER_REGISTER.1 / ms(*registering).max(1e-9),
            );
            println!(
                "  {build:<12} {:>7.2} ms  {low:.0}-{high:.0}x the wrapper  {}",
                ms(*registering),
                met(low >= GOAL_REGISTER_RATIO)
            );
        }
        let py_rss = self
            .python_rss
            .map(|k| format!("{k} KiB"))
            .unwrap_or_else(|| "n/a".to_string());
        println!(
            "peak RSS after the list_peers runs (goal <= {GOAL_PEAK_KIB} KiB, 3.2 MiB, one call at a time \
             as the wrapper was measured; minimal python3 floor {py_rss}, the wrapper {WRAPPER_PEAK_MIB}):"
        );
        for (build, runs) in &self.memory {
            for run in runs {
                let verdict = if run.width == 1 { "" } else { "(no goal) " };
                let c_runtime = if run.c_runtime > 0 {
                    format!(", {} of them the C runtime's libraries", run.c_runtime)
                } else {
                    String::new()
                };
                println!(
                    "  {build:<12} {:>2} in flight {:>6} KiB  {verdict}peak anonymous {} KiB (private to \
                     the instance), peak file-backed {} KiB (code pages, shared by every instance on the \
                     node{c_runtime})",
                    run.width, run.total, run.parts.anon, run.parts.file
                );
            }
            let mut single: Vec<u64> = runs
                .iter()
                .filter(|r| r.width == 1)
                .map(|r| r.total)
                .collect();
            single.sort_unstable();
            if let Some(median) = single.get(single.len() / 2) {
                println!(
                    "  {build:<12} median of the {} runs one at a time: {median} KiB  {}",
                    single.len(),
                    met(*median <= GOAL_PEAK_KIB)
                );
            }
        }
        println!("threads at idle (goal <= {GOAL_IDLE_THREADS}; the wrapper: 4-5):");
        for (build, threads) in &self.idle_threads {
            println!(
                "  {build:<12} {threads:>6}      {}",
                met(*threads <= GOAL_IDLE_THREADS)
            );
        }
    }
}

fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_molecule-mcp"))
}

fn ours(bin: &Path, sim: &Simulator, home: &Path, extra: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(bin);
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

/// Ours with the heartbeat off: a run that measures the calls alone.
fn without_heartbeat(bin: &Path, sim: &Simulator, home: &Path) -> Command {
    ours(bin, sim, home, &[("MOLECULE_MCP_DISABLE_HEARTBEAT", "1")])
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

const STARTUP_RUNS: usize = 40;

/// The Python floor's start-up script: `REGISTER` is replaced with a
/// register POST or nothing.
const PY_RESPONDER: &str = r#"import sys, json
REGISTER
line = sys.stdin.readline()
req = json.loads(line)
print(json.dumps({"jsonrpc": "2.0", "id": req["id"], "result": {"protocolVersion": "2025-06-18", "capabilities": {}, "serverInfo": {"name": "py", "version": "0"}}}), flush=True)
sys.stdin.readline()
"#;

fn startup(build: &'static str, bin: &Path, sim: &Simulator, home: &Path, goals: &mut Goals) {
    let median_of = |extra: &[(&str, &str)]| {
        let mut runs: Vec<Duration> = (0..STARTUP_RUNS)
            .filter_map(|_| time_to_initialize(ours(bin, sim, home, extra)))
            .collect();
        median(&mut runs)
    };
    let quiet = median_of(&[("MOLECULE_MCP_DISABLE_HEARTBEAT", "1")]);
    let registering = median_of(&[]);
    println!("start-up to the first initialize answer (median of {STARTUP_RUNS}):");
    println!("  no register:   {:>8.2} ms", quiet.as_secs_f64() * 1e3);
    println!(
        "  register on:   {:>8.2} ms",
        registering.as_secs_f64() * 1e3
    );
    record("no register", build, quiet);
    record("register on", build, registering);
    goals.startup.push((build, quiet, registering));
}

/// What any dynamically linked glibc program pays from spawn to its end
/// before doing anything: the loader, libc's start-up (on a virtual machine
/// its CPU feature and cache probes trap), the exit. Median of the spawns
/// of `/bin/true`.
fn c_runtime_floor() -> Option<Duration> {
    let mut runs: Vec<Duration> = (0..STARTUP_RUNS)
        .filter_map(|_| {
            let started = Instant::now();
            let status = Command::new("/bin/true")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .status()
                .ok()?;
            status.success().then(|| started.elapsed())
        })
        .collect();
    if runs.is_empty() {
        println!("glibc floor: /bin/true not available");
        return None;
    }
    let floor = median(&mut runs);
    println!(
        "glibc floor, spawn -> exit of /bin/true (median of {STARTUP_RUNS}): {:>8.2} ms",
        floor.as_secs_f64() * 1e3
    );
    Some(floor)
}

/// Start-up figures per binary, kept for the ratios printed with the
/// Python floor.
fn record(what: &'static str, build: &'static str, took: Duration) {
    RECORDED.with(|r| r.borrow_mut().push((what, build, took)));
}

thread_local! {
    static RECORDED: std::cell::RefCell<Vec<(&'static str, &'static str, Duration)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

fn python_startup(sim: &Simulator, goals: &mut Goals) {
    let body = json!({"id": WS, "url": "", "agent_card": {}, "delivery_mode": "poll"});
    let headers = json!({
        "Authorization": format!("Bearer {TOKEN}"),
        "Content-Type": "application/json",
        "Origin": sim.url(),
    });
    // JSON literals are Python literals here (strings and objects only).
    let register = format!(
        "import urllib.request\nurllib.request.urlopen(urllib.request.Request({url}, data={body}.encode(), headers={headers})).read()",
        url = json!(format!("{}/registry/register", sim.url())),
        body = json!(body.to_string()),
    );
    let run = |register: &str| {
        let script = PY_RESPONDER.replace("REGISTER", register);
        let mut runs: Vec<Duration> = (0..STARTUP_RUNS / 4)
            .filter_map(|_| {
                let mut cmd = Command::new("python3");
                cmd.args(["-c", &script])
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::null());
                time_to_initialize(cmd)
            })
            .collect();
        (!runs.is_empty()).then(|| median(&mut runs))
    };
    println!("start-up baselines (median of {}):", STARTUP_RUNS / 4);
    let (Some(quiet), Some(registering)) = (run(""), run(&register)) else {
        println!("  python3 baseline: not available (no python3, or its register failed)");
        return;
    };
    println!(
        "  minimal python3 responder: {:>8.2} ms; registering first (urllib): {:>8.2} ms",
        quiet.as_secs_f64() * 1e3,
        registering.as_secs_f64() * 1e3
    );
    println!(
        "  (a floor under the Python wrapper, which also imports its MCP SDK and HTTP client: \
         it took {WRAPPER_NO_REGISTER} without register, {:.0}-{:.0} ms with)",
        WRAPPER_REGISTER.0, WRAPPER_REGISTER.1
    );
    goals.python_startup = Some((quiet, registering));
    RECORDED.with(|r| {
        for (what, build, took) in r.borrow().iter() {
            let floor = if *what == "no register" {
                quiet
            } else {
                registering
            };
            println!(
                "  ratio, {build} build, {what}: {:.0}x faster than the floor",
                floor.as_secs_f64() / took.as_secs_f64().max(1e-9)
            );
        }
    });
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
        // One write per line, as hosts send them: a line written in pieces
        // wakes the server's reader once per piece, which is not what is
        // being measured.
        let line = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let _ = self.stdin.write_all(format!("{line}\n").as_bytes());
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
        self.throughput_sampled(tool, total, width, |_| {})
    }

    /// As `throughput`, calling `sample` with the child's pid every 100
    /// answers, while the calls are in flight.
    fn throughput_sampled(
        &mut self,
        tool: &str,
        total: usize,
        width: usize,
        mut sample: impl FnMut(u32),
    ) -> f64 {
        let pid = self.pid();
        let started = Instant::now();
        let mut sent = 0;
        let mut done = 0;
        while done < total {
            while sent < total && sent - done < width {
                self.send("tools/call", json!({"name": tool, "arguments": {}}));
                sent += 1;
            }
            match self.lines.recv_timeout(Duration::from_secs(30)) {
                Ok(v) if v.get("id").is_some() => {
                    done += 1;
                    if done % 100 == 0 {
                        sample(pid);
                    }
                }
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

fn round_trips(bin: &Path, sim: &Simulator, home: &Path) {
    let Some(mut s) = Session::start(without_heartbeat(bin, sim, home)) else {
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

fn memory(build: &'static str, bin: &Path, sim: &Simulator, home: &Path, goals: &mut Goals) {
    let total: usize = std::env::var("BENCH_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let mut runs = Vec::new();
    let widths = std::iter::repeat_n(1, PEAK_RUNS).chain([16]);
    for width in widths {
        let Some(mut s) = Session::start(without_heartbeat(bin, sim, home)) else {
            return;
        };
        let at_start = procstat::status_kib(s.pid(), "VmRSS");
        let mut parts = procstat::Resident::of(s.pid());
        let mut sample = |pid| parts = parts.max(procstat::Resident::of(pid));
        s.throughput_sampled("list_peers", total / 10, width, &mut sample);
        let tenth = procstat::status_kib(s.pid(), "VmRSS");
        s.throughput_sampled("list_peers", total - total / 10, width, &mut sample);
        let end = procstat::status_kib(s.pid(), "VmRSS");
        let peak = procstat::status_kib(s.pid(), "VmHWM");
        println!("memory over {total} list_peers calls, {width} in flight (VmRSS):");
        println!(
            "  after initialize: {at_start} KiB; after {}: {tenth} KiB; after {total}: {end} KiB",
            total / 10
        );
        println!(
            "  growth over the last {} calls: {:+} KiB ({:.3} KiB per 1000 calls)",
            total - total / 10,
            end as i64 - tenth as i64,
            (end as f64 - tenth as f64) / ((total - total / 10) as f64 / 1000.0),
        );
        let now = procstat::Resident::of(s.pid());
        println!(
            "  peak RSS (VmHWM): {peak} KiB; sampled every 100 calls, anonymous peaked at {} KiB \
             (heap, stacks: private), file-backed at {} KiB (code pages of the binary{}: page cache, \
             shared by every instance on the node); at the end {} + {} KiB",
            parts.anon,
            parts.file,
            if build == "glibc" { " and libc" } else { "" },
            now.anon,
            now.file,
        );
        let c_runtime = procstat::c_runtime_kib(s.pid());
        if c_runtime > 0 {
            println!(
                "  of the file-backed pages, {c_runtime} KiB are libc, the loader and libgcc_s \
                 (mapped by every dynamically linked program)"
            );
        }
        runs.push(Peak {
            width,
            total: peak,
            parts,
            c_runtime,
        });
    }
    goals.memory.push((build, runs));
}

/// The Python floor's memory: the interpreter with `json` imported,
/// answering 10 000 lines.
fn python_memory() -> Option<u64> {
    let script = r#"import sys, json
for line in sys.stdin:
    req = json.loads(line)
    print(json.dumps({"jsonrpc": "2.0", "id": req["id"], "result": {"content": [{"type": "text", "text": "[]"}]}}), flush=True)
"#;
    let mut cmd = Command::new("python3");
    cmd.args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let Some(mut s) = Session::start(cmd) else {
        println!("memory baseline: python3 not available");
        return None;
    };
    s.throughput("list_peers", 10_000, 16);
    let peak = procstat::status_kib(s.pid(), "VmHWM");
    println!(
        "memory baseline, minimal python3 responder after 10000 calls: peak RSS {peak} KiB, {} threads \
         (the wrapper, with its imports: {WRAPPER_PEAK_MIB})",
        procstat::threads(s.pid()),
    );
    Some(peak)
}

/// Threads and CPU of a process left alone after some work: what an idle
/// agent's molecule-mcp costs (the heartbeat and the inbox poll go on).
fn idle(build: &'static str, bin: &Path, sim: &Simulator, home: &Path, goals: &mut Goals) {
    let secs: u64 = std::env::var("BENCH_IDLE_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let Some(mut s) = Session::start(ours(bin, sim, home, &[])) else {
        return;
    };
    s.throughput("list_peers", 200, 16);
    let busy = procstat::threads(s.pid());
    // The CPU of threads that end is no longer counted in /proc: let idle
    // workers end (5 s) before the window opens.
    std::thread::sleep(Duration::from_secs(7));
    let before = procstat::sample(s.pid());
    std::thread::sleep(Duration::from_secs(secs));
    let after = procstat::sample(s.pid());
    let at_idle = procstat::threads(s.pid());
    goals.idle_threads.push((build, at_idle));
    println!("idle for {secs} s, from 7 s after 200 calls (heartbeat and inbox poll on):");
    println!(
        "  threads: {busy} while busy, {at_idle} at idle; CPU {:.1} ms, {} wake-ups",
        (after.cpu.saturating_sub(before.cpu)).as_secs_f64() * 1e3,
        after.switches.saturating_sub(before.switches),
    );
}

fn inbox_latency(bin: &Path, sim: &Simulator, home: &Path) {
    const POLL: f64 = 0.5;
    let poll = POLL.to_string();
    let Some(mut s) = Session::start(ours(bin, sim, home, &[("MOLECULE_MCP_POLL_SECS", &poll)]))
    else {
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
