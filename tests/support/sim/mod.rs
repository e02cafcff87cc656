//! A Molecule platform simulator: a real HTTP server on 127.0.0.1 that keeps
//! the platform's wire contract (`spec/platform.md` §3–8), so tests can run
//! the real binary against it. Tests can also script failures per request
//! (status codes, garbage, hangs, dropped connections) and read back every
//! request it received.
//!
//! Each test starts its own: `let sim = Simulator::start();`. Dropping it
//! stops the server; requests held open by a scripted hang end at once.
#![allow(dead_code)]

mod activity;
mod http;
mod inbox;
mod memories;
mod messaging;
mod multipart;
mod recorded;
mod registry;
mod requests;
mod routes;
mod script;
mod state;
mod time;
mod wire;

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use http::{relock, Answer, HttpRequest, HttpServer, Stopper};
pub use inbox::InboxRow;
pub use recorded::Recorded;
use routes::Now;
pub use script::Reply;
use script::Scripts;
use state::State;
pub use state::{Peer, Upload};

struct Shared {
    state: Mutex<State>,
    recorded: Mutex<Vec<Recorded>>,
    arrived: Condvar,
    scripts: Mutex<Scripts>,
    log_requests: AtomicBool,
}

pub struct Simulator {
    shared: Arc<Shared>,
    // Dropped with the simulator: stops accepting and ends open requests.
    _server: HttpServer,
}

impl Simulator {
    /// Starts on a free port of 127.0.0.1.
    pub fn start() -> Simulator {
        match Simulator::start_on(0) {
            Ok(sim) => sim,
            Err(e) => panic!("the simulator could not bind 127.0.0.1: {e}"),
        }
    }

    pub fn start_on(port: u16) -> io::Result<Simulator> {
        // The URL is only known after binding, but the handler needs the
        // state; the state learns its URL right after the bind.
        let shared = Arc::new(Shared {
            state: Mutex::new(State::new(String::new(), salt())),
            recorded: Mutex::new(Vec::new()),
            arrived: Condvar::new(),
            scripts: Mutex::new(Scripts::default()),
            log_requests: AtomicBool::new(false),
        });
        let handler_shared = shared.clone();
        let server = HttpServer::bind(
            port,
            Arc::new(move |req: HttpRequest, stop: &Stopper| serve(&handler_shared, req, stop)),
        )?;
        let url = format!("http://127.0.0.1:{}", server.addr().port());
        relock(&shared.state).url = url;
        Ok(Simulator {
            shared,
            _server: server,
        })
    }

    /// `http://127.0.0.1:PORT`, also the `Origin` clients must send.
    pub fn url(&self) -> String {
        relock(&self.shared.state).url.clone()
    }

