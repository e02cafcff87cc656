//! The platform tools called through their library API against the platform
//! simulator: each tool's happy path, each failure row, delegation in all its
//! modes, cancellation, routing and the inbox tools.

mod support;

use std::collections::HashMap;
use std::ffi::OsString;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{after, select, Receiver};
use serde_json::{json, Map, Value};

use molecule_mcp::config::{self, Config, EnvMap, Platform};
use molecule_mcp::mcp::cancel::{CancelReason, CancelToken};
use molecule_mcp::mcp::context::CallContext;
use molecule_mcp::mcp::jsonrpc::{RpcError, INVALID_PARAMS};
use molecule_mcp::mcp::outbox::Outbox;
use molecule_mcp::platform::http::Client;
use molecule_mcp::platform::inbox::{Inbox, PollerPlan, Popped};
use molecule_mcp::shutdown::Shutdown;
use molecule_mcp::tools::{instructions, MessageSource, PlatformTools};
use support::sim::{Peer, Reply, Simulator};
use support::TempDir;

const WS: &str = "aaaaaaaa-1111-4111-8111-000000000001";
const WS2: &str = "aaaaaaaa-2222-4222-8222-000000000002";
const PEER: &str = "bbbbbbbb-3333-4333-8333-000000000003";
const TOKEN: &str = "tools-lib-token-0123456789abcdef";
const TOKEN2: &str = "tools-lib-token-second-fedcba9876";
const PEER_TOKEN: &str = "tools-lib-peer-token-5555555555";
/// A generous bound for calls that should finish at once.
const QUICK: Duration = Duration::from_secs(3);

// ---------------------------------------------------------------- the rig

struct Rig {
    sim: Simulator,
    _dir: TempDir,
    config: Config,
    tools: PlatformTools,
}

fn env_map(pairs: &[(&str, String)]) -> EnvMap {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), OsString::from(v)))
        .collect()
}

fn load(env: &EnvMap) -> Config {
    match config::load(env, None) {
        Ok(config) => config,
        Err(e) => panic!("test configuration refused: {e}"),
    }
}

fn platform(config: &Config) -> &Platform {
    config
        .platform
        .as_ref()
        .expect("the test configuration has a platform")
}

fn sim_with_workspaces() -> Simulator {
    let sim = Simulator::start();
    sim.add_workspace(WS, Some(TOKEN));
    sim.add_workspace(PEER, Some(PEER_TOKEN));
    sim
}

fn single_env(sim: &Simulator, dir: &TempDir, extra: &[(&str, &str)]) -> EnvMap {
    let mut env = env_map(&[
        ("PLATFORM_URL", sim.url()),
        ("WORKSPACE_ID", WS.into()),
        ("MOLECULE_WORKSPACE_TOKEN", TOKEN.into()),
        ("CONFIGS_DIR", dir.path().display().to_string()),
        ("MOLECULE_MCP_POLL_SECS", "0.2".into()),
    ]);
    for (k, v) in extra {
        env.insert(k.to_string(), OsString::from(v));
    }
    env
}

fn multi_env(sim: &Simulator, dir: &TempDir) -> EnvMap {
    let list = json!([{"id": WS, "token": TOKEN}, {"id": WS2, "token": TOKEN2}]);
    env_map(&[
        ("PLATFORM_URL", sim.url()),
        ("MOLECULE_WORKSPACES", list.to_string()),
        ("CONFIGS_DIR", dir.path().display().to_string()),
    ])
}

/// Single-workspace tools with the inbox disabled.
fn rig(extra: &[(&str, &str)]) -> Rig {
    rig_with(extra, |_, _| None)
}

fn rig_with(
    extra: &[(&str, &str)],
    source: impl FnOnce(&Config, &Platform) -> Option<Arc<dyn MessageSource>>,
) -> Rig {
    let sim = sim_with_workspaces();
    let dir = TempDir::new("tools-lib");
    let config = load(&single_env(&sim, &dir, extra));
    let p = platform(&config);
    let tools = PlatformTools::with_source(&config, p, Client::new(), source(&config, p));
    Rig {
        sim,
        _dir: dir,
        config,
        tools,
    }
}

fn multi_rig(source: Option<Arc<dyn MessageSource>>) -> Rig {
    let sim = sim_with_workspaces();
    sim.add_workspace(WS2, Some(TOKEN2));
    let dir = TempDir::new("tools-lib-multi");
    let config = load(&multi_env(&sim, &dir));
    let tools = PlatformTools::with_source(&config, platform(&config), Client::new(), source);
    Rig {
        sim,
        _dir: dir,
        config,
        tools,
    }
}

fn context(cancel: &CancelToken) -> CallContext {
    let (outbox, _) = Outbox::channel();
    CallContext::new(json!(1), None, cancel.clone(), outbox)
}

fn args(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("arguments must be an object, got {other}"),
    }
}

impl Rig {
    fn call(&self, name: &str, arguments: Value) -> Result<Value, RpcError> {
        self.tools
            .call(name, args(arguments), &context(&CancelToken::new()))
    }

    fn ok(&self, name: &str, arguments: Value) -> String {
        match self.call(name, arguments) {
            Ok(result) => ok_text(&result),
            Err(e) => panic!("{name}: unexpected JSON-RPC error {e}"),
        }
    }

    fn failed(&self, name: &str, arguments: Value) -> String {
        match self.call(name, arguments) {
            Ok(result) => err_text(&result),
            Err(e) => panic!("{name}: unexpected JSON-RPC error {e}"),
        }
    }

    fn invalid(&self, name: &str, arguments: Value) -> String {
        match self.call(name, arguments) {
            Err(e) if e.code == INVALID_PARAMS => e.message,
            other => panic!("{name}: expected -32602, got {other:?}"),
        }
    }
}

