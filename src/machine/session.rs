//! Upstream sessions (gateway.md §3): which session a call may use, and what
//! a call does after it failed.
//!
//! Two small machines, one per side of the driver's command channel:
//!
//! - [`Slot`], owned by an upstream's driver thread: the current session's
//!   generation and whether a (re)connect is running. It is the generation
//!   guard: a worker reporting that generation 3 expired clears the session
//!   only while 3 is still current; a late report about an older one changes
//!   nothing (the worker is handed the newer session). One connect runs at a
//!   time; everyone who needs a session meanwhile waits for that one.
//! - [`Attempt`], owned by the worker serving one request: after an
//!   expired session it renews and retries **once**; a request lost after it
//!   was sent is replayed once only when the tool says it is safe to repeat,
//!   otherwise the caller hears that the outcome is uncertain; anything else
//!   fails with its breaker class. Never a loop.
//!
//! Neither machine reads a clock: nothing here depends on time.
//!
//! Tables: `spec/session.table` (the slot) and `spec/session_call.table`
//! (the attempt).

use super::breaker::Ending;
use std::fmt;

/// A session's generation: 0 before the first connect, then one more per
/// successful (re)connect.
pub type Generation = u64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotState {
    /// No session and no connect running.
    Empty,
    /// A connect runs; the previous generation is gone.
    Connecting,
    /// The session of the current generation is usable.
    Live,
    /// Shut down: no connect ever again.
    Stopped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotEvent {
    /// The driver wants a session (start, a probe, a call admitted while
    /// none is live); nobody waits on this event itself.
    Need,
    /// A call wants a session to go on with: the first call after start, or
    /// a renewal of `generation`, which a worker found expired (or lost
    /// mid-call for a request safe to replay).
    Renew {
        generation: Generation,
    },
    /// The call asks for whatever session comes up next.
    Wait,
    /// The transport of `generation` died by itself (child exited, stream
    /// closed).
    Closed {
        generation: Generation,
    },
    /// The running connect produced a session.
    Connected,
    /// The running connect failed.
    ConnectFailed(Ending),
    Shutdown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotEffect {
    /// Start a connect (spawn / initialize) in a helper thread.
    Connect,
    /// Close and forget the session of this generation.
    Drop(Generation),
    /// Hand the asker the live session of this generation now.
    Hand(Generation),
    /// Keep the asker's reply until the running connect ends.
    Hold,
    /// The connect succeeded: everyone held gets this generation.
    Release(Generation),
    /// The connect failed: everyone held gets the failure.
    Fail(Ending),
    /// Tell the asker there is no session and none will come (stopped).
    Refuse,
    /// A session arrived after shutdown: close it at once.
    Discard,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    state: SlotState,
    generation: Generation,
    /// Askers held for the running connect (the shell keeps their replies).
    held: u32,
}

impl Default for Slot {
    fn default() -> Self {
        Self::new()
    }
}

impl Slot {
    pub fn new() -> Self {
        Slot {
            state: SlotState::Empty,
            generation: 0,
            held: 0,
        }
    }

    pub fn handle(&mut self, event: SlotEvent) -> Vec<SlotEffect> {
        let effects = self.step(event);
        for effect in &effects {
            match effect {
                SlotEffect::Hold => self.held = self.held.saturating_add(1),
                SlotEffect::Release(_) | SlotEffect::Fail(_) | SlotEffect::Refuse => self.held = 0,
                _ => {}
            }
        }
        effects
    }

    fn step(&mut self, event: SlotEvent) -> Vec<SlotEffect> {
        use SlotEffect as E;
        use SlotState as S;
        let current = self.generation;
        match (self.state, event) {
            (S::Stopped, SlotEvent::Connected) => vec![E::Discard],
            (S::Stopped, SlotEvent::Renew { .. } | SlotEvent::Wait) => vec![E::Refuse],
            (S::Stopped, _) => Vec::new(),
            (_, SlotEvent::Shutdown) => {
                let live = self.state == S::Live;
                let held = self.state == S::Connecting && self.held > 0;
                self.state = S::Stopped;
                let mut effects = Vec::new();
                if live {
                    effects.push(E::Drop(current));
                }
                if held {
                    effects.push(E::Refuse);
                }
                effects
            }
            (S::Empty, SlotEvent::Need) => self.connect(Vec::new()),
            (S::Empty, SlotEvent::Renew { .. } | SlotEvent::Wait) => self.connect(vec![E::Hold]),
            (S::Connecting, SlotEvent::Renew { .. } | SlotEvent::Wait) => vec![E::Hold],
            (S::Live, SlotEvent::Renew { generation }) if generation == current => {
                self.connect(vec![E::Drop(current), E::Hold])
            }
            // A late report about an older session: the current one stands.
            (S::Live, SlotEvent::Renew { .. } | SlotEvent::Wait) => vec![E::Hand(current)],
            (S::Live, SlotEvent::Closed { generation }) if generation == current => {
                self.state = S::Empty;
                vec![E::Drop(current)]
            }
            (S::Connecting, SlotEvent::Connected) => {
                self.generation = current.saturating_add(1);
                self.state = S::Live;
                vec![E::Release(self.generation)]
            }
            (S::Connecting, SlotEvent::ConnectFailed(class)) => {
                self.state = S::Empty;
                vec![E::Fail(class)]
            }
            // Need while connecting or live, a stale close, a connect result
            // when none runs: nothing to do.
            _ => Vec::new(),
        }
    }

    fn connect(&mut self, mut then: Vec<SlotEffect>) -> Vec<SlotEffect> {
        self.state = SlotState::Connecting;
        let mut effects = Vec::with_capacity(then.len() + 1);
        // Drop comes first: the old session goes before the new one starts.
        if then
            .first()
            .is_some_and(|e| matches!(e, SlotEffect::Drop(_)))
        {
            effects.push(then.remove(0));
        }
        effects.push(SlotEffect::Connect);
        effects.extend(then);
        effects
    }

    pub fn state(&self) -> SlotState {
        self.state
    }

    /// The current generation while live; the last one otherwise.
    pub fn generation(&self) -> Generation {
        self.generation
    }

    /// Whether a connect helper is running.
    pub fn connecting(&self) -> bool {
        self.state == SlotState::Connecting
    }

    /// How many askers wait for the running connect.
    pub fn held(&self) -> u32 {
        self.held
    }
}

/// How one try of a request ended, as the call decision sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The server answered (a result, including a tool result with
    /// `isError`): pass it on.
    Answered,
    /// The server said the session is gone.
    Expired,
    /// The connection died. `sent`: after the request was written, so it may
    /// have run.
    Lost { sent: bool },
    /// Any other failure, with its breaker class.
    Failed(Ending),
    /// The server rejected our credentials (HTTP 401/403).
    Auth,
    /// The driver handed us a fresh session.
    Renewed,
    /// The driver's reconnect failed (it counted the failure itself).
    RenewFailed(Ending),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The first try is out.
    First,
    /// Waiting for the driver to replace the session.
    Renewing,
    /// The one retry is out.
    Retrying,
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Pass the answer to the caller; the breaker hears a success.
    Return,
    /// Ask the driver for a fresh session in place of this one.
    Renew,
    /// Send the request again, on the renewed session.
    Retry,
    /// Give the caller the error; the breaker hears one failure of `class`
    /// (unless `counted`: the driver already counted the failed reconnect).
    Fail { class: Ending, counted: bool },
    /// The request may have run: the caller is told the outcome is
    /// uncertain; the breaker hears a lost connection.
    Uncertain,
    /// Credentials rejected: the caller is told so; the driver's auth
    /// escalation hears it (never a breaker failure).
    AuthRejected,
}

/// The decisions for one request to one upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    stage: Stage,
    /// The tool is annotated `readOnlyHint` or `idempotentHint`: running it
    /// twice does no harm.
    replayable: bool,
}

