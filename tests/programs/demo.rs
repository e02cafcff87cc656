//! The guided demo (`make demo`): a platform simulator on 127.0.0.1, a
//! local upstream MCP server (the stdio fixture), the release
//! `molecule-mcp` started against both the way an agent host starts it, and
//! a short MCP session printed step by step: platform tools, the inbox, a
//! request raised to the user, a goal and task list that survive `kill -9`,
//! an upstream tool, and the upstream dying and coming back. Everything it
//! starts is stopped before it exits.

#[path = "../support/sim/mod.rs"]
mod sim;

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitCode, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sim::{Peer, Simulator};

const ME: &str = "5d1c0a4e-7b2f-4c3d-9e8f-0a1b2c3d4e5f";
const PEER: &str = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";
const TOKEN: &str = "demo-token-0123456789abcdef";
const STEP_TIMEOUT: Duration = Duration::from_secs(10);

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let sim = Simulator::start();
    sim.add_workspace(ME, Some(TOKEN));
    sim.set_profile(ME, "Demo agent", "assistant");
    sim.add_workspace(PEER, Some("peer-token-0123456789abcdef"));
    sim.set_profile(PEER, "Research agent", "researcher");
    sim.set_peer(
        PEER,
        Peer::Reply("The Q3 numbers are up 12 % on Q2.".into()),
    );
    println!("== platform simulator listening on {}", sim.url());

    let home = std::env::temp_dir().join(format!("molecule-demo-{}", std::process::id()));
    std::fs::create_dir_all(&home).map_err(|e| format!("cannot create {}: {e}", home.display()))?;
    let servers = home.join("servers.json");
    let upstream = json!({"mcpServers": {"notes": {
        "command": sibling("examples/fixture_stdio").display().to_string(),
        "args": ["--name", "notes", "--tools", "echo,add"],
        "breaker": {"cooldownSecs": 0.5}
    }}});
    std::fs::write(&servers, upstream.to_string())
        .map_err(|e| format!("cannot write {}: {e}", servers.display()))?;
    println!(
        "== upstream MCP server \"notes\" (stdio) configured in {}",
        servers.display()
    );
    let mut agent = Agent::start(&binary(), &sim.url(), &home, &servers)?;
    let result =
        session(&sim, &mut agent).and_then(|()| restart(&mut agent, &sim.url(), &home, &servers));
    let code = agent.stop();
    println!("== molecule-mcp exited with code {code:?} after stdin closed");
    println!(
        "== the platform saw: registered={}, heartbeats={}, messages to the user={}, \
         requests to the user={}",
        sim.is_registered(ME),
        sim.heartbeat_count(ME),
        sim.notifications(ME).len(),
        sim.user_requests(ME).len()
    );
    let _ = std::fs::remove_dir_all(&home);
    result
}

