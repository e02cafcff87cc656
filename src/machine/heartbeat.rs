//! One workspace's link to the platform (platform.md §4–6): the first
//! register, background register retries, the heartbeat schedule, what each
//! answer means, and when the inbound secret must be saved.
//!
//! The shell runs one request at a time on one thread: it carries out
//! `SendRegister`/`SendBeat`, blocks on the answer and comes back with
//! `RegisterDone`/`BeatDone`. While a request is in flight nothing else is
//! sent, so `next_deadline()` is `None` until the answer arrives.
//!
//! Schedule: the first beat goes out as soon as the first register has an
//! answer (any answer but 401/403). Each later beat is due at the time the
//! previous beat was *sent* plus `interval × (1 − j × max_jitter)`, j in
//! [0, 1): counting from the send, not the answer, keeps a slow answer from
//! making the next beat late, and the jitter only ever makes a beat early.
//! A register that has not succeeded is retried with capped exponential
//! backoff; when a beat and a retry are both due, the beat goes first.
//!
//! Table: `spec/heartbeat.table`.

use super::auth::{self, AuthEscalation};
use super::{draw, fraction, later, scaled, Jitter};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Config {
    pub interval: Duration,
    /// The largest fraction of the interval a beat may come early by.
    pub max_jitter: f64,
    /// The first register retry delay; it doubles per failure.
    pub backoff_start: Duration,
    pub backoff_cap: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            interval: Duration::from_secs(20),
            max_jitter: 0.10,
            backoff_start: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(60),
        }
    }
}

/// A register or heartbeat answer, as the shell read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx with the fields that matter from the JSON body (absent when the
    /// body is not JSON or lacks them).
    Ok {
        secret: Option<String>,
        minted_token: Option<String>,
    },
    /// Any HTTP status; a 2xx here counts as `Ok` with nothing to persist.
    Status(u16),
    /// No HTTP answer (connect, TLS, timeout, reset).
    Transport,
}

/// A failed answer, carried by effects so the shell can log it (the shell
/// still holds the body snippet to quote).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    Status(u16),
    Transport,
}

