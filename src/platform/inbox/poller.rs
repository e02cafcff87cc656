//! The poller shell: one thread per workspace reads its feed, records new
//! messages in the inbox, then moves the cursor, then pushes. That order is
//! what makes delivery loss-free (see the module notes in `mod.rs`).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{at, select, Receiver};

use super::feed::{self, Feed, PAGE_ROWS};
use super::files;
use super::health::Health;
use super::message::{Kind, Message};
use super::peers::PeerNames;
use super::push;
use super::row::{self, Arrival, Parsed};
use super::{ack, store::Inbox};
use crate::config::{Config, Platform, Secret, Workspace};
use crate::mcp::outbox::Outbox;
use crate::platform::http::Client;
use crate::shutdown::Shutdown;

/// Everything needed to start the pollers.
pub struct PollerPlan {
    workspaces: Vec<Workspace>,
    multi: bool,
    enabled: bool,
    interval: Duration,
    cursor_paths: Vec<PathBuf>,
    inbox: Arc<Inbox>,
    client: Client,
    outbox: Outbox,
    push: Option<&'static str>,
}

impl PollerPlan {
    pub fn new(
        config: &Config,
        platform: &Platform,
        inbox: Arc<Inbox>,
        client: Client,
        outbox: Outbox,
    ) -> Self {
        let ids: Vec<&str> = platform.workspaces.iter().map(|w| w.id.as_str()).collect();
        let cursor_dir = config.mailbox_dir.as_ref().unwrap_or(&config.configs_dir);
        let cursor_paths = ids
            .iter()
            .map(|id| files::cursor_path(cursor_dir, id, platform.multi, &ids))
            .collect();
        PollerPlan {
            workspaces: platform.workspaces.clone(),
            multi: platform.multi,
            enabled: !config.disable_inbox,
            interval: config.poll_interval,
            cursor_paths,
            inbox,
            client,
            outbox,
            push: push::method_for(&config.env),
        }
    }

    /// Starts one poller per workspace and the acknowledgement thread; all
    /// end when `shutdown` fires.
    pub fn spawn(&self, shutdown: &Shutdown) -> Vec<JoinHandle<()>> {
        if !self.enabled {
            return Vec::new();
        }
        let mut handles = Vec::new();
        for (ws, cursor_path) in self.workspaces.iter().zip(&self.cursor_paths) {
            let poller = Poller {
                cursor: files::read_cursor(cursor_path),
                cursor_path: cursor_path.clone(),
                ws: ws.clone(),
                multi: self.multi,
                interval: self.interval,
                inbox: self.inbox.clone(),
                client: self.client.clone(),
                outbox: self.outbox.clone(),
                push: self.push,
                health: Health::default(),
                peers: PeerNames::default(),
                full_warned: false,
                skipped: VecDeque::new(),
            };
            let short: String = ws.id.chars().take(8).collect();
            let signal = shutdown.signal();
            match thread::Builder::new()
                .name(format!("inbox-{short}"))
                .spawn(move || poller.run(signal))
            {
                Ok(h) => handles.push(h),
                Err(e) => log::warn!(
                    "inbox: could not start the poller of workspace {}: {e}",
                    ws.id
                ),
            }
        }
        let acks = ack::spawn(
            self.inbox.clone(),
            self.workspaces.clone(),
            self.client.clone(),
            shutdown.signal(),
        );
        handles.extend(acks);
        handles
    }
}

struct Poller {
    ws: Workspace,
    multi: bool,
    interval: Duration,
    cursor: Option<String>,
    cursor_path: PathBuf,
    inbox: Arc<Inbox>,
    client: Client,
    outbox: Outbox,
    push: Option<&'static str>,
    health: Health,
    peers: PeerNames,
    full_warned: bool,
    /// Ids of unreadable rows already warned about, newest last, so a row
    /// read again is not warned about again.
    skipped: VecDeque<String>,
}

/// How many skipped row ids a poller remembers.
const SKIPPED_REMEMBERED: usize = 1000;

impl Poller {
    fn run(mut self, shutdown: Receiver<()>) {
        let mut next = Instant::now();
        loop {
            select! {
                recv(shutdown) -> _ => return,
                recv(at(next)) -> _ => {}
            }
            let again = self.poll();
            let now = Instant::now();
            next = if again {
                now
            } else {
                now.checked_add(self.interval).unwrap_or(now)
            };
        }
    }