fn text_of(result: &Value) -> String {
    let text = result["content"][0]["text"].as_str().unwrap_or_default();
    assert_eq!(result["content"][0]["type"], "text", "{result}");
    assert!(
        !text.contains(TOKEN) && !text.contains(PEER_TOKEN),
        "a token leaked: {text}"
    );
    text.to_string()
}

fn ok_text(result: &Value) -> String {
    assert!(
        result.get("isError").is_none(),
        "expected success: {result}"
    );
    text_of(result)
}

fn err_text(result: &Value) -> String {
    assert_eq!(result["isError"], json!(true), "expected isError: {result}");
    text_of(result)
}

fn has(text: &str, needles: &[&str]) {
    for needle in needles {
        assert!(text.contains(needle), "{needle:?} not in {text:?}");
    }
}

fn path(parts: &[&str]) -> String {
    format!("/{}", parts.join("/"))
}

fn raw_503_retry_after(secs: u64) -> Reply {
    Reply::Raw {
        status: 503,
        headers: vec![
            ("Content-Type".into(), "application/json".into()),
            ("Retry-After".into(), secs.to_string()),
        ],
        body: br#"{"error":"workspace busy"}"#.to_vec(),
    }
}

// ---------------------------------------------------------------- listing and arguments

#[test]
fn lists_the_platform_tools_and_refuses_unknown_ones() {
    let r = rig(&[]);
    let names: Vec<String> = r
        .tools
        .list()
        .iter()
        .filter_map(|t| t["name"].as_str().map(str::to_string))
        .collect();
    assert_eq!(names.len(), support::platform_tools(false).len());
    for name in &names {
        assert!(r.tools.has(name), "{name}");
    }
    assert!(!r.tools.has("delete_everything"));
    let e = r.call("delete_everything", json!({})).unwrap_err();
    assert_eq!(e.code, INVALID_PARAMS);
    assert!(e.message.contains("delete_everything"), "{}", e.message);
    has(&instructions(2), &["timeout_secs = 2"]);
}

#[test]
fn argument_mistakes_are_invalid_params_naming_the_argument() {
    let r = rig(&[]);
    let cases = [
        ("delegate_task", json!({"workspace_id": PEER}), "`task`"),
        ("delegate_task", json!({"task": "x"}), "`workspace_id`"),
        (
            "delegate_task",
            json!({"workspace_id": 7, "task": "x"}),
            "`workspace_id` must be a string",
        ),
        (
            "delegate_task_async",
            json!({"workspace_id": PEER, "task": ""}),
            "`task` must not be empty",
        ),
        (
            "check_task_status",
            json!({"workspace_id": PEER}),
            "`task_id`",
        ),
        (
            "update_agent_card",
            json!({"card": "name"}),
            "`card` must be an object",
        ),
        ("broadcast_message", json!({}), "`message`"),
        (
            "send_message_to_user",
            json!({"message": "hi", "attachments": "/tmp/x"}),
            "`attachments`",
        ),
        (
            "send_message_to_user",
            json!({"message": "hi", "attachments": ["/a", 3]}),
            "`attachments[1]`",
        ),
        (
            "wait_for_message",
            json!({"timeout_secs": "soon"}),
            "`timeout_secs` must be a number",
        ),
        ("inbox_peek", json!({"limit": [1]}), "`limit`"),
        ("inbox_pop", json!({}), "`activity_id`"),
        ("chat_history", json!({}), "`peer_id`"),
        (
            "chat_history",
            json!({"peer_id": PEER, "before_ts": "yesterday"}),
            "RFC 3339",
        ),
        (
            "commit_memory",
            json!({"content": "x", "scope": "PUBLIC"}),
            "LOCAL, TEAM, GLOBAL",
        ),
        (
            "recall_memory",
            json!({"scope": "everyone"}),
            "LOCAL, TEAM, GLOBAL",
        ),
        (
            "list_peers",
            json!({"source_workspace_id": "someone-else"}),
            "not a workspace this server acts for",
        ),
        (
            "broadcast_message",
            json!({"message": "x", "workspace_id": PEER}),
            "`workspace_id`",
        ),
    ];
    for (tool, arguments, needle) in cases {
        let message = r.invalid(tool, arguments.clone());
        assert!(message.contains(needle), "{tool} {arguments}: {message:?}");
    }
    // None of these reached the platform.
    assert!(r.sim.requests().is_empty(), "{:?}", r.sim.requests());
}

// ---------------------------------------------------------------- list_peers and its failure rows

