//! What the simulated platform knows: workspaces, their activity feed,
//! delegations, memories and what agents sent to users.

use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Value};

use super::time;

/// How a workspace answers when another workspace talks to it over A2A.
#[derive(Clone, Debug, PartialEq)]
pub enum Peer {
    /// Answers at once with the text `echo: <task>`.
    Echo,
    /// Answers at once with this text.
    Reply(String),
    /// A poll-mode agent: `{"status":"queued","delivery_mode":"poll"}`.
    PollMode,
    /// A busy agent that queued the message: `{"queued":true}`.
    Queued,
    /// 503 with `Retry-After: <secs>`.
    Busy { retry_after_secs: u64 },
    /// 402: the caller's budget is spent.
    Budget,
    /// 403: the hierarchy forbids it (discover answers 403 too).
    Forbidden,
    /// 503 without `Retry-After` (discover answers 503 too).
    Unavailable,
}

impl Peer {
    /// The text this peer would eventually answer `task` with.
    pub fn answer_text(&self, task: &str) -> String {
        match self {
            Peer::Reply(text) => text.clone(),
            _ => format!("echo: {task}"),
        }
    }
}

pub struct Workspace {
    pub id: String,
    pub token: Option<String>,
    pub registered: bool,
    pub removed_at: Option<String>,
    pub agent_card: Value,
    pub inbound_secret: String,
    pub name: String,
    pub role: String,
    pub status: String,
    pub tier: u64,
    pub parent_id: Option<String>,
    /// `None`: every other live workspace is a peer.
    pub peers: Option<Vec<String>>,
    pub peer: Peer,
    pub talk_to_user: bool,
    pub broadcast: bool,
    pub acked_seq: Option<i64>,
    pub heartbeats: u64,
    /// Sent as `generation` in heartbeat answers when set.
    pub generation: Option<i64>,
}

impl Workspace {
    pub fn is_live(&self) -> bool {
        self.removed_at.is_none()
    }

    pub fn info(&self, base_url: &str) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "tier": self.tier,
            "status": self.status,
            "url": format!("{base_url}/workspaces/{}/a2a", self.id),
            "parent_id": self.parent_id,
            "active_tasks": 0,
            "agent_card": self.agent_card,
        })
    }
}

/// One row of a workspace's activity feed; `a2a_receive` rows are its inbox.
#[derive(Clone, Debug)]
pub struct ActivityRow {
    pub id: String,
    pub workspace_id: String,
    pub activity_type: String,
    pub source_id: Option<String>,
    pub target_id: Option<String>,
    pub method: String,
    pub summary: String,
    pub request_body: Value,
    pub response_body: Value,
    pub status: String,
    pub created: SystemTime,
    pub seq: i64,
    /// The row's own `attachments` field, when the platform filled it.
    pub attachments: Option<Value>,
}

impl ActivityRow {
    pub fn to_json(&self, with_seq: bool) -> Value {
        let mut v = json!({
            "id": self.id,
            "workspace_id": self.workspace_id,
            "activity_type": self.activity_type,
            "source_id": self.source_id,
            "target_id": self.target_id,
            "method": self.method,
            "summary": self.summary,
            "request_body": self.request_body,
            "response_body": self.response_body,
            "status": self.status,
            "created_at": time::format(self.created),
        });
        if with_seq {
            v["seq"] = json!(self.seq);
        }
        if let Some(a) = &self.attachments {
            v["attachments"] = a.clone();
        }
        v
    }
}

pub struct Delegation {
    pub id: String,
    pub source_id: String,
    pub target_id: String,
    pub task: String,
    pub idempotency_key: Option<String>,
    pub status: String,
    pub created: SystemTime,
    pub created_mono: Instant,
    pub updated: SystemTime,
    pub response_preview: Option<String>,
    pub error: Option<String>,
}

impl Delegation {
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "delegation_id": self.id,
            "source_id": self.source_id,
            "target_id": self.target_id,
            "summary": summary(&self.task),
            "status": self.status,
            "created_at": time::format(self.created),
            "updated_at": time::format(self.updated),
        });
        if let Some(p) = &self.response_preview {
            v["response_preview"] = json!(p);
        }
        if let Some(e) = &self.error {
            v["error"] = json!(e);
        }
        v
    }
}

pub struct Memory {
    pub id: String,
    pub workspace_id: String,
    pub content: String,
    pub scope: String,
    pub namespace: String,
    pub created: SystemTime,
}

