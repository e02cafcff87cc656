//! A scriptable upstream MCP server speaking Streamable HTTP on 127.0.0.1,
//! for the gateway's tests. Flags: see `fixture/mod.rs`. The first stdout
//! line is the endpoint URL (`http://127.0.0.1:PORT/mcp`); nothing else goes
//! to stdout. Exits when stdin closes or on SIGTERM, so start it with a
//! piped stdin and hold on to it (a null stdin ends it at once).
//!
//! Routes:
//! - `POST /mcp`: JSON-RPC. `initialize` issues an `Mcp-Session-Id`, which
//!   every later request must carry: missing → 400, unknown → the
//!   `--expiry` form. Notifications and answers from the client get 202.
//!   Without `Accept: application/json, text/event-stream` → 406.
//! - `GET /mcp`: the session's stream of server-initiated messages.
//! - `DELETE /mcp`: ends the session (recorded as
//!   `{"fixture": "delete-session", "session": ID}`).
//! - `POST /control`: re-scripts the running fixture (see `Script::apply`);
//!   `GET /control`: `{"calls", "sessions"}`.
//!
//! `crash` closes the connection mid-request; the process lives on.

mod fixture;

use std::io::{self, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

use serde_json::{json, Value};

use fixture::cancel::Cancels;
use fixture::http_wire::{read_request, respond, respond_json, Request, Sse};
use fixture::record::Recorder;
use fixture::script::{Expiry, Script};
use fixture::server::{say, server_requests, Answer, Reply, Server};
use fixture::sessions::Sessions;
use fixture::{error, notification, EXPIRED_CODE, EXPIRED_MESSAGE};

/// How often an idle open stream is checked (by writing a comment) for a
/// client that went away.
const KEEP_ALIVE: Duration = Duration::from_millis(200);

struct Shared {
    server: Mutex<Server>,
    sessions: Sessions,
    recorder: Recorder,
    cancels: Cancels,
}

impl Shared {
    fn server(&self) -> MutexGuard<'_, Server> {
        self.server.lock().unwrap_or_else(|e| e.into_inner())
    }
}

struct Conn {
    reader: BufReader<TcpStream>,
    w: TcpStream,
}

impl Conn {
    /// Blocks until the client closes the connection: a request that is
    /// never answered.
    fn wait_closed(&mut self) {
        let mut sink = [0u8; 1024];
        while matches!(self.reader.read(&mut sink), Ok(n) if n > 0) {}
    }
}

fn main() {
    let script = match Script::parse("fixture-http", std::env::args().skip(1)) {
        Ok(script) => script,
        Err(e) => {
            eprintln!("fixture_http: {e}");
            process::exit(2);
        }
    };
    let recorder = match Recorder::open(script.record.as_deref()) {
        Ok(recorder) => recorder,
        Err(e) => {
            eprintln!("fixture_http: {e}");
            process::exit(2);
        }
    };
    let listener = match TcpListener::bind(("127.0.0.1", script.port)) {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!(
                "fixture_http: cannot listen on 127.0.0.1:{}: {e}",
                script.port
            );
            process::exit(2);
        }
    };
    let port = listener.local_addr().map_or(script.port, |a| a.port());
    let mut stdout = io::stdout();
    let _ = writeln!(stdout, "http://127.0.0.1:{port}/mcp");
    let _ = stdout.flush();
    say(&format!(
        "http fixture {} listening on port {port}",
        script.name
    ));

    // The test holds our stdin: when it goes away, so do we.
    thread::spawn(|| {
        let mut sink = [0u8; 256];
        while matches!(io::stdin().read(&mut sink), Ok(n) if n > 0) {}
        say("stdin closed; exiting");
        process::exit(0);
    });

    let shared = Arc::new(Shared {
        server: Mutex::new(Server::new(script)),
        sessions: Sessions::default(),
        recorder,
        cancels: Cancels::default(),
    });
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let shared = shared.clone();
        thread::spawn(move || serve(stream, &shared));
    }
}

