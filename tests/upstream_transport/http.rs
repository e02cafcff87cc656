//! The Streamable HTTP transport against real loopback servers.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::RecvTimeoutError;
use serde_json::{json, Value};

use molecule_mcp::config::EnvMap;
use molecule_mcp::upstream::config::TransportSpec;
use molecule_mcp::upstream::error::CallError;
use molecule_mcp::upstream::session::{connect, Session};

use super::support::loopback::{Loopback, Reply, Seen};
use super::{eventually, no_cancel, CALL};

const TOKEN: &str = "Bearer test-secret-abcdefgh";

fn init_result() -> Value {
    json!({
        "protocolVersion": "2025-06-18",
        "capabilities": {"tools": {}},
        "serverInfo": {"name": "loopback", "version": "1"},
    })
}

fn answer(id: &Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

fn rpc_error(id: &Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

/// An MCP server: `initialize` (handing out `session` when given),
/// notifications accepted with 202, DELETE accepted; every other request
/// goes to `call` with its id.
fn mcp(
    session: Option<&'static str>,
    call: impl Fn(&Seen, &Value) -> Reply + Send + Sync + 'static,
) -> impl Fn(&Seen) -> Reply + Send + Sync + 'static {
    move |seen: &Seen| {
        if seen.method == "DELETE" {
            return Reply::status(200, "text/plain", "");
        }
        let message = seen.json();
        let id = message["id"].clone();
        if id.is_null() {
            return Reply::status(202, "text/plain", "");
        }
        if message["method"] == "initialize" {
            let reply = Reply::json(200, &answer(&id, init_result()));
            return match session {
                Some(session) => reply.with_header("Mcp-Session-Id", session),
                None => reply,
            };
        }
        call(seen, &id)
    }
}

fn echo(seen: &Seen, id: &Value) -> Reply {
    Reply::json(
        200,
        &answer(id, json!({"tag": seen.json()["params"]["tag"]})),
    )
}

fn spec(url: String) -> TransportSpec {
    let mut headers = BTreeMap::new();
    headers.insert("Authorization".to_string(), TOKEN.to_string());
    headers.insert("X-Custom".to_string(), "custom-value".to_string());
    TransportSpec::Http { url, headers }
}

fn open(url: String) -> Result<Arc<dyn Session>, CallError> {
    open_as("web", url)
}

/// The thread budget is per server name and process-wide: a test that fills
/// it takes a name of its own, so that the tests beside it keep theirs.
fn open_as(name: &str, url: String) -> Result<Arc<dyn Session>, CallError> {
    let cancel = no_cancel();
    connect(name, &spec(url), &EnvMap::new(), CALL, &cancel.rx)
}

fn start(server: &Loopback) -> Arc<dyn Session> {
    start_as("web", server)
}

fn start_as(name: &str, server: &Loopback) -> Arc<dyn Session> {
    match open_as(name, server.url("/mcp")) {
        Ok(session) => session,
        Err(e) => panic!("connect failed: {e:?}"),
    }
}

fn call(session: &dyn Session, method: &str, params: Value) -> Result<Value, CallError> {
    let cancel = no_cancel();
    session.request(method, params, CALL, &cancel.rx)
}

#[test]
fn json_answers_and_the_session_id_on_every_later_request() {
    let server = Loopback::start(mcp(Some("sess-42"), echo));
    let session = start(&server);
    assert_eq!(session.info()["serverInfo"]["name"], "loopback");
    assert_eq!(
        call(&*session, "echo", json!({"tag": 3})).unwrap(),
        json!({"tag": 3})
    );

    let init = &server.seen_rpc("initialize")[0];
    let accept = init.header("accept").unwrap_or("");
    assert!(
        accept.contains("application/json") && accept.contains("text/event-stream"),
        "{accept}"
    );
    assert_eq!(init.header("content-type"), Some("application/json"));
    assert_eq!(init.header("authorization"), Some(TOKEN));
    assert_eq!(init.header("x-custom"), Some("custom-value"));
    assert_eq!(init.header("mcp-session-id"), None);
    assert_eq!(init.json()["params"]["clientInfo"]["name"], "molecule-mcp");
    assert_eq!(init.json()["params"]["protocolVersion"], "2025-11-25");

    for method in ["notifications/initialized", "echo"] {
        let seen = &server.seen_rpc(method)[0];
        assert_eq!(seen.header("mcp-session-id"), Some("sess-42"), "{method}");
        assert_eq!(
            seen.header("mcp-protocol-version"),
            Some("2025-06-18"),
            "{method}"
        );
    }

    let closed = session.closed();
    session.close();
    let deletes: Vec<Seen> = server
        .seen()
        .into_iter()
        .filter(|s| s.method == "DELETE")
        .collect();
    assert_eq!(deletes.len(), 1);
    assert_eq!(deletes[0].header("mcp-session-id"), Some("sess-42"));
    assert_eq!(
        closed.recv_timeout(Duration::from_secs(1)),
        Err(RecvTimeoutError::Disconnected)
    );
    assert!(matches!(
        call(&*session, "echo", json!({})),
        Err(CallError::Closed)
    ));
}

#[test]
fn an_event_stream_answer_after_notifications_and_a_server_request() {
    let server = Loopback::start(mcp(Some("s"), |seen, id| {
        let tag = seen.json()["params"]["tag"].clone();
        let progress =
            json!({"jsonrpc": "2.0", "method": "notifications/progress", "params": {"n": 1}});
        let ping = json!({"jsonrpc": "2.0", "id": "srv-1", "method": "ping"});
        Reply::Stream {
            events: vec![
                ": a comment\n\n".to_string(),
                format!("event: message\nid: 1\ndata: {progress}\n\n"),
                format!("data: {ping}\n\n"),
                // One JSON document over two data lines.
                format!("data: {{\"jsonrpc\": \"2.0\", \"id\": {id},\ndata: \"result\": {{\"tag\": {tag}}}}}\n\n"),
            ],
            hang: Duration::ZERO,
        }
    }));
    let session = start(&server);
    let events = session.events();
    assert_eq!(
        call(&*session, "echo", json!({"tag": 9})).unwrap(),
        json!({"tag": 9})
    );
    let event = events.recv_timeout(Duration::from_secs(1)).unwrap();
    assert_eq!(event["method"], "notifications/progress");
    let answered = eventually(Duration::from_secs(5), || {
        server
            .seen()
            .iter()
            .any(|s| s.json()["id"] == "srv-1" && s.json()["result"] == json!({}))
    });
    assert!(answered, "the server's ping was not answered");
    session.close();
}

/// What the server sends on its own is read by whoever runs the session's
/// listener (the thread that connected it) until the session closes; a
/// server without a GET stream (405) costs one GET, and the listener
/// returns at once, so that no thread stays for it.
#[test]
fn the_get_stream_lasts_until_close_and_a_405_ends_it_at_once() {
    let answering = mcp(Some("s-none"), echo);
    let none = Loopback::start(move |seen: &Seen| {
        if seen.method == "GET" {
            Reply::status(405, "text/plain", "")
        } else {
            answering(seen)
        }
    });
    let session = start(&none);
    let done = listen_in_background(&*session);
    assert!(
        done.recv_timeout(CALL).is_ok(),
        "the listener outlived a 405"
    );
    let gets = none.seen().iter().filter(|s| s.method == "GET").count();
    assert_eq!(gets, 1);
    session.close();

    let changed = json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"});
    let answering = mcp(Some("s-get"), echo);
    let streaming = Loopback::start(move |seen: &Seen| {
        if seen.method == "GET" {
            Reply::Stream {
                events: vec![format!("data: {changed}\n\n")],
                hang: Duration::from_millis(100),
            }
        } else {
            answering(seen)
        }
    });
    let session = start(&streaming);
    let events = session.events();
    let done = listen_in_background(&*session);
    let event = events
        .recv_timeout(CALL)
        .expect("the GET stream's notification");
    assert_eq!(event["method"], "notifications/tools/list_changed");
    assert!(
        done.try_recv().is_err(),
        "the listener ended while the session was open"
    );
    session.close();
    assert!(
        done.recv_timeout(CALL).is_ok(),
        "the listener outlived the session"
    );
}

fn listen_in_background(session: &dyn Session) -> crossbeam_channel::Receiver<()> {
    let Some(listen) = session.listener() else {
        panic!("an HTTP session reads a GET stream");
    };
    let (tx, done) = crossbeam_channel::bounded(1);
    thread::spawn(move || {
        listen();
        let _ = tx.send(());
    });
    done
}

/// A server that answers the GET with `event` and ends the stream.
fn get_stream(session: &'static str, event: &'static str) -> Loopback {
    let answering = mcp(Some(session), echo);
    Loopback::start(move |seen: &Seen| {
        if seen.method == "GET" {
            Reply::Stream {
                events: vec![event.to_string()],
                hang: Duration::ZERO,
            }
        } else {
            answering(seen)
        }
    })
}

fn gets(server: &Loopback) -> usize {
    server.seen().iter().filter(|s| s.method == "GET").count()
}

/// The delay a server asks for before its stream is reopened never keeps
/// the listener (and its thread) past close.
#[test]
fn close_ends_the_wait_for_a_huge_retry_at_once() {
    let server = get_stream("s-retry", "retry: 999999999\n\n");
    let session = start(&server);
    let done = listen_in_background(&*session);
    assert!(eventually(CALL, || gets(&server) == 1), "no GET stream");
    session.close();
    assert!(
        done.recv_timeout(Duration::from_secs(5)).is_ok(),
        "the listener outlived the session"
    );
}

/// `retry: 0` on a stream that ends with no event: each reopening counts
/// as a failure, so the listener gives up instead of looping.
#[test]
fn a_get_stream_that_keeps_ending_empty_is_given_up() {
    let server = get_stream("s-empty", "retry: 0\n\n");
    let session = start(&server);
    let done = listen_in_background(&*session);
    assert!(
        done.recv_timeout(CALL).is_ok(),
        "the listener kept reopening an empty stream"
    );
    assert_eq!(gets(&server), 5);
    session.close();
}

/// A server that keeps its GET stream open and busy past close: the
/// listener stops reading at once, relaying nothing more.
#[test]
fn close_ends_a_get_stream_the_server_keeps_open() {
    let changed = json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"});
    let answering = mcp(Some("s-open"), echo);
    let server = Loopback::start(move |seen: &Seen| {
        if seen.method == "GET" {
            Reply::Trickle {
                event: format!("data: {changed}\n\n"),
                every: Duration::from_millis(20),
                span: Duration::from_secs(60),
            }
        } else {
            answering(seen)
        }
    });
    let session = start(&server);
    let events = session.events();
    let done = listen_in_background(&*session);
    events
        .recv_timeout(CALL)
        .expect("the GET stream's notification");
    session.close();
    assert!(
        done.recv_timeout(Duration::from_secs(5)).is_ok(),
        "the listener outlived the session"
    );
    while events.try_recv().is_ok() {}
    thread::sleep(Duration::from_millis(200));
    assert!(
        events.try_recv().is_err(),
        "an event was relayed after close"
    );
}

#[test]
fn statuses_and_errors_are_typed() {
    let server = Loopback::start(mcp(Some("s"), |seen, id| {
        match seen.rpc_method().as_str() {
            "gone" => Reply::status(404, "text/plain", "Not Found"),
            "bad-session" => Reply::json(
                400,
                &json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32000, "message": "Bad Request: No valid session ID provided"}}),
            ),
            "bad" => Reply::status(400, "text/plain", "malformed"),
            "expired" => Reply::json(
                200,
                &rpc_error(id, -32602, "Invalid params: Invalid or expired session"),
            ),
            "wrong" => Reply::json(200, &rpc_error(id, -32602, "bad tag")),
            "deny" => Reply::status(401, "text/plain", "Bearer abcdefghijklmnopqrstu rejected"),
            "forbid" => Reply::status(403, "text/plain", "no"),
            _ => Reply::status(503, "text/plain", "overloaded"),
        }
    }));
    let session = start(&server);
    let got = |method: &str| call(&*session, method, json!({}));
    assert!(matches!(got("gone"), Err(CallError::SessionExpired { .. })));
    assert!(matches!(
        got("bad-session"),
        Err(CallError::SessionExpired { .. })
    ));
    assert!(matches!(
        got("bad"),
        Err(CallError::Http { status: 400, .. })
    ));
    assert!(matches!(
        got("expired"),
        Err(CallError::SessionExpired { .. })
    ));
    assert!(matches!(
        got("wrong"),
        Err(CallError::Rpc { code: -32602, .. })
    ));
    match got("deny") {
        Err(e @ CallError::Auth { status: 401, .. }) => {
            assert!(!e.to_string().contains("abcdefghijklmnopqrstu"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        got("forbid"),
        Err(CallError::Auth { status: 403, .. })
    ));
    assert!(matches!(
        got("boom"),
        Err(CallError::Http { status: 503, .. })
    ));
    session.close();
}

#[test]
fn a_404_without_a_session_is_not_expiry() {
    let server = Loopback::start(mcp(None, |_, _| Reply::status(404, "text/plain", "nope")));
    let session = start(&server);
    assert!(matches!(
        call(&*session, "gone", json!({})),
        Err(CallError::Http { status: 404, .. })
    ));
    session.close();
    assert!(
        server.seen().iter().all(|s| s.method != "DELETE"),
        "DELETE without a session"
    );
}

#[test]
fn an_html_page_is_not_an_mcp_endpoint() {
    let server = Loopback::start(|_: &Seen| {
        Reply::status(200, "text/html", "<html><body>Welcome</body></html>")
    });
    match open(server.url("/")) {
        Err(e @ CallError::Protocol { .. }) => {
            assert!(e.to_string().contains("not an MCP endpoint"), "{e}");
        }
        Err(other) => panic!("{other:?}"),
        Ok(_) => panic!("an HTML page passed for an MCP server"),
    }
}

#[test]
fn a_refused_connection_was_never_sent() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let result = open(format!("http://127.0.0.1:{port}/mcp"));
    assert!(
        matches!(result, Err(CallError::Transport { sent: false, .. })),
        "{:?}",
        result.err()
    );
}