impl Attempt {
    pub fn new(replayable: bool) -> Self {
        Attempt {
            stage: Stage::First,
            replayable,
        }
    }

    pub fn handle(&mut self, outcome: Outcome) -> Vec<Decision> {
        use Outcome as O;
        use Stage as S;
        let decision = match (self.stage, outcome) {
            (S::Done, _) => return Vec::new(),
            (S::First | S::Retrying, O::Answered) => Decision::Return,
            (S::First, O::Expired) => return self.go(S::Renewing, Decision::Renew),
            (S::First, O::Lost { sent: true }) if self.replayable => {
                return self.go(S::Renewing, Decision::Renew)
            }
            // An expiry of the retried request: the fresh session is gone
            // too, which is the server failing, not the session aging.
            (S::Retrying, O::Expired) => fail(Ending::Server),
            // The retry of a replayable request died too: it has had its one
            // replay.
            (S::Retrying, O::Lost { sent: true }) if self.replayable => fail(Ending::Transport),
            (S::First | S::Retrying, O::Lost { sent: true }) => Decision::Uncertain,
            (S::First | S::Retrying, O::Lost { sent: false }) => fail(Ending::Transport),
            (_, O::Failed(class)) => fail(class),
            (S::First | S::Retrying | S::Renewing, O::Auth) => Decision::AuthRejected,
            (S::Renewing, O::Renewed) => return self.go(S::Retrying, Decision::Retry),
            (S::Renewing, O::RenewFailed(class)) => Decision::Fail {
                class,
                counted: true,
            },
            // A try's answer while renewing, or a renewal nobody asked for:
            // not this attempt's business.
            (S::Renewing, O::Answered | O::Expired | O::Lost { .. })
            | (S::First | S::Retrying, O::Renewed | O::RenewFailed(_)) => return Vec::new(),
        };
        self.stage = S::Done;
        vec![decision]
    }