fn session(sim: &Simulator, agent: &mut Agent) -> Result<(), String> {
    step("initialize");
    let init = agent.call(
        "initialize",
        json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "demo", "version": "1"}}),
    )?;
    println!(
        "   server {} {}, protocol {}",
        init["serverInfo"]["name"], init["serverInfo"]["version"], init["protocolVersion"]
    );
    if let Some(first) = init["instructions"].as_str().and_then(|t| t.lines().next()) {
        println!("   instructions begin: {first}");
    }
    agent.notify("notifications/initialized", json!({}))?;

    step("tools/list");
    let tools = agent.call("tools/list", json!({}))?;
    let names: Vec<&str> = tools["tools"]
        .as_array()
        .map(|t| t.iter().filter_map(|t| t["name"].as_str()).collect())
        .unwrap_or_default();
    println!("   {} tools: {}", names.len(), names.join(", "));

    step("list_peers");
    print_tool(&agent.tool("list_peers", json!({}))?);

    step("a person writes in the canvas; the inbox poller picks it up");
    let id = sim.inject_canvas(ME, "Hi! What do the Q3 numbers look like?");
    println!("   injected activity {id}");
    let waited = agent.tool("wait_for_message", json!({"timeout_secs": 10}))?;
    print_tool(&waited);
    if let Some(push) = agent.take_notification("notifications/claude/channel") {
        println!(
            "   (also pushed as {}: {:?})",
            push["method"], push["params"]["content"]
        );
    }

    step("delegate_task to the research peer");
    print_tool(&agent.tool(
        "delegate_task",
        json!({"workspace_id": PEER, "task": "Summarise the Q3 numbers in one line."}),
    )?);

    step("send_message_to_user with the answer");
    print_tool(&agent.tool(
        "send_message_to_user",
        json!({"message": "The Q3 numbers are up 12 % on Q2."}),
    )?);
    if let Some(last) = sim.notifications(ME).last() {
        println!("   the canvas received: {}", last["message"]);
    }

    step("inbox_pop: the message was handled");
    print_tool(&agent.tool("inbox_pop", json!({"activity_id": id}))?);

    step("create_approval: ask the user before doing something irreversible");
    print_tool(&agent.tool(
        "create_approval",
        json!({"action": "Publish the Q3 summary to the company blog", "reason": "It is public once posted."}),
    )?);
    if let Some(last) = sim.user_requests(ME).last() {
        println!("   the canvas received a request: {last}");
    }

    step("a standing goal and a task list, kept locally");
    print_tool(&agent.tool(
        "goal_set",
        json!({"goal": "Keep the quarterly report current", "cadence_seconds": 3600}),
    )?);
    let first = agent.tool("task_add", json!({"title": "Collect the Q3 numbers"}))?;
    print_tool(&first);
    print_tool(&agent.tool(
        "task_add",
        json!({"title": "Draft the Q3 summary", "next_action": "wait for the approval"}),
    )?);
    let first_id = first["structuredContent"]["task"]["id"].clone();
    print_tool(&agent.tool("task_complete", json!({"task_id": first_id}))?);

    step("an upstream tool, offered under the server's name");
    wait_for_tool(agent, "notes__add")?;
    print_tool(&agent.tool("notes__add", json!({"a": 2, "b": 40}))?);

    step("the upstream process dies; the breaker opens, then a probe respawns it");
    let killed = upstream_pids(agent.child.id());
    for pid in &killed {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    }
    println!("   killed upstream pid(s) {killed:?}");
    std::thread::sleep(Duration::from_millis(100));
    print_tool(&agent.tool("notes__echo", json!({"text": "are you there?"}))?);
    let started = Instant::now();
    loop {
        let answer = agent.tool("notes__echo", json!({"text": "are you there?"}))?;
        if answer["isError"] != json!(true) || started.elapsed() > STEP_TIMEOUT {
            println!("   after {:.1} s:", started.elapsed().as_secs_f64());
            print_tool(&answer);
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// Kills molecule-mcp with SIGKILL, starts it again on the same state
/// directory and shows that the goal and the task list are still there.
fn restart(
    agent: &mut Agent,
    url: &str,
    home: &std::path::Path,
    servers: &std::path::Path,
) -> Result<(), String> {
    step("molecule-mcp is killed (kill -9) and started again");
    let _ = agent.child.kill();
    let _ = agent.child.wait();
    *agent = Agent::start(&binary(), url, home, servers)?;
    agent.call(
        "initialize",
        json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "demo", "version": "1"}}),
    )?;
    agent.notify("notifications/initialized", json!({}))?;
    step("goal_get and task_list after the restart");
    print_tool(&agent.tool("goal_get", json!({}))?);
    print_tool(&agent.tool("task_list", json!({"status": "all"}))?);
    Ok(())
}

fn wait_for_tool(agent: &mut Agent, name: &str) -> Result<(), String> {
    let started = Instant::now();
    while started.elapsed() < STEP_TIMEOUT {
        let tools = agent.call("tools/list", json!({}))?;
        let found = tools["tools"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t["name"] == name));
        if found {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!("{name} never appeared in tools/list"))
}

/// The upstream children of molecule-mcp (from /proc).
fn upstream_pids(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| {
                    let after = stat.rsplit_once(')')?.1.trim().to_string();
                    after.split_whitespace().nth(1)?.parse::<u32>().ok()
                })
                == Some(parent)
        })
        .collect()
}

