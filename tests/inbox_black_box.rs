//! The inbox through the real binary against the simulator: the three
//! inbox tools, no loss across kill -9, no redelivery after a pop, acks and
//! push notifications (platform.md §7, mcp-server.md §2 and §4).

mod support;

use std::fs;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::sim::{InboxRow, Simulator};
use support::{Child, TempDir};

const WS: &str = "5a6b7c8d-1111-4222-8333-944455566677";
const PEER: &str = "0a0b0c0d-9999-4888-8777-666655554444";
const TOKEN: &str = "tok-inbox-4f3e2d1c0b9a8877";
const SOON: Duration = Duration::from_secs(10);
const ACTIVITY: &str = "/workspaces/5a6b7c8d-1111-4222-8333-944455566677/activity";
const ACK: &str = "/workspaces/5a6b7c8d-1111-4222-8333-944455566677/activity/ack";

fn start(sim: &Simulator, home: &TempDir, extra: &[(&str, &str)]) -> Child {
    let mut vars = vec![("MOLECULE_MCP_POLL_SECS", "0.2")];
    vars.extend_from_slice(extra);
    let mut child = Child::spawn_workspace(home.path(), &sim.url(), (WS, TOKEN), &vars);
    child.initialize("inbox-test");
    child
}

/// Calls a tool; returns the whole result object.
fn call(child: &mut Child, name: &str, arguments: Value) -> Value {
    let params = json!({"name": name, "arguments": arguments});
    let Some(answer) = child.request("tools/call", params, SOON + SOON) else {
        panic!("no answer to {name}");
    };
    match answer.get("result") {
        Some(r) if r.is_object() => r.clone(),
        _ => panic!("{name} answered without a result: {answer}"),
    }
}

/// The JSON a tool returned as its text.
fn payload(result: &Value) -> Value {
    let text = result["content"][0]["text"].as_str().unwrap_or_default();
    match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => panic!("tool text is not JSON ({e}): {result}"),
    }
}

/// A peer's words inside the fence `wait_for_message` and `inbox_peek`
/// put around them.
fn peer_words(text: &Value) -> String {
    let text = text.as_str().unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let fenced = lines.len() >= 2
        && lines[0].starts_with("--- begin peer output ")
        && lines[lines.len() - 1].starts_with("--- end peer output ");
    assert!(fenced, "peer text not fenced: {text}");
    lines[1..lines.len() - 1].join("\n")
}

fn pending_ids(child: &mut Child) -> Vec<String> {
    let peek = payload(&call(child, "inbox_peek", json!({"limit": 50})));
    peek["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["activity_id"].as_str().map(str::to_string))
        .collect()
}

fn polls(sim: &Simulator) -> usize {
    sim.requests_to(ACTIVITY)
        .iter()
        .filter(|r| r.method == "GET")
        .count()
}

#[test]
fn wait_peek_and_pop_serve_an_injected_message() {
    let sim = Simulator::start();
    sim.add_workspace(WS, Some(TOKEN));
    let home = TempDir::new("inbox-tools");
    let mut child = start(&sim, &home, &[]);
    let id = sim.inject_canvas(WS, "please summarise the report");

    let result = call(&mut child, "wait_for_message", json!({"timeout_secs": 10}));
    assert_ne!(result.get("isError"), Some(&json!(true)), "{result}");
    let message = payload(&result);
    let keys: Vec<&str> = message
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let mut keys = keys;
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "activity_id",
            "created_at",
            "kind",
            "method",
            "peer_id",
            "text"
        ],
        "{message}"
    );
    assert_eq!(message["activity_id"], id.as_str());
    assert_eq!(message["text"], "please summarise the report");
    assert_eq!(message["kind"], "canvas_user");
    assert_eq!(message["peer_id"], "");

    assert_eq!(pending_ids(&mut child), vec![id.clone()]);
    let popped = payload(&call(&mut child, "inbox_pop", json!({"activity_id": id})));
    assert_eq!(popped, json!({"removed": true, "activity_id": id}));
    let again = payload(&call(&mut child, "inbox_pop", json!({"activity_id": id})));
    assert_eq!(again, json!({"removed": false, "activity_id": id}));
    assert!(pending_ids(&mut child).is_empty());

    assert!(sim.wait_for_requests(ACK, 1, SOON), "no ack after the pop");
    let seq = sim.activity(WS)[0]["seq"].as_i64();
    assert!(seq.is_some());
    // The request is recorded before the simulator has applied it.
    assert!(
        support::eventually(SOON, || sim.acked_seq(WS) == seq),
        "acked {:?}, want {seq:?}",
        sim.acked_seq(WS)
    );
}

