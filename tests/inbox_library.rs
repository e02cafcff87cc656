//! The inbox library against the platform simulator: pollers, the queue on
//! disk, acknowledgements and push, without the MCP server around them.

mod support;

use std::ffi::OsString;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{never, Receiver};
use serde_json::{json, Value};

use molecule_mcp::config::{self, EnvMap};
use molecule_mcp::mcp::outbox::{Outbox, Outgoing};
use molecule_mcp::platform::http::Client;
use molecule_mcp::platform::inbox::{Inbox, Kind, Message, PollerPlan};
use molecule_mcp::shutdown::Shutdown;
use support::sim::{InboxRow, Reply, Simulator};
use support::TempDir;

const WS: &str = "11111111-2222-4333-8444-555555555555";
const WS2: &str = "33333333-2222-4333-8444-555555555555";
const PEER: &str = "99999999-8888-4777-8666-555555555555";
const TOKEN: &str = "inbox-lib-token-0123456789";
const TOKEN2: &str = "inbox-lib-token-second-9876";
const POLL: Duration = Duration::from_millis(200);
/// Generous bound for anything that should take one or two polls.
const SOON: Duration = Duration::from_secs(5);
const ACTIVITY: &str = "/workspaces/11111111-2222-4333-8444-555555555555/activity";
const ACK: &str = "/workspaces/11111111-2222-4333-8444-555555555555/activity/ack";

fn single_env(sim: &Simulator, dir: &TempDir, extra: &[(&str, &str)]) -> EnvMap {
    let mut env: EnvMap = [
        ("PLATFORM_URL", sim.url()),
        ("WORKSPACE_ID", WS.to_string()),
        ("MOLECULE_WORKSPACE_TOKEN", TOKEN.to_string()),
        ("CONFIGS_DIR", dir.path().display().to_string()),
        ("MOLECULE_MCP_POLL_SECS", format!("{}", POLL.as_secs_f64())),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), OsString::from(v)))
    .collect();
    for (k, v) in extra {
        env.insert(k.to_string(), OsString::from(v));
    }
    env
}

fn sim_with_workspace() -> Simulator {
    let sim = Simulator::start();
    sim.add_workspace(WS, Some(TOKEN));
    sim
}

/// A running inbox: the pollers and the ack thread, stopped on drop.
struct Running {
    inbox: Arc<Inbox>,
    pushed: Receiver<Outgoing>,
    shutdown: Shutdown,
    handles: Vec<JoinHandle<()>>,
}

impl Running {
    fn start(env: &EnvMap) -> Running {
        let config = match config::load(env, None) {
            Ok(c) => c,
            Err(e) => panic!("test configuration refused: {e:?}"),
        };
        let Some(platform) = config.platform.clone() else {
            panic!("test configuration has no platform");
        };
        let inbox = Arc::new(Inbox::open(&config, &platform));
        let (outbox, pushed) = Outbox::channel();
        let plan = PollerPlan::new(&config, &platform, inbox.clone(), Client::new(), outbox);
        let shutdown = Shutdown::new();
        let handles = plan.spawn(&shutdown);
        Running {
            inbox,
            pushed,
            shutdown,
            handles,
        }
    }

    fn wait(&self, timeout: Duration) -> Option<Message> {
        self.inbox.wait(timeout, &never())
    }

    /// Waits until `n` messages are pending.
    fn wait_pending(&self, n: usize, timeout: Duration) -> bool {
        support::eventually(timeout, || self.inbox.len() >= n)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown.trigger();
        let started = Instant::now();
        for h in self.handles.drain(..) {
            // Joining is bounded: a thread stuck past this fails the test
            // instead of hanging it.
            while !h.is_finished() && started.elapsed() < Duration::from_secs(15) {
                thread::sleep(Duration::from_millis(10));
            }
            if h.is_finished() {
                let _ = h.join();
            } else if !thread::panicking() {
                panic!("an inbox thread did not stop within 15 s of shutdown");
            }
        }
    }
}

