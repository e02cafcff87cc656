//! The platform simulator keeps the platform's contract: these tests talk
//! to it with a plain HTTP client, as the binary will.

mod support;

use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::sim::{InboxRow, Peer, Reply, Simulator};

const WS: &str = "11111111-2222-4333-8444-555555555555";
const PEER: &str = "99999999-8888-4777-8666-555555555555";

struct Resp {
    status: u16,
    retry_after: Option<String>,
    body: String,
}

impl Resp {
    fn json(&self) -> Value {
        match serde_json::from_str(&self.body) {
            Ok(v) => v,
            Err(e) => panic!("not JSON ({e}): {:?}", self.body),
        }
    }
}

/// A client that sends what the binary sends: bearer, Origin, JSON.
struct Client {
    base: String,
    agent: ureq::Agent,
    token: Option<String>,
}

impl Client {
    fn new(sim: &Simulator, token: Option<&str>) -> Client {
        Client::with_timeout(sim, token, Duration::from_secs(5))
    }

    fn with_timeout(sim: &Simulator, token: Option<&str>, timeout: Duration) -> Client {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .build()
            .into();
        Client {
            base: sim.url(),
            agent,
            token: token.map(str::to_string),
        }
    }

    fn get(&self, path: &str) -> Result<Resp, ureq::Error> {
        let mut req = self
            .agent
            .get(format!("{}{path}", self.base))
            .header("Origin", &self.base);
        if let Some(t) = &self.token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        read(req.call()?)
    }

    fn post(&self, path: &str, body: &Value) -> Result<Resp, ureq::Error> {
        let mut req = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("Origin", &self.base)
            .header("X-Workspace-ID", WS)
            .content_type("application/json");
        if let Some(t) = &self.token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        read(req.send(body.to_string())?)
    }
}

fn read(mut resp: ureq::http::Response<ureq::Body>) -> Result<Resp, ureq::Error> {
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = resp
        .body_mut()
        .with_config()
        .limit(16 * 1024 * 1024)
        .read_to_string()?;
    Ok(Resp {
        status,
        retry_after,
        body,
    })
}

fn ok(r: Result<Resp, ureq::Error>) -> Resp {
    match r {
        Ok(r) => r,
        Err(e) => panic!("request failed: {e}"),
    }
}

fn register_body(id: &str) -> Value {
    json!({"id": id, "url": "", "agent_card": {"name": "tester", "skills": []}, "delivery_mode": "poll"})
}

fn heartbeat_body(id: &str) -> Value {
    json!({"workspace_id": id, "error_rate": 0.0, "sample_error": "", "active_tasks": 0, "uptime_seconds": 1})
}

#[test]
fn first_registration_mints_a_token_that_is_required_from_then_on() {
    let sim = Simulator::start();
    sim.add_workspace(WS, None);
    sim.set_inbound_secret(WS, "secret-1");

    let first = ok(Client::new(&sim, None).post("/registry/register", &register_body(WS)));
    assert_eq!(first.status, 200, "{}", first.body);
    let first = first.json();
    assert_eq!(first["status"], "registered");
    assert_eq!(first["platform_inbound_secret"], "secret-1");
    let token = first["auth_token"].as_str().unwrap_or_default().to_string();
    assert!(!token.is_empty(), "first registration must mint: {first}");
    assert_eq!(sim.token(WS).as_deref(), Some(token.as_str()));
    assert!(sim.is_registered(WS));

    let anonymous = Client::new(&sim, None);
    let again = ok(anonymous.post("/registry/register", &register_body(WS)));
    assert_eq!(again.status, 401);
    assert!(again.json()["error"].is_string());
    assert_eq!(
        ok(anonymous.post("/registry/heartbeat", &heartbeat_body(WS))).status,
        401
    );
    let wrong = Client::new(&sim, Some("not-the-token"));
    assert_eq!(
        ok(wrong.post("/registry/heartbeat", &heartbeat_body(WS))).status,
        401
    );

    let owner = Client::new(&sim, Some(&token));
    let again = ok(owner.post("/registry/register", &register_body(WS)));
    assert_eq!(again.status, 200);
    assert!(again.json().get("auth_token").is_none(), "minted only once");
    let beat = ok(owner.post("/registry/heartbeat", &heartbeat_body(WS)));
    assert_eq!(beat.status, 200);
    assert_eq!(beat.json()["platform_inbound_secret"], "secret-1");
    assert_eq!(sim.heartbeat_count(WS), 1);

    let unknown = ok(owner.post("/registry/heartbeat", &heartbeat_body(PEER)));
    assert_eq!(unknown.status, 404);
}