/// A file received on `POST /workspaces/{ws}/chat/uploads`.
#[derive(Clone, Debug)]
pub struct Upload {
    pub workspace_id: String,
    pub uri: String,
    pub name: String,
    pub mime_type: String,
    pub bytes: Vec<u8>,
}

/// Switches that make the simulator behave like older or stricter servers.
pub struct Settings {
    /// Platform paths answer a bare 404 unless `Origin` is the simulator URL.
    pub require_origin: bool,
    /// `false` emulates a server that predates `/activity/ack` (404).
    pub acks_supported: bool,
    /// `false` emulates a server whose activity rows carry no `seq`.
    pub rows_have_seq: bool,
    /// Pending delegations complete on their own after this long.
    pub delegation_delay: Option<Duration>,
    /// A completed delegation also lands in the source's inbox as a
    /// `delegate_result` row, as on the real platform.
    pub delegation_results_to_inbox: bool,
    /// `include=peer_info` adds `peer_name`, `peer_role` and
    /// `agent_card_url` to activity rows; `false` emulates an older server.
    pub peer_info: bool,
}

pub struct State {
    pub url: String,
    pub workspaces: Vec<Workspace>,
    pub activity: Vec<ActivityRow>,
    pub delegations: Vec<Delegation>,
    pub memories: Vec<Memory>,
    pub notifications: Vec<(String, Value)>,
    pub broadcasts: Vec<(String, Value)>,
    pub uploads: Vec<Upload>,
    /// Bodies of `POST /workspaces/{ws}/requests`, with the workspace.
    pub requests: Vec<(String, Value)>,
    /// Bodies of accepted plugin installs, with the workspace.
    pub plugins: Vec<(String, Value)>,
    /// Plugin sources (prefixes) an install may use.
    pub plugin_allowlist: Vec<String>,
    pub settings: Settings,
    salt: u32,
    next_id: u64,
    next_seq: i64,
}

/// Summaries are capped like the platform caps them.
pub fn summary(text: &str) -> String {
    text.chars().take(256).collect()
}

/// An A2A `message/send` body carrying `text`, as a peer's platform sends it.
pub fn message_send_body(id: &str, text: &str) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "method": "message/send",
        "params": {"message": {
            "role": "user",
            "messageId": id,
            "parts": [{"kind": "text", "text": text}],
        }},
    })
}

/// The body of a `delegate_result` row: the delegate's answer as parts.
pub fn delegate_result_body(
    delegation_id: Option<&str>,
    target: Option<&str>,
    text: &str,
) -> Value {
    json!({
        "jsonrpc": "2.0",
        "method": "delegate_result",
        "params": {
            "delegation_id": delegation_id,
            "target_id": target,
            "message": {"role": "agent", "parts": [{"kind": "text", "text": text}]},
        },
    })
}

impl State {
    pub fn new(url: String, salt: u32) -> State {
        State {
            url,
            workspaces: Vec::new(),
            activity: Vec::new(),
            delegations: Vec::new(),
            memories: Vec::new(),
            notifications: Vec::new(),
            broadcasts: Vec::new(),
            uploads: Vec::new(),
            requests: Vec::new(),
            plugins: Vec::new(),
            plugin_allowlist: vec!["github://molecule-ai/".into()],
            settings: Settings {
                require_origin: true,
                acks_supported: true,
                rows_have_seq: true,
                delegation_delay: None,
                delegation_results_to_inbox: true,
                peer_info: true,
            },
            salt,
            next_id: 1,
            next_seq: 1,
        }
    }

    /// A fresh lower-case UUID-shaped id, unique within this simulator.
    pub fn new_id(&mut self) -> String {
        let n = self.next_id;
        self.next_id += 1;
        format!("{:08x}-0000-4000-8000-{n:012x}", self.salt)
    }

    pub fn new_secret(&mut self, kind: &str) -> String {
        let id = self.new_id();
        format!("sim-{kind}-{}", id.replace('-', ""))
    }

    pub fn workspace(&self, id: &str) -> Option<&Workspace> {
        self.workspaces.iter().find(|w| w.id == id)
    }

    pub fn workspace_mut(&mut self, id: &str) -> Option<&mut Workspace> {
        self.workspaces.iter_mut().find(|w| w.id == id)
    }

