//! The inbox's contents without any I/O: pending messages of every
//! workspace in arrival order, the ids recently popped per workspace, and
//! the bounds. The shell around it ([`super::store`]) adds locking, waking
//! and files.

use std::collections::{HashMap, HashSet, VecDeque};

use super::message::Message;

/// What the queue holds at most per workspace. Past either bound the
/// poller stops advancing its cursor, so the platform keeps the rest.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub messages: usize,
    /// The bytes the pending messages take as stored (their queue-file
    /// form, [`Message::stored_len`]).
    pub stored_bytes: usize,
    /// How many popped ids are remembered per workspace. A popped row can
    /// come back only from the batch in flight at a crash or from the
    /// 600 s window after a lost cursor, both at most a few hundred rows.
    pub popped: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            messages: 10_000,
            stored_bytes: 32 * 1024 * 1024,
            popped: 1000,
        }
    }
}

/// A pending message and its place in arrival order.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub order: u64,
    pub message: Message,
}

/// The outcome of offering a batch of messages.
#[derive(Debug, Default, PartialEq)]
pub struct Admitted {
    /// Messages seen for the first time, in order.
    pub new: Vec<Message>,
    /// The first message that did not fit; it and everything after it
    /// were left for a later poll.
    pub stopped_at: Option<String>,
}

#[derive(Default)]
struct Recent {
    order: VecDeque<String>,
    set: HashSet<String>,
}

#[derive(Default, Clone, Copy)]
struct Usage {
    messages: usize,
    stored_bytes: usize,
}

#[derive(Default)]
pub struct Queue {
    limits: Limits,
    entries: VecDeque<Entry>,
    /// (workspace, activity id) of every pending message.
    index: HashSet<(String, String)>,
    usage: HashMap<String, Usage>,
    popped: HashMap<String, Recent>,
    next_order: u64,
}

impl Queue {
    pub fn new(limits: Limits) -> Queue {
        Queue {
            limits,
            next_order: 1,
            ..Queue::default()
        }
    }

    /// Puts back what a workspace's state file held. Entries merge by their
    /// recorded order, so the order survives across workspaces.
    pub fn restore(&mut self, workspace_id: &str, entries: Vec<Entry>, popped: Vec<String>) {
        for id in popped {
            self.remember_popped(workspace_id, id);
        }
        for mut entry in entries {
            entry.message.workspace_id = workspace_id.to_string();
            if self.is_known(workspace_id, &entry.message.activity_id) {
                continue;
            }
            self.next_order = self.next_order.max(entry.order.saturating_add(1));
            let at = self.entries.partition_point(|e| e.order <= entry.order);
            self.account(&entry.message, true);
            self.entries.insert(at, entry);
        }
    }

    /// Offers messages of one workspace, oldest first. Known ones (pending
    /// or recently popped) are dropped; the rest are queued until a bound
    /// is reached.
    pub fn admit(&mut self, workspace_id: &str, messages: Vec<Message>) -> Admitted {
        let mut out = Admitted::default();
        for mut message in messages {
            message.workspace_id = workspace_id.to_string();
            if self.is_known(workspace_id, &message.activity_id) {
                continue;
            }
            let usage = self.usage.get(workspace_id).copied().unwrap_or_default();
            if usage.messages >= self.limits.messages
                || usage.stored_bytes + message.stored_len() > self.limits.stored_bytes
            {
                out.stopped_at = Some(message.activity_id);
                break;
            }
            self.account(&message, true);
            out.new.push(message.clone());
            let order = self.next_order;
            self.next_order += 1;
            self.entries.push_back(Entry { order, message });
        }
        out
    }