#[test]
fn a_rotated_token_replaces_the_old_one() {
    let sim = Simulator::start();
    sim.add_workspace(WS, Some("old"));
    sim.set_token(WS, "new");
    let old = Client::new(&sim, Some("old"));
    let new = Client::new(&sim, Some("new"));
    assert_eq!(
        ok(old.post("/registry/heartbeat", &heartbeat_body(WS))).status,
        401
    );
    assert_eq!(
        ok(new.post("/registry/heartbeat", &heartbeat_body(WS))).status,
        200
    );
}

#[test]
fn platform_paths_need_the_origin_header_unless_switched_off() {
    let sim = Simulator::start();
    sim.add_workspace(WS, Some("tok"));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let bare = |path: &str| {
        let mut resp = match agent
            .get(format!("{}{path}", sim.url()))
            .header("Authorization", "Bearer tok")
            .call()
        {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        };
        let body = resp.body_mut().read_to_string().unwrap_or_default();
        (resp.status().as_u16(), body)
    };
    assert_eq!(bare(&format!("/workspaces/{WS}")), (404, String::new()));
    assert_eq!(bare("/health").0, 200);
    sim.set_require_origin(false);
    assert_eq!(bare(&format!("/workspaces/{WS}")).0, 200);
}

#[test]
fn a_deleted_workspace_is_gone_and_its_tokens_are_revoked() {
    let sim = Simulator::start();
    sim.add_workspace(WS, Some("tok"));
    let c = Client::new(&sim, Some("tok"));
    assert_eq!(ok(c.get(&format!("/workspaces/{WS}"))).status, 200);

    sim.delete_workspace(WS);
    let gone = ok(c.get(&format!("/workspaces/{WS}")));
    assert_eq!(gone.status, 410);
    let gone = gone.json();
    assert_eq!(gone["error"], "workspace removed");
    assert_eq!(gone["id"], WS);
    assert!(gone["removed_at"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));
    assert!(gone["hint"].is_string());
    assert_eq!(
        ok(c.post("/registry/heartbeat", &heartbeat_body(WS))).status,
        401
    );
    assert_eq!(
        ok(c.post("/registry/register", &register_body(WS))).status,
        401
    );
}

