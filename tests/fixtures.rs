//! The fixture upstream servers, spoken to with raw JSON-RPC: one test per
//! behaviour the gateway tests rely on. If one of these fails, a gateway
//! test failure means nothing.
//!
//! Needs the examples built: `cargo build --examples` (plain `cargo test`
//! does it).

mod support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::launch::{count_calls, count_method, initialize_request, recorded, HttpFixture, Proc};
use support::raw_http::{exchange, Conn, Response};
use support::TempDir;

/// Generous: these wait for things that take milliseconds on a quiet
/// machine and the machine is shared.
const WAIT: Duration = Duration::from_secs(10);
/// How long "never answers" is watched for.
const QUIET: Duration = Duration::from_millis(500);

fn call(tool: &str, args: Value) -> Value {
    json!({"name": tool, "arguments": args})
}

fn text(answer: &Value) -> &str {
    answer
        .pointer("/result/content/0/text")
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no text in {answer}"))
}

fn error_code(answer: &Value) -> i64 {
    answer
        .pointer("/error/code")
        .and_then(Value::as_i64)
        .unwrap_or_else(|| panic!("no error in {answer}"))
}

fn request(id: u64, method: &str, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

fn method_of(message: &Value) -> &str {
    message.get("method").and_then(Value::as_str).unwrap_or("")
}

mod stdio {
    use super::*;

    fn start(args: &[&str]) -> Proc {
        let mut p = Proc::spawn("fixture_stdio", args);
        p.handshake();
        p
    }

    fn req(p: &mut Proc, method: &str, params: Value) -> Value {
        p.request(method, params, WAIT)
            .unwrap_or_else(|| panic!("no answer to {method}; stderr: {}", p.stderr()))
    }

    #[test]
    fn serves_tools_resources_and_prompts() {
        let mut p = Proc::spawn("fixture_stdio", &["--name", "up1"]);
        let init = p.handshake();
        assert_eq!(init["capabilities"]["tools"]["listChanged"], true);
        assert!(init["capabilities"]["resources"].is_object());
        assert!(init["capabilities"]["prompts"].is_object());
        assert_eq!(init["serverInfo"]["name"], "up1");
        assert_eq!(init["protocolVersion"], "2025-06-18");

        let list = req(&mut p, "tools/list", json!({}));
        let tools = list["result"]["tools"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let names: Vec<_> = tools.iter().filter_map(|t| t["name"].as_str()).collect();
        for expected in [
            "echo",
            "add",
            "fail",
            "slow",
            "crash",
            "hang",
            "counter",
            "readonly_crash",
            "notify",
        ] {
            assert!(
                names.contains(&expected),
                "{expected} missing from {names:?}"
            );
        }
        for tool in &tools {
            assert!(
                tool["description"].is_string() && tool["inputSchema"]["type"] == "object",
                "{tool}"
            );
        }
        let echo = tools
            .iter()
            .find(|t| t["name"] == "echo")
            .cloned()
            .unwrap_or_default();
        assert_eq!(echo["annotations"]["readOnlyHint"], true);
        let readonly = tools
            .iter()
            .find(|t| t["name"] == "readonly_crash")
            .cloned()
            .unwrap_or_default();
        assert_eq!(readonly["annotations"]["readOnlyHint"], true);

        assert_eq!(
            text(&req(
                &mut p,
                "tools/call",
                call("echo", json!({"text": "hi"}))
            )),
            "hi"
        );
        let add = req(&mut p, "tools/call", call("add", json!({"a": 2, "b": 3})));
        assert_eq!(add["result"]["structuredContent"]["sum"], 5.0);
        assert_eq!(
            req(&mut p, "tools/call", call("fail", json!({})))["result"]["isError"],
            true
        );
        assert_eq!(
            text(&req(&mut p, "tools/call", call("counter", json!({})))),
            "1"
        );
        assert_eq!(
            text(&req(&mut p, "tools/call", call("counter", json!({})))),
            "2"
        );
        assert_eq!(
            error_code(&req(&mut p, "tools/call", call("nope", json!({})))),
            -32602
        );
        assert_eq!(
            error_code(&req(&mut p, "tools/call", call("echo", json!({})))),
            -32602
        );

        let resources = req(&mut p, "resources/list", json!({}));
        assert_eq!(
            resources["result"]["resources"][0]["uri"],
            "fixture://readme"
        );
        let templates = req(&mut p, "resources/templates/list", json!({}));
        assert_eq!(
            templates["result"]["resourceTemplates"][0]["uriTemplate"],
            "fixture://item/{id}"
        );
        let read = req(&mut p, "resources/read", json!({"uri": "fixture://item/7"}));
        assert_eq!(read["result"]["contents"][0]["text"], "item 7 of up1");
        assert_eq!(
            error_code(&req(
                &mut p,
                "resources/read",
                json!({"uri": "fixture://nope"})
            )),
            -32002
        );
        let prompts = req(&mut p, "prompts/list", json!({}));
        assert_eq!(prompts["result"]["prompts"][0]["name"], "greet");
        let prompt = req(
            &mut p,
            "prompts/get",
            json!({"name": "greet", "arguments": {"who": "Ann"}}),
        );
        assert_eq!(
            prompt["result"]["messages"][0]["content"]["text"],
            "Hello, Ann, from up1."
        );
        assert_eq!(
            error_code(&req(&mut p, "completion/complete", json!({}))),
            -32601
        );
    }

    #[test]
    fn ping_and_ping_unsupported() {
        let mut p = start(&[]);
        assert_eq!(req(&mut p, "ping", json!({}))["result"], json!({}));
        let mut p = start(&["--ping-unsupported"]);
        assert_eq!(error_code(&req(&mut p, "ping", json!({}))), -32601);
    }

    #[test]
    fn the_tools_flag_chooses_the_tools() {
        let mut p = start(&["--tools", "echo,counter"]);
        let list = req(&mut p, "tools/list", json!({}));
        let names: Vec<_> = list["result"]["tools"]
            .as_array()
            .map(|t| t.iter().filter_map(|t| t["name"].as_str()).collect())
            .unwrap_or_default();
        assert_eq!(names, ["echo", "counter"]);
        assert_eq!(
            error_code(&req(
                &mut p,
                "tools/call",
                call("add", json!({"a": 1, "b": 1}))
            )),
            -32602
        );
    }

    #[test]
    fn slow_answers_late_and_a_cancelled_call_never() {
        let dir = TempDir::new("fx-slow");
        let record = dir.join("rec.jsonl");
        let mut p = start(&["--record", record.to_str().unwrap_or_default()]);
        let started = Instant::now();
        let answer = req(&mut p, "tools/call", call("slow", json!({"ms": 300})));
        assert!(
            started.elapsed() >= Duration::from_millis(250),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(text(&answer), "slept 300 ms");

        let id = p.send_request("tools/call", call("slow", json!({"ms": 400})));
        p.send(
            &json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
                       "params": {"requestId": id, "reason": "test"}}),
        );
        assert!(
            p.answer(id, Duration::from_millis(1200)).is_none(),
            "a cancelled call was answered"
        );
        assert!(p.request("ping", json!({}), WAIT).is_some());
        assert_eq!(
            count_method(&recorded(&record), "notifications/cancelled"),
            1
        );
    }

    #[test]
    fn crash_exits_at_once_without_an_answer() {
        let mut p = start(&[]);
        let id = p.send_request("tools/call", call("crash", json!({})));
        assert!(p.wait_exit(WAIT).is_some(), "still running after crash");
        assert!(p.answer(id, Duration::from_millis(100)).is_none());
        assert!(p.stderr().contains("crash requested"), "{}", p.stderr());
    }

    #[test]
    fn a_marker_makes_a_crash_happen_once() {
        let dir = TempDir::new("fx-marker");
        let marker = dir.join("crashed");
        let args = call(
            "readonly_crash",
            json!({"marker": marker.to_str().unwrap_or_default()}),
        );
        let mut p = start(&[]);
        p.send_request("tools/call", args.clone());
        assert!(p.wait_exit(WAIT).is_some(), "the first call did not crash");
        let mut p = start(&[]);
        assert_eq!(
            text(&req(&mut p, "tools/call", args)),
            "survived: the marker exists"
        );
    }

    #[test]
    fn hang_never_answers_but_others_are_served() {
        let mut p = start(&[]);
        let id = p.send_request("tools/call", call("hang", json!({})));
        assert!(p.request("ping", json!({}), WAIT).is_some());
        assert!(p.answer(id, QUIET).is_none());
    }

    #[test]
    fn exit_after_n_calls() {
        let mut p = start(&["--exit-after", "2"]);
        assert_eq!(
            text(&req(&mut p, "tools/call", call("counter", json!({})))),
            "1"
        );
        assert!(p.is_running());
        assert_eq!(
            text(&req(&mut p, "tools/call", call("counter", json!({})))),
            "2"
        );
        assert!(
            p.wait_exit(WAIT).is_some(),
            "still running after the last call"
        );
    }

    #[test]
    fn the_session_expires_after_n_calls_until_initialized_again() {
        let mut p = start(&["--expire-session-after", "1"]);
        assert_eq!(
            text(&req(
                &mut p,
                "tools/call",
                call("echo", json!({"text": "a"}))
            )),
            "a"
        );
        for method in ["tools/call", "tools/list", "ping"] {
            let answer = req(&mut p, method, call("echo", json!({"text": "b"})));
            assert_eq!(
                answer["error"]["message"], "Invalid params: Invalid or expired session",
                "{method}"
            );
        }
        p.handshake();
        assert_eq!(
            text(&req(
                &mut p,
                "tools/call",
                call("echo", json!({"text": "c"}))
            )),
            "c"
        );
    }

    #[test]
    fn fails_with_internal_errors_after_n_calls() {
        let mut p = start(&["--fail-5xx-after", "1"]);
        assert_eq!(
            text(&req(&mut p, "tools/call", call("counter", json!({})))),
            "1"
        );
        assert_eq!(
            error_code(&req(&mut p, "tools/call", call("counter", json!({})))),
            -32603
        );
        assert_eq!(error_code(&req(&mut p, "ping", json!({}))), -32603);
    }

    #[test]
    fn initialize_can_fail() {
        let mut p = Proc::spawn("fixture_stdio", &["--fail-initialize"]);
        let answer = p.request("initialize", initialize_request(0)["params"].clone(), WAIT);
        assert_eq!(answer.map(|a| error_code(&a)), Some(-32603));
    }

    #[test]
    fn notify_announces_a_changed_list_before_answering() {
        let mut p = start(&[]);
        let id = p.send_request("tools/call", call("notify", json!({})));
        let first = p.message(WAIT).unwrap_or_default();
        assert_eq!(method_of(&first), "notifications/tools/list_changed");
        let second = p.message(WAIT).unwrap_or_default();
        assert_eq!(second["id"], id);
    }

    #[test]
    fn list_changed_after_a_delay() {
        let mut p = Proc::spawn("fixture_stdio", &["--list-changed-after-ms", "200"]);
        let started = Instant::now();
        p.handshake();
        let note = p.message(WAIT).unwrap_or_default();
        assert_eq!(method_of(&note), "notifications/tools/list_changed");
        assert!(started.elapsed() >= Duration::from_millis(150));
    }

    #[test]
    fn flood_sends_notifications_after_initialize() {
        let mut p = start(&["--flood", "50"]);
        for i in 1..=50 {
            let note = p.message(WAIT).unwrap_or_default();
            assert_eq!(note["params"]["data"], format!("flood {i}"));
        }
        assert!(p.request("ping", json!({}), WAIT).is_some());
    }

    #[test]
    fn garbage_comes_before_every_real_answer() {
        let mut p = Proc::spawn("fixture_stdio", &["--garbage"]);
        p.send(&initialize_request(1));
        let (mut huge, mut not_json, mut not_utf8, mut stray) = (false, false, false, false);
        let mut answered = false;
        for _ in 0..50 {
            let Some(line) = p.line(WAIT) else { break };
            huge |= line.len() >= 20 * 1024 * 1024;
            not_utf8 |= std::str::from_utf8(&line).is_err();
            match serde_json::from_slice::<Value>(&line) {
                Ok(v) if v["id"] == 1 => {
                    answered = true;
                    break;
                }
                Ok(v) => stray |= v["id"] == 987_654_321,
                Err(_) => not_json = true,
            }
        }
        assert!(
            answered && huge && not_json && not_utf8 && stray,
            "{answered} {huge} {not_json} {not_utf8} {stray}"
        );
        // Later answers get the small garbage again, not the huge line.
        let id = p.send_request("ping", json!({}));
        let mut lines = 0;
        loop {
            let line = p.line(WAIT).unwrap_or_default();
            assert!(line.len() < 1024, "a second huge line");
            lines += 1;
            if serde_json::from_slice::<Value>(&line).is_ok_and(|v| v["id"] == id) {
                break;
            }
            assert!(lines < 50, "no answer among the garbage");
        }
        assert!(lines > 3, "no garbage before the second answer");
    }

    #[test]
    fn a_line_that_is_not_json_gets_a_parse_error() {
        let mut p = Proc::spawn("fixture_stdio", &[]);
        p.send_raw(b"{not json\n");
        assert_eq!(p.message(WAIT).map(|m| error_code(&m)), Some(-32700));
        p.handshake();
    }

    #[test]
    fn the_control_file_rescripts_a_running_fixture() {
        let dir = TempDir::new("fx-control");
        let control = dir.join("control.json");
        let write = |v: Value| {
            if let Err(e) = std::fs::write(&control, v.to_string()) {
                panic!("cannot write control: {e}");
            }
        };
        let mut p = start(&["--control", control.to_str().unwrap_or_default()]);
        write(json!({"ping_unsupported": true}));
        assert_eq!(error_code(&req(&mut p, "ping", json!({}))), -32601);
        write(json!({"tools": ["echo"], "list_changed": true}));
        let id = p.send_request("tools/list", json!({}));
        assert_eq!(
            method_of(&p.message(WAIT).unwrap_or_default()),
            "notifications/tools/list_changed"
        );
        let list = p.answer(id, WAIT).unwrap_or_default();
        assert_eq!(list["result"]["tools"].as_array().map(Vec::len), Some(1));
        // Unchanged content is not applied again: no second notification.
        assert!(p.request("tools/list", json!({}), WAIT).is_some());
        assert!(p.line(Duration::from_millis(100)).is_none());
        write(json!({"expire": true}));
        assert_eq!(error_code(&req(&mut p, "tools/list", json!({}))), -32602);
        write(json!({"exit": true}));
        p.send_request("ping", json!({}));
        assert!(p.wait_exit(WAIT).is_some());
    }

    #[test]
    fn every_message_received_is_recorded() {
        let dir = TempDir::new("fx-record");
        let record = dir.join("rec.jsonl");
        let mut p = start(&["--record", record.to_str().unwrap_or_default()]);
        req(&mut p, "tools/call", call("counter", json!({})));
        req(&mut p, "tools/call", call("echo", json!({"text": "x"})));
        let records = recorded(&record);
        let methods: Vec<_> = records.iter().map(method_of).collect();
        assert_eq!(
            methods,
            [
                "initialize",
                "notifications/initialized",
                "tools/call",
                "tools/call"
            ]
        );
        assert_eq!(count_calls(&records, "counter"), 1);
    }

    #[test]
    fn delay_ms_slows_every_answer() {
        let mut p = start(&["--delay-ms", "300"]);
        let started = Instant::now();
        req(&mut p, "ping", json!({}));
        assert!(started.elapsed() >= Duration::from_millis(250));
    }

    #[test]
    fn server_requests_are_sent_after_initialized() {
        let dir = TempDir::new("fx-srvreq");
        let record = dir.join("rec.jsonl");
        let mut p = start(&[
            "--server-requests",
            "--record",
            record.to_str().unwrap_or_default(),
        ]);
        let ping = p.message(WAIT).unwrap_or_default();
        let roots = p.message(WAIT).unwrap_or_default();
        assert_eq!(
            (method_of(&ping), method_of(&roots)),
            ("ping", "roots/list")
        );
        p.send(&json!({"jsonrpc": "2.0", "id": ping["id"], "result": {}}));
        assert!(p.request("ping", json!({}), WAIT).is_some());
        assert!(recorded(&record)
            .iter()
            .any(|m| m["id"] == "fixture-ping-1" && m.get("result").is_some()));
    }

    #[test]
    fn exits_on_stdin_eof() {
        let mut p = start(&[]);
        p.close_stdin();
        assert!(p.wait_exit(WAIT).is_some());
    }
}

mod http {
    use super::*;

    fn initialize(port: u16) -> String {
        let response = exchange(port, None, &initialize_request(1));
        assert_eq!(response.status, 200, "{}", response.text());
        let session = response
            .header("mcp-session-id")
            .unwrap_or_else(|| panic!("no session id: {:?}", response.headers))
            .to_string();
        let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        assert_eq!(exchange(port, Some(&session), &initialized).status, 202);
        session
    }

    /// The JSON-RPC answer of a plain or SSE response.
    fn answer_of(response: &Response) -> Value {
        if response.is_sse() {
            response
                .events()
                .into_iter()
                .find(|e| e.get("id").is_some() && e.get("method").is_none())
                .unwrap_or_else(|| panic!("no answer among events: {}", response.text()))
        } else {
            response.json()
        }
    }

    fn rpc(port: u16, session: &str, id: u64, method: &str, params: Value) -> Response {
        exchange(port, Some(session), &request(id, method, params))
    }

    #[test]
    fn prints_its_url_and_serves_a_session() {
        let f = HttpFixture::start(&["--name", "web"]);
        assert!(
            f.url.starts_with("http://127.0.0.1:") && f.url.ends_with("/mcp"),
            "{}",
            f.url
        );
        let init = exchange(f.port, None, &initialize_request(1));
        assert_eq!(init.json()["result"]["serverInfo"]["name"], "web");
        assert!(!init.is_sse());
        let session = initialize(f.port);
        let echo = rpc(
            f.port,
            &session,
            2,
            "tools/call",
            call("echo", json!({"text": "hi"})),
        );
        assert_eq!(text(&echo.json()), "hi");
        let read = rpc(
            f.port,
            &session,
            3,
            "resources/read",
            json!({"uri": "fixture://readme"}),
        );
        assert_eq!(
            read.json()["result"]["contents"][0]["text"],
            "readme of web"
        );
    }

    #[test]
    fn keeps_connections_alive() {
        let f = HttpFixture::start(&[]);
        let session = initialize(f.port);
        let mut conn = Conn::open(f.port);
        for id in 1..=3 {
            let _ = conn.post(Some(&session), &request(id, "ping", json!({})));
            let response = conn
                .response()
                .unwrap_or_else(|e| panic!("request {id}: {e}"));
            assert_eq!(response.json()["id"], id);
        }
    }

    #[test]
    fn a_missing_session_is_400_and_an_unknown_one_404() {
        let f = HttpFixture::start(&[]);
        initialize(f.port);
        let missing = exchange(f.port, None, &request(2, "tools/list", json!({})));
        assert_eq!(missing.status, 400);
        let unknown = exchange(
            f.port,
            Some("fx-nope"),
            &request(2, "tools/list", json!({})),
        );
        assert_eq!(unknown.status, 404);
    }

    #[test]
    fn the_session_expires_in_the_chosen_form() {
        for (form, status) in [("404", 404), ("400", 400), ("rpc", 200)] {
            let f = HttpFixture::start(&["--expire-session-after", "1", "--expiry", form]);
            let session = initialize(f.port);
            let first = rpc(
                f.port,
                &session,
                2,
                "tools/call",
                call("counter", json!({})),
            );
            assert_eq!(text(&first.json()), "1");
            let second = rpc(
                f.port,
                &session,
                3,
                "tools/call",
                call("counter", json!({})),
            );
            assert_eq!(second.status, status, "form {form}: {}", second.text());
            match form {
                "400" => assert!(
                    second.text().to_lowercase().contains("session"),
                    "{}",
                    second.text()
                ),
                "rpc" => {
                    assert_eq!(
                        second.json()["error"]["message"],
                        "Invalid params: Invalid or expired session"
                    );
                    assert_eq!(second.json()["id"], 3);
                }
                _ => {}
            }
            let fresh = initialize(f.port);
            assert_ne!(fresh, session);
            let again = rpc(f.port, &fresh, 4, "tools/call", call("counter", json!({})));
            assert_eq!(text(&again.json()), "2", "form {form}");
        }
    }

    #[test]
    fn delete_ends_the_session() {
        let dir = TempDir::new("fx-delete");
        let record = dir.join("rec.jsonl");
        let f = HttpFixture::start(&["--record", record.to_str().unwrap_or_default()]);
        let session = initialize(f.port);
        let mut conn = Conn::open(f.port);
        let _ = conn.send("DELETE", "/mcp", &[("Mcp-Session-Id", &session)], b"");
        assert_eq!(conn.response().map(|r| r.status).ok(), Some(200));
        assert_eq!(rpc(f.port, &session, 2, "ping", json!({})).status, 404);
        assert!(recorded(&record)
            .iter()
            .any(|m| m["fixture"] == "delete-session"));
    }

    #[test]
    fn a_scripted_status_answers_every_request() {
        let f = HttpFixture::start(&["--status", "401"]);
        let response = exchange(f.port, None, &initialize_request(1));
        assert_eq!(response.status, 401);
        assert!(response.header("www-authenticate").is_some());
        f.control(json!({"status": null}));
        initialize(f.port);
    }

    #[test]
    fn fails_with_503_after_n_calls() {
        let f = HttpFixture::start(&["--fail-5xx-after", "1"]);
        let session = initialize(f.port);
        assert_eq!(
            rpc(
                f.port,
                &session,
                2,
                "tools/call",
                call("counter", json!({}))
            )
            .status,
            200
        );
        assert_eq!(
            rpc(
                f.port,
                &session,
                3,
                "tools/call",
                call("counter", json!({}))
            )
            .status,
            503
        );
        assert_eq!(rpc(f.port, &session, 4, "ping", json!({})).status, 503);
        f.control(json!({"fail_5xx": false}));
        assert_eq!(rpc(f.port, &session, 5, "ping", json!({})).status, 200);
    }

    #[test]
    fn initialize_can_fail_and_then_opens_no_session() {
        let f = HttpFixture::start(&["--fail-initialize"]);
        let response = exchange(f.port, None, &initialize_request(1));
        assert_eq!(error_code(&response.json()), -32603);
        assert!(response.header("mcp-session-id").is_none());
    }

    #[test]
    fn sse_mode_sends_a_notification_before_the_answer() {
        let f = HttpFixture::start(&["--sse"]);
        let session = initialize(f.port);
        let response = rpc(
            f.port,
            &session,
            2,
            "tools/call",
            call("add", json!({"a": 1, "b": 2})),
        );
        assert!(response.is_sse(), "{:?}", response.headers);
        assert!(response.text().contains("retry:"));
        let events = response.events();
        assert_eq!(events.len(), 2, "{events:?}");
        assert_eq!(method_of(&events[0]), "notifications/message");
        assert_eq!(events[1]["result"]["structuredContent"]["sum"], 3.0);
        // The answer's JSON spans several data lines.
        assert!(response.text().matches("data: ").count() > 2);
    }

    #[test]
    fn sse_never_end_answers_and_keeps_the_stream_open() {
        let f = HttpFixture::start(&["--sse-never-end", "echo"]);
        let session = initialize(f.port);
        let mut conn = Conn::open(f.port);
        let _ = conn.post(
            Some(&session),
            &request(2, "tools/call", call("echo", json!({"text": "x"}))),
        );
        let head = conn.head().unwrap_or_else(|e| panic!("no head: {e}"));
        assert!(head.is_sse());
        let answer = conn.next_event().ok().flatten().unwrap_or_default();
        assert_eq!(text(&answer), "x");
        let more = conn.next_event_within(QUIET);
        assert!(more.is_err(), "the stream ended or sent more: {more:?}");
    }

    #[test]
    fn crash_drops_the_connection_and_the_server_lives_on() {
        let f = HttpFixture::start(&[]);
        let session = initialize(f.port);
        let _ = rpc(
            f.port,
            &session,
            2,
            "tools/call",
            call("counter", json!({})),
        );
        let mut conn = Conn::open(f.port);
        let _ = conn.post(
            Some(&session),
            &request(3, "tools/call", call("crash", json!({}))),
        );
        assert!(conn.closed_without_answer());
        let again = rpc(
            f.port,
            &session,
            4,
            "tools/call",
            call("counter", json!({})),
        );
        assert_eq!(text(&again.json()), "2");
    }

    #[test]
    fn a_cancelled_slow_call_gets_no_answer() {
        let dir = TempDir::new("fx-hcancel");
        let record = dir.join("rec.jsonl");
        let f = HttpFixture::start(&["--record", record.to_str().unwrap_or_default()]);
        let session = initialize(f.port);
        let started = Instant::now();
        let slow = rpc(
            f.port,
            &session,
            2,
            "tools/call",
            call("slow", json!({"ms": 300})),
        );
        assert!(started.elapsed() >= Duration::from_millis(250));
        assert_eq!(text(&slow.json()), "slept 300 ms");

        let mut conn = Conn::open(f.port);
        let _ = conn.post(
            Some(&session),
            &request(3, "tools/call", call("slow", json!({"ms": 5000}))),
        );
        let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 3}});
        assert_eq!(exchange(f.port, Some(&session), &cancel).status, 202);
        let started = Instant::now();
        assert!(conn.closed_without_answer());
        assert!(started.elapsed() < Duration::from_secs(4));
        assert_eq!(
            count_method(&recorded(&record), "notifications/cancelled"),
            1
        );
    }

    #[test]
    fn hang_never_answers() {
        let f = HttpFixture::start(&[]);
        let session = initialize(f.port);
        let mut conn = Conn::open(f.port);
        conn.set_timeout(QUIET);
        let _ = conn.post(
            Some(&session),
            &request(2, "tools/call", call("hang", json!({}))),
        );
        assert!(conn.head().is_err());
        assert_eq!(rpc(f.port, &session, 3, "ping", json!({})).status, 200);
    }

    #[test]
    fn the_control_endpoint_rescripts_a_running_fixture() {
        let f = HttpFixture::start(&[]);
        let session = initialize(f.port);
        let _ = rpc(
            f.port,
            &session,
            2,
            "tools/call",
            call("counter", json!({})),
        );
        assert_eq!(f.state(), json!({"calls": 1, "sessions": 1}));
        f.control(json!({"status": 503}));
        assert_eq!(rpc(f.port, &session, 3, "ping", json!({})).status, 503);
        f.control(json!({"status": null, "expire": true}));
        assert_eq!(rpc(f.port, &session, 4, "ping", json!({})).status, 404);
        let session = initialize(f.port);
        f.control(json!({"tools": ["echo"], "list_changed": true}));
        let list = rpc(f.port, &session, 5, "tools/list", json!({}));
        let events = list.events();
        assert_eq!(method_of(&events[0]), "notifications/tools/list_changed");
        assert_eq!(
            answer_of(&list)["result"]["tools"].as_array().map(Vec::len),
            Some(1)
        );
    }

    #[test]
    fn server_messages_go_to_the_get_stream() {
        let f = HttpFixture::start(&["--list-changed-after-ms", "200"]);
        let session = initialize(f.port);
        let mut conn = Conn::open(f.port);
        let _ = conn.send(
            "GET",
            "/mcp",
            &[
                ("Accept", "text/event-stream"),
                ("Mcp-Session-Id", &session),
            ],
            b"",
        );
        assert!(conn.head().is_ok_and(|h| h.status == 200 && h.is_sse()));
        let note = conn.next_event().ok().flatten().unwrap_or_default();
        assert_eq!(method_of(&note), "notifications/tools/list_changed");
        f.control(json!({"list_changed": true}));
        let note = conn.next_event().ok().flatten().unwrap_or_default();
        assert_eq!(method_of(&note), "notifications/tools/list_changed");
    }

    #[test]
    fn without_a_get_stream_server_messages_ride_on_the_next_answer() {
        let f = HttpFixture::start(&["--list-changed-after-ms", "50", "--no-get-stream"]);
        let session = initialize(f.port);
        let mut conn = Conn::open(f.port);
        let _ = conn.send(
            "GET",
            "/mcp",
            &[
                ("Accept", "text/event-stream"),
                ("Mcp-Session-Id", &session),
            ],
            b"",
        );
        assert_eq!(conn.response().map(|r| r.status).ok(), Some(405));
        std::thread::sleep(Duration::from_millis(300));
        let list = rpc(f.port, &session, 2, "tools/list", json!({}));
        let events = list.events();
        assert_eq!(method_of(&events[0]), "notifications/tools/list_changed");
        assert_eq!(events[1]["id"], 2);
    }

    #[test]
    fn flood_arrives_as_events_before_the_initialize_answer() {
        let f = HttpFixture::start(&["--flood", "20"]);
        let response = exchange(f.port, None, &initialize_request(1));
        let events = response.events();
        assert_eq!(events.len(), 21);
        assert!(events[..20]
            .iter()
            .all(|e| method_of(e) == "notifications/message"));
        assert_eq!(events[20]["id"], 1);
    }

    #[test]
    fn notify_streams_list_changed_then_the_answer() {
        let f = HttpFixture::start(&[]);
        let session = initialize(f.port);
        let response = rpc(f.port, &session, 2, "tools/call", call("notify", json!({})));
        let events = response.events();
        assert_eq!(method_of(&events[0]), "notifications/tools/list_changed");
        assert_eq!(text(&events[1]), "notified");
    }

    #[test]
    fn server_requests_and_their_answers() {
        let dir = TempDir::new("fx-hsrvreq");
        let record = dir.join("rec.jsonl");
        let f = HttpFixture::start(&[
            "--server-requests",
            "--record",
            record.to_str().unwrap_or_default(),
        ]);
        let session = initialize(f.port);
        let response = rpc(f.port, &session, 2, "ping", json!({}));
        let events = response.events();
        let methods: Vec<_> = events.iter().map(method_of).collect();
        assert_eq!(methods, ["ping", "roots/list", ""]);
        let answer = json!({"jsonrpc": "2.0", "id": "fixture-ping-1", "result": {}});
        assert_eq!(exchange(f.port, Some(&session), &answer).status, 202);
        assert!(recorded(&record)
            .iter()
            .any(|m| m["id"] == "fixture-ping-1" && m.get("result").is_some()));
    }

    #[test]
    fn refuses_clients_that_do_not_accept_sse_or_send_json() {
        let f = HttpFixture::start(&[]);
        let body = initialize_request(1).to_string();
        let mut conn = Conn::open(f.port);
        let _ = conn.send(
            "POST",
            "/mcp",
            &[
                ("Content-Type", "application/json"),
                ("Accept", "application/json"),
            ],
            body.as_bytes(),
        );
        assert_eq!(conn.response().map(|r| r.status).ok(), Some(406));
        let _ = conn.send(
            "POST",
            "/mcp",
            &[
                ("Content-Type", "text/plain"),
                ("Accept", "application/json, text/event-stream"),
            ],
            body.as_bytes(),
        );
        assert_eq!(conn.response().map(|r| r.status).ok(), Some(415));
    }

    #[test]
    fn exit_after_n_calls() {
        let mut f = HttpFixture::start(&["--exit-after", "1"]);
        let session = initialize(f.port);
        assert_eq!(
            rpc(
                f.port,
                &session,
                2,
                "tools/call",
                call("counter", json!({}))
            )
            .status,
            200
        );
        assert!(f.proc.wait_exit(WAIT).is_some());
        assert!(std::net::TcpStream::connect(("127.0.0.1", f.port)).is_err());
    }

    #[test]
    fn delay_ms_slows_every_answer() {
        let f = HttpFixture::start(&["--delay-ms", "300"]);
        let started = Instant::now();
        let response = exchange(f.port, None, &initialize_request(1));
        assert_eq!(response.status, 200);
        assert!(started.elapsed() >= Duration::from_millis(250));
    }

    #[test]
    fn exits_when_stdin_closes() {
        let mut f = HttpFixture::start(&[]);
        f.proc.close_stdin();
        assert!(f.proc.wait_exit(WAIT).is_some());
    }

    #[test]
    fn restarts_on_the_same_port_with_no_memory_of_old_sessions() {
        let f = HttpFixture::start(&[]);
        let port = f.port.to_string();
        let session = initialize(f.port);
        drop(f);
        let f = HttpFixture::start_exact(&["--port", &port]);
        assert_eq!(rpc(f.port, &session, 2, "ping", json!({})).status, 404);
    }
}
