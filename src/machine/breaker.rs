//! The circuit breaker guarding one upstream server (gateway.md §4):
//! closed / open / half-open / parked / stopped.
//!
//! Invariant: parked is never final. A parked breaker probes every
//! `park_probe` and on every revive request; only `Shutdown` ends it.
//!
//! Cooldowns: the n-th open after a run of failed probes waits
//! `cooldown × 2ⁿ` scaled by a factor in [1 − jitter, 1 + jitter) (so that
//! breakers opened together do not probe together), and never more than
//! `max_cooldown`: a dead server costs one probe every 15 s at most, and a
//! capped cooldown is 12–15 s.
//!
//! Table: `spec/breaker.table`.

use super::{draw, fraction, later, scaled, Jitter};
use std::fmt;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Config {
    /// Consecutive failures that open a closed breaker.
    pub threshold: u32,
    /// The first cooldown; it doubles per failed probe.
    pub cooldown: Duration,
    pub max_cooldown: Duration,
    /// ± fraction applied to each cooldown, below 1.
    pub jitter: f64,
    /// Consecutive failed probes that park the breaker.
    pub park_after: u32,
    /// How often a parked breaker probes by itself.
    pub park_probe: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            threshold: 3,
            cooldown: Duration::from_millis(500),
            max_cooldown: Duration::from_secs(15),
            jitter: 0.2,
            park_after: 10,
            park_probe: Duration::from_secs(60),
        }
    }
}

/// How a call or probe ended, as far as the breaker cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The connection is gone: child exited, connection refused or reset.
    /// Opens a closed breaker at once.
    Transport,
    Timeout,
    /// HTTP 5xx, JSON-RPC -32603, a failed re-initialize after expiry.
    Server,
    /// Retrying cannot help: command missing, invalid URL, not an MCP
    /// endpoint, config error. Parks at once.
    Permanent,
    /// A tool result with `isError: true`: the server answered, a success.
    AnsweredToolError,
    /// JSON-RPC -32601/-32602: the server answered, a success.
    AnsweredInvalidCall,
    /// The caller gave up: no verdict on the server (but a cancelled probe
    /// counts as failed, so a breaker never waits on a probe forever).
    Cancelled,
}

impl Ending {
    /// Whether this counts against the server.
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            Ending::Transport | Ending::Timeout | Ending::Server | Ending::Permanent
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParkReason {
    /// `park_after` probes in a row failed.
    Probes,
    /// A failure retrying cannot fix.
    Permanent,
    /// The auth escalation gave up on the server's credentials.
    Auth,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Closed,
    Open,
    HalfOpen,
    Parked(ParkReason),
    Stopped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    CallSucceeded,
    CallFailed(Ending),
    /// Time passed; the shell sends it when `next_deadline()` is reached.
    Tick,
    ProbeSucceeded,
    ProbeFailed(Ending),
    ReviveRequested,
    /// A call wants the server while it cools down: probe now instead of
    /// at the end of the cooldown (the composite machine decides how often).
    ProbeNow,
    /// A (re)initialize succeeded.
    Connected,
    /// The auth escalation decided the credentials are not coming back by
    /// themselves.
    ParkForAuth,
    Shutdown,
}

/// Why the state changed, for the one log line per change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Closed → open: `count` consecutive failures, the last of class `last`.
    Failures {
        count: u32,
        last: Ending,
    },
    CooldownElapsed,
    /// Open → half-open early because a call wants the server.
    Called,
    /// Parked → half-open by the periodic probe timer.
    ParkProbe,
    /// Parked → half-open because someone asked for the server.
    Revive,
    /// Half-open → open when a call's probe failed before the scheduled
    /// one was due: the cooldown it interrupted goes on.
    CalledProbeFailed {
        class: Ending,
    },
    /// Half-open → open (or back to parked, when reviving).
    ProbeFailed {
        class: Ending,
        failed_probes: u32,
    },
    /// Half-open → parked after `park_after` failed probes.
    ProbesExhausted {
        failed_probes: u32,
    },
    Permanent,
    Auth,
    ProbeSucceeded,
    CallSucceeded,
    Connected,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Run the one probe: reconnect if needed, then ping (or tools/list);
    /// come back with `ProbeSucceeded`/`ProbeFailed`.
    StartProbe,
    StateChanged {
        from: State,
        to: State,
        reason: Reason,
    },
    /// Entering parked: drop the tools from `tools/list` and send
    /// `list_changed`.
    HideTools,
    /// Leaving parked on success: the tools are back, `list_changed` again.
    ShowTools,
    Stopped,
}

