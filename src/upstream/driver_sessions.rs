//! The sessions a driver holds: the current one, whose death and
//! notifications it watches, one just connected until the machine adopts
//! or discards it, and the ones being closed in the background.

use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{never, Receiver};
use serde_json::Value;

use super::closers::Closers;
use super::error::CallError;
use super::session::Session;

#[derive(Default)]
pub(crate) struct Sessions {
    current: Option<Arc<dyn Session>>,
    /// The current session's notifications are still readable.
    events_open: bool,
    fresh: Option<Arc<dyn Session>>,
    connecting: bool,
    /// Why the last connect failed, for the calls that waited for it.
    connect_error: Option<CallError>,
    closers: Closers,
}

impl Sessions {
    pub fn current(&self) -> Option<&Arc<dyn Session>> {
        self.current.as_ref()
    }

    /// What to watch: the current session's end and its notifications.
    pub fn watch(&self) -> (Receiver<()>, Receiver<Value>) {
        match &self.current {
            Some(s) if self.events_open => (s.closed(), s.events()),
            Some(s) => (s.closed(), never()),
            None => (never(), never()),
        }
    }

    pub fn events_ended(&mut self) {
        self.events_open = false;
    }

    pub fn connecting(&mut self) {
        self.connecting = true;
    }

    /// A connect is running; its session or error has yet to come.
    pub fn is_connecting(&self) -> bool {
        self.connecting
    }

    /// A connect ended: its session is kept until adopted or discarded,
    /// its error for the calls that waited.
    pub fn connect_ended(
        &mut self,
        result: Result<Arc<dyn Session>, CallError>,
    ) -> Result<(), CallError> {
        self.connecting = false;
        match result {
            Ok(session) => {
                self.fresh = Some(session);
                Ok(())
            }
            Err(error) => {
                self.connect_error = Some(error.clone());
                Err(error)
            }
        }
    }

    pub fn connect_error(&self) -> Option<&CallError> {
        self.connect_error.as_ref()
    }

    /// The session just connected becomes the current one.
    pub fn adopt(&mut self) {
        self.current = self.fresh.take();
        self.events_open = true;
    }

    /// Nobody takes the session just connected.
    pub fn discard(&mut self) {
        if let Some(session) = self.fresh.take() {
            session.close();
        }
    }

    /// Closes the current session, in the background unless `at_once`.
    pub fn close(&mut self, name: &str, at_once: bool) {
        self.events_open = false;
        match self.current.take() {
            Some(session) if at_once => session.close(),
            Some(session) => self.closers.close(name, session),
            None => {}
        }
    }

    /// Waits up to `grace` for the closes under way.
    pub fn wait_closed(&mut self, grace: Duration) {
        self.closers.wait(grace);
    }
}
