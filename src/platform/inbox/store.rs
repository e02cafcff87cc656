//! The one inbox of the process: every workspace's pending messages, kept
//! in memory for the tools and in a queue file per workspace for restarts.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crossbeam_channel::{after, bounded, never, select, Receiver, Sender};

use super::ack::AckBook;
use super::files;
use super::message::{Kind, Message};
use super::queue::{Limits, Queue};
use super::state_file;
use crate::config::{Config, Platform};
use crate::statefile;
use crate::sync::lock;

/// The outcome of recording a poll's messages.
#[derive(Debug, Default)]
pub struct Recorded {
    /// Messages seen for the first time.
    pub new: Vec<Message>,
    /// The first message that found the queue full; the cursor must stay
    /// before it.
    pub stopped_at: Option<String>,
    /// Whether the queue file now holds everything recorded, so the cursor
    /// may move past it.
    pub durable: bool,
}

/// The outcome of a pop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Popped {
    /// The message was not pending (never seen, or popped before).
    NotPending,
    /// Removed, and the removal is on disk.
    Saved,
    /// Removed in memory; the queue file could not be written yet.
    Unsaved,
}

impl Popped {
    pub fn removed(self) -> bool {
        self != Popped::NotPending
    }
}

pub struct Inbox {
    state: Mutex<State>,
    files: HashMap<String, QueueFile>,
    acks: Mutex<AckBook>,
    ack_wake: (Sender<()>, Receiver<()>),
}

struct QueueFile {
    path: PathBuf,
    /// Held while a snapshot is taken and written, so files are written in
    /// the order their snapshots were taken.
    writer: Mutex<()>,
    failing: AtomicBool,
}

struct State {
    queue: Queue,
    /// Peer id → the workspace it was last seen through.
    peers: HashMap<String, String>,
    /// Per workspace: changes made, and the newest change on disk.
    revisions: HashMap<String, (u64, u64)>,
    /// Waiters hold clones of the receiver; replacing the sender
    /// disconnects them all at once.
    wake_tx: Sender<()>,
    wake_rx: Receiver<()>,
}

impl Inbox {
    /// Loads every workspace's queue file from `CONFIGS_DIR`. Never fails:
    /// an unusable file is moved aside and its workspace starts empty.
    pub fn open(config: &Config, platform: &Platform) -> Inbox {
        let ids: Vec<&str> = platform.workspaces.iter().map(|w| w.id.as_str()).collect();
        let cursor_dir = config.mailbox_dir.as_ref().unwrap_or(&config.configs_dir);
        Inbox::open_in(
            &config.configs_dir,
            cursor_dir,
            &ids,
            platform.multi,
            Limits::default(),
        )
    }

    /// Queue and cursor files in one directory.
    #[cfg(test)]
    pub(crate) fn open_at(
        dir: &Path,
        workspace_ids: &[&str],
        multi: bool,
        limits: Limits,
    ) -> Inbox {
        Inbox::open_in(dir, dir, workspace_ids, multi, limits)
    }

    fn open_in(
        dir: &Path,
        cursor_dir: &Path,
        workspace_ids: &[&str],
        multi: bool,
        limits: Limits,
    ) -> Inbox {
        let (wake_tx, wake_rx) = bounded(0);
        let mut state = State {
            queue: Queue::new(limits),
            peers: HashMap::new(),
            revisions: HashMap::new(),
            wake_tx,
            wake_rx,
        };
        let mut files_by_ws = HashMap::new();
        for id in workspace_ids {
            let path = files::queue_path(dir, id);
            let mut contents = state_file::load(&path, id);
            if contents.damaged {
                // Its pending messages are gone, but the platform still has
                // them: forget the cursor so the first poll reads the recent
                // backlog again (a popped one may come back; none is lost).
                let cursor = files::cursor_path(cursor_dir, id, multi, workspace_ids);
                if let Err(e) = files::delete_cursor(&cursor) {
                    log::warn!("inbox: cannot delete {}: {e}", cursor.display());
                }
            }
            for e in &mut contents.entries {
                // The mode may have changed since the file was written.
                e.message.arrival_workspace_id = multi.then(|| id.to_string());
            }
            if !contents.entries.is_empty() {
                log::info!(
                    "inbox: {} undelivered messages of workspace {id} restored",
                    contents.entries.len()
                );
            }
            state.queue.restore(id, contents.entries, contents.popped);
            state.revisions.insert(id.to_string(), (0, 0));
            files_by_ws.insert(
                id.to_string(),
                QueueFile {
                    path,
                    writer: Mutex::new(()),
                    failing: AtomicBool::new(false),
                },
            );
        }
        let seen: Vec<(String, String)> = state
            .queue
            .messages()
            .filter(|m| m.kind == Kind::PeerAgent)
            .map(|m| (m.peer_id.clone(), m.workspace_id.clone()))
            .collect();
        state.peers.extend(seen);
        Inbox {
            state: Mutex::new(state),
            files: files_by_ws,
            acks: Mutex::new(AckBook::default()),
            ack_wake: bounded(1),
        }
    }

