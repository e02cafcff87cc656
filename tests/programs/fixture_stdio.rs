//! A scriptable upstream MCP server speaking newline-delimited JSON-RPC on
//! stdin/stdout, for the gateway's tests. Flags: see `fixture/mod.rs`.
//! Exits on stdin EOF.
//!
//! The session of a stdio server is the process since its last
//! `initialize`; once expired (`--expire-session-after`, control `expire`)
//! every request but `initialize` gets the JSON-RPC error
//! "Invalid or expired session" until the client initializes again.

mod fixture;

use std::io::{self, BufRead, Write};
use std::path::PathBuf;
use std::process;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use serde_json::{json, Value};

use fixture::cancel::Cancels;
use fixture::record::Recorder;
use fixture::script::{Events, Script};
use fixture::server::{say, server_requests, Answer, Reply, Server};
use fixture::{error, notification, EXPIRED_CODE, EXPIRED_MESSAGE};

/// The size of the one oversized line `--garbage` writes.
const HUGE_LINE: usize = 20 * 1024 * 1024;

fn main() {
    let script = match Script::parse("fixture-stdio", std::env::args().skip(1)) {
        Ok(script) => script,
        Err(e) => {
            eprintln!("fixture_stdio: {e}");
            process::exit(2);
        }
    };
    let recorder = match Recorder::open(script.record.as_deref()) {
        Ok(recorder) => recorder,
        Err(e) => {
            eprintln!("fixture_stdio: {e}");
            process::exit(2);
        }
    };
    say(&format!("stdio fixture {} started", script.name));
    let out = Arc::new(Out::default());
    let cancels = Arc::new(Cancels::default());
    let mut control = ControlFile::new(script.control.clone());
    let mut server = Server::new(script);
    let mut session = Session::default();

    let mut stdin = io::stdin().lock();
    let mut line = Vec::new();
    loop {
        line.clear();
        match stdin.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let Ok(message) = serde_json::from_slice::<Value>(&line) else {
            out.line(&error(&Value::Null, -32700, "Parse error"));
            continue;
        };
        recorder.record(&message);
        if let Some(events) = control.refresh(&mut server.script) {
            on_events(&events, &mut session, &out);
        }
        handle(&message, &mut server, &mut session, &out, &cancels);
    }
    say("stdin closed; exiting");
}

#[derive(Default)]
struct Session {
    calls: u64,
    expired: bool,
}

fn on_events(events: &Events, session: &mut Session, out: &Out) {
    if events.expire {
        session.expired = true;
    }
    if events.list_changed {
        out.line(&notification("notifications/tools/list_changed", json!({})));
    }
    if events.exit {
        say("exit requested by the control file");
        process::exit(0);
    }
}

fn handle(
    message: &Value,
    server: &mut Server,
    session: &mut Session,
    out: &Arc<Out>,
    cancels: &Arc<Cancels>,
) {
    let method = message.get("method").and_then(Value::as_str).unwrap_or("");
    let id = message.get("id");
    match (method, id) {
        ("notifications/cancelled", None) => {
            if let Some(request) = message.pointer("/params/requestId") {
                cancels.cancel(request.to_string());
            }
            return;
        }
        ("notifications/initialized", None) if server.script.asks_client() => {
            for request in server_requests(&server.script) {
                out.line(&request);
            }
            return;
        }
        ("initialize", Some(_)) => *session = Session::default(),
        (method, Some(id)) if !method.is_empty() && session.expired => {
            out.line(&error(id, EXPIRED_CODE, EXPIRED_MESSAGE));
            return;
        }
        _ => {}
    }
    match server.handle(message) {
        Reply::Nothing | Reply::Hang => {}
        Reply::ServerError => {
            if let Some(id) = id {
                out.line(&error(id, -32603, "Internal error (scripted)"));
            }
        }
        Reply::Crash => {
            say("crash requested; exiting without an answer");
            process::exit(3);
        }
        Reply::Answer(answer) => {
            let mut exit = false;
            if let Some((number, _)) = &answer.call {
                session.calls += 1;
                if server
                    .script
                    .expire_after
                    .is_some_and(|n| session.calls >= n)
                {
                    session.expired = true;
                }
                exit = server.script.exit_after.is_some_and(|n| *number >= n);
            }
            if method == "initialize" {
                if let Some(after) = server.script.list_changed_after {
                    let out = out.clone();
                    thread::spawn(move || {
                        thread::sleep(after);
                        out.line(&notification("notifications/tools/list_changed", json!({})));
                    });
                }
            }
            let garbage = server.script.garbage;
            let key = id.map(Value::to_string).unwrap_or_default();
            if answer.delay.is_zero() {
                send(&answer, garbage, exit, out);
            } else {
                let (out, cancels) = (out.clone(), cancels.clone());
                thread::spawn(move || {
                    if cancels.wait(&key, answer.delay) {
                        send(&answer, garbage, exit, &out);
                    }
                });
            }
        }
    }
}