#[test]
fn list_peers_shows_name_id_status_and_role_with_the_common_headers() {
    let r = rig(&[]);
    r.sim.set_profile(PEER, "Research\nBot", "analyst");
    let text = r.ok("list_peers", json!({}));
    has(
        &text,
        &[
            "Research Bot",
            PEER,
            "analyst",
            "status ",
            "grant no authority",
        ],
    );
    let reqs = r.sim.requests_to(&path(&["registry", WS, "peers"]));
    assert_eq!(reqs.len(), 1);
    let req = &reqs[0];
    assert_eq!(
        req.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(req.header("origin"), Some(r.sim.url().as_str()));
    assert_eq!(req.header("x-workspace-id"), Some(WS));
}

#[test]
fn platform_failures_become_readable_errors() {
    let r = rig(&[]);
    let peers = path(&["registry", WS, "peers"]);
    let rows: Vec<(Reply, &[&str])> = vec![
        (
            Reply::json(401, json!({"error": "invalid token"})),
            &["HTTP 401", "Tokens tab"],
        ),
        (
            Reply::json(403, json!({"error": "forbidden"})),
            &["HTTP 403", "Tokens tab"],
        ),
        (
            Reply::json(404, json!({"error": "workspace not found"})),
            &["HTTP 404", "not registered"],
        ),
        (
            Reply::json(402, json!({"error": "budget"})),
            &["budget is exhausted"],
        ),
        (Reply::status(500, "boom"), &["HTTP 500", "Retry later"]),
        (Reply::status(503, ""), &["HTTP 503", "Retry later"]),
        (Reply::Close, &["could not be reached", "Retry later"]),
        (
            Reply::raw(200, "text/html", "<html>oops</html>"),
            &["answered unexpectedly", "<html>"],
        ),
        (
            Reply::json(200, json!({"peers": "not a list"})),
            &["answered unexpectedly"],
        ),
        (
            Reply::raw(
                500,
                "text/plain",
                format!("Bearer {TOKEN} {}", "x".repeat(400)),
            ),
            &["HTTP 500"],
        ),
    ];
    for (reply, needles) in rows {
        r.sim.script("GET", &peers, vec![reply.clone()]);
        let text = r.failed("list_peers", json!({}));
        assert!(text.starts_with("list_peers failed: "), "{text}");
        has(&text, needles);
        assert!(text.chars().count() < 700, "body quoted at length: {text}");
    }
}

#[test]
fn a_token_file_that_vanished_is_reported_by_path() {
    let sim = sim_with_workspaces();
    let dir = TempDir::new("tools-lib-tokenfile");
    let token_file = dir.join("token");
    std::fs::write(&token_file, TOKEN).expect("write token");
    let mut env = single_env(&sim, &dir, &[]);
    env.remove("MOLECULE_WORKSPACE_TOKEN");
    env.insert(
        "MOLECULE_WORKSPACE_TOKEN_FILE".into(),
        token_file.clone().into_os_string(),
    );
    let config = load(&env);
    let tools = PlatformTools::with_source(&config, platform(&config), Client::new(), None);
    let call = |name: &str| tools.call(name, Map::new(), &context(&CancelToken::new()));
    // The file is read at each call: a rotated token is used at once.
    assert!(call("list_peers")
        .map(|r| r.get("isError").is_none())
        .unwrap_or(false));
    std::fs::remove_file(&token_file).expect("remove token");
    let text = err_text(&call("list_peers").expect("a result"));
    has(
        &text,
        &[token_file.display().to_string().as_str(), "Tokens tab"],
    );
}

// ---------------------------------------------------------------- workspace info, identity, card

#[test]
fn workspace_info_and_its_removed_answer() {
    let r = rig(&[]);
    let result = r.call("get_workspace_info", json!({})).expect("a result");
    ok_text(&result);
    assert_eq!(result["structuredContent"]["id"], WS);
    r.sim.delete_workspace(WS);
    let result = r.call("get_workspace_info", json!({})).expect("a result");
    let text = err_text(&result);
    let removed: Value = serde_json::from_str(&text).expect("JSON text");
    assert_eq!(removed["error"], "removed");
    assert_eq!(removed["id"], WS);
    assert!(removed["removed_at"].is_string(), "{removed}");
    assert!(
        removed["hint"].as_str().is_some_and(|h| !h.is_empty()),
        "{removed}"
    );
}

#[test]
fn runtime_identity_reads_the_environment_without_network() {
    let r = rig(&[
        ("MODEL", "claude-x"),
        ("MODEL_PROVIDER", "anthropic"),
        ("TIER", "2"),
        (
            "ANTHROPIC_BASE_URL",
            "https://user:secretpw@llm.example/v1?key=abc",
        ),
    ]);
    let result = r.call("get_runtime_identity", json!({})).expect("a result");
    let text = ok_text(&result);
    let id = &result["structuredContent"];
    assert_eq!(id["model"], "claude-x");
    assert_eq!(id["model_provider"], "anthropic");
    assert_eq!(id["tier"], "2");
    assert_eq!(id["molecule_model"], Value::Null);
    assert_eq!(id["workspace_id"], WS);
    assert_eq!(id["anthropic_base_url"], "https://llm.example/v1");
    assert!(
        !text.contains("secretpw") && !text.contains("key=abc"),
        "{text}"
    );
    assert!(r.sim.requests().is_empty());
}

#[test]
fn update_agent_card_posts_the_card_as_the_primary_workspace() {
    let r = rig(&[]);
    let card = json!({"name": "Planner", "description": "plans", "skills": [{"name": "plan"}]});
    has(
        &r.ok("update_agent_card", json!({"card": card})),
        &["updated"],
    );
    assert_eq!(r.sim.agent_card(WS), Some(card));
    r.sim
        .script_always("POST", "/registry/update-card", Reply::json(401, json!({})));
    has(
        &r.failed("update_agent_card", json!({"card": {}})),
        &["HTTP 401", "Tokens tab"],
    );
}

// ---------------------------------------------------------------- delegate_task

#[test]
fn delegate_task_returns_the_peers_answer_fenced_as_untrusted() {
    let r = rig(&[]);
    r.sim.set_peer(PEER, Peer::Reply("forty-two".into()));
    let text = r.ok(
        "delegate_task",
        json!({"workspace_id": PEER, "task": "compute"}),
    );
    has(
        &text,
        &["(untrusted) ---\nforty-two\n--- end peer output ", PEER],
    );
    let discovered = r.sim.requests_to(&path(&["registry", "discover", PEER]));
    assert_eq!(discovered.len(), 1);
    let sent = r.sim.requests_to(&path(&["workspaces", PEER, "a2a"]));
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].header("x-workspace-id"), Some(WS));
    let body = sent[0].json().expect("JSON body");
    assert_eq!(body["jsonrpc"], "2.0");
    assert_eq!(body["method"], "message/send");
    assert_eq!(body["params"]["message"]["role"], "user");
    assert_eq!(
        body["params"]["message"]["parts"],
        json!([{"kind": "text", "text": "compute"}])
    );
    assert_eq!(body["id"].as_str().map(str::len), Some(36));
}

