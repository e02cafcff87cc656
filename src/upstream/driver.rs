//! One thread per upstream server (spec/design.md, "Threads"): a select loop that
//! feeds the server's machine (`src/machine/upstream.rs`) and carries out
//! what it asks. Every decision is the machine's; this file only moves
//! sessions, replies and lists around and starts the helper threads
//! (`errands.rs`) that do the I/O and report back on the command channel.
//!
//! Invariant: until shutdown this thread runs and the upstream stays
//! reconnectable. Parked is a breaker state, not an exit.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{after, never, select, unbounded, Receiver, Sender};
use serde_json::Value;

use super::agent_setup::{self, AgentSetup};
use super::catalog::Catalog;
use super::config::{ServerSpec, TransportSpec};
use super::errands;
use super::error::CallError;
use super::lease::{self, Ask, DriverHandle, Lease, Report, Status};
use super::lists::Lists;
use super::progress::ProgressRelay;
use super::session::Session;
use super::{state_log, texts};
use crate::config::EnvMap;
use crate::machine::session::{Generation, SlotState};
use crate::machine::upstream::{self, Answer, Fault, Input, Output, Ping, Ticket, Upstream};
use crate::machine::XorShift;
use crate::mcp::outbox::Outbox;
use crate::redact::{clip, redact};
use crate::shutdown::Shutdown;

/// How long shutdown waits for a running connect to hand over (and so
/// close) what it started.
const CONNECT_GRACE: Duration = Duration::from_secs(3);
/// How long shutdown waits for sessions being closed.
const CLOSE_GRACE: Duration = Duration::from_millis(2500);
/// The longest a list refresh may take per request.
const LIST_TIMEOUT: Duration = Duration::from_secs(60);

pub(crate) enum Command {
    Ask {
        ask: Ask,
        reply: Sender<Lease>,
    },
    Report {
        generation: Generation,
        report: Report,
    },
    Connected(Result<Arc<dyn Session>, CallError>),
    Probed(Result<(), CallError>),
    KeptAlive(Result<(), CallError>),
    Refreshed {
        generation: Generation,
        lists: Result<Lists, CallError>,
    },
}

/// What a driver needs to run.
pub struct Settings {
    /// The server's index in the catalog.
    pub index: usize,
    pub name: String,
    pub spec: ServerSpec,
    pub env: Arc<EnvMap>,
    /// Idle time after which a healthy server is pinged.
    pub keepalive: Duration,
    pub outbox: Outbox,
    pub catalog: Arc<RwLock<Catalog>>,
    pub progress: ProgressRelay,
    /// What the agent set up that a new session must be told again.
    pub setup: AgentSetup,
    pub shutdown: Shutdown,
}

/// Starts the driver thread; it connects in the background at once.
pub fn spawn(settings: Settings) -> std::io::Result<(DriverHandle, JoinHandle<()>)> {
    let (tx, rx) = unbounded();
    let status = Arc::new(Mutex::new(Status::default()));
    let handle = DriverHandle::new(tx.clone(), status.clone());
    let name = settings.name.clone();
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
        ^ (u64::from(std::process::id()) << 32)
        ^ settings.index as u64;
    let config = upstream::Config {
        breaker: settings.spec.breaker,
        keepalive: settings.keepalive,
        restart_hung: matches!(settings.spec.transport, TransportSpec::Stdio { .. }),
        ..upstream::Config::default()
    };
    let machine = Upstream::new(
        config,
        &settings.name,
        Box::new(XorShift::new(seed)),
        Instant::now(),
    );
    let driver = Driver {
        s: settings,
        tx,
        rx,
        status,
        machine,
        session: None,
        events_open: false,
        fresh: None,
        connect_running: false,
        connect_error: None,
        lists: None,
        replies: HashMap::new(),
        tickets: 0,
        last_error: None,
        death: None,
        closers: Vec::new(),
    };
    let thread = std::thread::Builder::new()
        .name(format!("upstream-{name}"))
        .spawn(move || driver.run())?;
    Ok((handle, thread))
}