#[test]
fn wait_for_message_times_out_with_the_contract_shape() {
    let sim = Simulator::start();
    sim.add_workspace(WS, Some(TOKEN));
    let home = TempDir::new("inbox-timeout");
    let mut child = start(&sim, &home, &[]);
    let started = Instant::now();
    let result = call(&mut child, "wait_for_message", json!({"timeout_secs": 1}));
    let waited = started.elapsed();
    assert_eq!(
        payload(&result),
        json!({"timeout": true, "timeout_secs": 1})
    );
    assert!(waited >= Duration::from_millis(900), "{waited:?}");
    assert!(waited < Duration::from_secs(8), "{waited:?}");
}

#[test]
fn kill_9_loses_nothing_and_a_popped_message_never_returns() {
    let sim = Simulator::start();
    sim.add_workspace(WS, Some(TOKEN));
    let home = TempDir::new("inbox-kill");
    let a = sim.inject_canvas(WS, "a: popped before the crash");
    let b = sim.inject_peer(WS, PEER, "b: pending at the crash");
    let c = sim.inject_canvas(WS, "c: pending, and gone from the platform");
    {
        let mut child = start(&sim, &home, &[]);
        assert!(support::eventually(SOON, || pending_ids(&mut child).len() == 3));
        let popped = payload(&call(&mut child, "inbox_pop", json!({"activity_id": a})));
        assert_eq!(popped["removed"], true);
        child.kill();
    }
    // The platform loses c, and the cursor is lost as if the crash came
    // before it was written: the next start re-reads a and b from the
    // backlog, and only the queue on disk still knows c.
    assert!(sim.drop_row(&c));
    let _ = fs::remove_file(home.join("configs").join(".mcp_inbox_cursor"));
    let mut child = start(&sim, &home, &[]);
    let seen = polls(&sim);
    assert!(sim.wait_for_requests(ACTIVITY, seen + 3, SOON));
    assert_eq!(pending_ids(&mut child), [b.clone(), c.clone()], "a={a}");
    let first = payload(&call(
        &mut child,
        "wait_for_message",
        json!({"timeout_secs": 0}),
    ));
    assert_eq!(first["activity_id"], b.as_str());
    assert_eq!(first["kind"], "peer_agent");
    assert_eq!(first["peer_id"], PEER);
}

#[test]
fn new_messages_are_pushed_as_channel_notifications() {
    let sim = Simulator::start();
    sim.add_workspace(WS, Some(TOKEN));
    let home = TempDir::new("inbox-push");
    let mut child = start(&sim, &home, &[("CLAUDE_CODE_VERSION", "2.0.0")]);
    let id = sim.inject_canvas(WS, "pushed to the host");
    let deadline = Instant::now() + SOON;
    let mut pushed = None;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        let Some(line) = child.recv_json(left) else {
            break;
        };
        if line["method"] == "notifications/claude/channel" {
            pushed = Some(line);
            break;
        }
    }
    let Some(pushed) = pushed else {
        panic!("no channel notification; stderr:\n{}", child.stderr())
    };
    assert!(pushed.get("id").is_none());
    let content = pushed["params"]["content"].as_str().unwrap_or_default();
    assert!(
        content.starts_with("[from canvas user]\npushed to the host\n"),
        "{content}"
    );
    let meta = &pushed["params"]["meta"];
    assert_eq!(meta["source"], "molecule");
    assert_eq!(meta["kind"], "canvas_user");
    assert_eq!(meta["activity_id"], id.as_str());
    // Pushed or not, the message is also there to poll.
    assert_eq!(pending_ids(&mut child), [id]);
}