    /// One poll; true when a full page suggests more rows are waiting.
    fn poll(&mut self) -> bool {
        let token = match self.ws.token.current() {
            Ok(t) => t,
            Err(e) => {
                self.failed("token", &e.to_string());
                return false;
            }
        };
        let rows = match feed::read(&self.client, &self.ws, &token, self.cursor.as_deref()) {
            Feed::Rows(rows) => rows,
            Feed::Gone => {
                self.succeeded();
                log::info!(
                    "inbox: the cursor row of workspace {} is gone; reading the last {} s again",
                    self.ws.id,
                    feed::BACKLOG_SECS
                );
                self.cursor = None;
                if let Err(e) = files::delete_cursor(&self.cursor_path) {
                    log::warn!("inbox: cannot delete {}: {e}", self.cursor_path.display());
                }
                return false;
            }
            Feed::Failed { kind, detail } => {
                self.failed(&kind, &detail);
                return false;
            }
        };
        self.succeeded();
        let full_page = rows.len() >= PAGE_ROWS;
        let (ids, mut messages) = self.read_rows(&rows);
        self.name_peers(&mut messages, &token);
        let recorded = self.inbox.record(&self.ws.id, messages);
        self.note_fullness(recorded.stopped_at.is_some());
        // The cursor may pass only rows whose messages are safely on disk.
        let last = ids
            .iter()
            .take_while(|id| recorded.stopped_at.as_ref() != Some(*id))
            .last();
        let moved = match last {
            Some(id) if recorded.durable && self.cursor.as_ref() != Some(id) => {
                self.set_cursor(id.clone());
                true
            }
            _ => false,
        };
        if let Some(method) = self.push {
            for m in &recorded.new {
                // A host that stopped reading gets no more pushes this poll;
                // the messages stay in the inbox for polling either way.
                if !self.outbox.notify(method, push::params(m)) {
                    break;
                }
            }
        }
        full_page && moved && recorded.stopped_at.is_none()
    }

    /// The usable row ids in feed order, and the messages among the rows.
    fn read_rows(&mut self, rows: &[serde_json::Value]) -> (Vec<String>, Vec<Message>) {
        let arrival = Arrival {
            workspace_id: &self.ws.id,
            platform_url: &self.ws.platform_url,
            multi: self.multi,
        };
        let mut ids = Vec::new();
        let mut messages = Vec::new();
        let mut without_id = Vec::new();
        for r in rows {
            let id = row::row_id(r);
            match row::parse(r, &arrival) {
                Parsed::Message(m) => messages.push(*m),
                Parsed::Own => {}
                Parsed::Bad(why) => match &id {
                    // The cursor passes the row: this is its only trace.
                    Some(id) if !self.skipped.contains(id) => {
                        log::warn!(
                            "inbox: row {id} of workspace {} is not delivered: {why}",
                            self.ws.id
                        );
                        if self.skipped.len() >= SKIPPED_REMEMBERED {
                            self.skipped.pop_front();
                        }
                        self.skipped.push_back(id.clone());
                    }
                    Some(_) => {}
                    None => without_id.push(why),
                },
            }
            ids.extend(id);
        }
        if let Some(first) = without_id.first() {
            log::warn!(
                "inbox: skipped {} rows of workspace {} without a usable id (first: {first})",
                without_id.len(),
                self.ws.id
            );
        }
        (ids, messages)
    }

    fn name_peers(&mut self, messages: &mut [Message], token: &Secret) {
        for m in messages.iter_mut() {
            if m.kind == Kind::PeerAgent && m.peer_name.is_none() {
                m.peer_name = self.peers.name(&self.client, &self.ws, token, &m.peer_id);
            }
        }
    }

    fn set_cursor(&mut self, id: String) {
        if let Err(e) = files::write_cursor(&self.cursor_path, &id) {
            // The old cursor stays; the next start re-reads rows the
            // dedupe drops.
            log::warn!(
                "inbox: cannot write the cursor {}: {e}",
                self.cursor_path.display()
            );
        }
        self.cursor = Some(id);
    }

    fn note_fullness(&mut self, full: bool) {
        if full && !self.full_warned {
            log::warn!(
                "inbox: {} messages of workspace {} wait to be popped; the queue is full, so new \
                 messages stay on the platform until the agent pops some",
                self.inbox.pending_of(&self.ws.id),
                self.ws.id
            );
        } else if !full && self.full_warned {
            log::info!(
                "inbox: the queue of workspace {} has room again",
                self.ws.id
            );
        }
        self.full_warned = full;
    }

    fn failed(&mut self, kind: &str, detail: &str) {
        if self.health.failed(kind) {
            log::warn!("inbox: polling workspace {} failed: {detail}", self.ws.id);
        }
    }

    fn succeeded(&mut self) {
        if self.health.succeeded() {
            log::info!("inbox: polling workspace {} works again", self.ws.id);
        }
    }
}