struct Driver {
    s: Settings,
    tx: Sender<Command>,
    rx: Receiver<Command>,
    status: Arc<Mutex<Status>>,
    machine: Upstream,
    session: Option<Arc<dyn Session>>,
    /// The current session's notifications are still readable.
    events_open: bool,
    /// A session just connected, until the machine adopts or discards it.
    fresh: Option<Arc<dyn Session>>,
    connect_running: bool,
    /// Why the last connect failed, for the calls that waited for it.
    connect_error: Option<CallError>,
    /// Lists just read, until the machine says to apply them.
    lists: Option<Lists>,
    replies: HashMap<Ticket, Sender<Lease>>,
    tickets: Ticket,
    last_error: Option<String>,
    /// A dead child's last stderr lines, for the next state-change line.
    death: Option<String>,
    closers: Vec<JoinHandle<()>>,
}

impl Driver {
    fn run(mut self) {
        let stop = self.s.shutdown.signal();
        let commands = self.rx.clone();
        self.feed(Input::Start);
        loop {
            let timer = match self.machine.poll_timeout() {
                Some(due) => after(due.saturating_duration_since(Instant::now())),
                None => never(),
            };
            let (closed, events) = match &self.session {
                Some(s) if self.events_open => (s.closed(), s.events()),
                Some(s) => (s.closed(), never()),
                None => (never(), never()),
            };
            select! {
                recv(commands) -> command => match command {
                    Ok(command) => self.command(command),
                    Err(_) => break,
                },
                recv(closed) -> _ => self.died(),
                recv(events) -> event => match event {
                    Ok(event) => self.event(&event),
                    Err(_) => self.events_open = false,
                },
                recv(stop) -> _ => break,
                recv(timer) -> _ => self.feed(Input::Tick),
            }
        }
        self.stop();
    }

    fn command(&mut self, command: Command) {
        let input = match command {
            Command::Ask { ask, reply } => {
                self.tickets += 1;
                self.replies.insert(self.tickets, reply);
                match ask {
                    Ask::Admit => Input::Admit(self.tickets),
                    Ask::Renew(generation) => Input::Renew(self.tickets, generation),
                }
            }
            Command::Report { generation, report } => Input::Report(generation, report),
            Command::Connected(Ok(session)) => {
                self.connect_running = false;
                self.fresh = Some(session);
                Input::Connected(Ok(()))
            }
            Command::Connected(Err(error)) => {
                self.connect_running = false;
                let fault = self.fault(&error, true);
                self.connect_error = Some(error);
                Input::Connected(Err(fault))
            }
            Command::Probed(result) => Input::Probed(result.map_err(|e| self.fault(&e, false))),
            Command::KeptAlive(result) => {
                Input::KeptAlive(result.map_err(|e| self.fault(&e, false)))
            }
            Command::Refreshed { generation, lists } => {
                let result = match lists {
                    Ok(lists) => {
                        self.lists = Some(lists);
                        Ok(())
                    }
                    Err(error) => Err(self.fault(&error, false)),
                };
                Input::Refreshed(generation, result)
            }
        };
        self.feed(input);
    }

    /// The machine's view of an error, noted for `doctor` and the next
    /// state-change line.
    fn fault(&mut self, error: &CallError, connect: bool) -> Fault {
        let class = if connect {
            error.connect_class()
        } else {
            error.breaker_class()
        };
        let fault = match error {
            CallError::SessionExpired { .. } => Fault::Expired,
            CallError::Auth { status, .. } => Fault::Auth(*status),
            CallError::Closed => Fault::Closed,
            _ => Fault::Failed(class.unwrap_or(crate::machine::breaker::FailureClass::Server)),
        };
        log::debug!("upstream {}: {}", self.s.name, redact(&error.to_string()));
        if !matches!(error, CallError::Closed | CallError::Cancelled) {
            self.last_error = Some(redact(&error.to_string()));
        }
        fault
    }