#[test]
fn without_a_channel_host_nothing_is_pushed() {
    let sim = Simulator::start();
    sim.add_workspace(WS, Some(TOKEN));
    let home = TempDir::new("inbox-no-push");
    let mut child = start(&sim, &home, &[]);
    let id = sim.inject_canvas(WS, "polled only");
    assert!(support::eventually(SOON, || pending_ids(&mut child) == [id.clone()]));
    while let Some(line) = child.recv_json(Duration::from_millis(300)) {
        let method = line["method"].as_str().unwrap_or_default();
        assert!(!method.contains("channel"), "unexpected push: {line}");
    }
}

#[test]
fn a_disabled_inbox_does_not_poll_and_says_so() {
    let sim = Simulator::start();
    sim.add_workspace(WS, Some(TOKEN));
    let home = TempDir::new("inbox-disabled");
    let mut child = start(&sim, &home, &[("MOLECULE_MCP_DISABLE_INBOX", "1")]);
    sim.inject_canvas(WS, "nobody reads this");
    let result = call(&mut child, "wait_for_message", json!({"timeout_secs": 1}));
    assert_eq!(result["isError"], true, "{result}");
    let text = result["content"][0]["text"].as_str().unwrap_or_default();
    assert!(text.contains("disabled"), "{text}");
    assert!(!sim.wait_for_requests(ACTIVITY, 1, Duration::from_millis(800)));
}

#[test]
fn every_unreadable_row_is_named_once_in_the_log() {
    let sim = Simulator::start();
    sim.add_workspace(WS, Some(TOKEN));
    // Both rows are in the first page the poller reads.
    let first = sim.inject_message(WS, InboxRow::new(Some("no/such peer"), "message/send", "a"));
    let second = sim.inject_message(WS, InboxRow::new(Some("bad peer!"), "message/send", "b"));
    let good = sim.inject_canvas(WS, "readable");
    let home = TempDir::new("inbox-bad-rows");
    let mut child = start(&sim, &home, &[]);
    let got = payload(&call(
        &mut child,
        "wait_for_message",
        json!({"timeout_secs": 10}),
    ));
    assert_eq!(got["activity_id"], good.as_str(), "{got}");
    // A few more polls must not repeat the warnings.
    let polls = sim.requests_to(ACTIVITY).len();
    assert!(sim.wait_for_requests(ACTIVITY, polls + 3, SOON));
    let err = child.stderr();
    for id in [&first, &second] {
        let lines = err
            .lines()
            .filter(|l| l.contains("[WARN]") && l.contains(id.as_str()))
            .count();
        assert_eq!(lines, 1, "row {id}: {err}");
    }
}

/// A JSON value nested `depth` levels deep: `{"a": {"a": ... 1}}`.
fn nested(depth: usize) -> Value {
    let mut v = json!(1);
    for _ in 0..depth {
        v = json!({"a": v});
    }
    v
}