/// What to do with a call that wants to go to this server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Go,
    Reject(Rejection),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// Cooling down: tell the caller to retry in about `retry_in`.
    Open { retry_in: Duration, failures: u32 },
    /// A probe is running.
    Reconnecting,
    /// The server was parked; this call started a revive.
    Parked(ParkReason),
    /// Shutting down.
    Stopped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Closed,
    Open {
        until: Instant,
    },
    /// `reviving` is the park being tested, if the probe came from parked;
    /// `resume` the cooldown a call's probe interrupted: its failure goes
    /// back to it instead of counting towards the park.
    HalfOpen {
        reviving: Option<ParkReason>,
        resume: Option<Instant>,
    },
    Parked {
        reason: ParkReason,
        next_probe: Instant,
    },
    Stopped,
}

pub struct Breaker {
    config: Config,
    jitter: Box<dyn Jitter>,
    phase: Phase,
    /// Consecutive failures of calls and probes since the last success.
    failures: u32,
    /// Consecutive failed probes since the last success.
    failed_probes: u32,
}

impl Breaker {
    pub fn new(config: Config, jitter: Box<dyn Jitter>) -> Self {
        let config = Config {
            jitter: fraction(config.jitter, 0.99),
            ..config
        };
        Breaker {
            config,
            jitter,
            phase: Phase::Closed,
            failures: 0,
            failed_probes: 0,
        }
    }

    pub fn handle(&mut self, event: Event, now: Instant) -> Vec<Effect> {
        let mut effects = Vec::new();
        if self.phase == Phase::Stopped {
            return effects;
        }
        match event {
            Event::Shutdown => {
                self.phase = Phase::Stopped;
                effects.push(Effect::Stopped);
            }
            Event::CallSucceeded => self.close(Reason::CallSucceeded, &mut effects),
            Event::Connected => self.close(Reason::Connected, &mut effects),
            Event::CallFailed(class) => self.call_failed(class, now, &mut effects),
            Event::Tick => self.tick(now, &mut effects),
            Event::ProbeSucceeded => {
                if self.probing() {
                    self.close(Reason::ProbeSucceeded, &mut effects);
                }
            }
            Event::ProbeFailed(class) => {
                if let Phase::HalfOpen { reviving, resume } = self.phase {
                    self.probe_failed(class, reviving, resume, now, &mut effects);
                }
            }
            Event::ReviveRequested => {
                if let Phase::Parked { reason, .. } = self.phase {
                    self.revive(reason, Reason::Revive, &mut effects);
                }
            }
            Event::ProbeNow => {
                if let Phase::Open { until } = self.phase {
                    self.half_open(Reason::Called, Some(until), &mut effects);
                }
            }
            Event::ParkForAuth => self.park(ParkReason::Auth, Reason::Auth, now, &mut effects),
        }
        effects
    }

    /// Decides one call. A due timer is applied first, so a call arriving
    /// after the cooldown starts the probe instead of being told to wait a
    /// negative time; a call to a parked server starts a revive.
    pub fn admit(&mut self, now: Instant) -> (Admission, Vec<Effect>) {
        let mut effects = Vec::new();
        self.tick(now, &mut effects);
        let admission = match self.phase {
            Phase::Closed => Admission::Go,
            Phase::Open { until } => Admission::Reject(Rejection::Open {
                retry_in: until.saturating_duration_since(now),
                failures: self.failures,
            }),
            Phase::HalfOpen { .. } => Admission::Reject(Rejection::Reconnecting),
            Phase::Parked { reason, .. } => {
                self.revive(reason, Reason::Revive, &mut effects);
                Admission::Reject(Rejection::Parked(reason))
            }
            Phase::Stopped => Admission::Reject(Rejection::Stopped),
        };
        (admission, effects)
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        match self.phase {
            Phase::Open { until } => Some(until),
            Phase::Parked { next_probe, .. } => Some(next_probe),
            _ => None,
        }
    }

