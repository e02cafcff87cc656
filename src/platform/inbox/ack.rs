//! Delivery acknowledgements: after a pop, tell servers that number their
//! rows (`seq`) the highest popped one, from a background thread so a pop
//! never waits on the network.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use crossbeam_channel::{select, Receiver};
use serde_json::json;

use super::store::Inbox;
use crate::config::Workspace;
use crate::platform::http::{self, Call, Client};

/// Which acknowledgements are owed. Pure bookkeeping; the thread below
/// does the sending.
#[derive(Debug, Default)]
pub struct AckBook {
    /// Per workspace, the highest popped `seq` not yet acknowledged.
    owed: BTreeMap<String, i64>,
    /// Per workspace, the highest `seq` ever owed: an acknowledgement never
    /// goes backwards when an older message is popped after a newer one.
    highest: BTreeMap<String, i64>,
    /// Workspaces whose server answered 404: it predates acks.
    unsupported: HashSet<String>,
}

impl AckBook {
    /// Records a pop; false when nothing needs sending.
    pub fn popped(&mut self, workspace_id: &str, seq: i64) -> bool {
        if self.unsupported.contains(workspace_id) {
            return false;
        }
        let top = self.highest.entry(workspace_id.to_string()).or_insert(seq);
        if seq < *top {
            return false;
        }
        *top = seq;
        self.owe(workspace_id, seq);
        true
    }

    fn owe(&mut self, workspace_id: &str, seq: i64) {
        let owed = self.owed.entry(workspace_id.to_string()).or_insert(seq);
        *owed = (*owed).max(seq);
    }

    /// Everything owed now, emptying the book.
    pub fn take(&mut self) -> Vec<(String, i64)> {
        std::mem::take(&mut self.owed).into_iter().collect()
    }

    /// A send failed: owe it again, to go out with the next pop.
    pub fn failed(&mut self, workspace_id: &str, seq: i64) {
        if !self.unsupported.contains(workspace_id) {
            self.owe(workspace_id, seq);
        }
    }

    pub fn unsupported(&mut self, workspace_id: &str) {
        self.unsupported.insert(workspace_id.to_string());
        self.owed.remove(workspace_id);
    }
}

/// What one acknowledgement achieved.
#[derive(Debug, PartialEq)]
enum Sent {
    Done,
    NotSupported,
    Failed(String),
}

/// Starts the thread that sends acknowledgements until shutdown.
pub fn spawn(
    inbox: Arc<Inbox>,
    workspaces: Vec<Workspace>,
    client: Client,
    shutdown: Receiver<()>,
) -> Option<JoinHandle<()>> {
    let wake = inbox.ack_signal();
    let spawned = thread::Builder::new()
        .name("inbox-acks".into())
        .spawn(move || loop {
            select! {
                recv(wake) -> _ => {}
                recv(shutdown) -> _ => return,
            }
            for (ws_id, seq) in inbox.take_acks() {
                let Some(ws) = workspaces.iter().find(|w| w.id == ws_id) else {
                    continue;
                };
                match send(&client, ws, seq) {
                    Sent::Done => {
                        log::debug!("inbox: acknowledged seq {seq} for workspace {ws_id}")
                    }
                    Sent::NotSupported => {
                        log::info!(
                            "inbox: the platform of workspace {ws_id} does not take delivery \
                             acknowledgements (404); not sending them"
                        );
                        inbox.acks_unsupported(&ws_id);
                    }
                    Sent::Failed(why) => {
                        log::debug!("inbox: acknowledgement for workspace {ws_id} failed: {why}");
                        inbox.ack_failed(&ws_id, seq);
                    }
                }
            }
        });
    match spawned {
        Ok(handle) => Some(handle),
        Err(e) => {
            log::warn!("inbox: could not start the acknowledgement thread: {e}");
            None
        }
    }
}

fn send(client: &Client, ws: &Workspace, seq: i64) -> Sent {
    let token = match ws.token.current() {
        Ok(t) => t,
        Err(e) => return Sent::Failed(e.to_string()),
    };
    let url = http::url(&ws.platform_url, &["workspaces", &ws.id, "activity", "ack"]);
    let call = Call::new("POST", url, &ws.platform_url)
        .token(&token)
        .json(json!({"acked_seq": seq}));
    match client.send(call) {
        Ok(r) if r.is_success() => Sent::Done,
        Ok(r) if r.status == 404 => Sent::NotSupported,
        Ok(r) => Sent::Failed(format!("HTTP {}: {}", r.status, r.snippet())),
        Err(e) => Sent::Failed(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owes_the_highest_popped_seq_per_workspace() {
        let mut book = AckBook::default();
        assert!(book.popped("a", 5));
        assert!(!book.popped("a", 3), "nothing new to say");
        assert!(book.popped("b", 1));
        assert_eq!(book.take(), [("a".to_string(), 5), ("b".to_string(), 1)]);
        assert!(book.take().is_empty());
    }

    #[test]
    fn an_older_pop_after_a_sent_ack_never_lowers_it() {
        let mut book = AckBook::default();
        assert!(book.popped("a", 3));
        assert_eq!(book.take(), [("a".to_string(), 3)]);
        assert!(!book.popped("a", 1));
        assert!(book.take().is_empty());
        // A failed send is owed again as it was.
        book.failed("a", 3);
        assert_eq!(book.take(), [("a".to_string(), 3)]);
    }

    #[test]
    fn a_failure_is_owed_again_and_404_stops_for_good() {
        let mut book = AckBook::default();
        book.failed("a", 4);
        book.popped("a", 2);
        assert_eq!(book.take(), [("a".to_string(), 4)]);
        book.popped("a", 6);
        book.unsupported("a");
        assert!(book.take().is_empty());
        assert!(!book.popped("a", 7));
        assert!(book.take().is_empty());
    }
}