    /// Removes a pending message and remembers its id, so the same row is
    /// never delivered again. `None` when it is not pending.
    pub fn pop(&mut self, activity_id: &str) -> Option<Message> {
        let at = self
            .entries
            .iter()
            .position(|e| e.message.activity_id == activity_id)?;
        let entry = self.entries.remove(at)?;
        self.account(&entry.message, false);
        self.remember_popped(
            &entry.message.workspace_id,
            entry.message.activity_id.clone(),
        );
        Some(entry.message)
    }

    pub fn front(&self) -> Option<&Message> {
        self.entries.front().map(|e| &e.message)
    }

    pub fn peek(&self, limit: usize) -> Vec<Message> {
        self.entries
            .iter()
            .take(limit)
            .map(|e| e.message.clone())
            .collect()
    }

    pub fn messages(&self) -> impl Iterator<Item = &Message> {
        self.entries.iter().map(|e| &e.message)
    }

    /// One workspace's pending entries and popped ids, for its state file.
    pub fn of_workspace(&self, workspace_id: &str) -> (Vec<&Entry>, Vec<&str>) {
        let entries = self
            .entries
            .iter()
            .filter(|e| e.message.workspace_id == workspace_id)
            .collect();
        let popped = self
            .popped
            .get(workspace_id)
            .map(|r| r.order.iter().map(String::as_str).collect())
            .unwrap_or_default();
        (entries, popped)
    }

