//! One upstream server's fate (gateway.md §3–4): its breaker, its session
//! slot, its auth escalation, the probe, the keep-alive and the list
//! refresh, decided together in one pure machine.
//!
//! Shape of quinn-proto / str0m: the shell feeds every input with
//! [`Upstream::handle`], drains [`Upstream::poll_output`] and comes back
//! with [`Input::Tick`] at [`Upstream::poll_timeout`]. The shell owns the
//! sessions, channels and threads; it carries out outputs and decides
//! nothing.
//!
//! Calls are named by a [`Ticket`] the shell picks; every ticket gets
//! exactly one [`Output::Answer`], at once or when the running connect or
//! probe ends.
//!
//! Table: `spec/upstream.table`.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::auth::{self, AuthEscalation};
use super::breaker::{self, Admission, Breaker, Ending, Event, Reason, Rejection, State};
use super::later;
use super::session::{Generation, Slot, SlotEffect, SlotEvent, SlotState};
use super::Jitter;

/// The shell's name for one call waiting for an answer.
pub type Ticket = u64;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Config {
    pub breaker: breaker::Config,
    /// Idle time after which a healthy server is pinged.
    pub keepalive: Duration,
    /// A stdio server: one that stops answering is alive but useless, so a
    /// probe or keep-alive timeout, or `hung_after` call timeouts in a row,
    /// end its process like a lost connection; the next probe respawns it.
    pub restart_hung: bool,
    pub hung_after: u32,
    /// A call to an open breaker starts a probe at once unless one started
    /// less than this ago: a dead server sees one probe a second at most.
    pub probe_gap: Duration,
    /// How long a call waits for a running probe's outcome before it is
    /// told the server is reconnecting.
    pub probe_wait: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            breaker: breaker::Config::default(),
            keepalive: Duration::from_secs(60),
            restart_hung: false,
            hung_after: 3,
            probe_gap: Duration::from_secs(1),
            probe_wait: Duration::from_secs(2),
        }
    }
}

/// How a call ended, for the breaker and the auth escalation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    Success,
    Failure(Ending),
    /// HTTP 401/403.
    Auth(u16),
}

/// Why a connect, ping or list read failed, as far as this machine cares;
/// the shell classifies its errors into these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The server no longer knows the session.
    Expired,
    /// HTTP 401/403.
    Auth(u16),
    /// We closed the session ourselves: not the server's doing.
    Closed,
    /// Anything else, with its breaker class (`Transport`: the connection
    /// is gone).
    Failed(Ending),
}