#[test]
fn a_connection_dropped_after_the_request_leaves_the_outcome_uncertain() {
    let server = Loopback::start(mcp(Some("s"), |_, _| Reply::Drop));
    let session = start(&server);
    let result = call(&*session, "tool", json!({}));
    assert!(
        matches!(result, Err(CallError::Transport { sent: true, .. })),
        "{result:?}"
    );
    session.close();
}

fn endless(_: &Seen, _: &Value) -> Reply {
    let progress =
        json!({"jsonrpc": "2.0", "method": "notifications/progress", "params": {"n": 1}});
    Reply::Stream {
        events: vec![format!("data: {progress}\n\n")],
        hang: Duration::from_secs(20),
    }
}

#[test]
fn an_endless_event_stream_times_out_and_the_server_is_told() {
    let server = Loopback::start(mcp(Some("s"), endless));
    let session = start(&server);
    let cancel = no_cancel();
    let started = Instant::now();
    let result = session.request("slow", json!({}), Duration::from_millis(500), &cancel.rx);
    let took = started.elapsed();
    assert!(matches!(result, Err(CallError::Timeout)), "{result:?}");
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_secs(3),
        "{took:?}"
    );
    let id = server.seen_rpc("slow")[0].json()["id"].clone();
    let told = eventually(Duration::from_secs(5), || {
        server
            .seen_rpc("notifications/cancelled")
            .iter()
            .any(|s| s.json()["params"]["requestId"] == id)
    });
    assert!(told, "no notifications/cancelled");
    session.close();
}