    /// The oldest pending message, left in place. Returns at once when one
    /// is pending, else when one arrives, `timeout` passes or `cancel`
    /// becomes ready (a message or a disconnect).
    pub fn wait(&self, timeout: Duration, cancel: &Receiver<()>) -> Option<Message> {
        let deadline = Instant::now().checked_add(timeout);
        loop {
            let woken = {
                let st = lock(&self.state);
                if let Some(m) = st.queue.front() {
                    return Some(m.clone());
                }
                st.wake_rx.clone()
            };
            let timer = match deadline {
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return None;
                    }
                    after(left)
                }
                None => never(),
            };
            select! {
                recv(woken) -> _ => {}
                recv(cancel) -> _ => return None,
                recv(timer) -> _ => {}
            }
        }
    }

    /// Up to `limit` pending messages, oldest first.
    pub fn peek(&self, limit: usize) -> Vec<Message> {
        lock(&self.state).queue.peek(limit)
    }

    /// How many messages are pending in all.
    pub fn len(&self) -> usize {
        lock(&self.state).queue.len()
    }

    pub fn is_empty(&self) -> bool {
        lock(&self.state).queue.is_empty()
    }

    /// Removes a handled message. The removal is on disk before this
    /// returns, so a restart never brings the message back, unless the
    /// queue file cannot be written even on a second try: then the message
    /// stays popped in memory and the next successful write of the file
    /// carries the removal.
    pub fn pop(&self, activity_id: &str) -> Popped {
        let removed = {
            let mut st = lock(&self.state);
            let Some(m) = st.queue.pop(activity_id) else {
                return Popped::NotPending;
            };
            st.changed(&m.workspace_id);
            m
        };
        let saved = self.persist(&removed.workspace_id) || self.persist(&removed.workspace_id);
        if !saved {
            log::warn!(
                "inbox: message {activity_id} was popped, but the queue file of workspace {} \
                 could not be written; it is saved with the next write that succeeds, and a \
                 restart before then brings the message back",
                removed.workspace_id
            );
        }
        if let Some(seq) = removed.seq {
            let owed = lock(&self.acks).popped(&removed.workspace_id, seq);
            if owed {
                // A full channel already holds a wake-up; that one will do.
                let _ = self.ack_wake.0.try_send(());
            }
        }
        if saved {
            Popped::Saved
        } else {
            Popped::Unsaved
        }
    }

    /// The workspace `peer_id` last wrote to, so replies go out through it.
    pub fn peer_workspace(&self, peer_id: &str) -> Option<String> {
        lock(&self.state).peers.get(peer_id).cloned()
    }

    /// Adds a poll's messages (oldest first) and writes the workspace's
    /// queue file, before the poller may move its cursor.
    pub(crate) fn record(&self, workspace_id: &str, messages: Vec<Message>) -> Recorded {
        if !self.files.contains_key(workspace_id) {
            return Recorded::default();
        }
        let (admitted, dirty) = {
            let mut st = lock(&self.state);
            let admitted = st.queue.admit(workspace_id, messages);
            if !admitted.new.is_empty() {
                st.changed(workspace_id);
                for m in admitted.new.iter().filter(|m| m.kind == Kind::PeerAgent) {
                    st.peers.insert(m.peer_id.clone(), workspace_id.to_string());
                }
                st.wake_all();
            }
            let dirty = st.revisions.get(workspace_id).is_some_and(|(c, s)| c != s);
            (admitted, dirty)
        };
        let durable = !dirty || self.persist(workspace_id);
        Recorded {
            new: admitted.new,
            stopped_at: admitted.stopped_at,
            durable,
        }
    }

    pub(crate) fn pending_of(&self, workspace_id: &str) -> usize {
        lock(&self.state).queue.pending_count(workspace_id)
    }

    pub(crate) fn ack_signal(&self) -> Receiver<()> {
        self.ack_wake.1.clone()
    }

    pub(crate) fn take_acks(&self) -> Vec<(String, i64)> {
        lock(&self.acks).take()
    }

    pub(crate) fn ack_failed(&self, workspace_id: &str, seq: i64) {
        lock(&self.acks).failed(workspace_id, seq);
    }

    pub(crate) fn acks_unsupported(&self, workspace_id: &str) {
        lock(&self.acks).unsupported(workspace_id);
    }

    /// Writes the workspace's queue file from a fresh snapshot; true when
    /// the file holds every change made before the call.
    fn persist(&self, workspace_id: &str) -> bool {
        let Some(file) = self.files.get(workspace_id) else {
            return false;
        };
        let _writing = lock(&file.writer);
        let (bytes, revision) = {
            let st = lock(&self.state);
            let (entries, popped) = st.queue.of_workspace(workspace_id);
            let bytes = state_file::encode(workspace_id, &entries, &popped);
            (bytes, st.revisions.get(workspace_id).map_or(0, |r| r.0))
        };
        match statefile::write_atomic(&file.path, &bytes) {
            Ok(()) => {
                if let Some(r) = lock(&self.state).revisions.get_mut(workspace_id) {
                    r.1 = r.1.max(revision);
                }
                if file.failing.swap(false, Ordering::Relaxed) {
                    log::info!(
                        "inbox: the queue file {} is written again",
                        file.path.display()
                    );
                }
                true
            }
            Err(e) => {
                if !file.failing.swap(true, Ordering::Relaxed) {
                    log::warn!(
                        "inbox: cannot write the queue file {}: {e}; new messages stay on the \
                         platform until it can be written",
                        file.path.display()
                    );
                }
                false
            }
        }
    }
}

impl State {
    fn changed(&mut self, workspace_id: &str) {
        if let Some(r) = self.revisions.get_mut(workspace_id) {
            r.0 += 1;
        }
    }

    fn wake_all(&mut self) {
        let (tx, rx) = bounded(0);
        self.wake_tx = tx;
        self.wake_rx = rx;
    }
}
