//! Idle cost of the platform link, measured on the release binary against
//! the simulator, beside a baseline measured in the same run: a minimal
//! Python heartbeat loop (what the replaced wrapper does while idle).
//!
//! `BENCH_IDLE_SECS` sets the idle window (default 30).

mod procstat;
#[path = "../support/sim/mod.rs"]
mod sim;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use sim::Simulator;

const TOKEN_PREFIX: &str = "tok-bench-";

fn main() {
    let window = std::env::var("BENCH_IDLE_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(30));
    let sim = Simulator::start();
    let home = std::env::temp_dir().join(format!("molecule-bench-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&home);

    println!(
        "platform link, idle for {} s at a 1 s heartbeat:",
        window.as_secs()
    );
    let ours = spawn_ours(&sim, &home, 1, "one");
    let python = spawn_python(&sim);
    let (ours, python) = match (ours, python) {
        (Some(o), p) => (o, p),
        (None, _) => {
            println!("  cannot start molecule-mcp");
            return;
        }
    };
    let idle = measure_idle(&sim, ours, python, window);
    println!("{idle}");

    let one = peak_rss(&sim, &home, 1);
    let fifty = peak_rss(&sim, &home, 50);
    println!("peak RSS (VmHWM):");
    println!("  1 workspace:   {:>6} KiB", one);
    println!("  50 workspaces: {:>6} KiB", fifty);
    if fifty > one {
        println!(
            "  per extra workspace: {:.1} KiB",
            (fifty - one) as f64 / 49.0
        );
    }
    let _ = std::fs::remove_dir_all(&home);
}

fn ws_id(i: usize) -> String {
    format!("{:08x}-0000-4000-8000-{:012x}", i + 1, i + 1)
}

fn spawn_ours(sim: &Simulator, home: &std::path::Path, n: usize, tag: &str) -> Option<Child> {
    let list: Vec<_> = (0..n)
        .map(|i| {
            let id = ws_id(i);
            let token = format!("{TOKEN_PREFIX}{i:016}");
            sim.add_workspace(&id, Some(&token));
            json!({"id": id, "token": token})
        })
        .collect();
    let configs = home.join(tag);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_molecule-mcp"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("PLATFORM_URL", sim.url())
        .env("CONFIGS_DIR", &configs)
        .env("MOLECULE_MCP_HEARTBEAT_SECS", "1")
        .env("MOLECULE_MCP_DISABLE_INBOX", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if n == 1 {
        cmd.env("WORKSPACE_ID", ws_id(0)).env(
            "MOLECULE_WORKSPACE_TOKEN",
            format!("{TOKEN_PREFIX}{:016}", 0),
        );
    } else {
        cmd.env(
            "MOLECULE_WORKSPACES",
            serde_json::Value::Array(list).to_string(),
        );
    }
    cmd.spawn().ok()
}

/// The baseline: a Python loop that does what the original wrapper's
/// heartbeat thread does, once a second.
fn spawn_python(sim: &Simulator) -> Option<Child> {
    let id = "baseline-python-0000";
    let token = "tok-bench-python-000000000";
    sim.add_workspace(id, Some(token));
    let script = r#"
import json, sys, time, urllib.request
url, ws, tok = sys.argv[1], sys.argv[2], sys.argv[3]
start = time.time()
while True:
    body = json.dumps({"workspace_id": ws, "error_rate": 0.0, "sample_error": "",
                       "active_tasks": 0, "uptime_seconds": int(time.time() - start)}).encode()
    req = urllib.request.Request(url + "/registry/heartbeat", data=body, method="POST",
        headers={"Authorization": "Bearer " + tok, "Origin": url, "Content-Type": "application/json"})
    try:
        urllib.request.urlopen(req, timeout=10).read()
    except Exception:
        pass
    time.sleep(1)
"#;
    Command::new("python3")
        .args(["-c", script, &sim.url(), id, token])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()
}

fn measure_idle(
    sim: &Simulator,
    mut ours: Child,
    python: Option<Child>,
    window: Duration,
) -> String {
    // Let both finish starting before the window opens.
    std::thread::sleep(Duration::from_secs(2));
    let beats = |id: &str| sim.heartbeat_count(id);
    let (o0, ob0) = (procstat::sample(ours.id()), beats(&ws_id(0)));
    let p0 = python
        .as_ref()
        .map(|p| (procstat::sample(p.id()), beats("baseline-python-0000")));
    let started = Instant::now();
    std::thread::sleep(window);
    let secs = started.elapsed().as_secs_f64();
    let (o1, ob1) = (procstat::sample(ours.id()), beats(&ws_id(0)));
    let mut out = String::new();
    let ours_beats = ob1.saturating_sub(ob0).max(1);
    let ours_cpu = o1.cpu.saturating_sub(o0.cpu);
    let ours_wakeups = o1.switches.saturating_sub(o0.switches);
    out += &format!(
        "  molecule-mcp: {:.2} ms CPU over {secs:.0} s ({:.3} ms per beat, {ours_beats} beats), {:.1} wake-ups/s\n",
        ours_cpu.as_secs_f64() * 1e3,
        ours_cpu.as_secs_f64() * 1e3 / ours_beats as f64,
        ours_wakeups as f64 / secs,
    );
    if let (Some(mut py), Some((p0, pb0))) = (python, p0) {
        let p1 = procstat::sample(py.id());
        let py_beats = beats("baseline-python-0000").saturating_sub(pb0).max(1);
        let py_cpu = p1.cpu.saturating_sub(p0.cpu);
        let py_rss = procstat::status_kib(py.id(), "VmHWM");
        out += &format!(
            "  python baseline: {:.2} ms CPU ({:.3} ms per beat, {py_beats} beats), {:.1} wake-ups/s, peak RSS {py_rss} KiB\n",
            py_cpu.as_secs_f64() * 1e3,
            py_cpu.as_secs_f64() * 1e3 / py_beats as f64,
            p1.switches.saturating_sub(p0.switches) as f64 / secs,
        );
        let per_beat = |cpu: Duration, n: u64| cpu.as_secs_f64() / n as f64;
        out += &format!(
            "  ratio (python / molecule-mcp): CPU per beat {:.1}x, peak RSS {:.1}x",
            per_beat(py_cpu, py_beats) / per_beat(ours_cpu, ours_beats).max(1e-9),
            py_rss as f64 / procstat::status_kib(ours.id(), "VmHWM").max(1) as f64,
        );
        let _ = py.kill();
        let _ = py.wait();
    } else {
        out += "  python baseline: python3 not available";
    }
    let _ = ours.kill();
    let _ = ours.wait();
    out
}

fn peak_rss(sim: &Simulator, home: &std::path::Path, n: usize) -> u64 {
    let Some(mut child) = spawn_ours(sim, home, n, &format!("rss{n}")) else {
        return 0;
    };
    // Long enough for every workspace to register and beat a few times.
    std::thread::sleep(Duration::from_secs(5));
    let kib = procstat::status_kib(child.id(), "VmHWM");
    let _ = child.kill();
    let _ = child.wait();
    kib
}
