//! One call over Streamable HTTP against its deadline (gateway.md §2): how
//! long each request of the call may take, and when an event stream that
//! ended before our answer is resumed (SEP-1699). After the `retry` delay
//! the server asked for (1 s when none), a GET with `Last-Event-ID` goes on
//! reading, at most 5 times and only when the delay still ends before the
//! call's deadline. Without an event id, or when the GET is refused, the
//! stream is lost after sending (outcome uncertain).
//!
//! Table: `spec/resumption.table`.

use std::time::{Duration, Instant};

/// A timeout beyond this is no deadline worth keeping.
const FAR: Duration = Duration::from_secs(365 * 24 * 3600);
/// The reconnection delay when the server named none.
pub const DEFAULT_RETRY: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// How many times one answer's stream is resumed.
    pub max_resumes: u32,
    /// The reconnection delay when the server named none.
    pub default_retry: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_resumes: 5,
            default_retry: DEFAULT_RETRY,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A request of the call (the POST, a redirect, a resuming GET) is
    /// about to go out.
    Send,
    /// The event stream ended without our answer; `last_id` when the server
    /// gave event ids, `retry` the delay it asked for.
    Ended {
        last_id: bool,
        retry: Option<Duration>,
    },
    /// The shell came back at [`Resumption::next_deadline`].
    Tick,
    /// The resuming GET was refused (not a 200 event stream).
    Refused,
    /// Our answer arrived.
    Answered,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The deadline leaves no time for what is next.
    Timeout,
    /// The stream is gone and cannot be resumed: lost after sending.
    Lost,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Send the request with this timeout (what is left of the call's).
    Send { timeout: Duration },
    /// Resume now: a GET with `Last-Event-ID`.
    Resume,
    /// The call fails.
    Fail(Failure),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// A request is out or its stream is being read.
    Reading,
    /// Waiting for the delay before resuming.
    Waiting {
        until: Instant,
    },
    Answered,
    Failed(Failure),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resumption {
    config: Config,
    deadline: Instant,
    resumes: u32,
    phase: Phase,
}

impl Resumption {
    /// A call with `timeout` starting `now`.
    pub fn new(config: Config, now: Instant, timeout: Duration) -> Resumption {
        Resumption {
            config,
            deadline: deadline_after(now, timeout),
            resumes: 0,
            phase: Phase::Reading,
        }
    }

    pub fn handle(&mut self, event: Event, now: Instant) -> Option<Effect> {
        let effect = match (self.phase, event) {
            (Phase::Answered | Phase::Failed(_), _) => return None,
            (_, Event::Answered) => {
                self.phase = Phase::Answered;
                return None;
            }
            (_, Event::Send) => match self.deadline.saturating_duration_since(now) {
                left if left.is_zero() => Effect::Fail(Failure::Timeout),
                timeout => return Some(Effect::Send { timeout }),
            },
            (Phase::Waiting { until }, Event::Tick) if now >= until => {
                self.resumes += 1;
                self.phase = Phase::Reading;
                return Some(Effect::Resume);
            }
            (_, Event::Tick) => return None,
            (Phase::Waiting { .. }, Event::Ended { .. } | Event::Refused) => return None,
            (Phase::Reading, Event::Refused) => Effect::Fail(Failure::Lost),
            (Phase::Reading, Event::Ended { last_id, retry }) => {
                if !last_id || self.resumes >= self.config.max_resumes {
                    Effect::Fail(Failure::Lost)
                } else {
                    let wait = retry.unwrap_or(self.config.default_retry);
                    match now.checked_add(wait).filter(|at| *at < self.deadline) {
                        Some(until) => {
                            self.phase = Phase::Waiting { until };
                            return None;
                        }
                        None => Effect::Fail(Failure::Timeout),
                    }
                }
            }
        };
        if let Effect::Fail(failure) = effect {
            self.phase = Phase::Failed(failure);
        }
        Some(effect)
    }

    /// When to come back with a `Tick`: the end of the delay before
    /// resuming.
    pub fn next_deadline(&self) -> Option<Instant> {
        match self.phase {
            Phase::Waiting { until } => Some(until),
            _ => None,
        }
    }

    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    pub fn resumes(&self) -> u32 {
        self.resumes
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }
}

/// `timeout` from `now`; an absurd timeout means no deadline worth keeping.
fn deadline_after(now: Instant, timeout: Duration) -> Instant {
    now.checked_add(timeout)
        .or_else(|| now.checked_add(FAR))
        .unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_clock::epoch;

    #[test]
    fn an_absurd_timeout_becomes_a_far_deadline_instead_of_a_panic() {
        let t0 = epoch();
        assert_eq!(deadline_after(t0, Duration::MAX), t0 + FAR);
        assert_eq!(
            deadline_after(t0, Duration::from_secs(2)),
            t0 + Duration::from_secs(2)
        );
    }

    #[test]
    fn an_absurd_retry_delay_fails_the_call_instead_of_overflowing() {
        let t0 = epoch();
        let mut call = Resumption::new(Config::default(), t0, Duration::from_secs(30));
        let ended = Event::Ended {
            last_id: true,
            retry: Some(Duration::MAX),
        };
        assert_eq!(call.handle(ended, t0), Some(Effect::Fail(Failure::Timeout)));
    }

    #[test]
    fn nothing_goes_out_at_or_after_the_deadline() {
        let t0 = epoch();
        let send = |at: Duration| {
            let mut call = Resumption::new(Config::default(), t0, Duration::from_secs(2));
            call.handle(Event::Send, t0 + at)
        };
        assert_eq!(
            send(Duration::from_millis(1995)),
            Some(Effect::Send {
                timeout: Duration::from_millis(5)
            })
        );
        assert_eq!(
            send(Duration::from_secs(2)),
            Some(Effect::Fail(Failure::Timeout))
        );
        assert_eq!(
            send(Duration::from_secs(3)),
            Some(Effect::Fail(Failure::Timeout))
        );
    }
}