fn ids(rows: &Value) -> Vec<String> {
    rows.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn inbox_pages_forward_from_a_cursor_and_backward_from_a_window() {
    let sim = Simulator::start();
    sim.add_workspace(WS, Some("tok"));
    let c = Client::new(&sim, Some("tok"));
    let old = sim.inject_message(
        WS,
        InboxRow::canvas("too old").age(Duration::from_secs(1200)),
    );
    let a = sim.inject_canvas(WS, "hello from the canvas");
    let b = sim.inject_peer(WS, PEER, "hello from a peer");
    let d = sim.inject_delegate_result(WS, "the result");

    let window = ok(c.get(&format!(
        "/workspaces/{WS}/activity?type=a2a_receive&since_secs=600"
    )));
    assert_eq!(window.status, 200);
    assert_eq!(
        ids(&window.json()),
        [&*d, &*b, &*a],
        "newest first, old excluded"
    );

    let after = ok(c.get(&format!(
        "/workspaces/{WS}/activity?type=a2a_receive&since_id={old}"
    )))
    .json();
    assert_eq!(
        ids(&after),
        [&*a, &*b, &*d],
        "oldest first after the cursor"
    );
    let canvas = &after[0];
    for field in [
        "id",
        "workspace_id",
        "activity_type",
        "source_id",
        "target_id",
        "method",
        "summary",
        "request_body",
        "response_body",
        "status",
        "created_at",
        "seq",
    ] {
        assert!(canvas.get(field).is_some(), "row lacks {field}: {canvas}");
    }
    assert_eq!(canvas["activity_type"], "a2a_receive");
    assert!(canvas["source_id"].is_null());
    assert_eq!(canvas["method"], "message/send");
    assert_eq!(
        canvas["request_body"]["params"]["message"]["parts"][0]["text"],
        "hello from the canvas"
    );
    assert_eq!(after[1]["source_id"], PEER);
    assert_eq!(after[2]["method"], "delegate_result");
    assert!(after[1]["seq"].as_i64() > after[0]["seq"].as_i64());

    assert!(sim.drop_row(&old));
    let lost = ok(c.get(&format!(
        "/workspaces/{WS}/activity?type=a2a_receive&since_id={old}"
    )));
    assert_eq!(lost.status, 410);

    sim.set_rows_have_seq(false);
    let rows = ok(c.get(&format!("/workspaces/{WS}/activity?since_id={a}"))).json();
    assert_eq!(ids(&rows), [&*b, &*d]);
    assert!(rows[0].get("seq").is_none());
}

#[test]
fn inbox_answers_at_most_100_rows() {
    let sim = Simulator::start();
    sim.add_workspace(WS, Some("tok"));
    let first = sim.inject_canvas(WS, "m0");
    for i in 1..130 {
        sim.inject_canvas(WS, &format!("m{i}"));
    }
    let c = Client::new(&sim, Some("tok"));
    let window = ok(c.get(&format!(
        "/workspaces/{WS}/activity?type=a2a_receive&since_secs=600"
    )))
    .json();
    assert_eq!(window.as_array().map(Vec::len), Some(100));
    assert_eq!(window[0]["summary"], "m129");
    let page = ok(c.get(&format!(
        "/workspaces/{WS}/activity?type=a2a_receive&since_id={first}"
    )))
    .json();
    assert_eq!(page.as_array().map(Vec::len), Some(100));
    assert_eq!(page[0]["summary"], "m1");
}

#[test]
fn scripted_replies_are_consumed_in_order_then_normal_behaviour_resumes() {
    let sim = Simulator::start();
    sim.add_workspace(WS, Some("tok"));
    sim.script(
        "POST",
        "/registry/heartbeat",
        vec![
            Reply::status(401, "revoked"),
            Reply::raw(200, "text/html", "<html>edge</html>"),
            Reply::Close,
            Reply::Hang(Duration::from_millis(300)),
            Reply::Json(200, json!([1, 2])),
        ],
    );
    let c = Client::with_timeout(&sim, Some("tok"), Duration::from_secs(3));
    let beat = || c.post("/registry/heartbeat", &heartbeat_body(WS));

    let r = ok(beat());
    assert_eq!((r.status, r.body.as_str()), (401, "revoked"));
    let r = ok(beat());
    assert_eq!((r.status, r.body.as_str()), (200, "<html>edge</html>"));
    assert!(beat().is_err(), "a dropped connection is a transport error");
    let started = Instant::now();
    assert!(beat().is_err(), "a hang ends with the connection dropped");
    assert!(started.elapsed() >= Duration::from_millis(250));
    assert_eq!(ok(beat()).json(), json!([1, 2]));
    let normal = ok(beat());
    assert_eq!(normal.status, 200);
    assert!(normal.json()["platform_inbound_secret"].is_string());
    assert_eq!(
        sim.heartbeat_count(WS),
        1,
        "only the last beat reached the platform"
    );
    assert_eq!(sim.requests_to("/registry/heartbeat").len(), 6);

    // A sticky script answers every match until cleared; the latest wins.
    sim.script_always("*", "/workspaces/*", Reply::status(500, "down"));
    sim.script_always("GET", "/workspaces/*", Reply::status(503, "busy"));
    assert_eq!(ok(c.get(&format!("/workspaces/{WS}"))).status, 503);
    assert_eq!(ok(c.get(&format!("/workspaces/{WS}"))).status, 503);
    sim.clear_scripts();
    assert_eq!(ok(c.get(&format!("/workspaces/{WS}"))).status, 200);
}

#[test]
fn a_large_raw_body_arrives_whole() {
    let sim = Simulator::start();
    let big = vec![b'x'; 5 * 1024 * 1024];
    sim.script("GET", "/health", vec![Reply::raw(200, "text/plain", big)]);
    let r = ok(Client::new(&sim, None).get("/health"));
    assert_eq!(r.body.len(), 5 * 1024 * 1024);
}

#[test]
fn a_delay_answers_normally_afterwards() {
    let sim = Simulator::start();
    sim.script(
        "GET",
        "/health",
        vec![Reply::Delay(Duration::from_millis(200))],
    );
    let started = Instant::now();
    let r = ok(Client::new(&sim, None).get("/health"));
    assert_eq!(r.json()["status"], "ok");
    assert!(started.elapsed() >= Duration::from_millis(150));
}

#[test]
fn dropping_the_simulator_ends_a_hanging_request_promptly() {
    let sim = Simulator::start();
    sim.script("GET", "/health", vec![Reply::Hang(Duration::from_secs(60))]);
    let c = Client::with_timeout(&sim, None, Duration::from_secs(30));
    let caller = thread::spawn(move || (c.get("/health").is_err(), Instant::now()));
    assert!(sim.wait_for_requests("/health", 1, Duration::from_secs(5)));
    let started = Instant::now();
    drop(sim);
    let dropped = started.elapsed();
    assert!(
        dropped < Duration::from_millis(1500),
        "drop took {dropped:?}"
    );
    let Ok((failed, ended)) = caller.join() else {
        panic!("the caller thread panicked");
    };
    assert!(failed, "the held request must fail, not get an answer");
    let held = ended.duration_since(started);
    assert!(
        held < Duration::from_millis(1500),
        "released after {held:?}"
    );
}

#[test]
fn requests_are_recorded_with_headers_query_and_body() {
    let sim = Simulator::start();
    sim.add_workspace(WS, Some("tok"));
    let c = Client::new(&sim, Some("tok"));
    let body = json!({"content": "remember me", "scope": "TEAM", "workspace_id": WS});
    assert_eq!(
        ok(c.post(&format!("/workspaces/{WS}/memories"), &body)).status,
        201
    );
    ok(c.get(&format!(
        "/workspaces/{WS}/memories?q=REMEMBER%20me&scope=TEAM"
    )));

    let posts = sim.requests_to(&format!("/workspaces/{WS}/memories"));
    assert_eq!(posts.len(), 2);
    let post = &posts[0];
    assert_eq!(post.method, "POST");
    assert_eq!(post.header("Authorization"), Some("Bearer tok"));
    assert_eq!(post.header("x-workspace-id"), Some(WS));
    assert_eq!(post.header("origin"), Some(sim.url().as_str()));
    assert_eq!(post.header("content-type"), Some("application/json"));
    assert!(post.headers.iter().all(|(n, _)| *n == n.to_lowercase()));
    assert_eq!(post.json(), Some(body));
    assert_eq!(posts[1].query_param("q").as_deref(), Some("REMEMBER me"));
    assert!(posts[0].at <= posts[1].at);
    assert_eq!(sim.requests_to("/workspaces/*").len(), 2);
    assert_eq!(sim.requests().len(), 2);
}

#[test]
fn memories_filter_by_scope_and_query() {
    let sim = Simulator::start();
    sim.add_workspace(WS, Some("tok"));
    sim.add_workspace(PEER, Some("peer-tok"));
    let me = Client::new(&sim, Some("tok"));
    let peer = Client::new(&sim, Some("peer-tok"));
    let commit = |c: &Client, ws: &str, content: &str, scope: &str| {
        let body = json!({"content": content, "scope": scope, "workspace_id": ws});
        ok(c.post(&format!("/workspaces/{ws}/memories"), &body))
    };
    let local = commit(&me, WS, "my local Fact", "LOCAL").json();
    assert_eq!(local["scope"], "LOCAL");
    assert!(local["id"].is_string() && local["namespace"].is_string());
    commit(&peer, PEER, "peer local fact", "LOCAL");
    commit(&peer, PEER, "team fact", "TEAM");
    assert_eq!(commit(&me, WS, "x", "PLANET").status, 400);

    let all = ok(me.get(&format!("/workspaces/{WS}/memories?q=fact"))).json();
    let contents: Vec<&str> = all
        .as_array()
        .map(|a| a.iter().filter_map(|m| m["content"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(contents, ["team fact", "my local Fact"]);
    let team = ok(me.get(&format!("/workspaces/{WS}/memories?scope=TEAM"))).json();
    assert_eq!(team.as_array().map(Vec::len), Some(1));
}

#[test]
fn a_repeated_idempotency_key_is_a_hit_not_a_second_delegation() {
    let sim = Simulator::start();
    sim.add_workspace(WS, Some("tok"));
    sim.add_workspace(PEER, None);
    let c = Client::new(&sim, Some("tok"));
    let body = json!({"target_id": PEER, "task": "summarise", "idempotency_key": "k1"});
    let first = ok(c.post(&format!("/workspaces/{WS}/delegate"), &body));
    assert_eq!(first.status, 202);
    let first = first.json();
    assert_eq!(first["status"], "delegated");
    assert_eq!(first["target_id"], PEER);
    let id = first["delegation_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();

    let again = ok(c.post(&format!("/workspaces/{WS}/delegate"), &body));
    assert_eq!(again.status, 200);
    let again = again.json();
    assert_eq!(again["idempotent_hit"], true);
    assert_eq!(again["delegation_id"], id.as_str());

    let other = json!({"target_id": PEER, "task": "other", "idempotency_key": "k2"});
    assert_eq!(
        ok(c.post(&format!("/workspaces/{WS}/delegate"), &other)).status,
        202
    );
    let rows = ok(c.get(&format!("/workspaces/{WS}/delegations"))).json();
    assert_eq!(rows.as_array().map(Vec::len), Some(2));
    assert_eq!(rows[0]["summary"], "other", "newest first");
    assert_eq!(rows[1]["status"], "pending");

    assert!(sim.complete_delegation(&id, "here is the summary"));
    let rows = ok(c.get(&format!("/workspaces/{WS}/delegations"))).json();
    assert_eq!(rows[1]["status"], "completed");
    assert_eq!(rows[1]["response_preview"], "here is the summary");
    let inbox = ok(c.get(&format!(
        "/workspaces/{WS}/activity?type=a2a_receive&since_secs=600"
    )))
    .json();
    assert_eq!(inbox[0]["method"], "delegate_result");
    assert_eq!(inbox[0]["summary"], "here is the summary");
}

#[test]
fn delegations_complete_by_themselves_when_a_delay_is_set() {
    let sim = Simulator::start();
    sim.add_workspace(WS, Some("tok"));
    sim.add_workspace(PEER, None);
    sim.set_peer(PEER, Peer::Reply("done it".into()));
    sim.set_delegation_delay(Some(Duration::from_millis(100)));
    let c = Client::new(&sim, Some("tok"));
    let body = json!({"target_id": PEER, "task": "t", "idempotency_key": "k"});
    ok(c.post(&format!("/workspaces/{WS}/delegate"), &body));
    let path = format!("/workspaces/{WS}/delegations");
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut row = Value::Null;
    while Instant::now() < deadline {
        row = ok(c.get(&path)).json()[0].clone();
        if row["status"] == "completed" {
            break;
        }
        thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(row["status"], "completed");
    assert_eq!(row["response_preview"], "done it");
}

#[test]
fn peers_answer_a2a_as_their_behaviour_says() {
    let sim = Simulator::start();
    sim.add_workspace(WS, Some("tok"));
    sim.add_workspace(PEER, None);
    let c = Client::new(&sim, Some("tok"));
    let send = |task: &str| {
        let body = json!({"jsonrpc": "2.0", "id": "r1", "method": "message/send",
            "params": {"message": {"role": "user", "messageId": "m1",
                "parts": [{"kind": "text", "text": task}]}}});
        ok(c.post(&format!("/workspaces/{PEER}/a2a"), &body))
    };

    let echo = send("ping").json();
    assert_eq!(echo["id"], "r1");
    assert_eq!(echo["result"]["parts"][0]["text"], "echo: ping");
    assert_eq!(
        sim.activity(PEER)[0]["source_id"],
        WS,
        "delivered to the peer"
    );

    sim.set_peer(PEER, Peer::PollMode);
    let queued = send("later").json();
    assert_eq!(
        (&queued["status"], &queued["delivery_mode"]),
        (&json!("queued"), &json!("poll"))
    );
    sim.set_peer(PEER, Peer::Queued);
    assert_eq!(send("x").json()["queued"], true);
    sim.set_peer(
        PEER,
        Peer::Busy {
            retry_after_secs: 7,
        },
    );
    let busy = send("x");
    assert_eq!((busy.status, busy.retry_after.as_deref()), (503, Some("7")));
    sim.set_peer(PEER, Peer::Budget);
    assert_eq!(send("x").status, 402);
    sim.set_peer(PEER, Peer::Forbidden);
    assert_eq!(send("x").status, 403);
    assert_eq!(ok(c.get(&format!("/registry/discover/{PEER}"))).status, 403);
    sim.set_peer(PEER, Peer::Echo);
    let found = ok(c.get(&format!("/registry/discover/{PEER}"))).json();
    assert_eq!(found["id"], PEER);
    assert_eq!(
        ok(c.get("/registry/discover/00000000-0000-4000-8000-000000000000")).status,
        404
    );

    let peers = ok(c.get(&format!("/registry/{WS}/peers"))).json();
    assert_eq!(ids(&peers), [PEER]);
    assert!(peers[0].get("agent_card").is_some() && peers[0].get("status").is_some());
}

#[test]
fn chat_history_lists_both_directions_newest_first() {
    let sim = Simulator::start();
    sim.add_workspace(WS, Some("tok"));
    sim.add_workspace(PEER, None);
    sim.inject_message(
        WS,
        InboxRow::peer(PEER, "first").age(Duration::from_secs(60)),
    );
    let c = Client::new(&sim, Some("tok"));
    let body = json!({"jsonrpc": "2.0", "id": "r", "method": "message/send",
        "params": {"message": {"role": "user", "messageId": "m",
            "parts": [{"kind": "text", "text": "second"}]}}});
    ok(c.post(&format!("/workspaces/{PEER}/a2a"), &body));

    let history = ok(c.get(&format!(
        "/workspaces/{WS}/activity?peer_id={PEER}&limit=10"
    )))
    .json();
    let summaries: Vec<&str> = history
        .as_array()
        .map(|a| a.iter().filter_map(|r| r["summary"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(summaries, ["second", "first"]);
    let before = history[0]["created_at"].as_str().unwrap_or_default();
    let earlier = ok(c.get(&format!(
        "/workspaces/{WS}/activity?peer_id={PEER}&before_ts={before}"
    )))
    .json();
    assert_eq!(earlier.as_array().map(Vec::len), Some(1));
}

#[test]
fn notify_and_broadcast_record_or_refuse() {
    let sim = Simulator::start();
    sim.add_workspace(WS, Some("tok"));
    sim.add_workspace(PEER, None);
    let c = Client::new(&sim, Some("tok"));
    let note = json!({"message": "hi user"});
    assert_eq!(
        ok(c.post(&format!("/workspaces/{WS}/notify"), &note)).status,
        200
    );
    assert_eq!(sim.notifications(WS), vec![note.clone()]);
    let own = sim.activity(WS);
    assert_eq!(
        (&own[0]["method"], &own[0]["source_id"]),
        (&json!("notify"), &Value::Null)
    );

    sim.set_talk_to_user(WS, false);
    let refused = ok(c.post(&format!("/workspaces/{WS}/notify"), &note));
    assert_eq!(refused.status, 403);
    assert_eq!(refused.json()["error"], "talk_to_user_disabled");
    assert!(refused.json()["hint"].is_string());

    let sent = ok(c.post(&format!("/workspaces/{WS}/broadcast"), &note));
    assert_eq!(sent.json()["delivered"], 1);
    sim.set_broadcast(WS, false);
    let refused = ok(c.post(&format!("/workspaces/{WS}/broadcast"), &note));
    assert_eq!(refused.status, 403);
    assert!(refused.json()["hint"].is_string());
}

#[test]
fn acks_are_kept_or_refused_like_an_old_server() {
    let sim = Simulator::start();
    sim.add_workspace(WS, Some("tok"));
    let c = Client::new(&sim, Some("tok"));
    let path = format!("/workspaces/{WS}/activity/ack");
    let r = ok(c.post(&path, &json!({"acked_seq": 5})));
    assert_eq!((r.status, r.json()["acked_seq"].as_i64()), (200, Some(5)));
    ok(c.post(&path, &json!({"acked_seq": 3})));
    assert_eq!(sim.acked_seq(WS), Some(5), "acks never go backwards");
    sim.set_acks_supported(false);
    assert_eq!(ok(c.post(&path, &json!({"acked_seq": 9}))).status, 404);
}

#[test]
fn multipart_uploads_are_parsed_into_files() {
    let sim = Simulator::start();
    sim.add_workspace(WS, Some("tok"));
    let binary: Vec<u8> = b"\x00\x01\r\n--not-the-boundary\r\n\xff".to_vec();
    let boundary = "XyZ-boundary-123";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; \
             filename=\"notes; v2.txt\"\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; \
             filename=\"blob.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(&binary);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());

    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let resp = agent
        .post(format!("{}/workspaces/{WS}/chat/uploads", sim.url()))
        .header("Origin", sim.url())
        .header("Authorization", "Bearer tok")
        .content_type(format!("multipart/form-data; boundary={boundary}"))
        .send(&body[..]);
    let r = ok(resp.and_then(read));
    assert_eq!(r.status, 200, "{}", r.body);
    let files = r.json()["files"].clone();
    assert_eq!(files[0]["name"], "notes; v2.txt");
    assert_eq!(files[0]["size"], 5);
    assert_eq!(files[0]["mimeType"], "text/plain");
    assert!(files[0]["uri"].is_string());
    assert_eq!(files[1]["name"], "blob.bin");
    assert_eq!(files[1]["size"], binary.len());
    let stored = sim.uploads(WS);
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[1].bytes, binary);
}