fn activity_polls(sim: &Simulator) -> Vec<support::sim::Recorded> {
    sim.requests_to(ACTIVITY)
        .into_iter()
        .filter(|r| r.method == "GET")
        .collect()
}

fn seq_of(sim: &Simulator, id: &str) -> i64 {
    let rows = sim.activity(WS);
    let row = rows.iter().find(|r| r["id"] == id);
    match row.and_then(|r| r["seq"].as_i64()) {
        Some(s) => s,
        None => panic!("row {id} has no seq: {rows:?}"),
    }
}

#[test]
fn an_injected_message_arrives_within_a_poll_interval() {
    let sim = sim_with_workspace();
    let dir = TempDir::new("inbox-arrives");
    let run = Running::start(&single_env(&sim, &dir, &[]));
    assert!(sim.wait_for_requests(ACTIVITY, 1, SOON), "no first poll");
    let injected_at = Instant::now();
    let id = sim.inject_canvas(WS, "hello from the canvas");
    let got = run.wait(SOON).expect("the message was not delivered");
    let took = injected_at.elapsed();
    // One interval plus generous slack for a loaded machine.
    assert!(
        took < POLL * 10,
        "delivery took {took:?} with a {POLL:?} poll interval"
    );
    assert_eq!(got.activity_id, id);
    assert_eq!(got.text, "hello from the canvas");
    assert_eq!(got.kind, Kind::CanvasUser);
    assert_eq!(got.peer_id, "");
    assert_eq!(got.to_json()["kind"], "canvas_user");
    assert!(got.to_json().get("arrival_workspace_id").is_none());
    // Still pending: wait does not remove.
    assert_eq!(run.inbox.peek(10).len(), 1);

    let polls = activity_polls(&sim);
    let first = &polls[0];
    assert_eq!(
        first.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(first.header("origin"), Some(sim.url().as_str()));
    assert_eq!(first.query_param("type"), None);
    assert_eq!(first.query_param("include").as_deref(), Some("peer_info"));
    assert_eq!(first.query_param("since_secs").as_deref(), Some("600"));
    assert_eq!(first.query_param("since_id"), None);
    // Once a row was seen, polls continue from it.
    assert!(sim.wait_for(
        |reqs| reqs.iter().any(
            |r| r.path == ACTIVITY && r.query_param("since_id").as_deref() == Some(id.as_str())
        ),
        SOON
    ));
    let cursor = std::fs::read_to_string(dir.join(".mcp_inbox_cursor")).expect("cursor file");
    assert_eq!(cursor.trim(), id);
}

#[test]
fn peer_messages_carry_the_peer_fields_the_row_brings() {
    let sim = sim_with_workspace();
    sim.add_workspace(PEER, Some("peer-token-abcdefgh"));
    sim.set_profile(PEER, "Research Bot", "researcher");
    let dir = TempDir::new("inbox-peer-info");
    let run = Running::start(&single_env(&sim, &dir, &[]));
    let id = sim.inject_peer(WS, PEER, "can you look at this?");
    let got = run.wait(SOON).expect("not delivered");
    assert_eq!(got.activity_id, id);
    assert_eq!(got.kind, Kind::PeerAgent);
    assert_eq!(got.peer_id, PEER);
    assert_eq!(got.peer_name.as_deref(), Some("Research Bot"));
    assert_eq!(got.peer_role.as_deref(), Some("researcher"));
    assert_eq!(got.to_json()["peer_role"], "researcher");
    assert_eq!(
        got.agent_card_url,
        Some(format!("{}/registry/discover/{PEER}", sim.url()))
    );
    assert_eq!(run.inbox.peer_workspace(PEER).as_deref(), Some(WS));
    // With include=peer_info the registry is not asked.
    assert!(sim.requests_to(&format!("/registry/{WS}/peers")).is_empty());
}

#[test]
fn without_peer_info_the_name_comes_from_the_peers_list() {
    let sim = sim_with_workspace();
    sim.set_peer_info(false);
    sim.add_workspace(PEER, Some("peer-token-abcdefgh"));
    sim.set_profile(PEER, "Research Bot", "researcher");
    let dir = TempDir::new("inbox-peer");
    let run = Running::start(&single_env(&sim, &dir, &[]));
    sim.inject_peer(WS, PEER, "can you look at this?");
    let got = run.wait(SOON).expect("not delivered");
    assert_eq!(got.peer_name.as_deref(), Some("Research Bot"));
    assert_eq!(got.peer_role, None);
    assert_eq!(
        got.agent_card_url,
        Some(format!("{}/registry/discover/{PEER}", sim.url()))
    );
    // The name came from the peers list, asked for as this workspace.
    let lookups = sim.requests_to(&format!("/registry/{WS}/peers"));
    assert!(!lookups.is_empty());
    for r in &lookups {
        assert_eq!(r.header("x-workspace-id"), Some(WS), "{r:?}");
    }
}

#[test]
fn own_rows_are_skipped_and_order_is_kept() {
    let sim = sim_with_workspace();
    let dir = TempDir::new("inbox-order");
    sim.inject_self_notify(WS, "my own notify");
    let first = sim.inject_canvas(WS, "one");
    sim.inject_self_echo(WS, "my own echo");
    let second = sim.inject_peer(WS, PEER, "two");
    let third = sim.inject_delegate_result(WS, "three");
    let run = Running::start(&single_env(&sim, &dir, &[]));
    assert!(run.wait_pending(3, SOON));
    // A few more polls must not add anything.
    let seen = activity_polls(&sim).len();
    assert!(sim.wait_for_requests(ACTIVITY, seen + 3, SOON));
    let pending = run.inbox.peek(10);
    let ids: Vec<&str> = pending.iter().map(|m| m.activity_id.as_str()).collect();
    assert_eq!(ids, [first.as_str(), second.as_str(), third.as_str()]);
    assert_eq!(pending[2].kind, Kind::DelegationResult);
    assert_eq!(pending[2].text, "three");
}

#[test]
fn a_gone_cursor_falls_back_to_the_recent_backlog() {
    let sim = sim_with_workspace();
    let dir = TempDir::new("inbox-410");
    let run = Running::start(&single_env(&sim, &dir, &[]));
    let first = sim.inject_canvas(WS, "first");
    assert_eq!(run.wait(SOON).map(|m| m.activity_id), Some(first.clone()));
    assert!(run.inbox.pop(&first).removed());
    assert!(sim.wait_for(
        |reqs| reqs
            .iter()
            .any(|r| r.query_param("since_id").as_deref() == Some(first.as_str())),
        SOON
    ));
    assert!(sim.drop_row(&first));
    let cursor = dir.join(".mcp_inbox_cursor");
    // The next poll meets 410 and deletes the cursor; the one after reads
    // the backlog again.
    let mark = sim.requests().len();
    assert!(sim.wait_for(
        |reqs| reqs[mark.min(reqs.len())..]
            .iter()
            .any(|r| r.path == ACTIVITY && r.query_param("since_secs").as_deref() == Some("600")),
        SOON
    ));
    assert!(!cursor.exists(), "the gone cursor was not deleted");
    let second = sim.inject_canvas(WS, "second");
    let got = run.wait(SOON).expect("nothing delivered after the reset");
    assert_eq!(got.activity_id, second);
    assert_eq!(run.inbox.len(), 1);
}

#[test]
fn duplicated_rows_are_delivered_once_and_popped_ones_never_again() {
    let sim = sim_with_workspace();
    let dir = TempDir::new("inbox-dupes");
    let id = sim.inject_canvas(WS, "only once");
    let row = sim.activity(WS)[0].clone();
    sim.script_always("GET", ACTIVITY, Reply::json(200, json!([row, row, row])));
    let run = Running::start(&single_env(&sim, &dir, &[]));
    assert!(run.wait_pending(1, SOON));
    assert!(sim.wait_for_requests(ACTIVITY, 4, SOON));
    assert_eq!(run.inbox.len(), 1);
    assert!(run.inbox.pop(&id).removed());
    assert!(!run.inbox.pop(&id).removed());
    let seen = activity_polls(&sim).len();
    assert!(sim.wait_for_requests(ACTIVITY, seen + 3, SOON));
    assert!(run.inbox.is_empty(), "a popped message came back");
}

#[test]
fn a_restart_before_pop_delivers_again_and_after_pop_never() {
    let sim = sim_with_workspace();
    let dir = TempDir::new("inbox-restart");
    let env = single_env(&sim, &dir, &[]);
    let (a, b) = {
        let run = Running::start(&env);
        let a = sim.inject_canvas(WS, "a");
        let b = sim.inject_peer(WS, PEER, "b");
        assert!(run.wait_pending(2, SOON));
        assert!(run.inbox.pop(&a).removed());
        (a, b)
    };
    // A crash right after the queue was written and before the cursor was:
    // the next start reads the backlog again.
    let _ = std::fs::remove_file(dir.join(".mcp_inbox_cursor"));
    let run = Running::start(&env);
    // Restored from disk before any poll.
    let pending: Vec<String> = run
        .inbox
        .peek(10)
        .into_iter()
        .map(|m| m.activity_id)
        .collect();
    assert_eq!(pending, vec![b.clone()]);
    let seen = activity_polls(&sim).len();
    assert!(sim.wait_for(
        |reqs| reqs.iter().filter(|r| r.path == ACTIVITY).count() >= seen + 3,
        SOON
    ));
    let pending: Vec<String> = run
        .inbox
        .peek(10)
        .into_iter()
        .map(|m| m.activity_id)
        .collect();
    assert_eq!(
        pending,
        vec![b.clone()],
        "popped {a} came back or {b} was doubled"
    );
    assert!(run.inbox.pop(&b).removed());
    drop(run);
    let _ = std::fs::remove_file(dir.join(".mcp_inbox_cursor"));
    let run = Running::start(&env);
    let seen = activity_polls(&sim).len();
    assert!(sim.wait_for_requests(ACTIVITY, seen + 3, SOON));
    assert!(run.inbox.is_empty(), "{:?}", run.inbox.peek(10));
}

#[test]
fn acks_carry_the_highest_popped_seq() {
    let sim = sim_with_workspace();
    let dir = TempDir::new("inbox-ack");
    let run = Running::start(&single_env(&sim, &dir, &[]));
    let ids: Vec<String> = (0..3)
        .map(|i| sim.inject_canvas(WS, &format!("m{i}")))
        .collect();
    assert!(run.wait_pending(3, SOON));
    assert!(run.inbox.pop(&ids[2]).removed());
    assert!(sim.wait_for_requests(ACK, 1, SOON), "no ack sent");
    assert!(run.inbox.pop(&ids[0]).removed());
    // The highest popped seq stays the one of the third message.
    let highest = seq_of(&sim, &ids[2]);
    assert!(sim.wait_for(
        |reqs| reqs
            .iter()
            .filter(|r| r.path == ACK)
            .all(|r| r.json().and_then(|b| b["acked_seq"].as_i64()) == Some(highest))
            && reqs.iter().any(|r| r.path == ACK),
        SOON
    ));
    // The request is recorded before the simulator has applied it.
    assert!(support::eventually(SOON, || sim.acked_seq(WS) == Some(highest)));
    // An ack of the lower seq would come after the second pop: give it
    // time to show, then every ack sent must carry the highest.
    thread::sleep(Duration::from_millis(500));
    let acks = sim.requests_to(ACK);
    assert!(
        acks.iter()
            .all(|r| r.json().and_then(|b| b["acked_seq"].as_i64()) == Some(highest)),
        "{:?}",
        acks.iter().map(|r| r.body_text()).collect::<Vec<_>>()
    );
    let ack = &sim.requests_to(ACK)[0];
    assert_eq!(ack.method, "POST");
    assert_eq!(
        ack.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(ack.header("origin"), Some(sim.url().as_str()));
}

#[test]
fn an_ack_404_stops_further_acks() {
    let sim = sim_with_workspace();
    sim.set_acks_supported(false);
    let dir = TempDir::new("inbox-ack-404");
    let run = Running::start(&single_env(&sim, &dir, &[]));
    let a = sim.inject_canvas(WS, "a");
    let b = sim.inject_canvas(WS, "b");
    assert!(run.wait_pending(2, SOON));
    assert!(run.inbox.pop(&a).removed());
    assert!(sim.wait_for_requests(ACK, 1, SOON));
    // Let the ack thread take in the 404 before the next pop (it has no
    // outward sign of having done so; loopback answers take milliseconds).
    thread::sleep(Duration::from_millis(1000));
    assert!(run.inbox.pop(&b).removed());
    assert!(!sim.wait_for_requests(ACK, 2, Duration::from_secs(1)));
    assert_eq!(sim.requests_to(ACK).len(), 1);
}

#[test]
fn rows_without_seq_are_never_acked() {
    let sim = sim_with_workspace();
    sim.set_rows_have_seq(false);
    let dir = TempDir::new("inbox-no-seq");
    let run = Running::start(&single_env(&sim, &dir, &[]));
    let a = sim.inject_canvas(WS, "a");
    assert!(run.wait_pending(1, SOON));
    assert!(run.inbox.pop(&a).removed());
    assert!(!sim.wait_for_requests(ACK, 1, Duration::from_millis(800)));
}

#[test]
fn new_messages_are_pushed_to_the_host() {
    let sim = sim_with_workspace();
    let dir = TempDir::new("inbox-push");
    let run = Running::start(&single_env(&sim, &dir, &[("CLAUDE_CODE", "1")]));
    let id = sim.inject_peer(WS, PEER, "pushed text");
    let line = match run.pushed.recv_timeout(SOON) {
        Ok(Outgoing::Notification(line)) => line,
        other => panic!("expected a notification, got {other:?}"),
    };
    let v: Value = serde_json::from_str(&line).expect("notification JSON");
    assert_eq!(v["method"], "notifications/claude/channel");
    let content = v["params"]["content"].as_str().unwrap_or_default();
    assert!(
        content.starts_with(&format!("[from peer agent · peer_id={PEER}]")),
        "{content}"
    );
    assert!(content.contains("pushed text"));
    let meta = &v["params"]["meta"];
    assert_eq!(meta["source"], "molecule");
    assert_eq!(meta["kind"], "peer_agent");
    assert_eq!(meta["peer_id"], PEER);
    assert_eq!(meta["activity_id"], id.as_str());
    assert_eq!(meta["method"], "message/send");
    // Once only, even after more polls.
    let seen = activity_polls(&sim).len();
    assert!(sim.wait_for_requests(ACTIVITY, seen + 3, SOON));
    assert!(run.pushed.try_recv().is_err());
}

#[test]
fn no_push_without_a_known_host() {
    let sim = sim_with_workspace();
    let dir = TempDir::new("inbox-no-push");
    let run = Running::start(&single_env(&sim, &dir, &[]));
    sim.inject_canvas(WS, "quiet");
    assert!(run.wait(SOON).is_some());
    assert!(run.pushed.recv_timeout(Duration::from_millis(300)).is_err());
}

#[test]
fn failures_and_garbage_are_survived() {
    let sim = sim_with_workspace();
    let dir = TempDir::new("inbox-garbage");
    let good = sim.inject_canvas(WS, "survivor");
    let good_row = sim.activity(WS)[0].clone();
    sim.script(
        "GET",
        ACTIVITY,
        vec![
            Reply::status(500, "boom"),
            Reply::raw(200, "text/html", "<html>not json</html>"),
            Reply::json(200, json!({"rows": []})),
            Reply::Close,
            Reply::json(
                200,
                json!([null, 5, "x", {"id": null}, {"id": "a b"}, {"id": "r", "source_id": 7},
                    {"id": "big", "request_body": {"parts": [{"kind": "text", "text": "y".repeat(300_000)}]}},
                    good_row]),
            ),
        ],
    );
    let run = Running::start(&single_env(&sim, &dir, &[]));
    assert!(run.wait_pending(2, Duration::from_secs(10)));
    let pending = run.inbox.peek(10);
    let ids: Vec<&str> = pending.iter().map(|m| m.activity_id.as_str()).collect();
    // Read without a cursor, so the answer counts as newest first.
    assert_eq!(ids, [good.as_str(), "big"]);
    assert!(pending[1].text.len() < 70 * 1024 && pending[1].text.contains("truncated"));
}

#[test]
fn multi_workspace_mode_merges_and_names_cursors_per_workspace() {
    let sim = sim_with_workspace();
    sim.add_workspace(WS2, Some(TOKEN2));
    let dir = TempDir::new("inbox-multi");
    let list = json!([{"id": WS, "token": TOKEN}, {"id": WS2, "token": TOKEN2}]).to_string();
    let env: EnvMap = [
        ("PLATFORM_URL", sim.url()),
        ("MOLECULE_WORKSPACES", list),
        ("CONFIGS_DIR", dir.path().display().to_string()),
        ("MOLECULE_MCP_POLL_SECS", format!("{}", POLL.as_secs_f64())),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), OsString::from(v)))
    .collect();
    let run = Running::start(&env);
    let a = sim.inject_peer(WS2, PEER, "to the second");
    assert!(run.wait_pending(1, SOON));
    let b = sim.inject_canvas(WS, "to the first");
    assert!(run.wait_pending(2, SOON));
    let pending = run.inbox.peek(10);
    assert_eq!(pending[0].activity_id, a);
    assert_eq!(pending[0].arrival_workspace_id.as_deref(), Some(WS2));
    assert_eq!(pending[1].activity_id, b);
    assert_eq!(pending[1].arrival_workspace_id.as_deref(), Some(WS));
    assert_eq!(run.inbox.peer_workspace(PEER).as_deref(), Some(WS2));
    let c1 = dir.join(format!(".mcp_inbox_cursor_{}", &WS[..8]));
    let c2 = dir.join(format!(".mcp_inbox_cursor_{}", &WS2[..8]));
    assert!(support::eventually(SOON, || c1.exists() && c2.exists()));
    assert_eq!(
        std::fs::read_to_string(&c1).ok().as_deref(),
        Some(b.as_str())
    );
    assert_eq!(
        std::fs::read_to_string(&c2).ok().as_deref(),
        Some(a.as_str())
    );
    // Each workspace is polled with its own token.
    let ws2_polls = sim.requests_to(&format!("/workspaces/{WS2}/activity"));
    assert!(ws2_polls
        .iter()
        .all(|r| r.header("authorization") == Some(format!("Bearer {TOKEN2}").as_str())));
}

#[test]
fn a_message_injected_while_stopped_is_read_from_the_backlog() {
    let sim = sim_with_workspace();
    let dir = TempDir::new("inbox-backlog");
    let old = sim.inject_message(
        WS,
        InboxRow::canvas("too old").age(Duration::from_secs(3600)),
    );
    let recent = sim.inject_message(WS, InboxRow::canvas("recent").age(Duration::from_secs(60)));
    let run = Running::start(&single_env(&sim, &dir, &[]));
    assert!(run.wait_pending(1, SOON));
    let seen = activity_polls(&sim).len();
    assert!(sim.wait_for_requests(ACTIVITY, seen + 2, SOON));
    let ids: Vec<String> = run
        .inbox
        .peek(10)
        .into_iter()
        .map(|m| m.activity_id)
        .collect();
    assert_eq!(ids, [recent], "{old} is older than the 600 s backlog");
}