#[test]
fn delegate_task_refuses_itself_and_explains_peer_failures() {
    let r = rig(&[]);
    has(
        &r.failed("delegate_task", json!({"workspace_id": WS, "task": "x"})),
        &["cannot delegate to itself"],
    );
    let rows: [(Peer, &[&str]); 3] = [
        (
            Peer::Forbidden,
            &["not allowed to talk to", PEER, "HTTP 403"],
        ),
        (Peer::Budget, &["budget is exhausted", "HTTP 402"]),
        (Peer::Unavailable, &["not available", "HTTP 503"]),
    ];
    for (peer, needles) in rows {
        r.sim.set_peer(PEER, peer);
        has(
            &r.failed("delegate_task", json!({"workspace_id": PEER, "task": "x"})),
            needles,
        );
    }
    let ghost = "cccccccc-0000-4000-8000-000000000009";
    has(
        &r.failed("delegate_task", json!({"workspace_id": ghost, "task": "x"})),
        &[ghost, "was not found", "list_peers"],
    );
    r.sim.set_peer(PEER, Peer::Echo);
    r.sim.script(
        "POST",
        &path(&["workspaces", PEER, "a2a"]),
        vec![Reply::json(200, json!({"jsonrpc": "2.0", "id": 1, "error": {"code": -32000, "message": "peer crashed"}}))],
    );
    has(
        &r.failed("delegate_task", json!({"workspace_id": PEER, "task": "x"})),
        &["answered with an error", "peer crashed"],
    );
    for garbage in [
        Reply::raw(200, "text/html", "<h1>"),
        Reply::json(200, json!(["not", "an", "answer"])),
    ] {
        r.sim
            .script("POST", &path(&["workspaces", PEER, "a2a"]), vec![garbage]);
        has(
            &r.failed("delegate_task", json!({"workspace_id": PEER, "task": "x"})),
            &["answered unexpectedly"],
        );
    }
}

#[test]
fn delegate_task_to_a_poll_mode_peer_waits_for_the_delegation() {
    let r = rig(&[]);
    r.sim.set_peer(PEER, Peer::PollMode);
    r.sim.set_delegation_delay(Some(Duration::from_millis(300)));
    let started = Instant::now();
    let text = r.ok(
        "delegate_task",
        json!({"workspace_id": PEER, "task": "summarise"}),
    );
    let took = started.elapsed();
    has(
        &text,
        &["(untrusted) ---\necho: summarise\n--- end peer output "],
    );
    // The first look at the delegation comes after one 3 s poll interval.
    assert!(took >= Duration::from_millis(2500), "{took:?}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    let filed = r.sim.requests_to(&path(&["workspaces", WS, "delegate"]));
    assert_eq!(filed.len(), 1);
    let body = filed[0].json().expect("JSON body");
    assert_eq!(body["target_id"], PEER);
    assert_eq!(body["task"], "summarise");
    assert!(
        body["idempotency_key"]
            .as_str()
            .is_some_and(|k| !k.is_empty()),
        "{body}"
    );
    assert!(!r
        .sim
        .requests_to(&path(&["workspaces", WS, "delegations"]))
        .is_empty());
}

/// Shortens the delegation polling so the queued-peer tests run quickly.
fn fast_polling(r: &mut Rig) {
    let mut settings = molecule_mcp::tools::DelegationSettings::from_env(&r.config.env);
    settings.poll_interval = Duration::from_millis(100);
    r.tools.set_delegation_settings(settings);
}

#[test]
fn delegate_task_reports_a_failed_or_unanswered_delegation() {
    let mut r = rig(&[("DELEGATION_TIMEOUT", "1")]);
    fast_polling(&mut r);
    r.sim.set_peer(PEER, Peer::Queued);
    let started = Instant::now();
    let text = r.failed(
        "delegate_task",
        json!({"workspace_id": PEER, "task": "slow"}),
    );
    let took = started.elapsed();
    has(
        &text,
        &["no answer from", "within 1 s", "check_task_status"],
    );
    let id = r.sim.delegations(WS)[0]["delegation_id"]
        .as_str()
        .map(str::to_string)
        .expect("id");
    has(&text, &[id.as_str()]);
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(6),
        "{took:?}"
    );

    // A peer that gives up: the row turns `failed` while we poll.
    let mut r = rig(&[("DELEGATION_TIMEOUT", "20")]);
    fast_polling(&mut r);
    r.sim.set_peer(PEER, Peer::Queued);
    let r = Arc::new(r);
    let caller = {
        let r = r.clone();
        thread::spawn(move || {
            r.failed(
                "delegate_task",
                json!({"workspace_id": PEER, "task": "doomed"}),
            )
        })
    };
    let deadline = Instant::now() + QUICK;
    let id = loop {
        let filed = r.sim.delegations(WS);
        if let Some(id) = filed.first().and_then(|d| d["delegation_id"].as_str()) {
            break id.to_string();
        }
        assert!(Instant::now() < deadline, "the delegation was never filed");
        thread::sleep(Duration::from_millis(20));
    };
    assert!(r.sim.fail_delegation(&id, "out of ideas"));
    let text = caller.join().expect("join");
    has(
        &text,
        &["did not complete the task", "out of ideas", id.as_str()],
    );
}

#[test]
fn delegate_task_retries_a_busy_peer_after_retry_after() {
    let r = rig(&[]);
    let a2a = path(&["workspaces", PEER, "a2a"]);
    r.sim.script("POST", &a2a, vec![raw_503_retry_after(2)]);
    let started = Instant::now();
    let text = r.ok(
        "delegate_task",
        json!({"workspace_id": PEER, "task": "ping"}),
    );
    let took = started.elapsed();
    has(&text, &["echo: ping"]);
    let sent = r.sim.requests_to(&a2a);
    assert_eq!(sent.len(), 2);
    // The retry carries the same message, so the peer can tell it is one.
    assert_eq!(sent[0].json(), sent[1].json());
    assert!(
        took >= Duration::from_millis(1900),
        "Retry-After not honoured: {took:?}"
    );
    assert!(took < Duration::from_secs(8), "{took:?}");
}

