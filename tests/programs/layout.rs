//! `make layout`: writes `src/layout.ld`, the linker script that puts the
//! functions a session runs next to each other at the front of `.text`.
//!
//! Why: the kernel maps a binary's code in 64 KiB windows around each page
//! that faults, so one call into a function among cold ones makes 64 KiB
//! resident. Scattered over 2.8 MB of `.text`, the 0.6 MB a session runs
//! kept about 2.1 MiB resident; laid out together they keep about 0.8 MiB.
//!
//! How: the unstripped release binary given as the first argument runs
//! three sessions under `valgrind --tool=callgrind` against the platform
//! simulator: a short one (start-up, a few platform calls), a longer one
//! (the other tools, the inbox, heartbeats), then one with a stdio and
//! four Streamable HTTP upstreams, calls one at a time and in bursts. The
//! functions each adds, in that order (what every session needs first),
//! become section patterns. Crate hashes, back-references and LLVM's local
//! suffixes are wildcards, so the script still matches after code,
//! dependency or toolchain changes and for both the glibc and the musl
//! target; a function it no longer names is only placed with the cold code.
//!
//! Usage: `layout BINARY OUTPUT` (needs `valgrind`; the fixture programs
//! are taken from this program's own directory).

#[path = "../support/sim/mod.rs"]
mod sim;

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitCode, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sim::{Peer, Simulator};