    /// The current session's transport died by itself.
    fn died(&mut self) {
        if let Some(tail) = self.session.as_ref().map(|s| s.stderr_tail()) {
            if !tail.is_empty() {
                self.death = Some(tail.join(" | "));
            }
        }
        if self.last_error.is_none() {
            self.last_error = Some("the connection closed (the server process exited?)".into());
        }
        self.feed(Input::Died);
    }

    fn event(&mut self, event: &Value) {
        let method = event.get("method").and_then(Value::as_str).unwrap_or("");
        match method {
            "notifications/tools/list_changed"
            | "notifications/resources/list_changed"
            | "notifications/prompts/list_changed" => self.feed(Input::ListChanged),
            "notifications/progress" => {
                let params = event.get("params").cloned().unwrap_or_default();
                if !self.s.progress.relay(&params, &self.s.outbox) {
                    log::debug!(
                        "upstream {}: progress for no call of ours dropped",
                        self.s.name
                    );
                }
            }
            "notifications/message" => {
                let text = event
                    .get("params")
                    .map(Value::to_string)
                    .unwrap_or_default();
                log::debug!("upstream {} says: {}", self.s.name, clip(&text, 500));
            }
            _ => log::debug!(
                "upstream {}: ignored notification {method:.80}",
                self.s.name
            ),
        }
    }

    /// One input, then everything it asked for, then the new status.
    fn feed(&mut self, input: Input) {
        self.machine.handle(input, Instant::now());
        while let Some(output) = self.machine.poll_output() {
            self.execute(output);
        }
        self.publish();
    }

    fn execute(&mut self, output: Output) {
        let name = &self.s.name;
        match output {
            Output::Connect => self.connect(),
            Output::Adopt(_) => {
                self.session = self.fresh.take();
                self.events_open = true;
                self.last_error = None;
            }
            Output::Restore(_) => {
                let Some(session) = self.session.clone() else {
                    return;
                };
                let (setup, stop) = (&self.s.setup, self.s.shutdown.signal());
                let timeout = self.s.spec.timeout.min(LIST_TIMEOUT);
                agent_setup::restore(name, self.s.index, setup, session, timeout, stop);
            }
            Output::Discard => self.fresh.take().into_iter().for_each(|s| s.close()),
            Output::Close { at_once, .. } => {
                self.events_open = false;
                let Some(session) = self.session.take() else {
                    return;
                };
                if at_once {
                    session.close();
                } else {
                    self.closers.retain(|h| !h.is_finished());
                    self.closers.extend(errands::close(name, session));
                }
            }
            Output::Ping(ping) => {
                let done = match ping {
                    Ping::Probe => Command::Probed,
                    Ping::KeepAlive => Command::KeptAlive,
                };
                let Some(session) = self.session.clone() else {
                    let _ = self.tx.send(done(Err(CallError::Closed)));
                    return;
                };
                let (timeout, stop) = (self.s.spec.connect_timeout, self.s.shutdown.signal());
                errands::ping(name, session, timeout, stop, self.tx.clone(), done);
            }
            Output::Refresh(generation) => {
                let Some(session) = self.session.clone() else {
                    return;
                };
                let timeout = self.s.spec.timeout.min(LIST_TIMEOUT);
                let (stop, tx) = (self.s.shutdown.signal(), self.tx.clone());
                errands::refresh(name, session, generation, timeout, stop, tx);
            }
            Output::ApplyLists { announce } => self.apply_lists(announce),
            Output::Answer(ticket, answer) => {
                let Some(reply) = self.replies.remove(&ticket) else {
                    return;
                };
                let lease = match (answer, &self.session) {
                    (Answer::Go(generation), Some(session)) => Lease::Go {
                        session: session.clone(),
                        generation,
                    },
                    (Answer::Reject(rejection), _) => Lease::Rejected(rejection),
                    (Answer::ConnectFailed, _) => {
                        Lease::Failed(self.connect_error.clone().unwrap_or(CallError::Closed))
                    }
                    (Answer::Stopped, _) => Lease::Stopped,
                    (Answer::Go(_) | Answer::Closed, _) => Lease::Failed(CallError::Closed),
                };
                lease::send(reply, lease);
            }
            Output::Hide(hidden) => {
                let changed = write(&self.s.catalog).set_hidden(self.s.index, hidden);
                if changed {
                    self.notify("notifications/tools/list_changed");
                }
            }
            Output::Auth(effect) => {
                let text = texts::auth_log(&effect, &self.s.spec.transport);
                log::log!(effect.level, "{}", redact(&text));
            }
            Output::StateChanged {
                from,
                to,
                reason,
                retry_in,
            } => {
                let context = state_log::Context {
                    name,
                    last_error: self.last_error.as_deref(),
                    death: self.death.take(),
                    park_probe: self.s.spec.breaker.park_probe,
                };
                state_log::state_changed(context, from, to, reason, retry_in);
            }
            Output::Hung => {
                state_log::hung(name);
                self.last_error = Some("the server stopped answering".into());
            }
        }
    }