#[test]
fn delegate_task_never_resends_after_a_drop_and_gives_up_on_a_long_retry_after() {
    let r = rig(&[]);
    let a2a = path(&["workspaces", PEER, "a2a"]);
    // The connection drops after the request arrived: the peer may have the
    // task already, so sending it again could deliver it twice.
    r.sim.script("POST", &a2a, vec![Reply::Close]);
    let text = r.failed(
        "delegate_task",
        json!({"workspace_id": PEER, "task": "again"}),
    );
    has(&text, &["could not be reached"]);
    assert_eq!(r.sim.requests_to(&a2a).len(), 1);

    // A wait longer than the whole budget is not waited out.
    r.sim.clear_requests();
    r.sim.script("POST", &a2a, vec![raw_503_retry_after(3600)]);
    let started = Instant::now();
    let text = r.failed("delegate_task", json!({"workspace_id": PEER, "task": "x"}));
    has(&text, &["not available", "Retry in 3600 s"]);
    assert!(started.elapsed() < QUICK);
    assert_eq!(r.sim.requests_to(&a2a).len(), 1);
}

/// Runs `delegate_task` on a thread, cancels it after `delay`, and returns
/// the result and how long after the cancel it came.
fn cancel_delegation(r: Arc<Rig>, delay: Duration) -> (Value, Duration) {
    let token = CancelToken::new();
    let (tx, rx) = crossbeam_channel::bounded(1);
    {
        let token = token.clone();
        thread::spawn(move || {
            let result = r.tools.call(
                "delegate_task",
                args(json!({"workspace_id": PEER, "task": "forever"})),
                &context(&token),
            );
            let _ = tx.send(result);
        });
    }
    thread::sleep(delay);
    let cancelled_at = Instant::now();
    token.cancel(CancelReason::Client);
    let result = wait_for(&rx, Duration::from_secs(10)).expect("delegate_task ended");
    (result.expect("a result"), cancelled_at.elapsed())
}

fn wait_for<T>(rx: &Receiver<T>, timeout: Duration) -> Option<T> {
    select! {
        recv(rx) -> v => v.ok(),
        recv(after(timeout)) -> _ => None,
    }
}

#[test]
fn cancelling_ends_the_delegation_wait_at_once() {
    let r = rig(&[("DELEGATION_TIMEOUT", "60")]);
    r.sim.set_peer(PEER, Peer::Queued);
    let (result, after_cancel) = cancel_delegation(Arc::new(r), Duration::from_millis(400));
    has(&err_text(&result), &["cancelled", "stays delegated"]);
    assert!(after_cancel < Duration::from_secs(1), "{after_cancel:?}");
}

#[test]
fn cancelling_abandons_a_hanging_a2a_request() {
    let r = rig(&[]);
    r.sim.script(
        "POST",
        &path(&["workspaces", PEER, "a2a"]),
        vec![Reply::Hang(Duration::from_secs(20))],
    );
    let (result, after_cancel) = cancel_delegation(Arc::new(r), Duration::from_millis(400));
    has(&err_text(&result), &["cancelled"]);
    assert!(after_cancel < Duration::from_secs(1), "{after_cancel:?}");
}

// ---------------------------------------------------------------- async delegation and status

#[test]
fn delegate_task_async_is_idempotent_and_check_task_status_follows_it() {
    let r = rig(&[]);
    r.sim.set_peer(PEER, Peer::Queued);
    let first = r
        .call(
            "delegate_task_async",
            json!({"workspace_id": PEER, "task": "report"}),
        )
        .expect("a result");
    ok_text(&first);
    let started = &first["structuredContent"];
    let id = started["delegation_id"]
        .as_str()
        .expect("delegation_id")
        .to_string();
    assert_eq!(started["workspace_id"], PEER);
    assert_eq!(started["status"], "delegated");
    // The same task again: the platform's idempotent hit is a success.
    let again = r
        .call(
            "delegate_task_async",
            json!({"workspace_id": PEER, "task": "report"}),
        )
        .expect("a result");
    ok_text(&again);
    assert_eq!(again["structuredContent"]["delegation_id"], id.as_str());
    assert_eq!(r.sim.delegations(WS).len(), 1);
    let keys: Vec<Value> = r
        .sim
        .requests_to(&path(&["workspaces", WS, "delegate"]))
        .iter()
        .filter_map(|q| q.json().map(|b| b["idempotency_key"].clone()))
        .collect();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0], keys[1]);

    let status = |task_id: &str| {
        r.call(
            "check_task_status",
            json!({"workspace_id": PEER, "task_id": task_id}),
        )
        .expect("a result")
    };
    assert_eq!(status(&id)["structuredContent"]["status"], "pending");
    assert!(r.sim.complete_delegation(&id, "the report"));
    let done = status(&id);
    assert_eq!(done["structuredContent"]["status"], "completed");
    // What the peer wrote comes fenced as untrusted.
    let preview = done["structuredContent"]["response_preview"]
        .as_str()
        .unwrap_or_default();
    has(
        preview,
        &[
            "--- begin peer output ",
            "\nthe report\n--- end peer output ",
        ],
    );
    let missing = status("dddddddd-0000-4000-8000-000000000000");
    assert_eq!(missing["structuredContent"]["status"], "not_found");
    let listed = status("");
    assert_eq!(
        listed["structuredContent"]["delegations"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    has(
        &r.failed(
            "delegate_task_async",
            json!({"workspace_id": WS, "task": "x"}),
        ),
        &["delegate to a peer"],
    );
    r.sim.set_peer(PEER, Peer::Budget);
    has(
        &r.failed(
            "delegate_task_async",
            json!({"workspace_id": PEER, "task": "new"}),
        ),
        &["budget is exhausted"],
    );
}

// ---------------------------------------------------------------- messaging

#[test]
fn broadcast_reports_deliveries_and_a_disabled_broadcast() {
    let r = rig(&[]);
    has(
        &r.ok("broadcast_message", json!({"message": "release at 5"})),
        &["delivered to 1 peer"],
    );
    assert_eq!(
        r.sim.broadcasts(WS),
        vec![json!({"message": "release at 5"})]
    );
    r.sim.set_broadcast(WS, false);
    has(
        &r.failed("broadcast_message", json!({"message": "x"})),
        &[
            "broadcast is not enabled",
            "HTTP 403",
            "administrator can enable broadcast",
        ],
    );
}

#[test]
fn send_message_to_user_uploads_attachments_then_notifies() {
    let r = rig(&[]);
    let dir = TempDir::new("tools-lib-attach");
    let report = dir.join("report.csv");
    let bytes = b"a,b\r\n1,2\r\n--boundary-like--\r\n".to_vec();
    std::fs::write(&report, &bytes).expect("write attachment");
    let text = r.ok(
        "send_message_to_user",
        json!({"message": "here it is", "attachments": [report.display().to_string()]}),
    );
    has(&text, &["with 1 attachment"]);
    let uploads = r.sim.uploads(WS);
    assert_eq!(uploads.len(), 1);
    assert_eq!(uploads[0].name, "report.csv");
    assert_eq!(uploads[0].mime_type, "text/csv");
    assert_eq!(uploads[0].bytes, bytes);
    let notes = r.sim.notifications(WS);
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["message"], "here it is");
    let attached = &notes[0]["attachments"][0];
    assert_eq!(attached["uri"], uploads[0].uri.as_str());
    assert_eq!(attached["name"], "report.csv");
    assert_eq!(attached["mimeType"], "text/csv");
    assert_eq!(attached["size"], bytes.len());

    has(
        &r.ok("send_message_to_user", json!({"message": "plain"})),
        &["Message sent"],
    );
    assert_eq!(r.sim.notifications(WS)[1], json!({"message": "plain"}));
}