    pub fn state(&self) -> State {
        match self.phase {
            Phase::Closed => State::Closed,
            Phase::Open { .. } => State::Open,
            Phase::HalfOpen { .. } => State::HalfOpen,
            Phase::Parked { reason, .. } => State::Parked(reason),
            Phase::Stopped => State::Stopped,
        }
    }

    pub fn failures(&self) -> u32 {
        self.failures
    }

    pub fn failed_probes(&self) -> u32 {
        self.failed_probes
    }

    /// The park a running probe is trying to lift, if any.
    pub fn reviving(&self) -> Option<ParkReason> {
        match self.phase {
            Phase::HalfOpen { reviving, .. } => reviving,
            _ => None,
        }
    }

    /// The cooldown a running call's probe interrupted, if it is one.
    pub fn resume(&self) -> Option<Instant> {
        match self.phase {
            Phase::HalfOpen { resume, .. } => resume,
            _ => None,
        }
    }

    /// Whether the server's tools are out of `tools/list`.
    pub fn tools_hidden(&self) -> bool {
        matches!(self.phase, Phase::Parked { .. }) || self.reviving().is_some()
    }

    fn probing(&self) -> bool {
        matches!(self.phase, Phase::HalfOpen { .. })
    }

    fn call_failed(&mut self, class: Ending, now: Instant, effects: &mut Vec<Effect>) {
        match class {
            Ending::AnsweredToolError | Ending::AnsweredInvalidCall => {
                self.close(Reason::CallSucceeded, effects)
            }
            Ending::Cancelled => {}
            Ending::Permanent => {
                let parked = ParkReason::Permanent;
                if !matches!(self.phase, Phase::Parked { reason, .. } if reason == parked) {
                    self.count_failure();
                    self.park(parked, Reason::Permanent, now, effects);
                }
            }
            // Outside closed, a late failure of a call admitted earlier says
            // nothing new: the cooldown, the probe or the park decides.
            Ending::Transport | Ending::Timeout | Ending::Server => {
                if self.phase == Phase::Closed {
                    self.count_failure();
                    if class == Ending::Transport || self.failures >= self.config.threshold {
                        let reason = Reason::Failures {
                            count: self.failures,
                            last: class,
                        };
                        self.open(reason, now, effects);
                    }
                }
            }
        }
    }

    fn probe_failed(
        &mut self,
        class: Ending,
        reviving: Option<ParkReason>,
        resume: Option<Instant>,
        now: Instant,
        effects: &mut Vec<Effect>,
    ) {
        if matches!(
            class,
            Ending::AnsweredToolError | Ending::AnsweredInvalidCall
        ) {
            return self.close(Reason::ProbeSucceeded, effects);
        }
        self.count_failure();
        // Only the scheduled probes count towards the park: a server that
        // is called during a short outage would otherwise park (and lose its
        // tools) after park_after seconds instead of the doubling schedule.
        // A call's probe that outlived the cooldown took the scheduled
        // probe's place and counts as it.
        if let Some(until) = resume.filter(|until| now < *until && class != Ending::Permanent) {
            self.phase = Phase::Open { until };
            effects.push(Effect::StateChanged {
                from: State::HalfOpen,
                to: State::Open,
                reason: Reason::CalledProbeFailed { class },
            });
            return;
        }
        self.failed_probes = self.failed_probes.saturating_add(1);
        let failed_probes = self.failed_probes;
        if class == Ending::Permanent {
            self.park(ParkReason::Permanent, Reason::Permanent, now, effects);
        } else if let Some(park) = reviving {
            let reason = Reason::ProbeFailed {
                class,
                failed_probes,
            };
            self.park(park, reason, now, effects);
        } else if failed_probes >= self.config.park_after {
            let reason = Reason::ProbesExhausted { failed_probes };
            self.park(ParkReason::Probes, reason, now, effects);
        } else {
            let reason = Reason::ProbeFailed {
                class,
                failed_probes,
            };
            self.open(reason, now, effects);
        }
    }

