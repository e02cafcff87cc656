//! Server→client notifications waiting for the gateway. Bounded, and a full
//! queue drops its oldest entry: a notification flood must neither grow our
//! memory nor stall the thread reading the server's answers. The queue
//! takes memory as notifications wait, in small blocks, and gives it back
//! as they are read: an idle upstream's queue costs nothing, where a
//! bounded channel would hold all its slots from the start.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use crossbeam_channel::{unbounded, Receiver, Sender};
use serde_json::Value;

use super::rate_limit::{left_out, RateLimit};

use crate::sync::lock;

/// Notifications kept while nobody reads them.
pub const CAPACITY: usize = 256;

pub struct EventQueue {
    name: String,
    capacity: usize,
    tx: Sender<Value>,
    /// Our own end, used only to drop the oldest entry when full.
    oldest: Receiver<Value>,
    dropped: AtomicU64,
    warn: Mutex<RateLimit>,
}

impl EventQueue {
    pub fn new(name: &str) -> Self {
        Self::with_capacity(name, CAPACITY)
    }

    pub fn with_capacity(name: &str, capacity: usize) -> Self {
        let (tx, oldest) = unbounded();
        EventQueue {
            name: name.to_string(),
            capacity: capacity.max(1),
            tx,
            oldest,
            dropped: AtomicU64::new(0),
            warn: Mutex::new(RateLimit::new()),
        }
    }

    pub fn receiver(&self) -> Receiver<Value> {
        self.oldest.clone()
    }

    /// Never blocks, except that what goes straight to the agent (log
    /// notes, resource updates) may wait briefly for room there.
    pub fn push(&self, event: Value) {
        if super::notices::relay(&self.name, &event) {
            return;
        }
        // Pushers at once may each find room for one: the queue exceeds
        // its capacity by at most their number.
        while self.tx.len() >= self.capacity {
            match self.oldest.try_recv() {
                Ok(_) => self.count_drop(),
                Err(_) => break,
            }
        }
        let _ = self.tx.send(event);
    }

    /// Notifications dropped so far because nobody read them in time.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn count_drop(&self) {
        let total = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
        let mut warn = lock(&self.warn);
        if let Some(skipped) = warn.allow(Instant::now()) {
            log::warn!(
                "{}: notifications arrive faster than they are handled; dropped the oldest ({total} so far){}",
                self.name,
                left_out(skipped)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_full_queue_keeps_the_newest() {
        let queue = EventQueue::with_capacity("t", 3);
        for n in 0..10 {
            queue.push(json!(n));
        }
        let rx = queue.receiver();
        let kept: Vec<Value> = rx.try_iter().collect();
        assert_eq!(kept, vec![json!(7), json!(8), json!(9)]);
        assert_eq!(queue.dropped(), 7);
    }
}