    fn go(&mut self, stage: Stage, decision: Decision) -> Vec<Decision> {
        self.stage = stage;
        vec![decision]
    }

    pub fn stage(&self) -> Stage {
        self.stage
    }

    pub fn replayable(&self) -> bool {
        self.replayable
    }
}

fn fail(class: Ending) -> Decision {
    Decision::Fail {
        class,
        counted: false,
    }
}

impl fmt::Display for SlotState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SlotState::Empty => "no session",
            SlotState::Connecting => "connecting",
            SlotState::Live => "connected",
            SlotState::Stopped => "stopped",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(generation: u64) -> Slot {
        let mut slot = Slot::new();
        for _ in 0..generation {
            slot.handle(SlotEvent::Need);
            slot.handle(SlotEvent::Connected);
        }
        slot
    }

    #[test]
    fn a_late_expiry_never_clears_a_newer_session() {
        let mut slot = live(1);
        // Two workers find generation 1 expired; the first renews it.
        assert_eq!(
            slot.handle(SlotEvent::Renew { generation: 1 }),
            [SlotEffect::Drop(1), SlotEffect::Connect, SlotEffect::Hold]
        );
        assert_eq!(
            slot.handle(SlotEvent::Renew { generation: 1 }),
            [SlotEffect::Hold]
        );
        assert_eq!(slot.handle(SlotEvent::Connected), [SlotEffect::Release(2)]);
        // A third worker's answer from generation 1 arrives late.
        assert_eq!(
            slot.handle(SlotEvent::Renew { generation: 1 }),
            [SlotEffect::Hand(2)]
        );
        assert_eq!(slot.handle(SlotEvent::Closed { generation: 1 }), []);
        assert_eq!((slot.state(), slot.generation()), (SlotState::Live, 2));
    }

    #[test]
    fn generations_saturate() {
        let mut slot = Slot {
            state: SlotState::Connecting,
            generation: u64::MAX,
            held: 0,
        };
        slot.handle(SlotEvent::Connected);
        assert_eq!(slot.generation(), u64::MAX);
    }

    #[test]
    fn every_attempt_ends_within_four_steps_whatever_happens() {
        let outcomes = [
            Outcome::Answered,
            Outcome::Expired,
            Outcome::Lost { sent: true },
            Outcome::Lost { sent: false },
            Outcome::Failed(Ending::Timeout),
            Outcome::Auth,
            Outcome::Renewed,
            Outcome::RenewFailed(Ending::Transport),
        ];
        // Every sequence of four outcomes: the attempt never asks for a
        // second renewal, so no request is sent more than twice.
        for replayable in [false, true] {
            for n in 0..outcomes.len().pow(4) {
                let mut attempt = Attempt::new(replayable);
                let mut renewals = 0;
                let mut sends = 1;
                let mut k = n;
                for _ in 0..4 {
                    let outcome = outcomes[k % outcomes.len()];
                    k /= outcomes.len();
                    for decision in attempt.handle(outcome) {
                        match decision {
                            Decision::Renew => renewals += 1,
                            Decision::Retry => sends += 1,
                            _ => {}
                        }
                    }
                }
                assert!(renewals <= 1 && sends <= 2, "{n}: {renewals} {sends}");
            }
        }
    }
}