#[test]
fn a_deeply_nested_row_does_not_stop_the_inbox_or_chat_history() {
    let sim = Simulator::start();
    sim.add_workspace(WS, Some(TOKEN));
    sim.add_workspace(PEER, None);
    let before = sim.inject_peer(WS, PEER, "before the deep one");
    let body = json!({
        "jsonrpc": "2.0", "id": "x", "method": "message/send",
        "params": {
            "message": {"role": "user", "parts": [{"kind": "text", "text": "the deep one"}]},
            "metadata": nested(300),
        },
    });
    let deep = sim.inject_message(WS, InboxRow::peer(PEER, "the deep one").request_body(body));
    let after = sim.inject_peer(WS, PEER, "after the deep one");
    let home = TempDir::new("inbox-deep-row");
    let mut child = start(&sim, &home, &[]);

    let all = [before.clone(), deep.clone(), after.clone()];
    assert!(
        support::eventually(SOON, || pending_ids(&mut child) == all),
        "pending {:?}, want {all:?}; stderr:\n{}",
        pending_ids(&mut child),
        child.stderr()
    );
    let peek = payload(&call(&mut child, "inbox_peek", json!({"limit": 10})));
    assert_eq!(
        peer_words(&peek["messages"][1]["text"]),
        "the deep one",
        "{peek}"
    );
    // The cursor moved past every row: a restart reads nothing again.
    // The messages are recorded just before the cursor is written.
    let cursor = || fs::read_to_string(home.join("configs/.mcp_inbox_cursor")).unwrap_or_default();
    assert!(
        support::eventually(SOON, || cursor().trim() == after),
        "the cursor did not pass the rows: {:?}",
        cursor()
    );

    let history = call(&mut child, "chat_history", json!({"peer_id": PEER}));
    assert_ne!(history.get("isError"), Some(&json!(true)), "{history}");
    let text = history["content"][0]["text"].as_str().unwrap_or_default();
    for words in ["before the deep one", "the deep one", "after the deep one"] {
        assert!(text.contains(words), "{words:?} not in {text}");
    }
}

#[test]
fn the_mailbox_dir_holds_the_cursor_files() {
    let sim = Simulator::start();
    sim.add_workspace(WS, Some(TOKEN));
    let home = TempDir::new("inbox-mailbox");
    let mailbox = home.join("mailbox/nested");
    let mailbox_str = mailbox.to_string_lossy().into_owned();
    let mut child = start(&sim, &home, &[("MOLECULE_MAILBOX_DIR", &mailbox_str)]);
    let id = sim.inject_canvas(WS, "to the mailbox");
    let got = payload(&call(
        &mut child,
        "wait_for_message",
        json!({"timeout_secs": 10}),
    ));
    assert_eq!(got["activity_id"], id.as_str());
    let cursor = mailbox.join(".mcp_inbox_cursor");
    assert!(
        support::eventually(SOON, || fs::read_to_string(&cursor)
            .is_ok_and(|c| c.trim() == id)),
        "no cursor in {}",
        mailbox.display()
    );
    assert!(!home.join("configs/.mcp_inbox_cursor").exists());
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&fs::metadata(&mailbox).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o700);
    // The queue file stays in the state directory.
    assert!(home
        .join(format!("configs/.mcp_inbox_queue_{WS}.json"))
        .exists());

    // A restart reads the cursor from the mailbox: nothing is read twice.
    child.kill();
    let polls_before = polls(&sim);
    let child = start(&sim, &home, &[("MOLECULE_MAILBOX_DIR", &mailbox_str)]);
    assert!(sim.wait_for_requests(ACTIVITY, polls_before + 1, SOON));
    let last = sim.requests_to(ACTIVITY).last().cloned().unwrap();
    assert!(
        last.query.contains(&format!("since_id={id}")),
        "{}",
        last.query
    );
    drop(child);

    // A mailbox that cannot be created stops the start (exit 2).
    let blocker = home.join("file");
    fs::write(&blocker, b"x").unwrap();
    let bad = blocker.join("mailbox").to_string_lossy().into_owned();
    let url = sim.url();
    let configs = home.join("configs").to_string_lossy().into_owned();
    let mut failing = Child::spawn(
        home.path(),
        &[
            ("PLATFORM_URL", url.as_str()),
            ("WORKSPACE_ID", WS),
            ("MOLECULE_WORKSPACE_TOKEN", TOKEN),
            ("CONFIGS_DIR", configs.as_str()),
            ("MOLECULE_MAILBOX_DIR", bad.as_str()),
        ],
    );
    let status = failing.wait_exit(SOON).expect("exit");
    assert_eq!(status.code(), Some(2));
    assert!(
        failing.stderr().contains("MOLECULE_MAILBOX_DIR"),
        "{}",
        failing.stderr()
    );
}