fn serve(stream: TcpStream, shared: &Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let Ok(reader) = stream.try_clone() else {
        return;
    };
    let mut conn = Conn {
        reader: BufReader::new(reader),
        w: stream,
    };
    loop {
        let request = match read_request(&mut conn.reader) {
            Ok(Some(request)) => request,
            Ok(None) => return,
            Err(e) => {
                let status = if e.to_string().contains("too large") {
                    413
                } else {
                    400
                };
                let _ = respond(&mut conn.w, status, &[("Connection", "close".into())], b"");
                return;
            }
        };
        let keep = route(&request, &mut conn, shared).unwrap_or(false);
        let close = request
            .header("connection")
            .is_some_and(|c| c.eq_ignore_ascii_case("close"));
        if !keep || close {
            let _ = conn.w.shutdown(Shutdown::Both);
            return;
        }
    }
}

/// Serves one request; `Ok(false)` closes the connection.
fn route(request: &Request, conn: &mut Conn, shared: &Arc<Shared>) -> io::Result<bool> {
    match (request.method.as_str(), request.path.as_str()) {
        ("POST", "/control") => return control(request, conn, shared),
        ("GET", "/control") => {
            let state = {
                let server = shared.server();
                json!({"calls": server.calls, "sessions": shared.sessions.len()})
            };
            respond_json(&mut conn.w, 200, &[], &state)?;
            return Ok(true);
        }
        (_, "/mcp") => {}
        _ => {
            respond(&mut conn.w, 404, &[], b"no such path; the endpoint is /mcp")?;
            return Ok(true);
        }
    }
    let (script, calls) = {
        let server = shared.server();
        (server.script.clone(), server.calls)
    };
    if script.frozen {
        conn.wait_closed();
        return Ok(false);
    }
    if let Some(status) = script.status {
        let mut headers = Vec::new();
        if status == 401 {
            headers.push(("WWW-Authenticate", "Bearer realm=\"fixture\"".to_string()));
        }
        let body = json!({"error": format!("scripted status {status}")});
        respond_json(&mut conn.w, status, &headers, &body)?;
        return Ok(true);
    }
    if script.failing_after(calls) {
        respond(&mut conn.w, 503, &[], b"the fixture is failing (scripted)")?;
        return Ok(true);
    }
    match request.method.as_str() {
        "POST" => post(request, conn, shared, &script),
        "GET" => get_stream(request, conn, shared, &script),
        "DELETE" => delete(request, conn, shared),
        _ => {
            respond(
                &mut conn.w,
                405,
                &[("Allow", "GET, POST, DELETE".into())],
                b"",
            )?;
            Ok(true)
        }
    }
}

fn accepts(request: &Request, kind: &str) -> bool {
    request.header("accept").is_some_and(|a| a.contains(kind))
}

/// The live session a request names; `None` when it names none or a
/// forgotten one, the refusal already written.
fn session(
    request: &Request,
    id: Option<&Value>,
    conn: &mut Conn,
    script: &Script,
    shared: &Shared,
) -> io::Result<Option<String>> {
    let Some(sid) = request.header("mcp-session-id") else {
        let body = json!({"jsonrpc": "2.0", "id": null,
                          "error": {"code": -32000, "message": "Bad Request: Mcp-Session-Id header is required"}});
        respond_json(&mut conn.w, 400, &[], &body)?;
        return Ok(None);
    };
    if shared.sessions.exists(sid) {
        return Ok(Some(sid.to_string()));
    }
    match (script.expiry, id) {
        (Expiry::Rpc, Some(id)) => respond_json(
            &mut conn.w,
            200,
            &[],
            &error(id, EXPIRED_CODE, EXPIRED_MESSAGE),
        )?,
        // A notification has no id to carry the error.
        (Expiry::Rpc, None) if request.method == "POST" => respond(&mut conn.w, 202, &[], b"")?,
        (Expiry::BadRequest, _) => {
            let body = json!({"jsonrpc": "2.0", "id": null,
                              "error": {"code": -32000, "message": "Bad Request: No valid session ID provided"}});
            respond_json(&mut conn.w, 400, &[], &body)?
        }
        (Expiry::NotFound | Expiry::Rpc, _) => {
            let body = json!({"jsonrpc": "2.0", "id": null,
                              "error": {"code": -32001, "message": "Session not found"}});
            respond_json(&mut conn.w, 404, &[], &body)?
        }
    }
    Ok(None)
}