const ME: &str = "3f2e1d0c-9b8a-4765-8432-10fedcba9876";
const PEER: &str = "0a1b2c3d-4e5f-4061-8273-9405a6b7c8d9";
const TOKEN: &str = "layout-token-0123456789abcdef";
const MIN_FUNCTIONS: usize = 200;
/// The names of the HTTP upstreams of the gateway session.
const WEB: [&str; 4] = ["web1", "web2", "web3", "web4"];
/// Under valgrind everything runs some 50 times slower.
const CALL_TIMEOUT: Duration = Duration::from_secs(120);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [binary, output] = args.as_slice() else {
        eprintln!("usage: layout BINARY OUTPUT");
        return ExitCode::from(2);
    };
    let binary = match std::fs::canonicalize(binary) {
        Ok(path) => path,
        Err(e) => {
            eprintln!("layout: {binary}: {e}");
            return ExitCode::FAILURE;
        }
    };
    match run(&binary, Path::new(output)) {
        Ok(count) => {
            eprintln!("layout: {count} function patterns written to {output}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("layout failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(binary: &Path, output: &Path) -> Result<usize, String> {
    let sim = Simulator::start();
    sim.add_workspace(ME, Some(TOKEN));
    sim.add_workspace(PEER, Some("layout-peer-0123456789abcdef"));
    sim.set_peer(PEER, Peer::Reply("done".into()));
    let home = std::env::temp_dir().join(format!("molecule-layout-{}", std::process::id()));
    std::fs::create_dir_all(&home).map_err(|e| format!("{}: {e}", home.display()))?;
    let result = profile(binary, &sim, &home).and_then(|groups| {
        // A function (or a pattern standing for several) stays in the first
        // group it ran in.
        let mut seen = HashSet::new();
        let groups: Vec<(&str, Vec<String>)> = groups
            .into_iter()
            .map(|(group, names)| {
                let fresh = patterns(&names)
                    .into_iter()
                    .filter(|p| seen.insert(p.clone()));
                (group, fresh.collect())
            })
            .collect();
        let patterns: Vec<String> = groups.iter().flat_map(|(_, p)| p.clone()).collect();
        // A session runs some thousand functions of ours: a few means the
        // profile did not see the binary's code, which valgrind does not
        // when the build is stripped or already laid out.
        if patterns.len() < MIN_FUNCTIONS {
            return Err(format!(
                "only {} functions of {} ran: build it unstripped and with \
                 MOLECULE_MCP_NO_LAYOUT=1, as `make layout` does",
                patterns.len(),
                binary.display()
            ));
        }
        for (group, patterns) in &groups {
            eprintln!("layout: {group}: {} functions", patterns.len());
        }
        Ok((patterns.len(), script(&groups)))
    });
    let _ = std::fs::remove_dir_all(&home);
    let (count, text) = result?;
    std::fs::write(output, text).map_err(|e| format!("{}: {e}", output.display()))?;
    Ok(count)
}

/// The functions of `binary` that ran in each of three sessions: what
/// every session runs (start-up, the request loop, a platform call), then
/// the other platform tools, the inbox and the heartbeats, then upstream
/// servers. A function keeps the first group it ran in (`run`).
fn profile(
    binary: &Path,
    sim: &Simulator,
    home: &Path,
) -> Result<Vec<(&'static str, Vec<String>)>, String> {
    let web = Upstream::start()?;
    // Several HTTP servers and calls in flight: paths one server alone and
    // one call at a time do not take.
    let mut servers = json!({"notes": {
        "command": sibling("fixture_stdio"), "args": ["--name", "notes", "--tools", "echo,add"]
    }});
    for name in WEB {
        servers[name] = json!({"url": web.url, "type": "http"});
    }
    let servers = json!({ "mcpServers": servers });
    // The short session keeps the default intervals: what it runs is what
    // any session runs before its first heartbeat.
    let runs: [(&str, Session, Option<Value>, &str); 3] = [
        ("core", core_session, None, "20"),
        ("platform", platform_session, None, "1"),
        ("gateway", gateway_session, Some(servers), "1"),
    ];
    let mut groups = Vec::new();
    for (name, session, servers, interval) in runs {
        let ran = traced(binary, sim, &home.join(name), servers, interval, session)?;
        groups.push((name, ran));
    }
    Ok(groups)
}

type Session = fn(&mut Agent, &Simulator) -> Result<(), String>;

/// Runs one session under callgrind, heartbeats and inbox polls every
/// `interval` seconds, and reads which functions ran.
fn traced(
    binary: &Path,
    sim: &Simulator,
    home: &Path,
    servers: Option<Value>,
    interval: &str,
    session: Session,
) -> Result<Vec<String>, String> {
    std::fs::create_dir_all(home).map_err(|e| format!("{}: {e}", home.display()))?;
    let out = home.join("callgrind.out");
    let mut cmd = Command::new(std::env::var("VALGRIND").unwrap_or_else(|_| "valgrind".into()));
    cmd.arg("--tool=callgrind")
        .arg("--demangle=no")
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(binary)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("CONFIGS_DIR", home.join("configs"))
        .env("PLATFORM_URL", sim.url())
        .env("WORKSPACE_ID", ME)
        .env("MOLECULE_WORKSPACE_TOKEN", TOKEN)
        .env("MOLECULE_MCP_HEARTBEAT_SECS", interval)
        .env("MOLECULE_MCP_POLL_SECS", interval);
    if let Some(servers) = servers {
        let file = home.join("servers.json");
        std::fs::write(&file, servers.to_string()).map_err(|e| e.to_string())?;
        cmd.env("MOLECULE_MCP_SERVERS", file);
    }
    let mut agent = Agent::start(cmd)?;
    let result = session(&mut agent, sim);
    agent.stop();
    result?;
    let text = std::fs::read_to_string(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    Ok(executed(&text, binary))
}

fn core_session(agent: &mut Agent, _sim: &Simulator) -> Result<(), String> {
    agent.handshake()?;
    agent.call("tools/list", json!({}))?;
    agent.call("ping", json!({}))?;
    for _ in 0..20 {
        agent.tool("list_peers", json!({}))?;
    }
    agent.tool("get_runtime_identity", json!({}))?;
    Ok(())
}

fn platform_session(agent: &mut Agent, sim: &Simulator) -> Result<(), String> {
    agent.handshake()?;
    agent.tool("get_workspace_info", json!({}))?;
    let id = sim.inject_canvas(ME, "hello");
    agent.tool("wait_for_message", json!({"timeout_secs": 60}))?;
    agent.tool("inbox_peek", json!({}))?;
    agent.tool("inbox_pop", json!({"activity_id": id}))?;
    agent.tool("send_message_to_user", json!({"message": "hi"}))?;
    agent.tool("delegate_task", json!({"workspace_id": PEER, "task": "t"}))?;
    agent.tool("commit_memory", json!({"content": "a fact"}))?;
    agent.tool("recall_memory", json!({}))?;
    agent.tool("task_add", json!({"title": "a task"}))?;
    agent.tool("task_list", json!({}))?;
    // Long enough for a few heartbeats and inbox polls at 1 s.
    std::thread::sleep(Duration::from_secs(5));
    agent.tool("list_peers", json!({}))?;
    Ok(())
}

fn gateway_session(agent: &mut Agent, _sim: &Simulator) -> Result<(), String> {
    agent.handshake()?;
    let tools: Vec<String> = WEB
        .iter()
        .chain(&["notes"])
        .map(|server| format!("{server}__echo"))
        .collect();
    let started = Instant::now();
    loop {
        let list = agent.call("tools/list", json!({}))?.to_string();
        if tools.iter().all(|tool| list.contains(tool.as_str())) {
            break;
        }
        if started.elapsed() > CALL_TIMEOUT {
            return Err("the upstream tools never appeared".into());
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    for _ in 0..5 {
        for tool in &tools {
            agent.tool(tool, json!({"text": "hi"}))?;
        }
        let burst: Vec<(&str, Value)> = tools
            .iter()
            .map(|tool| {
                (
                    "tools/call",
                    json!({"name": tool, "arguments": {"text": "hi"}}),
                )
            })
            .collect();
        agent.calls(&burst)?;
    }
    agent.call("resources/list", json!({}))?;
    agent.call("prompts/list", json!({}))?;
    agent.tool("list_peers", json!({}))?;
    Ok(())
}

/// The functions in `text` (callgrind's output) that belong to `binary`,
/// in the order they first appear. Callgrind names a function or an
/// object once, `fn=(7) name`, and by number alone after that.
fn executed(text: &str, binary: &Path) -> Vec<String> {
    let ours = binary.to_string_lossy();
    let mut objects = std::collections::HashMap::new();
    let mut functions = std::collections::HashMap::new();
    let (mut in_ours, mut seen, mut names) = (false, HashSet::new(), Vec::new());
    for line in text.lines() {
        let Some((key, rest)) = line.split_once('=') else {
            continue;
        };
        let (id, name) = match rest.split_once(") ") {
            Some((id, name)) => (id.trim_start_matches('('), Some(name)),
            None => (rest.trim_start_matches('(').trim_end_matches(')'), None),
        };
        match key {
            "ob" | "cob" => {
                if let Some(name) = name {
                    objects.insert(id.to_string(), name.ends_with(&*ours));
                }
                if key == "ob" {
                    in_ours = objects.get(id).copied().unwrap_or(false);
                }
            }
            "fn" | "cfn" => {
                if let Some(name) = name {
                    functions.insert(id.to_string(), name.to_string());
                }
                if key == "fn" && in_ours {
                    if let Some(name) = functions.get(id) {
                        if seen.insert(name.clone()) {
                            names.push(name.clone());
                        }
                    }
                }
            }
            _ => {}
        }
    }
    names
}

/// Section patterns for `names`, duplicates removed, order kept.
fn patterns(names: &[String]) -> Vec<String> {
    let mut seen = HashSet::new();
    names
        .iter()
        .filter_map(|n| pattern(n))
        .filter(|p| seen.insert(p.clone()))
        .collect()
}

/// A v0-mangled Rust name or a C name as a pattern that survives rebuilds:
/// crate disambiguators (`Cs<hash>_`) and the back-references whose
/// offsets move with them (`B<n>_`) become `*`, as does the `.llvm.<n>`
/// suffix LTO gives promoted locals. Names that are not symbols of ours
/// (callgrind's `0x...` addresses, legacy `_ZN` names) give none.
fn pattern(name: &str) -> Option<String> {
    let name = name.split(".llvm.").next().unwrap_or(name);
    if name.starts_with("_ZN") || name.starts_with("0x") || name.is_empty() {
        return None;
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
    {
        return None;
    }
    if !name.starts_with("_R") {
        return Some(name.to_string());
    }
    let bytes = name.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < bytes.len() {
        let hashed = match bytes[i] {
            b'C' if bytes.get(i + 1) == Some(&b's') => Some(i + 2),
            b'B' => Some(i + 1),
            _ => None,
        };
        let end = hashed.and_then(|from| {
            let len = bytes[from..]
                .iter()
                .take_while(|b| b.is_ascii_alphanumeric())
                .count();
            (bytes.get(from + len) == Some(&b'_')).then_some(from + len + 1)
        });
        match end {
            Some(end) => {
                out.push(bytes[i] as char);
                out.push('*');
                i = end;
            }
            None => {
                out.push(bytes[i] as char);
                i += 1;
            }
        }
    }
    Some(out)
}

/// The C runtime's start-up code (`_start` and its helpers) has no
/// section of its own per function, so it is named by object file: every
/// process runs it, and left at the end of `.text` it cost a 64 KiB window
/// of its own. `crt1.o` is also `Scrt1.o` (PIE) and `rcrt1.o` (static PIE).
const STARTUP_OBJECTS: [&str; 3] = ["*crt1.o", "*crti.o", "*crtbegin*.o"];

/// The script: the start-up objects, then each group's patterns under a
/// comment naming the group.
fn script(groups: &[(&str, Vec<String>)]) -> String {
    let mut text = String::from(
        "/* Generated by `make layout` (tests/programs/layout.rs); do not edit.\n\
         \x20* The functions a session runs, first in .text: see the README's \"Footprint\". */\n\
         SECTIONS\n{\n  .text.hot : {\n",
    );
    for object in STARTUP_OBJECTS {
        text.push_str(&format!("    {object}(.text .text.*)\n"));
    }
    for (group, patterns) in groups {
        text.push_str(&format!("    /* {group} */\n"));
        for p in patterns {
            text.push_str(&format!("    *(.text.{p} .text.unlikely.{p})\n"));
        }
    }
    text.push_str("  }\n}\nINSERT BEFORE .text;\n");
    text
}

/// A program built beside this one (`target/.../examples/NAME`).
fn sibling(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    exe.with_file_name(name)
}

/// The HTTP fixture upstream; ends when its stdin closes.
struct Upstream {
    child: Child,
    url: String,
}

impl Upstream {
    fn start() -> Result<Upstream, String> {
        let mut child = Command::new(sibling("fixture_http"))
            .args(["--name", "web", "--tools", "echo,add"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("fixture_http: {e}"))?;
        let mut url = String::new();
        if let Some(out) = child.stdout.take() {
            let _ = BufReader::new(out).read_line(&mut url);
        }
        let url = url.trim().to_string();
        if url.is_empty() {
            let _ = child.kill();
            let _ = child.wait();
            return Err("fixture_http printed no URL".into());
        }
        Ok(Upstream { child, url })
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// molecule-mcp under valgrind, driven over its stdio.
struct Agent {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<Value>,
    next_id: u64,
}

impl Agent {
    fn start(mut cmd: Command) -> Result<Agent, String> {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start valgrind (apt-get install valgrind): {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    if tx.send(v).is_err() {
                        break;
                    }
                }
            }
        });
        let stdin = child.stdin.take();
        Ok(Agent {
            child,
            stdin,
            lines,
            next_id: 1,
        })
    }

    fn handshake(&mut self) -> Result<(), String> {
        self.call(
            "initialize",
            json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "layout", "version": "1"}}),
        )?;
        self.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
    }

    fn tool(&mut self, name: &str, arguments: Value) -> Result<Value, String> {
        self.call("tools/call", json!({"name": name, "arguments": arguments}))
    }

    fn call(&mut self, method: &str, params: Value) -> Result<Value, String> {
        let mut results = self.calls(&[(method, params)])?;
        Ok(results.pop().unwrap_or_default())
    }

    /// Sends every request before reading any answer; the results in order.
    fn calls(&mut self, requests: &[(&str, Value)]) -> Result<Vec<Value>, String> {
        let first = self.next_id;
        for (method, params) in requests {
            let id = self.next_id;
            self.next_id += 1;
            self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))?;
        }
        let mut results: Vec<Option<Value>> = vec![None; requests.len()];
        let deadline = Instant::now() + CALL_TIMEOUT;
        while results.iter().any(Option::is_none) {
            let left = deadline.saturating_duration_since(Instant::now());
            let mut message = self
                .lines
                .recv_timeout(left)
                .map_err(|_| format!("answers missing after {CALL_TIMEOUT:?}"))?;
            let slot = message["id"]
                .as_u64()
                .and_then(|id| id.checked_sub(first))
                .and_then(|i| results.get_mut(usize::try_from(i).ok()?));
            if let Some(slot) = slot {
                *slot = Some(message["result"].take());
            }
        }
        Ok(results.into_iter().flatten().collect())
    }

    fn send(&mut self, message: &Value) -> Result<(), String> {
        let stdin = self.stdin.as_mut().ok_or("stdin closed")?;
        writeln!(stdin, "{message}").map_err(|e| format!("write to molecule-mcp: {e}"))
    }

    /// Closes stdin (an orderly shutdown, so callgrind writes its file)
    /// and waits a bounded time.
    fn stop(&mut self) {
        self.stdin = None;
        let deadline = Instant::now() + CALL_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crate_hashes_and_back_references_become_wildcards() {
        assert_eq!(
            pattern("_RNvMNtNtCs4X4t9plMPHF_3std3net3tcpNtB2_9TcpStream16set_read_timeout")
                .as_deref(),
            Some("_RNvMNtNtC*3std3net3tcpNtB*9TcpStream16set_read_timeout"),
        );
    }

    #[test]
    fn llvm_suffixes_are_dropped_and_foreign_names_skipped() {
        assert_eq!(
            pattern("_RNvCs1a_4ring3foo.llvm.123456").as_deref(),
            Some("_RNvC*4ring3foo")
        );
        assert_eq!(pattern("memcpy").as_deref(), Some("memcpy"));
        assert_eq!(pattern("0x0000000004848000"), None);
        assert_eq!(pattern("_ZN3std2rt10lang_start17h0123456789abcdefE"), None);
        assert_eq!(pattern("weird name(with) spaces"), None);
    }

    #[test]
    fn a_short_base62_tag_without_underscore_is_kept_literally() {
        // `B` inside an identifier, not a back-reference: no `_` follows.
        assert_eq!(
            pattern("_RNvCs1a_3foo4Bxyz").as_deref(),
            Some("_RNvC*3foo4Bxyz")
        );
    }

    #[test]
    fn callgrind_names_are_read_once_and_by_number_after() {
        let text = "ob=(1) /usr/lib/libc.so.6\nfn=(1) memcpy\n\
                    ob=(2) /build/molecule-mcp\nfn=(2) _RNvCs1_3foo3bar\ncfn=(3) _RNvCs1_3foo3baz\n\
                    fn=(3)\nfn=(2)\nob=(1)\nfn=(1)\n";
        assert_eq!(
            executed(text, Path::new("/build/molecule-mcp")),
            vec!["_RNvCs1_3foo3bar", "_RNvCs1_3foo3baz"]
        );
    }

    #[test]
    fn the_script_inserts_one_output_section_before_text() {
        let text = script(&[("core", vec!["a".into()]), ("gateway", vec!["b*".into()])]);
        assert!(text.contains(
            "    *crtbegin*.o(.text .text.*)\n    /* core */\n    *(.text.a .text.unlikely.a)\n    \
             /* gateway */\n    *(.text.b* .text.unlikely.b*)"
        ));
        assert!(text.contains("  .text.hot : {\n    *crt1.o(.text .text.*)\n"));
        assert!(text.trim_end().ends_with("INSERT BEFORE .text;"));
    }
}
