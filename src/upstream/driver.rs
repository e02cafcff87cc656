//! One thread per upstream server (spec/design.md, "Threads"): a select loop
//! that feeds the server's machine (`src/machine/upstream.rs`) and carries
//! out what it asks. Every decision is the machine's; this file only moves
//! sessions, replies and lists around and starts the helper threads
//! (`helper_threads.rs`) that do the I/O and report back on the driver's channel.
//! Progress, log notes and resource updates never come here: the
//! transports hand them to `notices.rs` as they read them.
//!
//! Invariant: until shutdown this thread runs and the upstream stays
//! reconnectable. Parked is a breaker state, not an exit.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{after, never, select, unbounded, Receiver, Sender};
use serde_json::Value;

use super::driver_sessions::Sessions;
use super::error::CallError;
use super::fault::fault;
use super::lease::{self, Ask, DriverHandle, Lease, Status, ToDriver};
use super::lists::{self, Lists};
use super::state_log::{self, Notes};
use super::{agent_setup, helper_threads};
use crate::machine::breaker::Ending;
use crate::machine::session::{Generation, SlotState};
use crate::machine::upstream::{Fault, Input, Output, Ping, Report, Ticket, Upstream};
use crate::redact::clip;

pub use super::driver_settings::Settings;

/// How long shutdown waits for a running connect to hand over (and so
/// close) what it started.
const CONNECT_GRACE: Duration = Duration::from_secs(3);
/// How long shutdown waits for sessions being closed.
const CLOSE_GRACE: Duration = Duration::from_millis(2500);
/// The longest a list refresh (or a restore) may take per request.
const LIST_TIMEOUT: Duration = Duration::from_secs(60);

/// Starts the driver thread; it connects in the background at once.
pub fn spawn(settings: Settings) -> std::io::Result<(DriverHandle, JoinHandle<()>)> {
    let (tx, rx) = unbounded();
    let status = Arc::new(Mutex::new(Status::default()));
    let handle = DriverHandle::new(tx.clone(), status.clone());
    let name = format!("upstream-{}", settings.name);
    let driver = Driver {
        machine: settings.machine(),
        s: settings,
        tx,
        rx,
        status,
        sessions: Sessions::default(),
        lists: None,
        replies: HashMap::new(),
        tickets: 0,
        notes: Notes::default(),
    };
    let thread = std::thread::Builder::new()
        .name(name)
        .spawn(move || driver.run())?;
    Ok((handle, thread))
}

struct Driver {
    s: Settings,
    tx: Sender<ToDriver>,
    rx: Receiver<ToDriver>,
    status: Arc<Mutex<Status>>,
    machine: Upstream,
    sessions: Sessions,
    /// Lists just read, until the machine says to apply them.
    lists: Option<Lists>,
    replies: HashMap<Ticket, Sender<Lease>>,
    tickets: Ticket,
    notes: Notes,
}

impl Driver {
    fn run(mut self) {
        let stop = self.s.shutdown.signal();
        let messages = self.rx.clone();
        self.feed(Input::Start);
        loop {
            let timer = match self.machine.poll_timeout() {
                Some(due) => after(due.saturating_duration_since(Instant::now())),
                None => never(),
            };
            let (closed, events) = self.sessions.watch();
            select! {
                recv(messages) -> message => match message {
                    Ok(message) => self.received(message),
                    Err(_) => break,
                },
                recv(closed) -> _ => self.died(),
                recv(events) -> event => match event {
                    Ok(event) => self.event(&event),
                    Err(_) => self.sessions.events_ended(),
                },
                recv(stop) -> _ => break,
                recv(timer) -> _ => self.feed(Input::Tick),
            }
        }
        self.stop();
    }

    fn received(&mut self, message: ToDriver) {
        let input = match message {
            ToDriver::Ask { ask, reply } => {
                self.tickets += 1;
                self.replies.insert(self.tickets, reply);
                match ask {
                    Ask::Admit => Input::Admit(self.tickets),
                    Ask::Renew(generation) => Input::Renew(self.tickets, generation),
                }
            }
            ToDriver::Report { generation, report } => {
                self.lost_by_a_call(generation, &report);
                Input::Report(generation, report)
            }
            ToDriver::Connected(result) => {
                let result = self.sessions.connect_ended(result);
                Input::Connected(result.map_err(|e| self.fault(e, true)))
            }
            ToDriver::Probed(result) => Input::Probed(result.map_err(|e| self.fault(e, false))),
            ToDriver::KeptAlive(result) => {
                Input::KeptAlive(result.map_err(|e| self.fault(e, false)))
            }
            ToDriver::Refreshed { generation, lists } => {
                let result = lists.map(|lists| self.lists = Some(lists));
                Input::Refreshed(generation, result.map_err(|e| self.fault(e, false)))
            }
        };
        self.feed(input);
    }

    /// The machine's view of an error, noted for `doctor` and the next
    /// state-change line.
    fn fault(&mut self, error: CallError, connect: bool) -> Fault {
        self.notes.failed(&self.s.name, &error);
        fault(&error, connect)
    }