impl Fault {
    /// The breaker's view; `None` for what is not the server's doing.
    fn class(self) -> Option<Ending> {
        match self {
            Fault::Expired => Some(Ending::Server),
            Fault::Auth(_) | Fault::Closed => None,
            Fault::Failed(class) => Some(class),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// The driver starts: connect in the background.
    Start,
    /// A call wants to go through: admission, then a session.
    Admit(Ticket),
    /// A call found the session of this generation expired (or lost).
    Renew(Ticket, Generation),
    /// How a call on this generation ended.
    Report(Generation, Report),
    /// The connect ended. On success the shell holds the new session until
    /// `Adopt` or `Discard`.
    Connected(Result<(), Fault>),
    /// The probe's ping ended.
    Probed(Result<(), Fault>),
    /// The keep-alive ping ended.
    KeptAlive(Result<(), Fault>),
    /// The list refresh of this generation ended.
    Refreshed(Generation, Result<(), Fault>),
    /// The current session's transport closed by itself.
    Died,
    /// The server said one of its lists changed.
    ListChanged,
    /// `poll_timeout()` was reached.
    Tick,
    Shutdown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ping {
    Probe,
    KeepAlive,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Go(Generation),
    Reject(Rejection),
    /// The connect this call waited for failed: the shell says why.
    ConnectFailed,
    /// No session for this call (none came of its ask).
    Closed,
    /// Shut down.
    Stopped,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Start a connect (spawn / initialize) in a helper thread.
    Connect,
    /// The session that just connected becomes the current one.
    Adopt(Generation),
    /// Close the session that just connected: nobody takes it.
    Discard,
    /// Make on the new current session what the agent set up on the
    /// server's earlier ones (its subscriptions, its logging level): a
    /// restarted server has forgotten them.
    Restore(Generation),
    /// Close the current session (ending a child's process group), in the
    /// background unless `at_once` (shutdown).
    Close {
        generation: Generation,
        at_once: bool,
    },
    /// Ping the current session; come back with `Probed` / `KeptAlive`.
    Ping(Ping),
    /// Read the lists of this generation; come back with `Refreshed`.
    Refresh(Generation),
    /// Put the lists just read into the catalog (and send `list_changed`
    /// for what changed); `announce`: log the first connect line.
    ApplyLists {
        announce: bool,
    },
    Answer(Ticket, Answer),
    /// The server's tools leave (`true`) or rejoin `tools/list`.
    Hide(bool),
    /// A log line of the auth escalation.
    Auth(auth::Effect),
    /// One log line per breaker state change; `retry_in` for open.
    StateChanged {
        from: State,
        to: State,
        reason: Reason,
        retry_in: Option<Duration>,
    },
    /// A stdio server stopped answering: its process is ended.
    Hung,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    Idle,
    /// The probe needs a session first; the running connect decides.
    AwaitingConnect,
    /// Pinging the session of this generation.
    Pinging(Generation),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresh {
    Idle,
    Running,
    /// Running, and a list changed meanwhile: read again when it ends.
    Again,
}

pub struct Upstream {
    config: Config,
    breaker: Breaker,
    slot: Slot,
    auth: AuthEscalation,
    probe: Probe,
    /// The running probe already replaced an expired session once.
    probe_renewed: bool,
    last_probe: Option<Instant>,
    /// The generation a keep-alive ping runs on.
    keepalive: Option<Generation>,
    last_active: Instant,
    refresh: Refresh,
    /// The first list after a connect was announced.
    announced: bool,
    /// The one reconnect with re-expanded credentials was made.
    auth_reconnected: bool,
    /// Consecutive call timeouts on the current session.
    timeouts: u32,
    /// Calls waiting for the running connect.
    held: Vec<Ticket>,
    /// Calls waiting for the running probe, each with its last moment.
    waiting: Vec<(Ticket, Instant)>,
    stopping: bool,
    now: Instant,
    outputs: VecDeque<Output>,
}

impl Upstream {
    pub fn new(config: Config, subject: &str, jitter: Box<dyn Jitter>, now: Instant) -> Self {
        Upstream {
            config,
            breaker: Breaker::new(config.breaker, jitter),
            slot: Slot::new(),
            auth: AuthEscalation::new(subject),
            probe: Probe::Idle,
            probe_renewed: false,
            last_probe: None,
            keepalive: None,
            last_active: now,
            refresh: Refresh::Idle,
            announced: false,
            auth_reconnected: false,
            timeouts: 0,
            held: Vec::new(),
            waiting: Vec::new(),
            stopping: false,
            now,
            outputs: VecDeque::new(),
        }
    }

    pub fn handle(&mut self, input: Input, now: Instant) {
        self.now = self.now.max(now);
        match input {
            Input::Start => self.slot_event(SlotEvent::Need, None),
            Input::Admit(ticket) => self.admit(ticket),
            Input::Renew(ticket, generation) => {
                self.slot_event(SlotEvent::Renew { generation }, Some(ticket))
            }
            Input::Report(generation, report) => self.report(generation, report),
            Input::Connected(Ok(())) => self.connected(),
            Input::Connected(Err(fault)) => self.connect_failed(fault),
            Input::Probed(result) => self.probed(result),
            Input::KeptAlive(result) => self.kept_alive(result),
            Input::Refreshed(generation, result) => self.refreshed(generation, result),
            Input::Died => self.died(),
            Input::ListChanged => self.start_refresh(),
            Input::Tick => self.tick(),
            Input::Shutdown => self.shutdown(),
        }
        self.settle_waiting();
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When the shell must come back with `Tick` if nothing else happens.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.breaker.next_deadline(),
            self.keepalive_due(),
            self.waiting.iter().map(|(_, until)| *until).min(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    pub fn breaker(&self) -> &Breaker {
        &self.breaker
    }

    pub fn slot(&self) -> &Slot {
        &self.slot
    }

    pub fn auth_count(&self) -> u32 {
        self.auth.count()
    }

    /// When the last probe started: calls start one at most every
    /// `probe_gap`.
    pub fn last_probe(&self) -> Option<Instant> {
        self.last_probe
    }

    pub fn probe(&self) -> Probe {
        self.probe
    }

    pub fn refresh(&self) -> Refresh {
        self.refresh
    }

    pub fn keepalive_running(&self) -> bool {
        self.keepalive.is_some()
    }

    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    pub fn timeouts(&self) -> u32 {
        self.timeouts
    }

    pub fn auth_reconnected(&self) -> bool {
        self.auth_reconnected
    }

    pub fn probe_renewed(&self) -> bool {
        self.probe_renewed
    }

    /// When a healthy, idle server is due for a keep-alive ping.
    pub fn keepalive_due(&self) -> Option<Instant> {
        let idle = self.breaker.state() == State::Closed
            && self.slot.state() == SlotState::Live
            && self.keepalive.is_none()
            && self.probe == Probe::Idle;
        idle.then(|| later(self.last_active, self.config.keepalive))
    }

    fn admit(&mut self, ticket: Ticket) {
        // Recovery on demand: someone wants the server now, so the probe
        // runs now rather than at the end of the cooldown.
        // A dead server that is called sees one probe a second, whether
        // the call finds it open or parked (where a call revives it).
        match self.breaker.state() {
            State::Open if self.probe_allowed() => self.breaker_event(Event::ProbeNow),
            State::Parked(reason) if !self.probe_allowed() => {
                return self.answer(ticket, Answer::Reject(Rejection::Parked(reason)));
            }
            _ => {}
        }
        let (admission, effects) = self.breaker.admit(self.now);
        self.breaker_effects(effects);
        match admission {
            Admission::Go => self.slot_event(SlotEvent::Wait, Some(ticket)),
            Admission::Reject(Rejection::Reconnecting) => {
                let until = later(self.now, self.config.probe_wait);
                self.waiting.push((ticket, until));
            }
            Admission::Reject(rejection) => self.answer(ticket, Answer::Reject(rejection)),
        }
    }

    fn probe_allowed(&self) -> bool {
        self.last_probe
            .is_none_or(|at| self.now >= later(at, self.config.probe_gap))
    }

    /// Calls waiting for a probe get its outcome once it has one.
    fn settle_waiting(&mut self) {
        if self.waiting.is_empty() || self.breaker.state() == State::HalfOpen {
            return;
        }
        let answer = match self.breaker.state() {
            State::Closed => None,
            State::Open => Some(Rejection::Open {
                retry_in: self.breaker.next_deadline().map_or(Duration::ZERO, |due| {
                    due.saturating_duration_since(self.now)
                }),
                failures: self.breaker.failures(),
            }),
            State::Parked(reason) => Some(Rejection::Parked(reason)),
            State::HalfOpen | State::Stopped => Some(Rejection::Stopped),
        };
        for (ticket, _) in std::mem::take(&mut self.waiting) {
            match answer {
                None => self.slot_event(SlotEvent::Wait, Some(ticket)),
                Some(Rejection::Stopped) => self.answer(ticket, Answer::Stopped),
                Some(rejection) => self.answer(ticket, Answer::Reject(rejection)),
            }
        }
    }

    fn report(&mut self, generation: Generation, report: Report) {
        self.last_active = self.now;
        let current = generation == self.slot.generation() && self.slot.state() == SlotState::Live;
        match report {
            Report::Success => {
                if current {
                    self.timeouts = 0;
                }
                self.auth_ok();
                self.breaker_event(Event::CallSucceeded);
            }
            // An answer (tool error, caller error) proves the server alive
            // whichever session carried it; a failure counts only against
            // the session it happened on.
            Report::Failure(class) if !class.is_failure() || current => {
                if current {
                    self.timeouts = match class {
                        Ending::Timeout => self.timeouts.saturating_add(1),
                        Ending::Cancelled => self.timeouts,
                        _ => 0,
                    };
                }
                self.breaker_event(Event::CallFailed(class));
                if current && self.config.restart_hung && self.timeouts >= self.config.hung_after {
                    self.hung(generation);
                }
            }
            Report::Failure(_) => {}
            Report::Auth(status) => {
                self.auth_failed(status);
            }
        }
    }

    /// A stdio server that no longer answers: end its process like a lost
    /// connection; the breaker's probe starts a new one.
    fn hung(&mut self, generation: Generation) {
        self.outputs.push_back(Output::Hung);
        self.slot_event(SlotEvent::Closed { generation }, None);
        self.breaker_event(Event::CallFailed(Ending::Transport));
    }

    fn connected(&mut self) {
        let was = self.slot.state();
        self.slot_event(SlotEvent::Connected, None);
        if !matches!(was, SlotState::Connecting | SlotState::Stopped) {
            // Nobody asked for it: close it.
            self.outputs.push_back(Output::Discard);
        }
        if was != SlotState::Connecting || self.slot.state() != SlotState::Live {
            return;
        }
        self.last_active = self.now;
        self.announced = false;
        self.timeouts = 0;
        if self.probe == Probe::AwaitingConnect {
            self.probe = Probe::Idle;
            self.start_probe();
        } else {
            self.breaker_event(Event::Connected);
        }
        self.start_refresh();
    }

    fn connect_failed(&mut self, fault: Fault) {
        let class = fault.class().unwrap_or(Ending::Transport);
        let was = self.slot.state();
        self.slot_event(SlotEvent::ConnectFailed(class), None);
        if self.stopping || was != SlotState::Connecting {
            return;
        }
        let probing = self.probe == Probe::AwaitingConnect;
        self.probe = Probe::Idle;
        self.probe_renewed = false;
        match fault {
            Fault::Auth(status) => {
                let moving = self.auth_failed(status);
                if probing {
                    self.breaker_event(Event::ProbeFailed(Ending::Server));
                } else if !moving {
                    // No reconnect and no park: without a session nothing
                    // would call the server again, so the breaker opens and
                    // its probes keep counting.
                    self.breaker_event(Event::CallFailed(Ending::Transport));
                }
            }
            _ if probing => self.breaker_event(Event::ProbeFailed(class)),
            // After a failed connect there is no session: like a lost
            // connection it opens the breaker at once, so the probe keeps
            // trying (a closed breaker without a session would wait for
            // calls to tools it never listed).
            _ if class == Ending::Permanent => self.breaker_event(Event::CallFailed(class)),
            _ => self.breaker_event(Event::CallFailed(Ending::Transport)),
        }
    }

    fn start_probe(&mut self) {
        if self.probe != Probe::Idle {
            return;
        }
        self.last_probe = Some(self.now);
        if self.slot.state() == SlotState::Live {
            self.probe = Probe::Pinging(self.slot.generation());
            self.outputs.push_back(Output::Ping(Ping::Probe));
        } else {
            self.probe = Probe::AwaitingConnect;
            self.slot_event(SlotEvent::Need, None);
        }
    }

    fn probed(&mut self, result: Result<(), Fault>) {
        let Probe::Pinging(generation) = self.probe else {
            return;
        };
        self.probe = Probe::Idle;
        let renewed = std::mem::take(&mut self.probe_renewed);
        let fault = match result {
            Ok(()) => return self.breaker_event(Event::ProbeSucceeded),
            Err(fault) => fault,
        };
        let hung = self.config.restart_hung && fault == Fault::Failed(Ending::Timeout);
        if hung {
            self.outputs.push_back(Output::Hung);
        }
        let expired = fault == Fault::Expired;
        if expired || hung || fault == Fault::Failed(Ending::Transport) {
            // The session pinged is gone (a restarted HTTP server knows no
            // old session id; a dead or hung child answers nothing): the
            // next connect starts from scratch.
            self.slot_event(SlotEvent::Closed { generation }, None);
        }
        if expired && !renewed && !self.stopping {
            // The server rejected the ping, so a new session is safe to try
            // within the same probe (gateway.md §3).
            self.probe_renewed = true;
            self.probe = Probe::AwaitingConnect;
            self.slot_event(SlotEvent::Need, None);
            if self.slot.state() == SlotState::Live {
                // A newer session was already live, so no connect started
                // and none will report: ping that one.
                self.probe = Probe::Idle;
                self.start_probe();
            }
            return;
        }
        if let Fault::Auth(status) = fault {
            self.auth_failed(status);
        }
        let class = fault.class().unwrap_or(Ending::Server);
        self.breaker_event(Event::ProbeFailed(class));
    }

    fn kept_alive(&mut self, result: Result<(), Fault>) {
        let Some(pinged) = self.keepalive.take() else {
            return;
        };
        self.last_active = self.now;
        let current = pinged == self.slot.generation() && self.slot.state() == SlotState::Live;
        let fault = match result {
            Ok(()) => return,
            Err(_) if !current => return,
            Err(fault) => fault,
        };
        match fault {
            Fault::Auth(status) => {
                self.auth_failed(status);
            }
            // The server forgot an idle session: not a failure. A new one
            // is started now; only its failing to connect counts.
            Fault::Expired if !self.stopping => {
                self.slot_event(SlotEvent::Closed { generation: pinged }, None);
                self.slot_event(SlotEvent::Need, None);
            }
            Fault::Failed(Ending::Timeout) if self.config.restart_hung => self.hung(pinged),
            _ => {
                if let Some(class) = fault.class() {
                    self.breaker_event(Event::CallFailed(class));
                }
            }
        }
    }

    fn start_refresh(&mut self) {
        if self.refresh != Refresh::Idle {
            self.refresh = Refresh::Again;
            return;
        }
        if self.slot.state() == SlotState::Live {
            self.refresh = Refresh::Running;
            self.outputs
                .push_back(Output::Refresh(self.slot.generation()));
        }
    }

    fn refreshed(&mut self, generation: Generation, result: Result<(), Fault>) {
        if self.refresh == Refresh::Idle {
            return;
        }
        let again = self.refresh == Refresh::Again;
        self.refresh = Refresh::Idle;
        let current = generation == self.slot.generation() && self.slot.state() == SlotState::Live;
        match result {
            _ if !current => {}
            Ok(()) => {
                let announce = !std::mem::replace(&mut self.announced, true);
                self.outputs.push_back(Output::ApplyLists { announce });
            }
            Err(Fault::Auth(status)) => {
                self.auth_failed(status);
            }
            Err(fault) => {
                if let Some(class) = fault.class() {
                    self.breaker_event(Event::CallFailed(class));
                }
            }
        }
        if again {
            self.start_refresh();
        }
    }

    fn died(&mut self) {
        if self.slot.state() != SlotState::Live {
            return;
        }
        let generation = self.slot.generation();
        self.slot_event(SlotEvent::Closed { generation }, None);
        if !self.stopping {
            self.breaker_event(Event::CallFailed(Ending::Transport));
        }
    }

    fn tick(&mut self) {
        let now = self.now;
        if self.breaker.next_deadline().is_some_and(|due| due <= now) {
            self.breaker_event(Event::Tick);
        }
        if self.keepalive_due().is_some_and(|due| due <= now) {
            self.keepalive = Some(self.slot.generation());
            self.outputs.push_back(Output::Ping(Ping::KeepAlive));
        }
        let (late, still): (Vec<_>, Vec<_>) =
            self.waiting.iter().partition(|(_, until)| *until <= now);
        self.waiting = still;
        for (ticket, _) in late {
            self.answer(ticket, Answer::Reject(Rejection::Reconnecting));
        }
    }

    fn shutdown(&mut self) {
        self.stopping = true;
        self.breaker_event(Event::Shutdown);
        // Calls waiting for a probe hear "stopped" from `settle_waiting`.
        self.slot_event(SlotEvent::Shutdown, None);
    }

    /// Counts an auth failure; whether it parked the server or started a
    /// reconnect (so something will call the server again).
    fn auth_failed(&mut self, status: u16) -> bool {
        if let Some(effect) = self.auth.handle(auth::Event::Status(status), self.now) {
            self.outputs.push_back(Output::Auth(effect));
        }
        if self.auth.escalated() {
            self.breaker_event(Event::ParkForAuth);
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

    fn auth_ok(&mut self) {
        if let Some(effect) = self.auth.handle(auth::Event::Status(200), self.now) {
            self.outputs.push_back(Output::Auth(effect));
        }
        self.auth_reconnected = false;
    }

    fn breaker_event(&mut self, event: Event) {
        let effects = self.breaker.handle(event, self.now);
        self.breaker_effects(effects);
    }

    fn breaker_effects(&mut self, effects: Vec<breaker::Effect>) {
        for effect in effects {
            match effect {
                breaker::Effect::StartProbe => self.start_probe(),
                breaker::Effect::StateChanged { from, to, reason } => {
                    let retry_in = (to == State::Open).then(|| {
                        self.breaker.next_deadline().map_or(Duration::ZERO, |due| {
                            due.saturating_duration_since(self.now)
                        })
                    });
                    self.outputs.push_back(Output::StateChanged {
                        from,
                        to,
                        reason,
                        retry_in,
                    });
                }
                breaker::Effect::HideTools => self.outputs.push_back(Output::Hide(true)),
                breaker::Effect::ShowTools => self.outputs.push_back(Output::Hide(false)),
                breaker::Effect::Stopped => {}
            }
        }
    }

    /// Feeds the slot; `ticket` is the asker's, if the event has one.
    fn slot_event(&mut self, event: SlotEvent, ticket: Option<Ticket>) {
        let mut ticket = ticket;
        for effect in self.slot.handle(event) {
            match effect {
                SlotEffect::Connect => self.outputs.push_back(Output::Connect),
                SlotEffect::Drop(generation) => {
                    self.keepalive = None;
                    self.timeouts = 0;
                    self.outputs.push_back(Output::Close {
                        generation,
                        at_once: self.stopping,
                    });
                }
                SlotEffect::Hand(generation) => {
                    if let Some(t) = ticket.take() {
                        self.answer(t, Answer::Go(generation));
                    }
                }
                SlotEffect::Hold => {
                    if let Some(t) = ticket.take() {
                        self.held.push(t);
                    }
                }
                SlotEffect::Release(generation) => {
                    self.outputs.push_back(Output::Adopt(generation));
                    self.outputs.push_back(Output::Restore(generation));
                    for t in std::mem::take(&mut self.held) {
                        self.answer(t, Answer::Go(generation));
                    }
                }
                SlotEffect::Fail(_) => {
                    for t in std::mem::take(&mut self.held) {
                        self.answer(t, Answer::ConnectFailed);
                    }
                }
                SlotEffect::Refuse => {
                    let held = std::mem::take(&mut self.held);
                    for t in ticket.take().into_iter().chain(held) {
                        self.answer(t, Answer::Stopped);
                    }
                }
                SlotEffect::Discard => self.outputs.push_back(Output::Discard),
            }
        }
        // Every ask gets an answer, even one no effect took.
        if let Some(t) = ticket {
            self.answer(t, Answer::Closed);
        }
    }

    fn answer(&mut self, ticket: Ticket, answer: Answer) {
        self.outputs.push_back(Output::Answer(ticket, answer));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::{Fixed, XorShift};
    use crate::test_clock::epoch;
    use std::collections::HashMap;

    fn machine(restart_hung: bool) -> Upstream {
        let config = Config {
            restart_hung,
            ..Config::default()
        };
        Upstream::new(config, "s", Box::new(Fixed(0.5)), epoch())
    }

    fn drain(m: &mut Upstream) -> Vec<Output> {
        std::iter::from_fn(|| m.poll_output()).collect()
    }

    #[test]
    fn results_of_nothing_that_runs_change_nothing() {
        let mut m = machine(true);
        let t = epoch();
        for input in [
            Input::Probed(Err(Fault::Failed(Ending::Timeout))),
            Input::KeptAlive(Err(Fault::Expired)),
            Input::Refreshed(0, Ok(())),
            Input::Died,
        ] {
            m.handle(input, t);
            assert_eq!(drain(&mut m), [], "{input:?}");
            assert_eq!(m.breaker().state(), State::Closed);
        }
        // A session nobody asked for is closed, never adopted.
        m.handle(Input::Connected(Ok(())), t);
        assert_eq!(drain(&mut m), [Output::Discard]);
        assert_eq!(m.slot().state(), SlotState::Empty);
    }

    fn follow(
        m: &mut Upstream,
        answers: &mut HashMap<Ticket, u32>,
        connecting: &mut bool,
        seed: u64,
    ) {
        for output in drain(m) {
            match output {
                Output::Answer(t, _) => *answers.entry(t).or_default() += 1,
                Output::Connect => {
                    assert!(!*connecting, "seed {seed}: a second connect");
                    *connecting = true;
                }
                _ => {}
            }
        }
    }

    /// Whatever happens, every ticket is answered exactly once by the end
    /// (shutdown, then the running connect reports), and the machine never
    /// asks for a second connect while one runs.
    #[test]
    fn every_ticket_gets_exactly_one_answer() {
        for seed in 1..200u64 {
            let mut rng = XorShift::new(seed);
            let mut m = machine(seed % 2 == 0);
            let mut now = epoch();
            let mut answers: HashMap<Ticket, u32> = HashMap::new();
            let mut tickets = 0;
            let mut connecting = false;
            m.handle(Input::Start, now);
            follow(&mut m, &mut answers, &mut connecting, seed);
            for _ in 0..60 {
                let pick = (crate::machine::Jitter::unit(&mut rng) * 12.0) as u32;
                let generation = m.slot().generation();
                let fault = [
                    Fault::Expired,
                    Fault::Auth(401),
                    Fault::Failed(Ending::Timeout),
                    Fault::Failed(Ending::Transport),
                ][(pick % 4) as usize];
                let input = match pick {
                    0 | 1 => {
                        tickets += 1;
                        Input::Admit(tickets)
                    }
                    2 => {
                        tickets += 1;
                        Input::Renew(tickets, generation)
                    }
                    3 => Input::Report(generation, Report::Failure(Ending::Timeout)),
                    4 => Input::Connected(Ok(())),
                    5 => Input::Connected(Err(fault)),
                    6 => Input::Probed(Ok(())),
                    7 => Input::Probed(Err(fault)),
                    8 => Input::KeptAlive(Err(fault)),
                    9 => Input::Died,
                    10 => Input::Report(generation, Report::Auth(403)),
                    _ => {
                        now = m.poll_timeout().unwrap_or(now).max(now);
                        Input::Tick
                    }
                };
                // Connect results come only from a running connect.
                if matches!(input, Input::Connected(_)) && !connecting {
                    continue;
                }
                if matches!(input, Input::Connected(_)) {
                    connecting = false;
                }
                m.handle(input, now);
                follow(&mut m, &mut answers, &mut connecting, seed);
            }
            m.handle(Input::Shutdown, now);
            follow(&mut m, &mut answers, &mut connecting, seed);
            if connecting {
                m.handle(Input::Connected(Ok(())), now);
                follow(&mut m, &mut answers, &mut connecting, seed);
            }
            for t in 1..=tickets {
                assert_eq!(answers.get(&t), Some(&1), "seed {seed}: ticket {t}");
            }
        }
    }
}