    pub fn add_workspace(&mut self, id: &str, token: Option<&str>) {
        let secret = self.new_secret("inbound");
        let short: String = id.chars().take(8).collect();
        let ws = Workspace {
            id: id.to_string(),
            token: token.map(str::to_string),
            registered: false,
            removed_at: None,
            agent_card: json!({}),
            inbound_secret: secret,
            name: format!("sim-{short}"),
            role: "agent".into(),
            status: "awaiting_agent".into(),
            tier: 1,
            parent_id: None,
            peers: None,
            peer: Peer::Echo,
            talk_to_user: true,
            broadcast: true,
            acked_seq: None,
            heartbeats: 0,
            generation: None,
        };
        self.workspaces.retain(|w| w.id != id);
        self.workspaces.push(ws);
    }

    /// The peers of `id`: its explicit list, else every other live workspace.
    pub fn peers_of(&self, id: &str) -> Vec<&Workspace> {
        let explicit = self.workspace(id).and_then(|w| w.peers.as_ref());
        self.workspaces
            .iter()
            .filter(|w| w.is_live() && w.id != id)
            .filter(|w| explicit.is_none_or(|list| list.contains(&w.id)))
            .collect()
    }

    /// Appends a row to a workspace's activity feed and returns its id.
    #[allow(clippy::too_many_arguments)]
    pub fn push_row(
        &mut self,
        workspace_id: &str,
        activity_type: &str,
        source_id: Option<String>,
        target_id: Option<String>,
        method: &str,
        summary_text: &str,
        request_body: Value,
        response_body: Value,
        created: SystemTime,
    ) -> String {
        let id = self.new_id();
        let seq = self.next_seq;
        self.next_seq += 1;
        self.activity.push(ActivityRow {
            id: id.clone(),
            workspace_id: workspace_id.to_string(),
            activity_type: activity_type.to_string(),
            source_id,
            target_id,
            method: method.to_string(),
            summary: summary(summary_text),
            request_body,
            response_body,
            status: "ok".into(),
            created,
            seq,
            attachments: None,
        });
        id
    }

    /// A message from `source` (a peer, or `None` for the canvas user)
    /// arriving in `target`'s inbox.
    pub fn deliver(&mut self, target: &str, source: Option<&str>, text: &str, now: SystemTime) {
        let body_id = self.new_id();
        self.push_row(
            target,
            "a2a_receive",
            source.map(str::to_string),
            Some(target.to_string()),
            "message/send",
            text,
            message_send_body(&body_id, text),
            Value::Null,
            now,
        );
    }

    /// Completes a pending delegation and, when configured, tells the source
    /// through its inbox. False when there is no such pending delegation.
    pub fn finish_delegation(
        &mut self,
        id: &str,
        outcome: Result<String, String>,
        now: SystemTime,
    ) -> bool {
        let Some(d) = self
            .delegations
            .iter_mut()
            .find(|d| d.id == id && d.status == "pending")
        else {
            return false;
        };
        d.updated = now;
        let (source, target) = (d.source_id.clone(), d.target_id.clone());
        let text = match outcome {
            Ok(preview) => {
                d.status = "completed".into();
                d.response_preview = Some(preview.clone());
                preview
            }
            Err(error) => {
                d.status = "failed".into();
                d.error = Some(error.clone());
                error
            }
        };
        if self.settings.delegation_results_to_inbox {
            let body = delegate_result_body(Some(id), Some(&target), &text);
            // The platform files a result under the workspace that delegated.
            self.push_row(
                &source.clone(),
                "a2a_receive",
                Some(source),
                Some(target),
                "delegate_result",
                &text,
                body,
                Value::Null,
                now,
            );
        }
        true
    }

    /// Lets time pass: delegations whose delay ran out complete now.
    pub fn advance(&mut self, mono: Instant, now: SystemTime) {
        let Some(delay) = self.settings.delegation_delay else {
            return;
        };
        let due: Vec<(String, String)> = self
            .delegations
            .iter()
            .filter(|d| d.status == "pending" && mono.duration_since(d.created_mono) >= delay)
            .map(|d| {
                let peer = self.workspace(&d.target_id).map(|w| w.peer.clone());
                let text = peer.unwrap_or(Peer::Echo).answer_text(&d.task);
                (d.id.clone(), text)
            })
            .collect();
        for (id, text) in due {
            self.finish_delegation(&id, Ok(text), now);
        }
    }
}
