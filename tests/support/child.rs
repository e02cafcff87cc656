//! The binary under test as a child process: lines in on stdin, lines out on
//! stdout, stderr collected for assertions. Killed on drop.

use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{self, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// How often bounded waits look again.
const POLL: Duration = Duration::from_millis(10);

pub struct Child {
    proc: process::Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    /// Lines read while waiting for a particular answer, served first.
    stash: VecDeque<String>,
    stderr: Arc<Mutex<Vec<u8>>>,
    /// Disconnected once stderr reached its end (the drain thread ended).
    stderr_done: Receiver<()>,
    next_id: u64,
}

impl Child {
    /// Runs the binary with only PATH, HOME=`home` and `env` set, in `home`.
    pub fn spawn(home: &Path, env: &[(&str, &str)]) -> Child {
        Child::spawn_args(&[], home, env)
    }

    /// The binary as `workspace` of the platform at `url`, its state under
    /// `home`/configs, with `extra` variables on top.
    pub fn spawn_workspace(
        home: &Path,
        url: &str,
        (workspace, token): (&str, &str),
        extra: &[(&str, &str)],
    ) -> Child {
        let configs = home.join("configs").to_string_lossy().into_owned();
        let mut vars = vec![
            ("PLATFORM_URL", url),
            ("WORKSPACE_ID", workspace),
            ("MOLECULE_WORKSPACE_TOKEN", token),
            ("CONFIGS_DIR", configs.as_str()),
        ];
        vars.extend_from_slice(extra);
        Child::spawn(home, &vars)
    }

    pub fn spawn_args(args: &[&str], home: &Path, env: &[(&str, &str)]) -> Child {
        let mut cmd = Command::new(super::bin());
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", home)
            .envs(env.iter().copied())
            .current_dir(home);
        match Child::start(cmd) {
            Ok(child) => child,
            Err(e) => panic!("cannot start {}: {e}", super::bin().display()),
        }
    }

    /// Starts `cmd` as it was prepared (program, environment, pre-exec
    /// steps) with its three streams piped to the test.
    pub fn start(mut cmd: Command) -> io::Result<Child> {
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut proc = cmd.spawn()?;
        let stdin = proc.stdin.take();
        let (tx, lines) = mpsc::channel();
        if let Some(out) = proc.stdout.take() {
            thread::spawn(move || {
                let mut reader = BufReader::new(out);
                let mut buf = Vec::new();
                loop {
                    buf.clear();
                    match reader.read_until(b'\n', &mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {
                            let line = String::from_utf8_lossy(&buf);
                            let line = line.trim_end_matches(['\r', '\n']).to_string();
                            if tx.send(line).is_err() {
                                break;
                            }
                        }
                    }
                }
            });
        }
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (stderr_alive, stderr_done) = mpsc::channel::<()>();
        if let Some(mut err) = proc.stderr.take() {
            let sink = stderr.clone();
            thread::spawn(move || {
                let _alive = stderr_alive;
                let mut chunk = [0u8; 4096];
                loop {
                    match err.read(&mut chunk) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => lock(&sink).extend_from_slice(&chunk[..n]),
                    }
                }
            });
        }
        Ok(Child {
            proc,
            stdin,
            lines,
            stash: VecDeque::new(),
            stderr,
            stderr_done,
            next_id: 1,
        })
    }

    pub fn pid(&self) -> u32 {
        self.proc.id()
    }

    /// Writes one line (a newline is added) to the child's stdin.
    pub fn send_line(&mut self, line: &str) -> io::Result<()> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| io::Error::new(io::ErrorKind::BrokenPipe, "stdin already closed"))?;
        stdin.write_all(line.as_bytes())?;
        stdin.write_all(b"\n")?;
        stdin.flush()
    }

    /// The MCP handshake as `client`: `initialize`, then
    /// `notifications/initialized`; the `initialize` result. No answer, or
    /// an error, fails the test with the child's stderr.
    pub fn initialize(&mut self, client: &str) -> Value {
        let init = self.request(
            "initialize",
            json!({"protocolVersion": "2025-06-18", "capabilities": {},
                "clientInfo": {"name": client, "version": "1"}}),
            Duration::from_secs(10),
        );
        let Some(result) = init.and_then(|a| a.get("result").cloned()) else {
            panic!("no initialize result; stderr:\n{}", self.stderr());
        };
        if let Err(e) =
            self.send_json(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        {
            panic!("cannot write to the child: {e}");
        }
        result
    }

    /// The names `tools/list` offers now; no answer or no list fails the
    /// test (an empty list would pass every "tool gone" check).
    pub fn tool_names(&mut self, timeout: Duration) -> Vec<String> {
        let Some(answer) = self.request("tools/list", json!({}), timeout) else {
            panic!("no tools/list answer; stderr:\n{}", self.stderr());
        };
        let Some(tools) = answer.pointer("/result/tools").and_then(Value::as_array) else {
            panic!("tools/list gave no list: {answer}");
        };
        tools
            .iter()
            .filter_map(|t| t["name"].as_str().map(String::from))
            .collect()
    }

    /// Writes these bytes as they are (bad input: invalid UTF-8, huge lines).
    pub fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| io::Error::new(io::ErrorKind::BrokenPipe, "stdin already closed"))?;
        stdin.write_all(bytes)?;
        stdin.flush()
    }

    pub fn send_json(&mut self, message: &Value) -> io::Result<()> {
        self.send_line(&message.to_string())
    }

    /// Closes stdin: the child sees EOF.
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// The next stdout line, or `None` after `timeout` or once stdout closed.
    pub fn recv_line(&mut self, timeout: Duration) -> Option<String> {
        if let Some(line) = self.stash.pop_front() {
            return Some(line);
        }
        self.lines.recv_timeout(timeout).ok()
    }

    /// The next stdout line as JSON. A line that is not JSON fails the test:
    /// stdout is the protocol channel.
    pub fn recv_json(&mut self, timeout: Duration) -> Option<Value> {
        let line = self.recv_line(timeout)?;
        match serde_json::from_str(&line) {
            Ok(v) => Some(v),
            Err(e) => panic!("stdout carried a line that is not JSON ({e}): {line:?}"),
        }
    }

    /// Sends a JSON-RPC request and waits for the answer with its id. Other
    /// lines that arrive meanwhile (notifications, other answers) are kept
    /// for `recv_line` / `recv_json`.
    pub fn request(&mut self, method: &str, params: Value, timeout: Duration) -> Option<Value> {
        let id = self.next_id;
        self.next_id += 1;
        let message = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.send_json(&message).ok()?;
        self.wait_answer(&json!(id), timeout)
    }

    /// The JSON-RPC answer to a `tools/call`; panics, quoting stderr, when
    /// none comes within `timeout`.
    pub fn call_tool_raw(&mut self, name: &str, arguments: Value, timeout: Duration) -> Value {
        let params = json!({"name": name, "arguments": arguments});
        match self.request("tools/call", params, timeout) {
            Some(answer) => answer,
            None => panic!("no answer to {name}; stderr:\n{}", self.stderr()),
        }
    }

    /// The `CallToolResult` of a call that must not be a JSON-RPC error.
    pub fn call_tool(&mut self, name: &str, arguments: Value, timeout: Duration) -> Value {
        let answer = self.call_tool_raw(name, arguments, timeout);
        match answer.get("result") {
            Some(r) if r.is_object() => r.clone(),
            _ => panic!("{name} answered without a result: {answer}"),
        }
    }

    /// Waits for the answer with this id; other lines are kept.
    pub fn wait_answer(&mut self, id: &Value, timeout: Duration) -> Option<Value> {
        let answer = |line: &str| {
            serde_json::from_str::<Value>(line)
                .ok()
                .filter(|v| v.get("id") == Some(id) && v.get("method").is_none())
        };
        if let Some(pos) = self.stash.iter().position(|l| answer(l).is_some()) {
            return self.stash.remove(pos).and_then(|l| answer(&l));
        }
        let deadline = Instant::now() + timeout;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let Ok(line) = self.lines.recv_timeout(left) else {
                break;
            };
            if let Some(v) = answer(&line) {
                return Some(v);
            }
            self.stash.push_back(line);
        }
        None
    }

    /// Everything the child wrote to stderr so far.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&lock(&self.stderr)).into_owned()
    }

    /// The first stderr line so far that contains `needle`, or "".
    pub fn stderr_line(&self, needle: &str) -> String {
        self.stderr()
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_default()
            .to_string()
    }

    pub fn wait_stderr_contains(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.stderr().contains(needle) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(POLL);
        }
    }

    /// The exit status, if the child ends within `timeout`. Once it has
    /// ended, its stderr is read to the end (up to a second) so that
    /// `stderr()` holds everything it wrote.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.proc.try_wait() {
                Ok(Some(status)) => {
                    let _ = self.stderr_done.recv_timeout(Duration::from_secs(1));
                    return Some(status);
                }
                Ok(None) => {}
                Err(_) => return None,
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(POLL);
        }
    }

    /// SIGKILL, then reap.
    pub fn kill(&mut self) {
        let _ = self.proc.kill();
        let _ = self.proc.wait();
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        self.kill();
        if thread::panicking() {
            eprintln!(
                "--- stderr of molecule-mcp (pid {}) ---\n{}",
                self.pid(),
                self.stderr()
            );
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The first text of a `CallToolResult` ("" when there is none).
pub fn tool_text(result: &Value) -> &str {
    result["content"][0]["text"].as_str().unwrap_or_default()
}

/// Whether a `CallToolResult` says the tool failed.
pub fn tool_is_error(result: &Value) -> bool {
    result.get("isError") == Some(&json!(true))
}