#[test]
fn send_message_to_user_refuses_bad_attachments_before_sending_anything() {
    let r = rig(&[]);
    let dir = TempDir::new("tools-lib-attach-bad");
    let missing = dir.join("gone.pdf").display().to_string();
    let rows: [(Value, &str); 3] = [
        (json!(["relative/file.txt"]), "not an absolute path"),
        (json!([missing]), "does not exist"),
        (
            json!([dir.path().display().to_string()]),
            "not a regular file",
        ),
    ];
    for (attachments, needle) in rows {
        has(
            &r.failed(
                "send_message_to_user",
                json!({"message": "m", "attachments": attachments}),
            ),
            &[needle],
        );
    }
    assert!(r.sim.requests().is_empty(), "{:?}", r.sim.requests());
}

#[test]
fn send_message_to_user_says_to_reply_by_delegation_when_talking_to_users_is_off() {
    let r = rig(&[]);
    r.sim.set_talk_to_user(WS, false);
    has(
        &r.failed("send_message_to_user", json!({"message": "hello"})),
        &[
            "talk_to_user_disabled",
            "delegate_task",
            "reply through the peer that asked",
        ],
    );
    r.sim.set_talk_to_user(WS, true);
    r.sim.script(
        "POST",
        &path(&["workspaces", WS, "chat", "uploads"]),
        vec![Reply::status(500, "disk full")],
    );
    let dir = TempDir::new("tools-lib-attach-500");
    let file = dir.join("a.txt");
    std::fs::write(&file, "x").expect("write");
    has(
        &r.failed(
            "send_message_to_user",
            json!({"message": "m", "attachments": [file.display().to_string()]}),
        ),
        &["HTTP 500", "disk full"],
    );
    assert!(r.sim.notifications(WS).is_empty());
}

// ---------------------------------------------------------------- history and memory

#[test]
fn chat_history_is_oldest_first_in_both_directions() {
    let r = rig(&[]);
    r.sim.inject_peer(WS, PEER, "first from the peer");
    thread::sleep(Duration::from_millis(5));
    r.ok(
        "delegate_task",
        json!({"workspace_id": PEER, "task": "second, mine"}),
    );
    let text = r.ok("chat_history", json!({"peer_id": PEER, "limit": 1000}));
    let first = text
        .find("first from the peer")
        .expect("peer message listed");
    let second = text.find("you → ").expect("own message listed");
    let reply = text.find("echo: second, mine").expect("reply listed");
    assert!(first < second && second < reply, "{text}");
    has(
        &text,
        &["--- begin peer output ", "(untrusted) ---", "oldest first"],
    );
    let asked = r.sim.requests_to(&path(&["workspaces", WS, "activity"]));
    let last = asked.last().expect("a history request");
    assert_eq!(last.query_param("peer_id").as_deref(), Some(PEER));
    assert_eq!(last.query_param("limit").as_deref(), Some("500"));
    assert_eq!(last.query_param("before_ts"), None);

    let old = r.ok(
        "chat_history",
        json!({"peer_id": PEER, "before_ts": "2001-01-01T00:00:00Z"}),
    );
    has(&old, &["No messages"]);
    let asked = r.sim.requests_to(&path(&["workspaces", WS, "activity"]));
    let last = asked.last().expect("a history request");
    assert_eq!(
        last.query_param("before_ts").as_deref(),
        Some("2001-01-01T00:00:00Z")
    );
    assert_eq!(last.query_param("limit").as_deref(), Some("20"));
}