impl Failure {
    fn auth_event(self) -> auth::Event {
        match self {
            Failure::Status(status) => auth::Event::Status(status),
            Failure::Transport => auth::Event::Transport,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Start,
    /// Time passed; the shell sends it when `next_deadline()` is reached.
    Tick,
    RegisterDone(Outcome),
    BeatDone(Outcome),
    /// The last `PersistSecret` was written.
    SecretSaved,
    /// The last `PersistSecret` could not be written; it is offered again
    /// with the next answer that carries it.
    SecretSaveFailed,
    Shutdown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// `POST /registry/register`, then come back with `RegisterDone`.
    SendRegister,
    /// `POST /registry/heartbeat`, then come back with `BeatDone`.
    SendBeat,
    /// A register succeeded (info).
    Registered,
    /// Save a freshly minted token (the shell writes it only when no token
    /// file exists yet).
    PersistToken(String),
    /// Save the inbound secret, then come back with `SecretSaved` or
    /// `SecretSaveFailed`.
    PersistSecret(String),
    /// A register failed and will be retried (warning).
    RegisterFailed {
        failure: Failure,
        retry_in: Duration,
    },
    /// A beat failed for a reason other than auth (warning).
    BeatFailed { failure: Failure },
    /// An auth escalation moment; `auth::message` words it.
    Auth(auth::Effect),
    /// The escalation just happened: ask the platform once what became of
    /// the workspace (`GET /workspaces/{id}`).
    Diagnose,
    /// The first register was refused with 401/403: the process must exit 3.
    /// The machine is stopped from here on.
    FatalRegister { status: u16 },
    /// The machine stopped after `Shutdown`.
    Stopped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Not started.
    New,
    /// The first register is in flight.
    Registering,
    /// Beating (and retrying the register in between, until it succeeds).
    Beating,
    Stopped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    Register,
    Beat,
}

pub struct Heartbeat {
    config: Config,
    jitter: Box<dyn Jitter>,
    auth: AuthEscalation,
    state: State,
    in_flight: Option<Request>,
    registered: bool,
    next_beat: Option<Instant>,
    next_register: Option<Instant>,
    /// The delay before the next register retry, should the next one fail.
    backoff: Duration,
    saved_secret: Option<String>,
    saving_secret: Option<String>,
}

impl Heartbeat {
    pub fn new(workspace_id: impl Into<String>, config: Config, jitter: Box<dyn Jitter>) -> Self {
        let config = Config {
            max_jitter: fraction(config.max_jitter, 1.0),
            backoff_start: config.backoff_start.min(config.backoff_cap),
            ..config
        };
        Heartbeat {
            config,
            jitter,
            auth: AuthEscalation::new(workspace_id),
            state: State::New,
            in_flight: None,
            registered: false,
            next_beat: None,
            next_register: None,
            backoff: config.backoff_start,
            saved_secret: None,
            saving_secret: None,
        }
    }

    pub fn handle(&mut self, event: Event, now: Instant) -> Vec<Effect> {
        let mut effects = Vec::new();
        match (self.state, event) {
            (State::Stopped, _) => return effects,
            (_, Event::Shutdown) => {
                self.stop();
                effects.push(Effect::Stopped);
                return effects;
            }
            (State::New, Event::Start) => {
                self.state = State::Registering;
                self.in_flight = Some(Request::Register);
                effects.push(Effect::SendRegister);
            }
            (_, Event::RegisterDone(outcome)) if self.in_flight == Some(Request::Register) => {
                self.in_flight = None;
                self.register_done(outcome, now, &mut effects);
            }
            (_, Event::BeatDone(outcome)) if self.in_flight == Some(Request::Beat) => {
                self.in_flight = None;
                self.beat_done(outcome, now, &mut effects);
            }
            (_, Event::SecretSaved) => {
                if let Some(secret) = self.saving_secret.take() {
                    self.saved_secret = Some(secret);
                }
            }
            (_, Event::SecretSaveFailed) => self.saving_secret = None,
            // A second Start, a Tick (handled below) or an answer to a
            // request that is not in flight: nothing to do.
            _ => {}
        }
        self.send_what_is_due(now, &mut effects);
        effects
    }

    /// When the shell must come back with a `Tick`: `None` before start,
    /// after stop, and while a request is in flight.
    pub fn next_deadline(&self) -> Option<Instant> {
        if self.state != State::Beating || self.in_flight.is_some() {
            return None;
        }
        match (self.next_beat, self.next_register) {
            (Some(beat), Some(register)) => Some(beat.min(register)),
            (beat, register) => beat.or(register),
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn in_flight(&self) -> Option<Request> {
        self.in_flight
    }

    pub fn registered(&self) -> bool {
        self.registered
    }

    pub fn next_beat(&self) -> Option<Instant> {
        self.next_beat
    }

    /// When the register is retried next (`None` once registered, or while
    /// a register is in flight).
    pub fn next_register(&self) -> Option<Instant> {
        self.next_register
    }

    /// The retry delay that follows the next register failure.
    pub fn register_backoff(&self) -> Duration {
        self.backoff
    }

    pub fn auth(&self) -> &AuthEscalation {
        &self.auth
    }

    pub fn workspace_id(&self) -> &str {
        self.auth.subject()
    }

    /// The last inbound secret known to be on disk.
    pub fn saved_secret(&self) -> Option<&str> {
        self.saved_secret.as_deref()
    }

    /// A secret handed out with `PersistSecret` and not yet confirmed.
    pub fn saving_secret(&self) -> Option<&str> {
        self.saving_secret.as_deref()
    }

    fn register_done(&mut self, outcome: Outcome, now: Instant, effects: &mut Vec<Effect>) {
        let first = self.state == State::Registering;
        match answer(outcome) {
            Answer::Ok {
                status,
                secret,
                token,
            } => {
                self.observe_auth(auth::Event::Status(status), now, effects);
                self.registered = true;
                self.next_register = None;
                self.backoff = self.config.backoff_start;
                effects.push(Effect::Registered);
                if let Some(token) = token {
                    effects.push(Effect::PersistToken(token));
                }
                if let Some(secret) = secret {
                    self.offer_secret(secret, effects);
                }
            }
            Answer::Failed(Failure::Status(status)) if first && auth::is_auth_failure(status) => {
                self.stop();
                effects.push(Effect::FatalRegister { status });
                return;
            }
            Answer::Failed(failure) => {
                self.observe_auth(failure.auth_event(), now, effects);
                let retry_in = self.backoff;
                self.next_register = Some(later(now, retry_in));
                self.backoff = self.backoff.saturating_mul(2).min(self.config.backoff_cap);
                effects.push(Effect::RegisterFailed { failure, retry_in });
            }
        }
        if first {
            self.state = State::Beating;
            self.next_beat = Some(now);
        }
    }

    fn beat_done(&mut self, outcome: Outcome, now: Instant, effects: &mut Vec<Effect>) {
        match answer(outcome) {
            Answer::Ok { status, secret, .. } => {
                self.observe_auth(auth::Event::Status(status), now, effects);
                if let Some(secret) = secret {
                    self.offer_secret(secret, effects);
                }
            }
            Answer::Failed(failure @ Failure::Status(status)) if auth::is_auth_failure(status) => {
                self.observe_auth(failure.auth_event(), now, effects);
            }
            Answer::Failed(failure) => {
                self.observe_auth(failure.auth_event(), now, effects);
                effects.push(Effect::BeatFailed { failure });
            }
        }
    }

    fn observe_auth(&mut self, event: auth::Event, now: Instant, effects: &mut Vec<Effect>) {
        if let Some(effect) = self.auth.handle(event, now) {
            let diagnose = effect.kind == auth::Kind::Escalated { first: true };
            effects.push(Effect::Auth(effect));
            if diagnose {
                effects.push(Effect::Diagnose);
            }
        }
    }

    /// Writing the same secret every 20 s wears the disk and widens the
    /// window for a torn write, so only a changed value is persisted.
    fn offer_secret(&mut self, secret: String, effects: &mut Vec<Effect>) {
        if self.saved_secret.as_deref() == Some(secret.as_str()) {
            return;
        }
        self.saving_secret = Some(secret.clone());
        effects.push(Effect::PersistSecret(secret));
    }

    fn send_what_is_due(&mut self, now: Instant, effects: &mut Vec<Effect>) {
        if self.state != State::Beating || self.in_flight.is_some() {
            return;
        }
        if self.next_beat.is_some_and(|due| due <= now) {
            let early_by = draw(self.jitter.as_mut()) * self.config.max_jitter;
            self.next_beat = Some(later(now, scaled(self.config.interval, 1.0 - early_by)));
            self.in_flight = Some(Request::Beat);
            effects.push(Effect::SendBeat);
        } else if self.next_register.is_some_and(|due| due <= now) {
            self.next_register = None;
            self.in_flight = Some(Request::Register);
            effects.push(Effect::SendRegister);
        }
    }

    fn stop(&mut self) {
        self.state = State::Stopped;
        self.in_flight = None;
        self.next_beat = None;
        self.next_register = None;
    }
}

enum Answer {
    Ok {
        status: u16,
        secret: Option<String>,
        token: Option<String>,
    },
    Failed(Failure),
}

fn answer(outcome: Outcome) -> Answer {
    match outcome {
        Outcome::Ok {
            secret,
            minted_token,
        } => Answer::Ok {
            status: 200,
            secret: present(secret),
            token: present(minted_token),
        },
        Outcome::Status(status) if (200..300).contains(&status) => Answer::Ok {
            status,
            secret: None,
            token: None,
        },
        Outcome::Status(status) => Answer::Failed(Failure::Status(status)),
        Outcome::Transport => Answer::Failed(Failure::Transport),
    }
}

/// A blank value in an answer is the same as no value.
fn present(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::{Fixed, XorShift};
    use crate::test_clock::epoch as test_epoch;

    const SEC: Duration = Duration::from_secs(1);

    fn ok() -> Outcome {
        Outcome::Ok {
            secret: None,
            minted_token: None,
        }
    }

    fn with_secret(secret: &str) -> Outcome {
        Outcome::Ok {
            secret: Some(secret.into()),
            minted_token: None,
        }
    }

    fn machine(jitter: f64) -> Heartbeat {
        Heartbeat::new("ws-1", Config::default(), Box::new(Fixed(jitter)))
    }

    /// A started machine whose first register succeeded and whose first
    /// beat is in flight.
    fn beating(t0: Instant) -> Heartbeat {
        let mut m = machine(0.0);
        m.handle(Event::Start, t0);
        m.handle(Event::RegisterDone(ok()), t0);
        assert_eq!(m.in_flight(), Some(Request::Beat));
        m
    }

    #[test]
    fn beats_are_early_by_at_most_the_jitter_fraction_and_never_late() {
        let t0 = test_epoch();
        let mut m = Heartbeat::new("ws-1", Config::default(), Box::new(XorShift::new(9)));
        m.handle(Event::Start, t0);
        m.handle(Event::RegisterDone(ok()), t0);
        let mut sent_at = t0;
        for _ in 0..500 {
            let due = m.next_beat().expect("a beat is scheduled");
            let gap = due - sent_at;
            assert!(gap <= 20 * SEC, "late: {gap:?}");
            assert!(gap >= 18 * SEC, "earlier than 10 %: {gap:?}");
            m.handle(Event::BeatDone(ok()), sent_at);
            assert_eq!(m.next_deadline(), Some(due));
            let effects = m.handle(Event::Tick, due);
            assert_eq!(effects, [Effect::SendBeat]);
            sent_at = due;
        }
    }

    #[test]
    fn a_slow_answer_past_the_due_time_sends_the_next_beat_at_once() {
        let t0 = test_epoch();
        let mut m = beating(t0);
        let effects = m.handle(Event::BeatDone(Outcome::Transport), t0 + 25 * SEC);
        assert_eq!(
            effects,
            [
                Effect::BeatFailed {
                    failure: Failure::Transport
                },
                Effect::SendBeat
            ]
        );
        assert_eq!(m.next_beat(), Some(t0 + 45 * SEC));
    }

    #[test]
    fn no_deadline_while_a_request_is_in_flight() {
        let t0 = test_epoch();
        let mut m = beating(t0);
        assert_eq!(m.next_deadline(), None);
        assert!(
            m.handle(Event::Tick, t0 + 100 * SEC).is_empty(),
            "no second beat in flight"
        );
        m.handle(Event::BeatDone(ok()), t0 + SEC);
        assert_eq!(m.next_deadline(), Some(t0 + 20 * SEC));
    }

    #[test]
    fn register_backoff_doubles_to_the_cap_and_beats_are_never_skipped() {
        let t0 = test_epoch();
        let mut m = machine(0.0);
        m.handle(Event::Start, t0);
        let mut now = t0;
        let mut retries = Vec::new();
        let mut beats = 0;
        let mut outcome = Event::RegisterDone(Outcome::Status(503));
        // Drive by deadlines only, answering every register 503 and every
        // beat 200, for ten simulated minutes.
        for _ in 0..10_000 {
            for effect in m.handle(outcome.clone(), now) {
                match effect {
                    Effect::RegisterFailed { retry_in, .. } => retries.push(retry_in.as_secs()),
                    Effect::SendBeat => {
                        beats += 1;
                        outcome = Event::BeatDone(ok());
                    }
                    Effect::SendRegister => outcome = Event::RegisterDone(Outcome::Status(503)),
                    _ => {}
                }
            }
            if m.in_flight().is_none() {
                now = m.next_deadline().expect("always something scheduled");
                outcome = Event::Tick;
            }
            if now > t0 + 600 * SEC {
                break;
            }
        }
        assert_eq!(retries[..8], [1, 2, 4, 8, 16, 32, 60, 60]);
        assert!(retries.iter().all(|&r| r <= 60));
        // One beat every 20 s from t0 for 600 s: 31 (0, 20, ..., 600).
        assert!((30..=31).contains(&beats), "{beats} beats in 600 s");
    }

    #[test]
    fn when_a_beat_and_a_retry_are_both_due_the_beat_goes_first() {
        let t0 = test_epoch();
        let mut m = machine(0.0);
        m.handle(Event::Start, t0);
        m.handle(Event::RegisterDone(Outcome::Transport), t0);
        // The first beat answers only after both the retry (1 s) and the
        // next beat (20 s) are due.
        let effects = m.handle(Event::BeatDone(ok()), t0 + 30 * SEC);
        assert_eq!(effects, [Effect::SendBeat]);
        let effects = m.handle(Event::BeatDone(ok()), t0 + 31 * SEC);
        assert_eq!(effects, [Effect::SendRegister]);
    }

    #[test]
    fn a_register_success_later_stops_the_retries_and_resets_the_backoff() {
        let t0 = test_epoch();
        let mut m = machine(0.0);
        m.handle(Event::Start, t0);
        m.handle(Event::RegisterDone(Outcome::Status(500)), t0);
        m.handle(Event::BeatDone(ok()), t0);
        assert_eq!(m.handle(Event::Tick, t0 + SEC), [Effect::SendRegister]);
        let effects = m.handle(
            Event::RegisterDone(Outcome::Ok {
                secret: None,
                minted_token: Some("tok-new".into()),
            }),
            t0 + SEC,
        );
        assert_eq!(
            effects,
            [Effect::Registered, Effect::PersistToken("tok-new".into())]
        );
        assert!(m.registered());
        assert_eq!(m.next_register(), None);
        assert_eq!(m.register_backoff(), SEC);
        assert_eq!(m.next_deadline(), Some(t0 + 20 * SEC));
    }

    #[test]
    fn a_401_on_a_background_retry_counts_and_keeps_retrying() {
        let t0 = test_epoch();
        let mut m = machine(0.0);
        m.handle(Event::Start, t0);
        m.handle(Event::RegisterDone(Outcome::Status(502)), t0);
        m.handle(Event::BeatDone(ok()), t0);
        m.handle(Event::Tick, t0 + SEC);
        let effects = m.handle(Event::RegisterDone(Outcome::Status(401)), t0 + SEC);
        assert!(
            matches!(&effects[0], Effect::Auth(e) if e.kind == auth::Kind::Warning && e.count == 1)
        );
        assert_eq!(
            effects[1],
            Effect::RegisterFailed {
                failure: Failure::Status(401),
                retry_in: 2 * SEC
            }
        );
        assert_eq!(m.state(), State::Beating);
    }

    #[test]
    fn a_2xx_status_without_a_body_counts_as_ok() {
        let t0 = test_epoch();
        let mut m = beating(t0);
        m.handle(Event::BeatDone(Outcome::Status(401)), t0);
        m.handle(Event::Tick, t0 + 20 * SEC);
        assert_eq!(m.auth().count(), 1);
        let effects = m.handle(Event::BeatDone(Outcome::Status(204)), t0 + 20 * SEC);
        assert!(effects.is_empty(), "{effects:?}");
        assert_eq!(m.auth().count(), 0);
    }

    #[test]
    fn blank_secrets_and_tokens_are_ignored() {
        let t0 = test_epoch();
        let mut m = machine(0.0);
        m.handle(Event::Start, t0);
        let effects = m.handle(
            Event::RegisterDone(Outcome::Ok {
                secret: Some("  ".into()),
                minted_token: Some(String::new()),
            }),
            t0,
        );
        assert_eq!(effects, [Effect::Registered, Effect::SendBeat]);
    }

    #[test]
    fn a_changed_secret_is_persisted_and_a_failed_save_is_retried() {
        let t0 = test_epoch();
        let mut m = beating(t0);
        let mut now = t0;
        let mut persisted = Vec::new();
        let script: [(&str, Option<Event>); 5] = [
            ("s1", Some(Event::SecretSaved)),
            ("s1", None),
            ("s2", Some(Event::SecretSaveFailed)),
            ("s2", Some(Event::SecretSaved)),
            ("s2", None),
        ];
        for (secret, save_result) in script {
            for effect in m.handle(Event::BeatDone(with_secret(secret)), now) {
                if let Effect::PersistSecret(s) = effect {
                    persisted.push(s);
                }
            }
            if let Some(result) = save_result {
                assert!(m.handle(result, now).is_empty());
            }
            now = m.next_deadline().expect("next beat");
            m.handle(Event::Tick, now);
        }
        assert_eq!(persisted, ["s1", "s2", "s2"]);
        assert_eq!(m.saved_secret(), Some("s2"));
        assert_eq!(m.saving_secret(), None);
    }

    #[test]
    fn the_first_register_403_is_fatal_and_final() {
        let t0 = test_epoch();
        let mut m = machine(0.0);
        m.handle(Event::Start, t0);
        let effects = m.handle(Event::RegisterDone(Outcome::Status(403)), t0);
        assert_eq!(effects, [Effect::FatalRegister { status: 403 }]);
        assert_eq!(m.state(), State::Stopped);
        assert_eq!(m.next_deadline(), None);
        for event in [
            Event::Start,
            Event::Tick,
            Event::Shutdown,
            Event::BeatDone(ok()),
        ] {
            assert!(m.handle(event, t0 + SEC).is_empty());
        }
    }

    #[test]
    fn shutdown_in_flight_stops_everything() {
        let t0 = test_epoch();
        let mut m = beating(t0);
        assert_eq!(m.handle(Event::Shutdown, t0), [Effect::Stopped]);
        assert_eq!(m.next_deadline(), None);
        assert_eq!(m.in_flight(), None);
        assert!(m.handle(Event::BeatDone(ok()), t0).is_empty());
        assert!(m.handle(Event::Shutdown, t0).is_empty());
    }

    #[test]
    fn absurd_configuration_does_not_panic() {
        let t0 = test_epoch();
        let config = Config {
            interval: Duration::MAX,
            max_jitter: f64::NAN,
            backoff_start: Duration::MAX,
            backoff_cap: Duration::MAX,
        };
        let mut m = Heartbeat::new("ws", config, Box::new(Fixed(2.0)));
        m.handle(Event::Start, t0);
        m.handle(Event::RegisterDone(Outcome::Transport), t0);
        m.handle(Event::BeatDone(Outcome::Transport), t0);
        m.handle(Event::Tick, t0);
        m.handle(Event::RegisterDone(Outcome::Transport), t0);
        assert_eq!(m.state(), State::Beating);
    }

    #[test]
    fn the_workspace_id_names_the_auth_subject() {
        let m = machine(0.0);
        assert_eq!(m.workspace_id(), "ws-1");
        assert_eq!(m.auth().subject(), "ws-1");
    }
}