/// The next channel notification the binary pushes.
fn next_push(child: &mut Child) -> Value {
    let deadline = Instant::now() + SOON;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        let Some(line) = child.recv_json(left) else {
            break;
        };
        if line["method"] == "notifications/claude/channel" {
            return line;
        }
    }
    panic!("no channel notification; stderr:\n{}", child.stderr())
}

#[test]
fn an_image_only_upload_reaches_the_agent_with_its_attachment() {
    let sim = Simulator::start();
    sim.add_workspace(WS, Some(TOKEN));
    let home = TempDir::new("inbox-upload");
    let mut child = start(&sim, &home, &[("CLAUDE_CODE_VERSION", "2.0.0")]);
    let files = json!([
        {"uri": "workspace:/uploads/cat.png", "name": "cat.png", "mimeType": "image/png", "size": 12},
        {"uri": "file:///etc/passwd", "name": "passwd"},
    ]);
    let id = sim.inject_message(WS, InboxRow::upload(files));
    let cat = json!({"uri": "workspace:/uploads/cat.png", "name": "cat.png",
                     "mime_type": "image/png", "size": 12});

    let pushed = next_push(&mut child);
    assert_eq!(pushed["params"]["meta"]["attachments"], json!([cat]));
    let content = pushed["params"]["content"].as_str().unwrap_or_default();
    assert!(
        content.contains("\nattachments: cat.png (workspace:/uploads/cat.png)\n"),
        "{content}"
    );

    let got = payload(&call(
        &mut child,
        "wait_for_message",
        json!({"timeout_secs": 10}),
    ));
    assert_eq!(got["activity_id"], id.as_str());
    assert_eq!(got["kind"], "canvas_user");
    assert_eq!(got["text"], "(1 file attached)");
    assert_eq!(got["attachments"], json!([cat]));

    // Kept like every other message: kill -9 and it is still there.
    child.kill();
    let mut child = start(&sim, &home, &[]);
    let peek = payload(&call(&mut child, "inbox_peek", json!({})));
    assert_eq!(peek["messages"][0]["attachments"], json!([cat]), "{peek}");
}

#[test]
fn attachments_come_from_the_row_else_from_the_message_parts() {
    let sim = Simulator::start();
    sim.add_workspace(WS, Some(TOKEN));
    sim.add_workspace(PEER, None);
    sim.set_profile(PEER, "Analyst <b>", "numbers\nperson");
    let body = json!({"jsonrpc": "2.0", "id": "m", "method": "message/send", "params": {"message": {
        "role": "user",
        "parts": [
            {"kind": "text", "text": "see the report"},
            {"kind": "file", "file": {"uri": "workspace:/shared/report.pdf", "name": "report.pdf",
                                      "mimeType": "application/pdf"}},
            {"kind": "file", "file": {"uri": "https://elsewhere.example/x.pdf", "name": "x.pdf"}},
        ],
    }}});
    let from_parts = sim.inject_message(WS, InboxRow::peer(PEER, "x").request_body(body.clone()));
    let from_row = sim.inject_message(
        WS,
        InboxRow::peer(PEER, "x")
            .request_body(body)
            .attachments(json!([{"uri": "platform-pending:upload-9", "name": "late.bin"}])),
    );
    let home = TempDir::new("inbox-attachments");
    let mut child = start(&sim, &home, &[]);
    assert!(support::eventually(SOON, || pending_ids(&mut child).len() == 2));
    let peek = payload(&call(&mut child, "inbox_peek", json!({})));
    let messages = peek["messages"].as_array().unwrap();
    assert_eq!(messages[0]["activity_id"], from_parts.as_str());
    assert_eq!(peer_words(&messages[0]["text"]), "see the report");
    // include=peer_info: the row names the peer, reduced to safe text, and
    // no registry lookup is made.
    assert_eq!(messages[0]["peer_name"], "Analyst b");
    assert_eq!(messages[0]["peer_role"], "numbersperson");
    let lookups = sim.requests_to(&format!("/registry/{WS}/peers"));
    assert!(lookups.is_empty(), "{lookups:?}");
    assert_eq!(
        messages[0]["attachments"],
        json!([{"uri": "workspace:/shared/report.pdf", "name": "report.pdf",
                "mime_type": "application/pdf"}])
    );
    assert_eq!(messages[1]["activity_id"], from_row.as_str());
    assert_eq!(
        messages[1]["attachments"],
        json!([{"uri": "platform-pending:upload-9", "name": "late.bin"}])
    );
}