#[test]
fn memories_are_committed_redacted_and_recalled_as_lines() {
    let r = rig(&[]);
    let saved = r.ok(
        "commit_memory",
        json!({"content": "deploy key: token=supersecretvalue123 for prod", "scope": "team"}),
    );
    has(&saved, &["scope TEAM", "masked"]);
    let stored = r.sim.memories(WS);
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["scope"], "TEAM");
    let content = stored[0]["content"].as_str().unwrap_or_default();
    assert!(!content.contains("supersecretvalue123"), "{content}");
    assert!(content.contains("deploy key"), "{content}");
    has(
        &r.ok("commit_memory", json!({"content": "builds use make"})),
        &["scope LOCAL"],
    );
    let sent = r.sim.requests_to(&path(&["workspaces", WS, "memories"]));
    assert_eq!(
        sent[1].json().map(|b| b["workspace_id"].clone()),
        Some(json!(WS))
    );

    let all = r.ok("recall_memory", json!({}));
    has(&all, &["[TEAM] deploy key", "[LOCAL] builds use make"]);
    let some = r.ok("recall_memory", json!({"query": "MAKE", "scope": "LOCAL"}));
    assert_eq!(some, "[LOCAL] builds use make");
    let asked = r.sim.requests_to(&path(&["workspaces", WS, "memories"]));
    let last = asked.last().expect("a recall request");
    assert_eq!(last.query_param("q").as_deref(), Some("MAKE"));
    assert_eq!(last.query_param("scope").as_deref(), Some("LOCAL"));
    assert_eq!(last.query_param("workspace_id").as_deref(), Some(WS));
    has(
        &r.ok("recall_memory", json!({"query": "nothing like this"})),
        &["No memories match"],
    );

    r.sim.script(
        "POST",
        &path(&["workspaces", WS, "memories"]),
        vec![Reply::status(503, "")],
    );
    has(
        &r.failed("commit_memory", json!({"content": "x"})),
        &["HTTP 503", "Retry later"],
    );
}

/// The query goes into the URL, percent-encoded: one too long for the
/// request line is refused with how long it may be, before any request;
/// one that fits arrives whole.
#[test]
fn a_recall_query_too_long_for_the_url_asks_to_shorten_it() {
    let r = rig(&[]);
    let memories = path(&["workspaces", WS, "memories"]);
    let long = "记".repeat(1000);
    let refused = r.failed("recall_memory", json!({"query": long}));
    has(
        &refused,
        &["query is too long", "bytes", "at most", "Shorten the query"],
    );
    assert!(!refused.contains("output too small"), "{refused}");
    assert!(r.sim.requests_to(&memories).is_empty());
    let fits = "记".repeat(700);
    has(
        &r.ok("recall_memory", json!({"query": fits})),
        &["No memories"],
    );
    let asked = r.sim.requests_to(&memories);
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].query_param("q").as_deref(), Some(fits.as_str()));
}

/// Any other argument that makes the URL too long fails as a request that
/// could not be built, not as a lost connection.
#[test]
fn a_url_too_long_for_the_request_line_is_not_a_lost_connection() {
    let r = rig(&[]);
    let before = format!("2001-01-01T00:00:00.{}Z", "1".repeat(9000));
    let refused = r.failed(
        "chat_history",
        json!({"peer_id": "peer-1", "before_ts": before}),
    );
    assert!(!refused.contains("output too small"), "{refused}");
    has(
        &refused,
        &["request line", "could not be built", "same arguments"],
    );
    assert!(r
        .sim
        .requests_to(&path(&["workspaces", WS, "activity"]))
        .is_empty());
}

// ---------------------------------------------------------------- the inbox tools

#[test]
fn inbox_tools_say_when_the_inbox_is_disabled() {
    let r = rig(&[]);
    for (tool, arguments) in [
        ("wait_for_message", json!({"timeout_secs": 0})),
        ("inbox_peek", json!({})),
        ("inbox_pop", json!({"activity_id": "x"})),
    ] {
        has(
            &r.failed(tool, arguments),
            &["inbox is disabled", "MOLECULE_MCP_DISABLE_INBOX"],
        );
    }
}

/// The real inbox, filled by the real pollers from the simulator.
struct Polling {
    shutdown: Shutdown,
    handles: Vec<thread::JoinHandle<()>>,
}