#[test]
fn a_cancelled_stream_returns_at_once() {
    let server = Loopback::start(mcp(Some("s"), endless));
    let session = start(&server);
    let (tx, rx) = crossbeam_channel::bounded::<()>(0);
    let canceller = thread::spawn(move || {
        thread::sleep(Duration::from_millis(200));
        drop(tx);
    });
    let started = Instant::now();
    let result = session.request("slow", json!({}), CALL, &rx);
    assert!(matches!(result, Err(CallError::Cancelled)), "{result:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    canceller.join().unwrap();
    session.close();
}

/// The connection buffers are small, but a header line as long as common
/// servers take (a 7 KiB token here) still goes out whole, on the POSTs
/// and on the GET stream.
#[test]
fn a_long_configured_header_is_sent_whole() {
    let token = format!("Bearer {}", "t".repeat(7 * 1024));
    let answering = mcp(Some("s-long"), echo);
    let server = Loopback::start(move |seen: &Seen| {
        if seen.method == "GET" {
            Reply::status(405, "text/plain", "")
        } else {
            answering(seen)
        }
    });
    let mut headers = BTreeMap::new();
    headers.insert("Authorization".to_string(), token.clone());
    let spec = TransportSpec::Http {
        url: server.url("/mcp"),
        headers,
    };
    let cancel = no_cancel();
    let session = match connect("web", &spec, &EnvMap::new(), CALL, &cancel.rx) {
        Ok(session) => session,
        Err(e) => panic!("connect failed: {e:?}"),
    };
    assert_eq!(
        call(&*session, "echo", json!({"tag": 1})).unwrap(),
        json!({"tag": 1})
    );
    let done = listen_in_background(&*session);
    assert!(
        done.recv_timeout(CALL).is_ok(),
        "the listener outlived a 405"
    );
    let seen = server.seen();
    assert!(seen.iter().any(|s| s.method == "GET"));
    for request in seen.iter().filter(|s| s.method != "DELETE") {
        assert_eq!(request.header("authorization"), Some(token.as_str()));
    }
    session.close();
}

/// A URL whose path and query would not fit the request buffer is refused
/// before any request, naming the limit and not the query (it may hold a
/// key); one just under it connects.
#[test]
fn a_url_longer_than_a_request_line_is_refused_at_connect() {
    let server = Loopback::start(mcp(Some("s-url"), echo));
    let key = "Vw4".repeat(3 * 1024);
    let err = match open(server.url(&format!("/mcp?key={key}"))) {
        Ok(_) => panic!("a 9 KiB query was accepted"),
        Err(e) => e,
    };
    let text = format!("{err:?} {err}");
    assert!(
        text.contains("request line") && text.contains("at most 8188"),
        "{text}"
    );
    assert!(!text.contains(&key[..64]), "the query leaked: {text}");
    assert!(server.seen().is_empty(), "a request was sent");
    let fits = "Vw4".repeat(7 * 1024 / 3);
    let session = match open(server.url(&format!("/mcp?key={fits}"))) {
        Ok(session) => session,
        Err(e) => panic!("a 7 KiB query was refused: {e:?}"),
    };
    assert_eq!(
        call(&*session, "echo", json!({"tag": 3})).unwrap(),
        json!({"tag": 3})
    );
    session.close();
}

/// An address in the URL is used as it is; a host name is still looked up.
#[test]
fn a_host_name_is_looked_up() {
    let server = Loopback::start(mcp(Some("s-name"), echo));
    let url = server.url("/mcp").replace("127.0.0.1", "localhost");
    let session = match open(url) {
        Ok(session) => session,
        Err(e) => panic!("connect by name failed: {e:?}"),
    };
    assert_eq!(
        call(&*session, "echo", json!({"tag": 2})).unwrap(),
        json!({"tag": 2})
    );
    session.close();
}

#[test]
fn credentials_never_follow_a_redirect_to_another_origin() {
    let other = Loopback::start(mcp(Some("other"), echo));
    let elsewhere = other.url("/mcp");
    let server = Loopback::start(mcp(Some("sess-a"), move |seen, id| {
        match (seen.path.as_str(), seen.rpc_method().as_str()) {
            ("/mcp", "away") => {
                Reply::status(307, "text/plain", "").with_header("Location", &elsewhere)
            }
            ("/mcp", "here") => {
                Reply::status(308, "text/plain", "").with_header("Location", "/moved")
            }
            _ => echo(seen, id),
        }
    }));
    let session = start(&server);

    assert_eq!(
        call(&*session, "away", json!({"tag": 1})).unwrap(),
        json!({"tag": 1})
    );
    let there = &other.seen_rpc("away")[0];
    assert_eq!(there.header("authorization"), None);
    assert_eq!(there.header("x-custom"), None);
    assert_eq!(there.header("mcp-session-id"), None);
    assert_eq!(
        there.json()["params"]["tag"],
        1,
        "the body must follow a 307"
    );

    assert_eq!(
        call(&*session, "here", json!({"tag": 2})).unwrap(),
        json!({"tag": 2})
    );
    let moved: Vec<Seen> = server
        .seen()
        .into_iter()
        .filter(|s| s.path == "/moved")
        .collect();
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0].header("authorization"), Some(TOKEN));
    assert_eq!(moved[0].header("mcp-session-id"), Some("sess-a"));
    session.close();
}