fn post(
    request: &Request,
    conn: &mut Conn,
    shared: &Arc<Shared>,
    script: &Script,
) -> io::Result<bool> {
    if !accepts(request, "application/json") || !accepts(request, "text/event-stream") {
        let body = json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32000,
            "message": "Not Acceptable: Client must accept both application/json and text/event-stream"}});
        respond_json(&mut conn.w, 406, &[], &body)?;
        return Ok(true);
    }
    if !request
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/json"))
    {
        respond(
            &mut conn.w,
            415,
            &[],
            b"Content-Type must be application/json",
        )?;
        return Ok(true);
    }
    let message: Value = match serde_json::from_slice(&request.body) {
        Ok(message) => message,
        Err(_) => {
            respond_json(
                &mut conn.w,
                400,
                &[],
                &error(&Value::Null, -32700, "Parse error"),
            )?;
            return Ok(true);
        }
    };
    if let Value::Array(batch) = &message {
        for item in batch {
            shared.recorder.record(item);
        }
        let body = error(&Value::Null, -32600, "batches are not supported");
        respond_json(&mut conn.w, 400, &[], &body)?;
        return Ok(true);
    }
    shared.recorder.record(&message);
    let method = message.get("method").and_then(Value::as_str).unwrap_or("");
    let id = message.get("id");
    if method.is_empty() {
        // The client's answer to one of our requests.
        respond(&mut conn.w, 202, &[], b"")?;
        return Ok(true);
    }
    if method == "initialize" && id.is_some() {
        return initialize(&message, conn, shared, script);
    }
    let Some(sid) = session(request, id, conn, script, shared)? else {
        return Ok(true);
    };
    let Some(id) = id else {
        if method == "notifications/cancelled" {
            if let Some(request_id) = message.pointer("/params/requestId") {
                shared.cancels.cancel(format!("{sid}/{request_id}"));
            }
        }
        if method == "notifications/initialized" && script.asks_client() {
            for request in server_requests(script) {
                shared.sessions.push(&sid, request);
            }
        }
        respond(&mut conn.w, 202, &[], b"")?;
        return Ok(true);
    };
    let reply = shared.server().handle(&message);
    match reply {
        Reply::Nothing => {
            respond(&mut conn.w, 202, &[], b"")?;
            Ok(true)
        }
        Reply::ServerError => {
            respond(&mut conn.w, 503, &[], b"the fixture is failing (scripted)")?;
            Ok(true)
        }
        Reply::Crash => {
            say("crash requested; dropping the connection without an answer");
            Ok(false)
        }
        Reply::Hang => {
            if script.sse {
                let mut sse = Sse::start(&mut conn.w, &[])?;
                sse.event(&working(method), false)?;
            }
            conn.wait_closed();
            Ok(false)
        }
        Reply::Answer(answer) => {
            if answer.call.is_some() {
                shared.sessions.count_call(&sid, script.expire_after);
            }
            let pending = shared.sessions.take_queue(&sid);
            let key = format!("{sid}/{id}");
            answer_request(conn, shared, script, method, answer, pending, &key, &[])
        }
    }
}

fn initialize(
    message: &Value,
    conn: &mut Conn,
    shared: &Arc<Shared>,
    script: &Script,
) -> io::Result<bool> {
    let reply = shared.server().handle(message);
    let answer = match reply {
        Reply::Answer(answer) => answer,
        Reply::ServerError => {
            respond(&mut conn.w, 503, &[], b"the fixture is failing (scripted)")?;
            return Ok(true);
        }
        Reply::Nothing | Reply::Crash | Reply::Hang => {
            conn.wait_closed();
            return Ok(false);
        }
    };
    let mut headers = Vec::new();
    // A failed initialize opens no session.
    if answer.response.get("result").is_some() {
        let sid = shared.sessions.create();
        if let Some(after) = script.list_changed_after {
            let (sid, shared) = (sid.clone(), shared.clone());
            thread::spawn(move || {
                thread::sleep(after);
                shared.sessions.push(&sid, list_changed());
            });
        }
        headers.push(("Mcp-Session-Id", sid));
    }
    let key = format!("-/{}", message.get("id").unwrap_or(&Value::Null));
    answer_request(
        conn,
        shared,
        script,
        "initialize",
        answer,
        Vec::new(),
        &key,
        &headers,
    )
}