fn send(answer: &Answer, garbage: bool, exit: bool, out: &Out) {
    if garbage {
        out.garbage();
    }
    for message in answer
        .before
        .iter()
        .chain([&answer.response])
        .chain(&answer.after)
    {
        out.line(message);
    }
    if exit {
        say("answered the last call before --exit-after; exiting");
        process::exit(0);
    }
}

/// stdout, shared by the reader and the delayed answers. A write error means
/// the client is gone: exit.
#[derive(Default)]
struct Out {
    stdout: Mutex<()>,
    huge_sent: AtomicBool,
}

impl Out {
    fn line(&self, message: &Value) {
        let mut text = message.to_string().into_bytes();
        text.push(b'\n');
        self.raw(&text);
    }

    fn raw(&self, bytes: &[u8]) {
        let _guard = self.stdout.lock().unwrap_or_else(|e| e.into_inner());
        let mut stdout = io::stdout().lock();
        if stdout
            .write_all(bytes)
            .and_then(|()| stdout.flush())
            .is_err()
        {
            process::exit(0);
        }
    }

    /// Everything a client must survive, before a real answer.
    fn garbage(&self) {
        if !self.huge_sent.swap(true, Ordering::SeqCst) {
            let head = br#"{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":""#;
            let mut huge = Vec::with_capacity(HUGE_LINE + 64);
            huge.extend_from_slice(head);
            huge.resize(HUGE_LINE, b'x');
            huge.extend_from_slice(b"\"}}\n");
            self.raw(&huge);
        }
        self.raw(b"this line is not JSON\n");
        self.raw(b"\n");
        self.raw(b"[1, 2, 3]\n");
        self.raw(b"{\"jsonrpc\":\"2.0\",\"id\":987654321,\"result\":{\"stray\":true}}\n");
        self.raw(b"{\"jsonrpc\":\"2.0\",\"id\":\"no-such-request\",\"error\":{\"code\":-32603,\"message\":\"stray\"}}\n");
        self.raw(b"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"data\":\"\xff\xfe\"}}\n");
        self.raw(b"\xc3\x28 not UTF-8 at all\n");
    }
}

/// `--control FILE`: re-read before each message; a changed content is
/// applied once (so one-shot events fire once per change).
struct ControlFile {
    path: Option<PathBuf>,
    last: Option<Vec<u8>>,
}

impl ControlFile {
    fn new(path: Option<PathBuf>) -> ControlFile {
        ControlFile { path, last: None }
    }

    fn refresh(&mut self, script: &mut Script) -> Option<Events> {
        let bytes = std::fs::read(self.path.as_ref()?).ok()?;
        if self.last.as_ref() == Some(&bytes) {
            return None;
        }
        self.last = Some(bytes.clone());
        let applied = serde_json::from_slice::<Value>(&bytes)
            .map_err(|e| e.to_string())
            .and_then(|control| script.apply(&control));
        match applied {
            Ok(events) => Some(events),
            Err(e) => {
                say(&format!("control file ignored: {e}"));
                None
            }
        }
    }
}