    fn tick(&mut self, now: Instant, effects: &mut Vec<Effect>) {
        match self.phase {
            Phase::Open { until } if now >= until => {
                self.half_open(Reason::CooldownElapsed, None, effects)
            }
            Phase::Parked { reason, next_probe } if now >= next_probe => {
                self.revive(reason, Reason::ParkProbe, effects)
            }
            _ => {}
        }
    }

    fn half_open(&mut self, reason: Reason, resume: Option<Instant>, effects: &mut Vec<Effect>) {
        self.phase = Phase::HalfOpen {
            reviving: None,
            resume,
        };
        effects.push(Effect::StateChanged {
            from: State::Open,
            to: State::HalfOpen,
            reason,
        });
        effects.push(Effect::StartProbe);
    }

    fn close(&mut self, reason: Reason, effects: &mut Vec<Effect>) {
        self.failures = 0;
        self.failed_probes = 0;
        if self.phase == Phase::Closed {
            return;
        }
        let (from, hidden) = (self.state(), self.tools_hidden());
        self.phase = Phase::Closed;
        effects.push(Effect::StateChanged {
            from,
            to: State::Closed,
            reason,
        });
        if hidden {
            effects.push(Effect::ShowTools);
        }
    }

    fn open(&mut self, reason: Reason, now: Instant, effects: &mut Vec<Effect>) {
        let from = self.state();
        let until = later(now, self.cooldown());
        self.phase = Phase::Open { until };
        effects.push(Effect::StateChanged {
            from,
            to: State::Open,
            reason,
        });
    }

    /// Parks (again) unless already parked for the same reason; the tools
    /// are hidden once, when they first go.
    fn park(&mut self, park: ParkReason, reason: Reason, now: Instant, effects: &mut Vec<Effect>) {
        if matches!(self.phase, Phase::Parked { reason: r, .. } if r == park) {
            return;
        }
        let (from, hidden) = (self.state(), self.tools_hidden());
        self.phase = Phase::Parked {
            reason: park,
            next_probe: later(now, self.config.park_probe),
        };
        effects.push(Effect::StateChanged {
            from,
            to: State::Parked(park),
            reason,
        });
        if !hidden {
            effects.push(Effect::HideTools);
        }
    }

    fn revive(&mut self, park: ParkReason, reason: Reason, effects: &mut Vec<Effect>) {
        self.phase = Phase::HalfOpen {
            reviving: Some(park),
            resume: None,
        };
        effects.push(Effect::StateChanged {
            from: State::Parked(park),
            to: State::HalfOpen,
            reason,
        });
        effects.push(Effect::StartProbe);
    }

    fn count_failure(&mut self) {
        self.failures = self.failures.saturating_add(1);
    }

    /// The jittered cooldown for the open that follows `failed_probes`
    /// failed probes.
    fn cooldown(&mut self) -> Duration {
        let max = self.config.max_cooldown;
        let mut base = self.config.cooldown.min(max);
        for _ in 0..self.failed_probes {
            if base >= max {
                break;
            }
            base = base.saturating_mul(2).min(max);
        }
        let spread = (2.0 * draw(self.jitter.as_mut()) - 1.0) * self.config.jitter;
        scaled(base, 1.0 + spread).min(max)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            State::Closed => f.write_str("closed"),
            State::Open => f.write_str("open"),
            State::HalfOpen => f.write_str("half-open"),
            State::Parked(reason) => write!(f, "parked ({reason})"),
            State::Stopped => f.write_str("stopped"),
        }
    }
}

impl fmt::Display for ParkReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ParkReason::Probes => "probes kept failing",
            ParkReason::Permanent => "a failure retrying cannot fix",
            ParkReason::Auth => "credentials rejected",
        })
    }
}