impl Drop for Polling {
    fn drop(&mut self) {
        self.shutdown.trigger();
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

fn polling_rig() -> (Rig, Polling) {
    let shutdown = Shutdown::new();
    let mut handles = Vec::new();
    let r = rig_with(&[], |config, platform| {
        let inbox = Arc::new(Inbox::open(config, platform));
        let (outbox, _) = Outbox::channel();
        let plan = PollerPlan::new(config, platform, inbox.clone(), Client::new(), outbox);
        handles = plan.spawn(&shutdown);
        Some(inbox as Arc<dyn MessageSource>)
    });
    (r, Polling { shutdown, handles })
}

#[test]
fn wait_peek_and_pop_work_on_the_real_inbox() {
    let (r, _polling) = polling_rig();
    let started = Instant::now();
    let none = r
        .call("wait_for_message", json!({"timeout_secs": 0}))
        .expect("a result");
    assert_eq!(
        none["structuredContent"],
        json!({"timeout": true, "timeout_secs": 0})
    );
    assert!(started.elapsed() < QUICK);

    let id = r.sim.inject_canvas(WS, "hello agent");
    let got = r
        .call("wait_for_message", json!({"timeout_secs": 10}))
        .expect("a result");
    ok_text(&got);
    let message = &got["structuredContent"];
    assert_eq!(message["activity_id"], id.as_str());
    assert_eq!(message["text"], "hello agent");
    assert_eq!(message["kind"], "canvas_user");

    let peeked = r.call("inbox_peek", json!({"limit": 5})).expect("a result");
    assert_eq!(
        peeked["structuredContent"]["messages"][0]["activity_id"],
        id.as_str()
    );

    let popped = r
        .call("inbox_pop", json!({"activity_id": id}))
        .expect("a result");
    assert_eq!(
        popped["structuredContent"],
        json!({"removed": true, "activity_id": id})
    );
    let again = r
        .call("inbox_pop", json!({"activity_id": id}))
        .expect("a result");
    assert_eq!(again["structuredContent"]["removed"], false);
    let empty = r.call("inbox_peek", json!({})).expect("a result");
    assert_eq!(empty["structuredContent"]["messages"], json!([]));
}

/// An inbox whose file cannot be written: every pop stays in memory only.
struct UnsavedPops;

impl MessageSource for UnsavedPops {
    fn wait(&self, _timeout: Duration, _cancel: &Receiver<()>) -> Option<Value> {
        None
    }
    fn peek(&self, _limit: usize) -> Vec<Value> {
        Vec::new()
    }
    fn pop(&self, _activity_id: &str) -> Popped {
        Popped::Unsaved
    }
    fn peer_workspace(&self, _peer_id: &str) -> Option<String> {
        None
    }
}

#[test]
fn inbox_pop_says_when_the_removal_is_not_saved_yet() {
    let r = rig_with(&[], |_, _| {
        Some(Arc::new(UnsavedPops) as Arc<dyn MessageSource>)
    });
    let id = "act-0001";
    let popped = r
        .call("inbox_pop", json!({"activity_id": id}))
        .expect("a result");
    let answer = &popped["structuredContent"];
    assert_eq!(answer["removed"], true, "{popped}");
    assert_eq!(answer["saved"], false, "{popped}");
    assert_eq!(answer["activity_id"], id);
    assert!(
        answer["warning"]
            .as_str()
            .is_some_and(|w| w.contains("restart")),
        "{popped}"
    );
}

#[test]
fn cancelling_ends_wait_for_message_at_once() {
    let (r, _polling) = polling_rig();
    let token = CancelToken::new();
    let r = Arc::new(r);
    let (tx, rx) = crossbeam_channel::bounded(1);
    {
        let (r, token) = (r.clone(), token.clone());
        thread::spawn(move || {
            let _ = tx.send(r.tools.call(
                "wait_for_message",
                args(json!({"timeout_secs": 300})),
                &context(&token),
            ));
        });
    }
    thread::sleep(Duration::from_millis(300));
    let cancelled_at = Instant::now();
    token.cancel(CancelReason::Client);
    let result = wait_for(&rx, Duration::from_secs(5))
        .expect("wait ended")
        .expect("a result");
    assert!(cancelled_at.elapsed() < Duration::from_secs(1));
    has(&err_text(&result), &["cancelled"]);
}

// ---------------------------------------------------------------- routing in multi-workspace mode

/// An inbox that knows which workspace each peer wrote to.
struct SeenPeers(Mutex<HashMap<String, String>>);

impl MessageSource for SeenPeers {
    fn wait(&self, _timeout: Duration, _cancel: &Receiver<()>) -> Option<Value> {
        None
    }
    fn peek(&self, _limit: usize) -> Vec<Value> {
        Vec::new()
    }
    fn pop(&self, _activity_id: &str) -> Popped {
        Popped::NotPending
    }
    fn peer_workspace(&self, peer_id: &str) -> Option<String> {
        self.0.lock().ok()?.get(peer_id).cloned()
    }
}

#[test]
fn calls_act_as_the_workspace_the_peer_wrote_to_unless_told_otherwise() {
    let seen = SeenPeers(Mutex::new(HashMap::from([(
        PEER.to_string(),
        WS2.to_string(),
    )])));
    let r = multi_rig(Some(Arc::new(seen)));
    let a2a = path(&["workspaces", PEER, "a2a"]);

    r.ok("delegate_task", json!({"workspace_id": PEER, "task": "t1"}));
    let sent = r.sim.requests_to(&a2a);
    assert_eq!(sent[0].header("x-workspace-id"), Some(WS2));
    assert_eq!(
        sent[0].header("authorization"),
        Some(format!("Bearer {TOKEN2}").as_str())
    );

    r.ok(
        "delegate_task",
        json!({"workspace_id": PEER, "task": "t2", "source_workspace_id": WS}),
    );
    let sent = r.sim.requests_to(&a2a);
    assert_eq!(sent[1].header("x-workspace-id"), Some(WS));
    assert_eq!(
        sent[1].header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );

    // Not peer-directed: the primary workspace.
    r.ok("commit_memory", json!({"content": "note"}));
    assert_eq!(r.sim.memories(WS).len(), 1);
    // update_agent_card always acts as the primary workspace.
    r.ok("update_agent_card", json!({"card": {"name": "n"}}));
    assert_eq!(r.sim.agent_card(WS), Some(json!({"name": "n"})));

    let message = r.invalid(
        "delegate_task",
        json!({"workspace_id": PEER, "task": "x", "source_workspace_id": PEER}),
    );
    has(&message, &[WS, WS2]);
}

#[test]
fn list_peers_covers_every_workspace_in_multi_mode() {
    let r = multi_rig(None);
    r.sim.set_profile(WS2, "Second", "agent");
    let text = r.ok("list_peers", json!({}));
    let first = format!("Peers of workspace {WS} (2)");
    let second = format!("Peers of workspace {WS2} (2)");
    has(&text, &[first.as_str(), second.as_str(), "Second", PEER]);
    // One workspace failing does not hide the other's peers.
    r.sim.script(
        "GET",
        &path(&["registry", WS2, "peers"]),
        vec![Reply::json(401, json!({}))],
    );
    let text = r.ok("list_peers", json!({}));
    has(&text, &[PEER, "HTTP 401", "Tokens tab"]);
    // Asked for one workspace: only that one.
    let one = r.ok("list_peers", json!({"source_workspace_id": WS2}));
    has(&one, &[format!("Peers of workspace {WS2}").as_str()]);
    assert!(!one.contains(&format!("Peers of workspace {WS} ")), "{one}");
}
