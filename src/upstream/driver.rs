//! One thread per upstream server, owning its breaker, its session slot and
//! the current session (spec/design.md, "Threads").
//!
//! The thread waits on its command channel, the session's `closed()` and
//! `events()`, shutdown, and the earliest deadline (breaker timer or
//! keep-alive), and feeds the machines. It never blocks on I/O: connects,
//! probes, keep-alives, list refreshes and closes run in errands
//! (`errands.rs`) that report back on the command channel.
//!
//! Invariant: until shutdown this thread runs and the upstream stays
//! reconnectable. Parked is a breaker state, not an exit.

use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{after, never, select, unbounded, Receiver, Sender};
use serde_json::Value;

use super::catalog::{Catalog, ListKind};
use super::config::ServerSpec;
use super::errands::{self, Lists};
use super::error::CallError;
use super::lease::{self, Ask, DriverHandle, FastLane, Lease, Report, Status};
use super::progress::ProgressRelay;
use super::session::Session;
use super::texts;
use crate::config::EnvMap;
use crate::machine::auth::{self, AuthEscalation};
use crate::machine::breaker::{Admission, Breaker, Effect, Event, FailureClass, Reason, State};
use crate::machine::session::{Generation, Slot, SlotEffect, SlotEvent, SlotState};
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
    pub shutdown: Shutdown,
}