/// Writes the answer: one JSON body, or an SSE stream when there is
/// anything to send before it (pending messages, notifications) or `--sse`
/// asks for one. `Ok(false)` closes the connection.
#[allow(clippy::too_many_arguments)]
fn answer_request(
    conn: &mut Conn,
    shared: &Shared,
    script: &Script,
    method: &str,
    answer: Answer,
    pending: Vec<Value>,
    key: &str,
    headers: &[(&str, String)],
) -> io::Result<bool> {
    let tool = answer.call.as_ref().map(|(_, tool)| tool.as_str());
    let never_end = tool.is_some_and(|t| script.sse_never_end.as_deref() == Some(t));
    let exit = answer
        .call
        .as_ref()
        .is_some_and(|(n, _)| script.exit_after.is_some_and(|last| *n >= last));
    let mut notes = pending;
    notes.extend(answer.before);
    notes.extend(answer.after);
    if !(script.sse || never_end || !notes.is_empty()) {
        if !answer.delay.is_zero() && !shared.cancels.wait(key, answer.delay) {
            return Ok(false);
        }
        respond_json(&mut conn.w, 200, headers, &answer.response)?;
        exit_if(exit);
        return Ok(true);
    }
    let mut sse = Sse::start(&mut conn.w, headers)?;
    if script.sse {
        // A field-only block carries no event; a conforming client skips it.
        sse.raw("retry: 3000\n\n")?;
        sse.event(&working(method), false)?;
    }
    for note in &notes {
        sse.event(note, false)?;
    }
    if !answer.delay.is_zero() && !shared.cancels.wait(key, answer.delay) {
        sse.finish()?;
        return Ok(true);
    }
    sse.event(&answer.response, script.sse)?;
    if never_end {
        exit_if(exit);
        loop {
            thread::sleep(KEEP_ALIVE);
            if sse.raw(": the stream stays open\n\n").is_err() {
                return Ok(false);
            }
        }
    }
    sse.finish()?;
    exit_if(exit);
    Ok(true)
}

fn exit_if(exit: bool) {
    if exit {
        say("answered the last call before --exit-after; exiting");
        process::exit(0);
    }
}

fn working(method: &str) -> Value {
    notification(
        "notifications/message",
        json!({"level": "info", "logger": "fixture", "data": format!("working on {method}")}),
    )
}

fn list_changed() -> Value {
    notification("notifications/tools/list_changed", json!({}))
}

fn get_stream(
    request: &Request,
    conn: &mut Conn,
    shared: &Shared,
    script: &Script,
) -> io::Result<bool> {
    if !script.get_stream {
        respond(&mut conn.w, 405, &[("Allow", "POST, DELETE".into())], b"")?;
        return Ok(true);
    }
    if !accepts(request, "text/event-stream") {
        respond(
            &mut conn.w,
            406,
            &[],
            b"Accept must include text/event-stream",
        )?;
        return Ok(true);
    }
    let Some(sid) = session(request, None, conn, script, shared)? else {
        return Ok(true);
    };
    let Some(messages) = shared.sessions.attach_stream(&sid) else {
        respond(&mut conn.w, 404, &[], b"")?;
        return Ok(true);
    };
    let mut sse = Sse::start(&mut conn.w, &[])?;
    loop {
        match messages.recv_timeout(KEEP_ALIVE) {
            Ok(message) => sse.event(&message, false)?,
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => sse.raw(": keep-alive\n\n")?,
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                sse.finish()?;
                return Ok(true);
            }
        }
    }
}

fn delete(request: &Request, conn: &mut Conn, shared: &Shared) -> io::Result<bool> {
    let Some(sid) = request.header("mcp-session-id") else {
        respond(&mut conn.w, 400, &[], b"Mcp-Session-Id header is required")?;
        return Ok(true);
    };
    shared
        .recorder
        .record(&json!({"fixture": "delete-session", "session": sid}));
    let status = if shared.sessions.remove(sid) {
        200
    } else {
        404
    };
    respond(&mut conn.w, status, &[], b"")?;
    Ok(true)
}

fn control(request: &Request, conn: &mut Conn, shared: &Shared) -> io::Result<bool> {
    let applied = serde_json::from_slice::<Value>(&request.body)
        .map_err(|e| e.to_string())
        .and_then(|control| shared.server().script.apply(&control));
    let events = match applied {
        Ok(events) => events,
        Err(e) => {
            respond_json(&mut conn.w, 400, &[], &json!({"error": e}))?;
            return Ok(true);
        }
    };
    if events.expire {
        shared.sessions.clear();
    }
    if events.list_changed {
        shared.sessions.push_all(&list_changed());
    }
    respond_json(&mut conn.w, 200, &[], &json!({"ok": true}))?;
    if events.exit {
        say("exit requested on /control");
        process::exit(0);
    }
    Ok(true)
}