#[test]
fn rows_of_other_types_are_passed_over_not_delivered() {
    let sim = Simulator::start();
    sim.add_workspace(WS, Some(TOKEN));
    let first = sim.inject_canvas(WS, "first");
    let sent = sim.inject_message(
        WS,
        InboxRow::canvas("my own send").activity_type("a2a_send"),
    );
    let report = sim.inject_message(
        WS,
        InboxRow::canvas("a report").activity_type("task_update"),
    );
    let last = sim.inject_canvas(WS, "last");
    let home = TempDir::new("inbox-other-types");
    let mut child = start(&sim, &home, &[]);
    let both = [first.clone(), last.clone()];
    assert!(
        support::eventually(SOON, || pending_ids(&mut child) == both),
        "pending {:?}",
        pending_ids(&mut child)
    );
    let cursor = || fs::read_to_string(home.join("configs/.mcp_inbox_cursor")).unwrap_or_default();
    assert!(support::eventually(SOON, || cursor().trim() == last));
    let err = child.stderr();
    for id in [&sent, &report] {
        assert!(!err.contains(id.as_str()), "{id} was reported: {err}");
    }
    // Polls continue from the newest row, whatever its type.
    let extra = sim.inject_message(WS, InboxRow::canvas("x").activity_type("a2a_send"));
    assert!(sim.wait_for(
        |reqs| reqs
            .iter()
            .any(|r| r.path == ACTIVITY
                && r.query_param("since_id").as_deref() == Some(extra.as_str())),
        SOON
    ));
    assert_eq!(pending_ids(&mut child), both);
}

/// The environment of `start`, for a child that is spawned but not yet
/// initialized.
fn spawn_quiet(sim: &Simulator, home: &TempDir) -> Child {
    let url = sim.url();
    let configs = home.join("configs");
    let configs = configs.to_string_lossy().into_owned();
    let vars = [
        ("PLATFORM_URL", url.as_str()),
        ("WORKSPACE_ID", WS),
        ("MOLECULE_WORKSPACE_TOKEN", TOKEN),
        ("CONFIGS_DIR", configs.as_str()),
        ("MOLECULE_MCP_POLL_SECS", "0.2"),
    ];
    Child::spawn(home.path(), &vars)
}

#[test]
fn the_first_poll_waits_for_the_initialize_answer() {
    let sim = Simulator::start();
    sim.add_workspace(WS, Some(TOKEN));
    let home = TempDir::new("inbox-first-poll");
    let spawned = Instant::now();
    let mut child = spawn_quiet(&sim, &home);
    std::thread::sleep(Duration::from_millis(100));
    let asked = Instant::now();
    child.initialize("inbox-test");
    assert!(sim.wait_for_requests(ACTIVITY, 1, SOON));
    // The pollers start once the initialize answer is out, or 200 ms after
    // start if nothing is asked: the first poll comes after one of them,
    // however late this thread ran.
    let first = sim.requests_to(ACTIVITY)[0].at;
    assert!(
        first >= asked || first >= spawned + Duration::from_millis(200),
        "the inbox was polled {:?} after the spawn, before anything was answered",
        first.duration_since(spawned)
    );
}

#[test]
fn a_client_that_sends_nothing_still_gets_its_inbox_polled() {
    let sim = Simulator::start();
    sim.add_workspace(WS, Some(TOKEN));
    let home = TempDir::new("inbox-silent-client");
    let _child = spawn_quiet(&sim, &home);
    assert!(sim.wait_for_requests(ACTIVITY, 2, SOON));
}