    pub fn port(&self) -> u16 {
        self.url()
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0)
    }

    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut relock(&self.shared.state))
    }

    fn with_ws(&self, id: &str, f: impl FnOnce(&mut state::Workspace)) {
        self.with(|st| {
            if let Some(w) = st.workspace_mut(id) {
                f(w)
            }
        })
    }

    // ---- workspaces ----

    /// Adds (or replaces) a workspace. `token: None` means it has never
    /// registered: its first registration mints a token.
    pub fn add_workspace(&self, id: &str, token: Option<&str>) {
        self.with(|st| st.add_workspace(id, token));
    }

    /// Deletes a workspace: its tokens are revoked (register and heartbeat
    /// answer 401) and `GET /workspaces/{id}` answers 410.
    pub fn delete_workspace(&self, id: &str) {
        let removed_at = time::format(SystemTime::now());
        self.with_ws(id, |w| {
            w.removed_at = Some(removed_at);
            w.token = None;
            w.status = "removed".into();
        });
    }

    /// Rotates the workspace's token: the old one stops working at once.
    pub fn set_token(&self, id: &str, token: &str) {
        self.with_ws(id, |w| w.token = Some(token.to_string()));
    }

    /// The workspace's live token (e.g. the one its first registration minted).
    pub fn token(&self, id: &str) -> Option<String> {
        self.with(|st| st.workspace(id).and_then(|w| w.token.clone()))
    }

    pub fn set_inbound_secret(&self, id: &str, secret: &str) {
        self.with_ws(id, |w| w.inbound_secret = secret.to_string());
    }

    pub fn set_profile(&self, id: &str, name: &str, role: &str) {
        self.with_ws(id, |w| {
            w.name = name.to_string();
            w.role = role.to_string();
        });
    }

    /// Limits the peers of `id` to these workspaces (by default every other
    /// live workspace is a peer).
    pub fn set_peers(&self, id: &str, peers: &[&str]) {
        let list = peers.iter().map(|p| p.to_string()).collect();
        self.with_ws(id, |w| w.peers = Some(list));
    }

    /// How `target` answers A2A calls, delegations and discovery.
    pub fn set_peer(&self, target: &str, peer: Peer) {
        self.with_ws(target, |w| w.peer = peer);
    }

    /// The configuration generation heartbeat answers carry (`None`: none).
    pub fn set_generation(&self, ws: &str, generation: Option<i64>) {
        self.with_ws(ws, |w| w.generation = generation);
    }

    pub fn set_talk_to_user(&self, ws: &str, enabled: bool) {
        self.with_ws(ws, |w| w.talk_to_user = enabled);
    }

    pub fn set_broadcast(&self, ws: &str, enabled: bool) {
        self.with_ws(ws, |w| w.broadcast = enabled);
    }

    pub fn is_registered(&self, id: &str) -> bool {
        self.with(|st| st.workspace(id).is_some_and(|w| w.registered))
    }

    pub fn heartbeat_count(&self, id: &str) -> u64 {
        self.with(|st| st.workspace(id).map_or(0, |w| w.heartbeats))
    }

    pub fn agent_card(&self, id: &str) -> Option<Value> {
        self.with(|st| st.workspace(id).map(|w| w.agent_card.clone()))
    }

    /// The highest `acked_seq` the workspace acknowledged.
    pub fn acked_seq(&self, ws: &str) -> Option<i64> {
        self.with(|st| st.workspace(ws).and_then(|w| w.acked_seq))
    }

    // ---- switches ----

    /// Whether platform paths demand `Origin: <url>` (default true).
    pub fn set_require_origin(&self, on: bool) {
        self.with(|st| st.settings.require_origin = on);
    }

    /// `false` makes `/activity/ack` answer 404, like a server without acks.
    pub fn set_acks_supported(&self, on: bool) {
        self.with(|st| st.settings.acks_supported = on);
    }

    /// `false` leaves `seq` out of activity rows, like an older server.
    pub fn set_rows_have_seq(&self, on: bool) {
        self.with(|st| st.settings.rows_have_seq = on);
    }

    /// `false` ignores `include=peer_info`, like an older server.
    pub fn set_peer_info(&self, on: bool) {
        self.with(|st| st.settings.peer_info = on);
    }

    /// Pending delegations complete by themselves after `delay` (with the
    /// target's answer text); `None` (default) waits for a test to complete
    /// them.
    pub fn set_delegation_delay(&self, delay: Option<Duration>) {
        self.with(|st| st.settings.delegation_delay = delay);
    }

    /// Whether a completed delegation also lands as a `delegate_result` row
    /// in the source's inbox (default true).
    pub fn set_delegation_results_to_inbox(&self, on: bool) {
        self.with(|st| st.settings.delegation_results_to_inbox = on);
    }

    /// Logs `METHOD path -> status` to stderr for each request (tokens and
    /// bodies are never logged).
    pub fn set_log_requests(&self, on: bool) {
        self.shared.log_requests.store(on, Ordering::Relaxed);
    }

    // ---- inbox ----

    /// Puts a row in `ws`'s inbox and returns the row id.
    pub fn inject_message(&self, ws: &str, row: InboxRow) -> String {
        let now = SystemTime::now();
        self.with(|st| {
            let body_id = st.new_id();
            let body = row
                .request_body
                .unwrap_or_else(|| inbox::default_body(&row.method, &body_id, &row.text));
            let id = st.push_row(
                ws,
                &row.activity_type,
                row.source_id,
                Some(ws.to_string()),
                &row.method,
                row.summary.as_deref().unwrap_or(&row.text),
                body,
                Value::Null,
                time::ago(now, row.age),
            );
            if let Some(list) = row.attachments {
                if let Some(r) = st.activity.iter_mut().find(|r| r.id == id) {
                    r.attachments = Some(list);
                }
            }
            id
        })
    }

    pub fn inject_canvas(&self, ws: &str, text: &str) -> String {
        self.inject_message(ws, InboxRow::canvas(text))
    }

    pub fn inject_peer(&self, ws: &str, peer_id: &str, text: &str) -> String {
        self.inject_message(ws, InboxRow::peer(peer_id, text))
    }

    /// A delegation result, filed under the delegating workspace itself.
    pub fn inject_delegate_result(&self, ws: &str, text: &str) -> String {
        self.inject_message(ws, InboxRow::new(Some(ws), "delegate_result", text))
    }

    /// The agent's own `notify` echoed into its feed (pollers skip it).
    pub fn inject_self_notify(&self, ws: &str, text: &str) -> String {
        self.inject_message(ws, InboxRow::new(None, "notify", text))
    }

    /// A message the workspace sent itself (pollers skip it).
    pub fn inject_self_echo(&self, ws: &str, text: &str) -> String {
        self.inject_message(ws, InboxRow::new(Some(ws), "message/send", text))
    }

    /// Removes a row, so a cursor pointing at it answers 410.
    pub fn drop_row(&self, id: &str) -> bool {
        self.with(|st| {
            let before = st.activity.len();
            st.activity.retain(|r| r.id != id);
            st.activity.len() != before
        })
    }

    /// Every activity row of `ws` (inbox rows, sends, reports), oldest first.
    pub fn activity(&self, ws: &str) -> Vec<Value> {
        self.with(|st| {
            let with_seq = st.settings.rows_have_seq;
            st.activity
                .iter()
                .filter(|r| r.workspace_id == ws)
                .map(|r| r.to_json(with_seq))
                .collect()
        })
    }

    // ---- delegations, messages to users, memories ----

    /// Delegation rows of `src`, newest first.
    pub fn delegations(&self, src: &str) -> Vec<Value> {
        self.with(|st| {
            st.delegations
                .iter()
                .rev()
                .filter(|d| d.source_id == src)
                .map(|d| d.to_json())
                .collect()
        })
    }

    pub fn complete_delegation(&self, id: &str, response_preview: &str) -> bool {
        let preview = response_preview.to_string();
        self.with(|st| st.finish_delegation(id, Ok(preview), SystemTime::now()))
    }

    pub fn fail_delegation(&self, id: &str, error: &str) -> bool {
        let error = error.to_string();
        self.with(|st| st.finish_delegation(id, Err(error), SystemTime::now()))
    }

    /// Bodies received on `POST /workspaces/{ws}/notify`, in order.
    pub fn notifications(&self, ws: &str) -> Vec<Value> {
        self.with(|st| of_workspace(&st.notifications, ws))
    }

    /// Bodies received on `POST /workspaces/{ws}/broadcast`, in order.
    pub fn broadcasts(&self, ws: &str) -> Vec<Value> {
        self.with(|st| of_workspace(&st.broadcasts, ws))
    }

    /// Bodies received on `POST /workspaces/{ws}/requests`, in order.
    pub fn user_requests(&self, ws: &str) -> Vec<Value> {
        self.with(|st| of_workspace(&st.requests, ws))
    }

    /// Bodies of the plugin installs `ws` made, in order.
    pub fn plugins(&self, ws: &str) -> Vec<Value> {
        self.with(|st| of_workspace(&st.plugins, ws))
    }

    /// Replaces the plugin sources (prefixes) installs may use.
    pub fn set_plugin_allowlist(&self, prefixes: &[&str]) {
        self.with(|st| st.plugin_allowlist = prefixes.iter().map(|p| p.to_string()).collect());
    }

    pub fn uploads(&self, ws: &str) -> Vec<Upload> {
        self.with(|st| {
            st.uploads
                .iter()
                .filter(|u| u.workspace_id == ws)
                .cloned()
                .collect()
        })
    }

    /// Memories committed by `ws`, oldest first: `{id, content, scope, namespace}`.
    pub fn memories(&self, ws: &str) -> Vec<Value> {
        self.with(|st| {
            st.memories
                .iter()
                .filter(|m| m.workspace_id == ws)
                .map(|m| json!({"id": m.id, "content": m.content, "scope": m.scope, "namespace": m.namespace}))
                .collect()
        })
    }

    // ---- scripting ----

    /// Queues replies for requests matching `method` (`"*"` for any) and
    /// `path` (exact, or a prefix when it ends in `*`). Each matching
    /// request consumes one reply; then normal behaviour resumes.
    pub fn script(&self, method: &str, path: &str, replies: Vec<Reply>) {
        relock(&self.shared.scripts).push(method, path, replies, false);
    }

    /// Answers every matching request with `reply` until `clear_scripts`.
    /// Queued `script` replies still go first.
    pub fn script_always(&self, method: &str, path: &str, reply: Reply) {
        relock(&self.shared.scripts).push(method, path, vec![reply], true);
    }

    pub fn clear_scripts(&self) {
        *relock(&self.shared.scripts) = Scripts::default();
    }

    // ---- recording ----

    pub fn requests(&self) -> Vec<Recorded> {
        relock(&self.shared.recorded).clone()
    }

    /// Requests to `path` (exact, or a prefix when it ends in `*`).
    pub fn requests_to(&self, path: &str) -> Vec<Recorded> {
        relock(&self.shared.recorded)
            .iter()
            .filter(|r| script::path_matches(path, &r.path))
            .cloned()
            .collect()
    }

    pub fn clear_requests(&self) {
        relock(&self.shared.recorded).clear();
    }

    /// Waits until `done` holds for the requests received so far, at most
    /// `timeout`. Returns whether it held.
    pub fn wait_for(&self, done: impl Fn(&[Recorded]) -> bool, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut recorded = relock(&self.shared.recorded);
        loop {
            if done(&recorded) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            recorded = match self.shared.arrived.wait_timeout(recorded, deadline - now) {
                Ok((g, _)) => g,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    /// Waits until at least `n` requests went to `path` (see `requests_to`).
    pub fn wait_for_requests(&self, path: &str, n: usize, timeout: Duration) -> bool {
        self.wait_for(
            |reqs| {
                reqs.iter()
                    .filter(|r| script::path_matches(path, &r.path))
                    .count()
                    >= n
            },
            timeout,
        )
    }
}

fn serve(shared: &Shared, req: HttpRequest, stop: &Stopper) -> Answer {
    {
        let mut recorded = relock(&shared.recorded);
        recorded.push(Recorded {
            method: req.method.clone(),
            path: req.path.clone(),
            query: req.query.clone(),
            headers: req.headers.clone(),
            body: req.body.clone(),
            at: Instant::now(),
        });
        shared.arrived.notify_all();
    }
    let scripted = relock(&shared.scripts).next(&req.method, &req.path);
    let answer = match scripted {
        None => normal(shared, &req),
        Some(Reply::Delay(d)) => {
            if stop.sleep(d) {
                normal(shared, &req)
            } else {
                Answer::Close
            }
        }
        Some(Reply::Hang(d)) => {
            stop.sleep(d);
            Answer::Close
        }
        Some(other) => other.into_answer(),
    };
    if shared.log_requests.load(Ordering::Relaxed) {
        let outcome = match &answer {
            Answer::Respond { status, .. } => status.to_string(),
            Answer::Close => "closed".into(),
        };
        eprintln!("sim: {} {} -> {outcome}", req.method, req.path);
    }
    answer
}

fn normal(shared: &Shared, req: &HttpRequest) -> Answer {
    let now = Now {
        wall: SystemTime::now(),
        mono: Instant::now(),
    };
    routes::handle(&mut relock(&shared.state), req, now)
}

fn of_workspace(list: &[(String, Value)], ws: &str) -> Vec<Value> {
    list.iter()
        .filter(|(w, _)| w == ws)
        .map(|(_, v)| v.clone())
        .collect()
}

/// Ids differ between simulators, so a test cannot pass by accident on ids
/// left over from another one.
fn salt() -> u32 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    nanos ^ std::process::id().rotate_left(16)
}