fn step(title: &str) {
    println!("\n-> {title}");
}

fn print_tool(result: &Value) {
    let error = result["isError"].as_bool().unwrap_or(false);
    let texts = result["content"]
        .as_array()
        .map(|c| {
            c.iter()
                .filter_map(|p| p["text"].as_str())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default();
    for line in texts.lines() {
        println!("   {}{line}", if error { "[error] " } else { "" });
    }
}

/// The release binary beside this example (target/release/examples/..),
/// or `MOLECULE_MCP_BIN`.
fn binary() -> PathBuf {
    match std::env::var_os("MOLECULE_MCP_BIN") {
        Some(path) => PathBuf::from(path),
        None => sibling("molecule-mcp"),
    }
}

/// `rel` under the build directory this example runs from (target/release).
fn sibling(rel: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    exe.parent()
        .and_then(|examples| examples.parent())
        .map(|dir| dir.join(rel))
        .unwrap_or_else(|| PathBuf::from(rel))
}

/// The running binary, as an agent host sees it.
struct Agent {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<Value>,
    held: Vec<Value>,
    next_id: u64,
}

impl Agent {
    fn start(
        bin: &PathBuf,
        url: &str,
        home: &std::path::Path,
        servers: &std::path::Path,
    ) -> Result<Agent, String> {
        println!("== starting {}", bin.display());
        let mut child = Command::new(bin)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", home)
            .env("PLATFORM_URL", url)
            .env("WORKSPACE_ID", ME)
            .env("MOLECULE_WORKSPACE_TOKEN", TOKEN)
            .env("CONFIGS_DIR", home.join("configs"))
            .env("MOLECULE_MCP_SERVERS", servers)
            .env("MOLECULE_MCP_POLL_SECS", "0.5")
            .env("MOLECULE_MCP_HEARTBEAT_SECS", "2")
            // Pretend to be a host with the push channel.
            .env("CLAUDE_CODE", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| {
                format!(
                    "cannot start {} (run `make demo`, which builds it): {e}",
                    bin.display()
                )
            })?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                match serde_json::from_str::<Value>(&line) {
                    Ok(v) => {
                        if tx.send(v).is_err() {
                            break;
                        }
                    }
                    Err(_) => eprintln!("demo: stdout carried a non-protocol line: {line}"),
                }
            }
        });
        Ok(Agent {
            child,
            stdin,
            lines,
            held: Vec::new(),
            next_id: 1,
        })
    }

    fn send(&mut self, message: &Value) -> Result<(), String> {
        let stdin = self.stdin.as_mut().ok_or("stdin closed")?;
        writeln!(stdin, "{message}")
            .and_then(|()| stdin.flush())
            .map_err(|e| format!("cannot write to molecule-mcp: {e}"))
    }

    fn notify(&mut self, method: &str, params: Value) -> Result<(), String> {
        self.send(&json!({"jsonrpc": "2.0", "method": method, "params": params}))
    }

    fn call(&mut self, method: &str, params: Value) -> Result<Value, String> {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))?;
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .map_err(|_| format!("no answer to {method} within {STEP_TIMEOUT:?}"))?;
            if line["id"] == json!(id) {
                if let Some(err) = line.get("error") {
                    return Err(format!("{method} failed: {err}"));
                }
                return Ok(line["result"].clone());
            }
            self.held.push(line);
        }
    }

    fn tool(&mut self, name: &str, arguments: Value) -> Result<Value, String> {
        self.call("tools/call", json!({"name": name, "arguments": arguments}))
    }

    /// A notification that arrived while waiting for answers.
    fn take_notification(&mut self, method: &str) -> Option<Value> {
        while let Ok(line) = self.lines.try_recv() {
            self.held.push(line);
        }
        let at = self.held.iter().position(|l| l["method"] == method)?;
        Some(self.held.remove(at))
    }

    /// Closes stdin (the host going away) and waits for the exit.
    fn stop(&mut self) -> Option<i32> {
        self.stdin = None;
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        self.child.wait().ok().and_then(|s| s.code())
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