    pub fn pending_count(&self, workspace_id: &str) -> usize {
        self.usage.get(workspace_id).map_or(0, |u| u.messages)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn is_known(&self, workspace_id: &str, activity_id: &str) -> bool {
        self.index
            .contains(&(workspace_id.to_string(), activity_id.to_string()))
            || self
                .popped
                .get(workspace_id)
                .is_some_and(|r| r.set.contains(activity_id))
    }

    fn account(&mut self, message: &Message, added: bool) {
        let key = (message.workspace_id.clone(), message.activity_id.clone());
        let usage = self.usage.entry(message.workspace_id.clone()).or_default();
        if added {
            usage.messages += 1;
            usage.stored_bytes += message.stored_len();
            self.index.insert(key);
        } else {
            usage.messages = usage.messages.saturating_sub(1);
            usage.stored_bytes = usage.stored_bytes.saturating_sub(message.stored_len());
            self.index.remove(&key);
        }
    }

    fn remember_popped(&mut self, workspace_id: &str, id: String) {
        let recent = self.popped.entry(workspace_id.to_string()).or_default();
        if !recent.set.insert(id.clone()) {
            return;
        }
        recent.order.push_back(id);
        while recent.order.len() > self.limits.popped {
            if let Some(old) = recent.order.pop_front() {
                recent.set.remove(&old);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::inbox::message::Kind;

    fn msg(id: &str, text: &str) -> Message {
        Message {
            activity_id: id.into(),
            text: text.into(),
            peer_id: String::new(),
            kind: Kind::CanvasUser,
            method: "message/send".into(),
            created_at: String::new(),
            arrival_workspace_id: None,
            agent_card_url: None,
            peer_name: None,
            peer_role: None,
            attachments: Vec::new(),
            seq: None,
            workspace_id: String::new(),
        }
    }

    fn ids(q: &Queue) -> Vec<String> {
        q.messages().map(|m| m.activity_id.clone()).collect()
    }

    #[test]
    fn admits_new_messages_once_in_order() {
        let mut q = Queue::new(Limits::default());
        let got = q.admit("w", vec![msg("a", "1"), msg("b", "2"), msg("a", "1")]);
        assert_eq!(got.new.len(), 2);
        assert_eq!(got.stopped_at, None);
        assert_eq!(
            q.admit("w", vec![msg("b", "2"), msg("c", "3")]).new.len(),
            1
        );
        assert_eq!(ids(&q), ["a", "b", "c"]);
        assert_eq!(q.front().map(|m| m.workspace_id.as_str()), Some("w"));
    }

    #[test]
    fn the_same_row_id_in_two_workspaces_is_two_messages() {
        let mut q = Queue::new(Limits::default());
        q.admit("w1", vec![msg("a", "1")]);
        q.admit("w2", vec![msg("a", "1")]);
        assert_eq!(q.len(), 2);
    }

    #[test]
    fn pop_is_idempotent_and_popped_ids_never_return() {
        let mut q = Queue::new(Limits::default());
        q.admit("w", vec![msg("a", "1"), msg("b", "2")]);
        assert_eq!(q.pop("a").map(|m| m.activity_id), Some("a".into()));
        assert_eq!(q.pop("a"), None);
        assert_eq!(q.pop("zzz"), None);
        assert!(q.admit("w", vec![msg("a", "1")]).new.is_empty());
        assert_eq!(ids(&q), ["b"]);
        let (_, popped) = q.of_workspace("w");
        assert_eq!(popped, ["a"]);
    }

    #[test]
    fn popped_ids_are_bounded() {
        let mut q = Queue::new(Limits {
            popped: 2,
            ..Limits::default()
        });
        q.admit("w", vec![msg("a", ""), msg("b", ""), msg("c", "")]);
        for id in ["a", "b", "c"] {
            q.pop(id);
        }
        let (_, popped) = q.of_workspace("w");
        assert_eq!(popped, ["b", "c"]);
        // The oldest fell out of memory, so it would be accepted again.
        assert_eq!(q.admit("w", vec![msg("a", "")]).new.len(), 1);
    }

    #[test]
    fn stops_at_the_message_bound_per_workspace() {
        let mut q = Queue::new(Limits {
            messages: 2,
            ..Limits::default()
        });
        let got = q.admit(
            "w",
            vec![msg("a", ""), msg("b", ""), msg("c", ""), msg("d", "")],
        );
        assert_eq!(got.new.len(), 2);
        assert_eq!(got.stopped_at.as_deref(), Some("c"));
        assert_eq!(q.admit("other", vec![msg("x", "")]).new.len(), 1);
        q.pop("a");
        assert_eq!(q.admit("w", vec![msg("c", "")]).new.len(), 1);
        assert_eq!(q.pending_count("w"), 2);
    }

    #[test]
    fn stops_at_the_stored_bytes_bound() {
        let size = msg("a", "abc").stored_len();
        let mut q = Queue::new(Limits {
            stored_bytes: size + size / 2,
            ..Limits::default()
        });
        let got = q.admit("w", vec![msg("a", "abc"), msg("b", "def")]);
        assert_eq!(got.stopped_at.as_deref(), Some("b"));
        q.pop("a");
        assert_eq!(q.admit("w", vec![msg("b", "def")]).new.len(), 1);
    }

    #[test]
    fn restore_merges_workspaces_by_order_and_continues_numbering() {
        let mut q = Queue::new(Limits::default());
        let entry = |order, id: &str| Entry {
            order,
            message: msg(id, ""),
        };
        q.restore("w1", vec![entry(1, "a"), entry(5, "c")], vec!["old".into()]);
        q.restore("w2", vec![entry(3, "b"), entry(3, "b")], vec![]);
        assert_eq!(ids(&q), ["a", "b", "c"]);
        assert!(q.admit("w1", vec![msg("old", "")]).new.is_empty());
        q.admit("w2", vec![msg("d", "")]);
        assert_eq!(ids(&q), ["a", "b", "c", "d"]);
        let (entries, _) = q.of_workspace("w2");
        assert_eq!(entries.iter().map(|e| e.order).collect::<Vec<_>>(), [3, 6]);
    }

    #[test]
    fn peek_is_oldest_first_and_bounded() {
        let mut q = Queue::new(Limits::default());
        q.admit("w", vec![msg("a", ""), msg("b", ""), msg("c", "")]);
        let got: Vec<_> = q.peek(2).into_iter().map(|m| m.activity_id).collect();
        assert_eq!(got, ["a", "b"]);
        assert!(q.peek(0).is_empty());
    }
}