/// Starts the driver thread; it connects in the background at once.
pub fn spawn(settings: Settings) -> std::io::Result<(DriverHandle, JoinHandle<()>)> {
    let (tx, rx) = unbounded();
    let status = Arc::new(Mutex::new(Status::default()));
    let lane = FastLane::default();
    let handle = DriverHandle::new(tx.clone(), status.clone(), lane.clone());
    let name = settings.name.clone();
    let mut driver = Driver::new(settings, tx, rx, status);
    driver.lane = lane;
    let thread = std::thread::Builder::new()
        .name(format!("upstream-{name}"))
        .spawn(move || driver.run())?;
    Ok((handle, thread))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Probe {
    Idle,
    /// The probe needs a session first; the running connect decides.
    AwaitingConnect,
    Pinging,
}

struct Driver {
    s: Settings,
    tx: Sender<Command>,
    rx: Receiver<Command>,
    status: Arc<Mutex<Status>>,
    /// Shared with the handles: admission without a round trip.
    lane: FastLane,
    breaker: Breaker,
    slot: Slot,
    session: Option<Arc<dyn Session>>,
    /// The current session's notifications are still readable.
    events_open: bool,
    /// Calls waiting for the running connect.
    held: Vec<Sender<Lease>>,
    /// A session just connected, until the slot takes it.
    arrived: Option<Arc<dyn Session>>,
    /// Why the last connect failed, for those held.
    connect_error: Option<CallError>,
    connect_running: bool,
    probe: Probe,
    /// The session the running probe pings.
    probe_generation: Generation,
    /// The running probe already replaced an expired session once.
    probe_renewed: bool,
    /// The generation a keep-alive ping runs on.
    keepalive: Option<Generation>,
    last_active: Instant,
    refreshing: bool,
    refresh_again: bool,
    /// Whether the first list after a connect was logged.
    announced: bool,
    auth: AuthEscalation,
    /// The one reconnect with re-expanded credentials was made.
    auth_reconnected: bool,
    last_error: Option<String>,
    /// A dead child's last stderr lines, for the next state-change line.
    death: Option<String>,
    closers: Vec<JoinHandle<()>>,
    stopping: bool,
}

impl Driver {
    fn new(
        s: Settings,
        tx: Sender<Command>,
        rx: Receiver<Command>,
        status: Arc<Mutex<Status>>,
    ) -> Self {
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            ^ (u64::from(std::process::id()) << 32)
            ^ s.index as u64;
        let breaker = Breaker::new(s.spec.breaker, Box::new(XorShift::new(seed)));
        let auth = AuthEscalation::new(s.name.clone());
        Driver {
            s,
            tx,
            rx,
            status,
            lane: FastLane::default(),
            breaker,
            slot: Slot::new(),
            session: None,
            events_open: false,
            held: Vec::new(),
            arrived: None,
            connect_error: None,
            connect_running: false,
            probe: Probe::Idle,
            probe_generation: Generation::default(),
            probe_renewed: false,
            keepalive: None,
            last_active: Instant::now(),
            refreshing: false,
            refresh_again: false,
            announced: false,
            auth,
            auth_reconnected: false,
            last_error: None,
            death: None,
            closers: Vec::new(),
            stopping: false,
        }
    }

    fn run(mut self) {
        let stop = self.s.shutdown.signal();
        let commands = self.rx.clone();
        self.slot_event(SlotEvent::Need, None);
        self.publish();
        loop {
            let now = Instant::now();
            let timer = match self.deadline() {
                Some(due) => after(due.saturating_duration_since(now)),
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
                recv(timer) -> _ => self.tick(),
            }
            self.publish();
        }
        self.stop();
        self.publish();
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::Ask { ask, reply } => self.ask(ask, reply),
            Command::Report { generation, report } => self.report(generation, report),
            Command::Connected(result) => self.connected(result),
            Command::Probed(result) => self.probed(result),
            Command::KeptAlive(result) => self.kept_alive(result),
            Command::Refreshed { generation, lists } => self.refreshed(generation, lists),
        }
    }

    fn ask(&mut self, ask: Ask, reply: Sender<Lease>) {
        let event = match ask {
            Ask::Admit => {
                let now = Instant::now();
                let (admission, effects) = self.breaker.admit(now);
                self.breaker_effects(effects, now);
                match admission {
                    Admission::Go => SlotEvent::Wait,
                    Admission::Reject(rejection) => {
                        return lease::send(reply, Lease::Rejected(rejection))
                    }
                }
            }
            Ask::Renew(generation) => SlotEvent::Renew { generation },
        };
        self.slot_event(event, Some(reply));
    }

    fn report(&mut self, generation: Generation, report: Report) {
        if lease::is_failure(report) {
            // Published again (if still closed) at the end of this step.
            self.lane.failure_handled();
        }
        let now = Instant::now();
        self.last_active = now;
        let current = generation == self.slot.generation() && self.slot.state() == SlotState::Live;
        match report {
            Report::Success => {
                self.auth_ok(now);
                self.breaker_event(Event::CallSucceeded, now);
            }
            // An answer (tool error, caller error) proves the server alive
            // whichever session carried it; a failure counts only against
            // the session it happened on.
            Report::Failure(class) if !class.is_failure() || current => {
                self.breaker_event(Event::CallFailed(class), now)
            }
            Report::Failure(class) => {
                log::debug!(
                    "upstream {}: a {class} on an older session ignored",
                    self.s.name
                )
            }
            Report::Auth(status) => {
                self.auth_failed(status, now);
            }
        }
    }

    /// Feeds the slot and carries out its effects. `reply` is the asker's,
    /// if the event has one.
    fn slot_event(&mut self, event: SlotEvent, reply: Option<Sender<Lease>>) {
        let mut reply = reply;
        for effect in self.slot.handle(event) {
            match effect {
                SlotEffect::Connect => self.start_connect(),
                SlotEffect::Drop(_) => self.drop_session(),
                SlotEffect::Hand(generation) => {
                    if let (Some(r), Some(session)) = (reply.take(), &self.session) {
                        let session = session.clone();
                        lease::send(
                            r,
                            Lease::Go {
                                session,
                                generation,
                            },
                        );
                    }
                }
                SlotEffect::Hold => {
                    if let Some(r) = reply.take() {
                        self.held.push(r);
                    }
                }
                SlotEffect::Release(generation) => {
                    self.session = self.arrived.take();
                    self.events_open = true;
                    if let Some(session) = &self.session {
                        for r in self.held.drain(..) {
                            let session = session.clone();
                            lease::send(
                                r,
                                Lease::Go {
                                    session,
                                    generation,
                                },
                            );
                        }
                    }
                }
                SlotEffect::Fail(_) => {
                    let error = self.connect_error.clone().unwrap_or(CallError::Closed);
                    for r in self.held.drain(..) {
                        lease::send(r, Lease::Failed(error.clone()));
                    }
                }
                SlotEffect::Refuse => {
                    for r in reply.take().into_iter().chain(self.held.drain(..)) {
                        lease::send(r, Lease::Stopped);
                    }
                }
                SlotEffect::Discard => {
                    if let Some(session) = self.arrived.take() {
                        session.close();
                    }
                }
            }
        }
        // Every ask gets an answer, even one no effect took.
        if let Some(r) = reply {
            lease::send(r, Lease::Failed(CallError::Closed));
        }
    }

    fn start_connect(&mut self) {
        self.connect_running = true;
        match self.s.spec.transport.expanded(&self.s.env) {
            Ok(spec) => errands::connect(
                &self.s.name,
                spec,
                self.s.env.clone(),
                self.s.spec.connect_timeout,
                self.s.shutdown.clone(),
                self.tx.clone(),
            ),
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

    fn drop_session(&mut self) {
        self.events_open = false;
        self.keepalive = None;
        let Some(session) = self.session.take() else {
            return;
        };
        if self.stopping {
            session.close();
        } else {
            self.closers.retain(|h| !h.is_finished());
            if let Some(handle) = errands::close(&self.s.name, session) {
                self.closers.push(handle);
            }
        }
    }

    fn connected(&mut self, result: Result<Arc<dyn Session>, CallError>) {
        self.connect_running = false;
        let now = Instant::now();
        match result {
            Ok(session) => {
                self.arrived = Some(session);
                self.slot_event(SlotEvent::Connected, None);
                if let Some(stray) = self.arrived.take() {
                    stray.close();
                }
                if self.slot.state() != SlotState::Live {
                    return;
                }
                self.last_active = now;
                self.last_error = None;
                self.announced = false;
                if self.probe == Probe::AwaitingConnect {
                    self.probe = Probe::Idle;
                    self.start_probe();
                } else {
                    self.breaker_event(Event::Connected, now);
                }
                self.start_refresh();
            }
            Err(error) => {
                self.note(&error);
                let class = error.connect_class().unwrap_or(FailureClass::Transport);
                self.connect_error = Some(error.clone());
                self.slot_event(SlotEvent::ConnectFailed(class), None);
                if self.stopping {
                    return;
                }
                let probing = self.probe == Probe::AwaitingConnect;
                self.probe = Probe::Idle;
                self.probe_renewed = false;
                match error {
                    CallError::Auth { status, .. } => {
                        let moving = self.auth_failed(status, now);
                        if probing {
                            self.breaker_event(Event::ProbeFailed(FailureClass::Server), now);
                        } else if !moving {
                            // No reconnect and no park: without a session
                            // nothing would call the server again, so the
                            // breaker opens and its probes keep counting.
                            self.breaker_event(Event::CallFailed(FailureClass::Transport), now);
                        }
                    }
                    _ if probing => self.breaker_event(Event::ProbeFailed(class), now),
                    // After a failed connect there is no session: like a
                    // lost connection it opens the breaker at once, so the
                    // probe keeps trying (a closed breaker without a session
                    // would wait for calls to tools it never listed).
                    _ if class == FailureClass::Permanent => {
                        self.breaker_event(Event::CallFailed(class), now)
                    }
                    _ => self.breaker_event(Event::CallFailed(FailureClass::Transport), now),
                }
            }
        }
    }

    fn start_probe(&mut self) {
        if self.probe != Probe::Idle {
            return;
        }
        match (&self.session, self.slot.state()) {
            (Some(session), SlotState::Live) => {
                self.probe = Probe::Pinging;
                self.probe_generation = self.slot.generation();
                errands::ping(
                    &self.s.name,
                    session.clone(),
                    self.s.spec.connect_timeout,
                    self.s.shutdown.signal(),
                    self.tx.clone(),
                    Command::Probed,
                );
            }
            _ => {
                self.probe = Probe::AwaitingConnect;
                self.slot_event(SlotEvent::Need, None);
            }
        }
    }

    fn probed(&mut self, result: Result<(), CallError>) {
        self.probe = Probe::Idle;
        let now = Instant::now();
        let renewed = std::mem::take(&mut self.probe_renewed);
        match result {
            Ok(()) => self.breaker_event(Event::ProbeSucceeded, now),
            Err(error) => {
                self.note(&error);
                let expired = matches!(error, CallError::SessionExpired { .. });
                if expired || error.is_transport_loss() {
                    // The session pinged is gone (a restarted HTTP server
                    // knows no old session id; a dead child answers
                    // nothing): the next connect must start from scratch.
                    let generation = self.probe_generation;
                    self.slot_event(SlotEvent::Closed { generation }, None);
                }
                if expired && !renewed && !self.stopping {
                    // The server rejected the ping, so a new session is
                    // safe to try within the same probe (gateway.md §3).
                    self.probe_renewed = true;
                    self.probe = Probe::AwaitingConnect;
                    self.slot_event(SlotEvent::Need, None);
                    if self.slot.state() == SlotState::Live {
                        // A newer session was already live, so no connect
                        // started and none will report: ping that one.
                        self.probe = Probe::Idle;
                        self.start_probe();
                    }
                    return;
                }
                if let CallError::Auth { status, .. } = error {
                    self.auth_failed(status, now);
                }
                let class = match error.breaker_class() {
                    Some(class) => class,
                    None => FailureClass::Server,
                };
                self.breaker_event(Event::ProbeFailed(class), now);
            }
        }
    }

    fn kept_alive(&mut self, result: Result<(), CallError>) {
        let pinged = self.keepalive.take();
        let now = Instant::now();
        self.last_active = now;
        let current =
            pinged == Some(self.slot.generation()) && self.slot.state() == SlotState::Live;
        match result {
            Ok(()) => {}
            Err(_) if !current => {}
            Err(CallError::Auth { status, .. }) => {
                self.auth_failed(status, now);
            }
            // The server forgot an idle session: not a failure. A new one
            // is started now; only its failing to connect counts.
            Err(CallError::SessionExpired { .. }) if !self.stopping => {
                if let Some(generation) = pinged {
                    log::debug!(
                        "upstream {}: the idle session expired; starting a new one",
                        self.s.name
                    );
                    self.slot_event(SlotEvent::Closed { generation }, None);
                    self.slot_event(SlotEvent::Need, None);
                }
            }
            Err(error) => {
                self.note(&error);
                if let Some(class) = error.breaker_class() {
                    self.breaker_event(Event::CallFailed(class), now);
                }
            }
        }
    }

    fn start_refresh(&mut self) {
        if self.refreshing {
            self.refresh_again = true;
            return;
        }
        let Some(session) = self
            .session
            .clone()
            .filter(|_| self.slot.state() == SlotState::Live)
        else {
            return;
        };
        self.refreshing = true;
        errands::refresh(
            &self.s.name,
            session,
            self.slot.generation(),
            self.s.spec.timeout.min(LIST_TIMEOUT),
            self.s.shutdown.signal(),
            self.tx.clone(),
        );
    }

    fn refreshed(&mut self, generation: Generation, lists: Result<Lists, CallError>) {
        self.refreshing = false;
        let current = generation == self.slot.generation() && self.slot.state() == SlotState::Live;
        match lists {
            Ok(lists) if current => self.apply_lists(lists),
            Ok(_) => {}
            Err(error) => {
                log::debug!(
                    "upstream {}: reading its lists failed: {}",
                    self.s.name,
                    redact(&error.to_string())
                );
                if current {
                    let now = Instant::now();
                    match error {
                        CallError::Auth { status, .. } => {
                            self.auth_failed(status, now);
                        }
                        _ => {
                            if let Some(class) = error.breaker_class() {
                                self.note(&error);
                                self.breaker_event(Event::CallFailed(class), now);
                            }
                        }
                    }
                }
            }
        }
        if std::mem::take(&mut self.refresh_again) {
            self.start_refresh();
        }
    }

    fn apply_lists(&mut self, lists: Lists) {
        let index = self.s.index;
        let (tools, resources, prompts, count) = {
            let mut catalog = match self.s.catalog.write() {
                Ok(c) => c,
                Err(e) => e.into_inner(),
            };
            let tools = lists
                .tools
                .as_deref()
                .is_some_and(|t| catalog.set_tools(index, t, &self.s.spec.tools));
            let mut resources = false;
            if let Some(list) = lists.resources {
                resources |= catalog.set_list(index, ListKind::Resources, list);
            }
            if let Some(list) = lists.templates {
                resources |= catalog.set_list(index, ListKind::Templates, list);
            }
            let prompts = lists
                .prompts
                .is_some_and(|list| catalog.set_list(index, ListKind::Prompts, list));
            (tools, resources, prompts, catalog.tool_count(index))
        };
        if !self.announced {
            self.announced = true;
            let info = self.session.as_ref().map(|s| server_info(s.info()));
            log::info!(
                "upstream {}: connected{}; {count} tool(s) offered",
                self.s.name,
                info.unwrap_or_default()
            );
        }
        if tools {
            self.notify("notifications/tools/list_changed");
        }
        if resources {
            self.notify("notifications/resources/list_changed");
        }
        if prompts {
            self.notify("notifications/prompts/list_changed");
        }
    }

    /// The current session's transport died by itself.
    fn died(&mut self) {
        let generation = self.slot.generation();
        if let Some(session) = &self.session {
            let tail = session.stderr_tail();
            if !tail.is_empty() {
                self.death = Some(tail.join(" | "));
            }
        }
        if self.last_error.is_none() {
            self.last_error = Some("the connection closed (the server process exited?)".into());
        }
        self.slot_event(SlotEvent::Closed { generation }, None);
        if !self.stopping {
            let now = Instant::now();
            self.breaker_event(Event::CallFailed(FailureClass::Transport), now);
        }
    }

    fn event(&mut self, event: &Value) {
        let method = event.get("method").and_then(Value::as_str).unwrap_or("");
        match method {
            "notifications/tools/list_changed"
            | "notifications/resources/list_changed"
            | "notifications/prompts/list_changed" => self.start_refresh(),
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

    fn tick(&mut self) {
        let now = Instant::now();
        if self.breaker.next_deadline().is_some_and(|due| due <= now) {
            self.breaker_event(Event::Tick, now);
        }
        if self.keepalive_due().is_some_and(|due| due <= now) {
            if let Some(session) = self.session.clone() {
                self.keepalive = Some(self.slot.generation());
                errands::ping(
                    &self.s.name,
                    session,
                    self.s.spec.connect_timeout,
                    self.s.shutdown.signal(),
                    self.tx.clone(),
                    Command::KeptAlive,
                );
            }
        }
    }

    fn deadline(&self) -> Option<Instant> {
        match (self.breaker.next_deadline(), self.keepalive_due()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// When a healthy, idle server is due for a ping.
    fn keepalive_due(&self) -> Option<Instant> {
        let idle = self.breaker.state() == State::Closed
            && self.slot.state() == SlotState::Live
            && self.keepalive.is_none()
            && self.probe == Probe::Idle;
        idle.then(|| self.last_active + self.s.keepalive)
    }

    /// Counts an auth failure; whether it parked the server or started a
    /// reconnect (so something will call the server again).
    fn auth_failed(&mut self, status: u16, now: Instant) -> bool {
        if let Some(effect) = self.auth.handle(auth::Event::Status(status), now) {
            let text = texts::auth_log(&effect, &self.s.spec.transport);
            log::log!(effect.level, "{}", redact(&text));
        }
        if self.auth.escalated() {
            self.breaker_event(Event::ParkForAuth, now);
            true
        } else if !self.auth_reconnected {
            // The secret may have been rotated: reconnect once with the
            // variables expanded again.
            self.auth_reconnected = true;
            let generation = self.slot.generation();
            self.slot_event(SlotEvent::Renew { generation }, None);
            true
        } else {
            false
        }
    }

    fn auth_ok(&mut self, now: Instant) {
        if let Some(effect) = self.auth.handle(auth::Event::Status(200), now) {
            let text = texts::auth_log(&effect, &self.s.spec.transport);
            log::log!(effect.level, "{}", redact(&text));
        }
        self.auth_reconnected = false;
    }

    fn breaker_event(&mut self, event: Event, now: Instant) {
        let effects = self.breaker.handle(event, now);
        self.breaker_effects(effects, now);
    }

    fn breaker_effects(&mut self, effects: Vec<Effect>, now: Instant) {
        for effect in effects {
            match effect {
                Effect::StartProbe => self.start_probe(),
                Effect::StateChanged { from, to, reason } => self.log_change(from, to, reason, now),
                Effect::HideTools => self.hide(true),
                Effect::ShowTools => self.hide(false),
                Effect::Stopped => {}
            }
        }
    }

    fn hide(&mut self, hidden: bool) {
        let changed = match self.s.catalog.write() {
            Ok(mut c) => c.set_hidden(self.s.index, hidden),
            Err(e) => e.into_inner().set_hidden(self.s.index, hidden),
        };
        if changed {
            self.notify("notifications/tools/list_changed");
        }
    }

    /// One line per state change: warnings for open and parked, info when
    /// the server is back.
    fn log_change(&mut self, from: State, to: State, reason: Reason, now: Instant) {
        let name = &self.s.name;
        let error = match &self.last_error {
            Some(e) if !matches!(to, State::Closed) => format!("; last error: {e}"),
            _ => String::new(),
        };
        let death = match (&to, self.death.take()) {
            (State::Open | State::Parked(_), Some(tail)) => {
                format!("; its last stderr lines: {tail}")
            }
            _ => String::new(),
        };
        let line = match to {
            State::Open => {
                let wait = self
                    .breaker
                    .next_deadline()
                    .map_or(0.0, |due| due.saturating_duration_since(now).as_secs_f64());
                format!(
                    "upstream {name}: unreachable ({reason}){error}; calls are refused for about \
                     {wait:.1} s, then one probe{death}"
                )
            }
            State::Parked(park) => format!(
                "upstream {name}: parked, {park} ({reason}){error}; its tools are hidden until a \
                 call to one of them or the periodic probe (every {} s) brings it back{death}",
                self.s.spec.breaker.park_probe.as_secs()
            ),
            State::Closed => format!("upstream {name}: available again ({reason})"),
            State::HalfOpen => format!("upstream {name}: probing ({reason}, was {from})"),
            State::Stopped => format!("upstream {name}: stopped"),
        };
        let line = redact(&line);
        match to {
            State::Open | State::Parked(_) => log::warn!("{line}"),
            State::Closed => log::info!("{line}"),
            State::HalfOpen | State::Stopped => log::debug!("{line}"),
        }
    }

    fn note(&mut self, error: &CallError) {
        if !matches!(error, CallError::Closed | CallError::Cancelled) {
            self.last_error = Some(redact(&error.to_string()));
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
            state: self.breaker.state(),
            last_error: self.last_error.clone(),
            tools,
            connected: self.slot.state() == SlotState::Live,
        };
        match self.status.lock() {
            Ok(mut s) => *s = status,
            Err(e) => *e.into_inner() = status,
        }
        let open = self.breaker.state() == State::Closed
            && self.slot.state() == SlotState::Live
            && !self.stopping;
        let standing = match &self.session {
            Some(session) if open => Some((session.clone(), self.slot.generation())),
            _ => None,
        };
        self.lane.set(standing);
    }

    /// Shutdown: the breaker stops, the session closes, a running connect
    /// is waited for (briefly) so that what it started is closed too, and
    /// nothing reconnects.
    fn stop(&mut self) {
        self.stopping = true;
        let now = Instant::now();
        self.breaker_event(Event::Shutdown, now);
        self.slot_event(SlotEvent::Shutdown, None);
        let deadline = Instant::now() + CONNECT_GRACE;
        while self.connect_running {
            match self.rx.recv_deadline(deadline) {
                Ok(Command::Connected(result)) => self.connected(result),
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

/// ` to NAME VERSION` from an initialize answer, shortened; empty when the
/// server did not say.
fn server_info(info: &Value) -> String {
    let field = |key: &str| {
        info.pointer(&format!("/serverInfo/{key}"))
            .and_then(Value::as_str)
            .map(|s| s.chars().take(60).collect::<String>())
    };
    match (field("name"), field("version")) {
        (Some(name), Some(version)) => format!(" to {name} {version}"),
        (Some(name), None) => format!(" to {name}"),
        _ => String::new(),
    }
}