impl fmt::Display for Ending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Ending::Transport => "connection lost",
            Ending::Timeout => "timeout",
            Ending::Server => "server error",
            Ending::Permanent => "permanent failure",
            Ending::AnsweredToolError => "tool error",
            Ending::AnsweredInvalidCall => "invalid call",
            Ending::Cancelled => "cancelled",
        })
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Failures { count: 1, last } => write!(f, "{last}"),
            Reason::Failures { count, last } => {
                write!(f, "{count} failures in a row, the last: {last}")
            }
            Reason::CooldownElapsed => f.write_str("cooldown elapsed, probing"),
            Reason::Called => f.write_str("a call is waiting"),
            Reason::ParkProbe => f.write_str("periodic probe"),
            Reason::Revive => f.write_str("revive requested"),
            Reason::CalledProbeFailed { class } => {
                write!(f, "a call's probe failed ({class})")
            }
            Reason::ProbeFailed {
                class,
                failed_probes,
            } => write!(f, "probe failed ({class}), {failed_probes} in a row"),
            Reason::ProbesExhausted { failed_probes } => {
                write!(f, "{failed_probes} probes in a row failed")
            }
            Reason::Permanent => f.write_str("a failure retrying cannot fix"),
            Reason::Auth => f.write_str("credentials rejected"),
            Reason::ProbeSucceeded => f.write_str("probe succeeded"),
            Reason::CallSucceeded => f.write_str("a call succeeded"),
            Reason::Connected => f.write_str("connected"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::{Fixed, XorShift};
    use crate::test_clock::epoch as test_epoch;

    const MS: Duration = Duration::from_millis(1);

    fn breaker(jitter: f64) -> Breaker {
        Breaker::new(Config::default(), Box::new(Fixed(jitter)))
    }

    fn open_at(m: &mut Breaker, now: Instant) {
        m.handle(Event::CallFailed(Ending::Transport), now);
        assert_eq!(m.state(), State::Open);
    }

    /// Fails probes one after another at each deadline, returning the gap
    /// from each failure to the next deadline.
    fn failed_probe_gaps(m: &mut Breaker, t0: Instant, probes: usize) -> Vec<Duration> {
        let mut now = t0;
        let mut gaps = Vec::new();
        for _ in 0..probes {
            let due = m.next_deadline().expect("a deadline while open");
            gaps.push(due - now);
            now = due;
            assert!(m.handle(Event::Tick, now).contains(&Effect::StartProbe));
            m.handle(Event::ProbeFailed(Ending::Timeout), now);
        }
        gaps
    }

    #[test]
    fn the_cooldown_doubles_to_the_cap() {
        let t0 = test_epoch();
        let mut m = breaker(0.5); // 0.5 → no jitter
        open_at(&mut m, t0);
        let gaps = failed_probe_gaps(&mut m, t0, 8);
        let millis: Vec<u128> = gaps.iter().map(Duration::as_millis).collect();
        assert_eq!(millis, [500, 1000, 2000, 4000, 8000, 15000, 15000, 15000]);
    }

    #[test]
    fn jitter_stays_within_twenty_percent() {
        let t0 = test_epoch();
        let mut m = Breaker::new(Config::default(), Box::new(XorShift::new(3)));
        open_at(&mut m, t0);
        let gaps = failed_probe_gaps(&mut m, t0, 9);
        for (n, gap) in gaps.iter().enumerate() {
            let base = (500u64 << n).min(15_000) as f64;
            let ms = gap.as_secs_f64() * 1000.0;
            assert!(
                ms >= base * 0.8 - 1.0 && ms < (base * 1.2).min(15_000.0) + 1.0,
                "probe {n}: {ms} ms vs {base}"
            );
        }
        let lowest = breaker(0.0).cooldown_after_probes(0);
        assert!((lowest.as_secs_f64() - 0.4).abs() < 1e-9, "{lowest:?}");
    }

    impl Breaker {
        fn cooldown_after_probes(&mut self, n: u32) -> Duration {
            self.failed_probes = n;
            self.cooldown()
        }
    }

    #[test]
    fn ten_failed_probes_park_and_parked_probes_every_minute_forever() {
        let t0 = test_epoch();
        let mut m = breaker(0.5);
        open_at(&mut m, t0);
        failed_probe_gaps(&mut m, t0, 10);
        assert_eq!(m.state(), State::Parked(ParkReason::Probes));
        assert!(m.tools_hidden());
        let mut now = m.next_deadline().expect("parked still probes");
        for _ in 0..100 {
            let effects = m.handle(Event::Tick, now);
            assert!(effects.contains(&Effect::StartProbe));
            assert!(!effects.contains(&Effect::HideTools), "hidden once only");
            let effects = m.handle(Event::ProbeFailed(Ending::Transport), now);
            assert!(!effects.contains(&Effect::HideTools));
            let next = m.next_deadline().expect("parked is never final");
            assert_eq!(next - now, Duration::from_secs(60));
            now = next;
        }
        let effects = m.handle(Event::Tick, now);
        assert!(effects.contains(&Effect::StartProbe));
        let effects = m.handle(Event::ProbeSucceeded, now);
        assert!(effects.contains(&Effect::ShowTools));
        assert_eq!(m.state(), State::Closed);
        assert_eq!((m.failures(), m.failed_probes()), (0, 0));
    }

    #[test]
    fn success_resets_the_cooldown() {
        let t0 = test_epoch();
        let mut m = breaker(0.5);
        open_at(&mut m, t0);
        failed_probe_gaps(&mut m, t0, 4);
        let now = m.next_deadline().expect("open");
        m.handle(Event::Tick, now);
        m.handle(Event::ProbeSucceeded, now);
        open_at(&mut m, now);
        assert_eq!(m.next_deadline(), Some(now + 500 * MS));
    }

    #[test]
    fn a_late_call_after_the_deadline_starts_the_probe_and_is_told_reconnecting() {
        let t0 = test_epoch();
        let mut m = breaker(0.5);
        open_at(&mut m, t0);
        let (admission, effects) = m.admit(t0 + 10 * MS);
        assert_eq!(
            admission,
            Admission::Reject(Rejection::Open {
                retry_in: 490 * MS,
                failures: 1
            })
        );
        assert!(effects.is_empty());
        let (admission, effects) = m.admit(t0 + 600 * MS);
        assert_eq!(admission, Admission::Reject(Rejection::Reconnecting));
        assert_eq!(effects.last(), Some(&Effect::StartProbe));
        let (_, effects) = m.admit(t0 + 700 * MS);
        assert!(effects.is_empty(), "one probe at a time");
    }

    #[test]
    fn stale_probe_results_are_ignored() {
        let t0 = test_epoch();
        let mut m = breaker(0.5);
        for event in [Event::ProbeSucceeded, Event::ProbeFailed(Ending::Server)] {
            assert!(m.handle(event, t0).is_empty());
            assert_eq!(m.state(), State::Closed);
        }
        open_at(&mut m, t0);
        assert!(m.handle(Event::ProbeFailed(Ending::Server), t0).is_empty());
        assert_eq!(m.failed_probes(), 0);
    }

    #[test]
    fn absurd_configuration_does_not_panic() {
        let t0 = test_epoch();
        let config = Config {
            threshold: 0,
            cooldown: Duration::MAX,
            max_cooldown: Duration::MAX,
            jitter: f64::INFINITY,
            park_after: 0,
            park_probe: Duration::MAX,
        };
        let mut m = Breaker::new(config, Box::new(Fixed(0.9)));
        m.handle(Event::CallFailed(Ending::Timeout), t0);
        assert_eq!(m.state(), State::Open);
        m.handle(Event::Tick, t0);
        m.handle(Event::ProbeFailed(Ending::Timeout), t0);
        assert_eq!(m.state(), State::Parked(ParkReason::Probes));
        assert!(m.next_deadline().is_some());
    }

    #[test]
    fn endings_that_count() {
        use Ending::*;
        let counted: Vec<bool> = [
            Transport,
            Timeout,
            Server,
            Permanent,
            AnsweredToolError,
            AnsweredInvalidCall,
            Cancelled,
        ]
        .iter()
        .map(|c| c.is_failure())
        .collect();
        assert_eq!(counted, [true, true, true, true, false, false, false]);
    }

    #[test]
    fn display_names_the_state_and_reason() {
        assert_eq!(
            State::Parked(ParkReason::Auth).to_string(),
            "parked (credentials rejected)"
        );
        assert_eq!(State::HalfOpen.to_string(), "half-open");
        let reason = Reason::Failures {
            count: 3,
            last: Ending::Timeout,
        };
        assert_eq!(reason.to_string(), "3 failures in a row, the last: timeout");
        let reason = Reason::Failures {
            count: 1,
            last: Ending::Transport,
        };
        assert_eq!(reason.to_string(), "connection lost");
    }
}