    /// A call that lost the current session's connection usually reports
    /// before the transport's own end is seen: keep the dying child's last
    /// words for the state-change line all the same.
    fn lost_by_a_call(&mut self, generation: Generation, report: &Report) {
        let live = self.machine.slot().state() == SlotState::Live
            && self.machine.slot().generation() == generation;
        if live && *report == Report::Failure(Ending::Transport) {
            let tail = self.sessions.current().map(|s| s.stderr_tail());
            self.notes.died(tail.unwrap_or_default());
        }
    }

    /// The current session's transport died by itself.
    fn died(&mut self) {
        let tail = self.sessions.current().map(|s| s.stderr_tail());
        self.notes.died(tail.unwrap_or_default());
        self.feed(Input::Died);
    }

    /// What is left of the server's notifications: its list changes.
    fn event(&mut self, event: &Value) {
        match event.get("method").and_then(Value::as_str).unwrap_or("") {
            "notifications/tools/list_changed"
            | "notifications/resources/list_changed"
            | "notifications/prompts/list_changed" => self.feed(Input::ListChanged),
            other => log::debug!("upstream {}: ignored {}", self.s.name, clip(other, 80)),
        }
    }

    /// One input, then everything it asked for, then the new status.
    fn feed(&mut self, input: Input) {
        self.machine.handle(input, Instant::now());
        while let Some(output) = self.machine.poll_output() {
            self.execute(output);
        }
        let status = Status {
            state: self.machine.breaker().state(),
            last_error: self.notes.last_error.clone(),
            tools: lists::tool_count(&self.s.catalog, self.s.index),
            connected: self.machine.slot().state() == SlotState::Live,
        };
        lease::publish(&self.status, status);
    }

    fn execute(&mut self, output: Output) {
        let (name, tx, stop) = (&self.s.name, self.tx.clone(), self.s.shutdown.signal());
        let list_timeout = self.s.spec.timeout.min(LIST_TIMEOUT);
        match output {
            Output::Connect => {
                self.sessions.connecting();
                let (env, shutdown) = (self.s.env.clone(), self.s.shutdown.clone());
                helper_threads::connect_server(name, &self.s.spec, env, shutdown, tx);
            }
            Output::Adopt(_) => {
                self.sessions.adopt();
                self.notes.last_error = None;
            }
            Output::Restore(_) => {
                if let Some(session) = self.sessions.current().cloned() {
                    let (index, setup) = (self.s.index, &self.s.setup);
                    agent_setup::restore(name, index, setup, session, list_timeout, stop);
                }
            }
            Output::Discard => self.sessions.discard(),
            Output::Close { at_once, .. } => self.sessions.close(name, at_once),
            Output::Ping(ping) => {
                let done = match ping {
                    Ping::Probe => ToDriver::Probed,
                    Ping::KeepAlive => ToDriver::KeptAlive,
                };
                match self.sessions.current().cloned() {
                    Some(session) => {
                        let timeout = self.s.spec.connect_timeout;
                        helper_threads::ping(name, session, timeout, stop, tx, done);
                    }
                    None => drop(tx.send(done(Err(CallError::Closed)))),
                }
            }
            Output::Refresh(generation) => {
                if let Some(session) = self.sessions.current().cloned() {
                    helper_threads::refresh(name, session, generation, list_timeout, stop, tx);
                }
            }
            Output::ApplyLists { announce } => {
                let Some(read) = self.lists.take() else {
                    return;
                };
                let (catalog, outbox) = (&self.s.catalog, &self.s.outbox);
                let tools = lists::apply(read, catalog, self.s.index, &self.s.spec.tools, outbox);
                if announce {
                    let info = self.sessions.current().map(|s| s.info());
                    state_log::connected(name, info, tools);
                }
            }
            Output::Answer(ticket, answer) => {
                if let Some(reply) = self.replies.remove(&ticket) {
                    let error = self.sessions.connect_error();
                    lease::send(reply, lease::lease(answer, self.sessions.current(), error));
                }
            }
            Output::Hide(hidden) => {
                lists::hide(&self.s.catalog, self.s.index, hidden, &self.s.outbox);
            }
            output @ (Output::Auth(_) | Output::StateChanged { .. } | Output::Hung) => {
                self.notes.log(name, &self.s.spec, output)
            }
        }
    }

    /// Shutdown: the machine stops (the session closes, nothing reconnects),
    /// a running connect is waited for (briefly) so that what it started is
    /// closed too, and the closes under way get a moment to finish.
    fn stop(&mut self) {
        self.feed(Input::Shutdown);
        let deadline = Instant::now() + CONNECT_GRACE;
        while self.sessions.is_connecting() {
            match self.rx.recv_deadline(deadline) {
                Ok(message @ ToDriver::Connected(_)) => self.received(message),
                // Asks are dropped unanswered: their callers see "stopped".
                Ok(_) => {}
                Err(_) => break,
            }
        }
        self.sessions.wait_closed(CLOSE_GRACE);
    }
}