#[test]
fn close_ends_a_call_in_flight() {
    let server = Loopback::start(mcp(Some("s"), endless));
    let session = start(&server);
    let caller = {
        let session = session.clone();
        thread::spawn(move || call(&*session, "slow", json!({})))
    };
    assert!(eventually(Duration::from_secs(5), || !server
        .seen_rpc("slow")
        .is_empty()));
    let started = Instant::now();
    session.close();
    let result = caller.join().unwrap();
    assert!(matches!(result, Err(CallError::Closed)), "{result:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn calls_given_up_on_cannot_pile_up_threads() {
    // Every call hangs on an endless stream and is cancelled at once: its
    // request thread runs on to the call's own deadline. Past the bound a
    // new call is refused instead of starting yet another thread.
    let server = Loopback::start(mcp(Some("s"), endless));
    let session = start_as("piling", &server);
    let (tx, cancelled) = crossbeam_channel::bounded::<()>(0);
    drop(tx);
    let mut refused = None;
    for i in 0..100 {
        match session.request("slow", json!({}), Duration::from_secs(30), &cancelled) {
            Err(CallError::Cancelled) => {}
            // Not a transport failure: a healthy but slow server must not
            // open its breaker because of our own backlog.
            Err(error @ CallError::Busy { .. }) => {
                refused = Some((i, error.to_string()));
                break;
            }
            other => panic!("call {i}: {other:?}"),
        }
    }
    let (at, detail) = refused.expect("100 abandoned calls were all let through");
    assert!((16..=64).contains(&at), "refused after {at} calls");
    assert!(detail.contains("still running"), "{detail}");
    assert!(detail.contains("retry later"), "{detail}");
    session.close();
}