    fn connect(&mut self) {
        self.connect_running = true;
        match self.s.spec.transport.expanded(&self.s.env) {
            Ok(spec) => {
                let (env, timeout) = (self.s.env.clone(), self.s.spec.connect_timeout);
                let (shutdown, tx) = (self.s.shutdown.clone(), self.tx.clone());
                errands::connect(&self.s.name, spec, env, timeout, shutdown, tx);
            }
            // An unset variable: a configuration error for this server,
            // reported like any failed connect (next loop round).
            Err(reason) => {
                let error = CallError::Spawn {
                    detail: format!("configuration: {reason}"),
                    permanent: true,
                };
                let _ = self.tx.send(Command::Connected(Err(error)));
            }
        }
    }

    fn apply_lists(&mut self, announce: bool) {
        let Some(lists) = self.lists.take() else {
            return;
        };
        let index = self.s.index;
        let (changed, tools) = lists.apply(&mut write(&self.s.catalog), index, &self.s.spec.tools);
        if announce {
            let info = self.session.as_ref().map(|s| s.info());
            state_log::connected(&self.s.name, info, tools);
        }
        for method in changed {
            self.notify(method);
        }
    }

    fn notify(&self, method: &str) {
        self.s.outbox.notify(method, Value::Null);
    }

    fn publish(&self) {
        let tools = match self.s.catalog.read() {
            Ok(c) => c.tool_count(self.s.index),
            Err(e) => e.into_inner().tool_count(self.s.index),
        };
        let status = Status {
            state: self.machine.breaker().state(),
            last_error: self.last_error.clone(),
            tools,
            connected: self.machine.slot().state() == SlotState::Live,
        };
        match self.status.lock() {
            Ok(mut s) => *s = status,
            Err(e) => *e.into_inner() = status,
        }
    }

    /// Shutdown: the machine stops (the session closes, nothing reconnects),
    /// a running connect is waited for (briefly) so that what it started is
    /// closed too, and the closes under way get a moment to finish.
    fn stop(&mut self) {
        self.feed(Input::Shutdown);
        let deadline = Instant::now() + CONNECT_GRACE;
        while self.connect_running {
            match self.rx.recv_deadline(deadline) {
                Ok(command @ Command::Connected(_)) => self.command(command),
                // Asks are dropped unanswered: their callers see "stopped".
                Ok(_) => {}
                Err(_) => break,
            }
        }
        let deadline = Instant::now() + CLOSE_GRACE;
        for handle in self.closers.drain(..) {
            while !handle.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if handle.is_finished() {
                let _ = handle.join();
            }
        }
    }
}

fn write(catalog: &RwLock<Catalog>) -> std::sync::RwLockWriteGuard<'_, Catalog> {
    catalog.write().unwrap_or_else(|e| e.into_inner())
}
