//! Sessions being closed off the driver's thread (closing a stdio child
//! may take up to two seconds), and the bounded wait for them at shutdown.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::helper_threads;
use super::session::Session;
use crate::threads::join_within;

#[derive(Default)]
pub(crate) struct Closers(Vec<JoinHandle<()>>);

impl Closers {
    pub fn close(&mut self, name: &str, session: Arc<dyn Session>) {
        self.0.retain(|h| !h.is_finished());
        self.0.extend(helper_threads::close(name, session));
    }

    /// Waits up to `grace` in all for the closes under way.
    pub fn wait(&mut self, grace: Duration) {
        join_within(self.0.drain(..), grace);
    }
}
