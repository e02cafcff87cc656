//! One Streamable HTTP call against its deadline, as
//! `spec/resumption.table` writes it.

use super::check::{secs, Clock, Model};
use molecule_mcp::machine::resumption::{Config, Effect, Event, Failure, Phase, Resumption};
use std::time::{Duration, Instant};

/// The call's timeout every table machine is created with.
pub const TIMEOUT: Duration = Duration::from_secs(30);

pub struct Stream;

/// The call starts at the table's time zero, which the model only learns
/// from the clock of the first event or rendering.
#[derive(Default)]
pub struct Call(Option<Resumption>);

impl Call {
    fn machine(&mut self, clock: &Clock) -> &mut Resumption {
        self.0
            .get_or_insert_with(|| Resumption::new(Config::default(), clock.t0, TIMEOUT))
    }
}

impl Model for Stream {
    type Machine = Call;

    fn fresh(&self) -> Call {
        Call::default()
    }

    fn states(&self) -> &'static [&'static str] {
        &[
            "reading resumes=0 left=30s",
            "reading resumes=0 left=0.5s",
            "reading resumes=0 left=0s",
            "reading resumes=5 left=25s",
            "waiting resume-in=1s resumes=0 left=30s",
            "answered",
            "failed(lost)",
            "failed(timeout)",
        ]
    }

    fn events(&self) -> &'static [&'static str] {
        &[
            "send",
            "answer",
            "end",
            "end id",
            "end id retry=2.5s",
            "refused",
            "tick early",
            "tick due",
        ]
    }

    fn impossible(&self) -> &'static [(&'static str, &'static str)] {
        // Only a call waiting to resume has a deadline to come back at.
        &[
            ("reading resumes=0 left=30s", "tick due"),
            ("reading resumes=0 left=0.5s", "tick due"),
            ("reading resumes=0 left=0s", "tick due"),
            ("reading resumes=5 left=25s", "tick due"),
            ("answered", "tick due"),
            ("failed(lost)", "tick due"),
            ("failed(timeout)", "tick due"),
        ]
    }

    fn extra_events(&self) -> &'static [&'static str] {
        &["tick", "end id retry=0.2s", "end id retry=30s"]
    }

    fn apply(
        &self,
        call: &mut Call,
        event: &str,
        clock: &mut Clock,
    ) -> Result<Vec<String>, String> {
        let machine = call.machine(clock);
        let words: Vec<&str> = event.split(' ').collect();
        let event = match words.as_slice() {
            ["send"] => Event::Send,
            ["answer"] => Event::Answered,
            ["end"] => Event::Ended {
                last_id: false,
                retry: None,
            },
            ["end", "id"] => Event::Ended {
                last_id: true,
                retry: None,
            },
            ["end", "id", retry] => Event::Ended {
                last_id: true,
                retry: Some(retry_delay(retry)?),
            },
            ["refused"] => Event::Refused,
            ["tick"] | ["tick", "due"] => {
                clock.jump_to(machine.next_deadline())?;
                Event::Tick
            }
            ["tick", "early"] => {
                clock.just_before(machine.next_deadline())?;
                Event::Tick
            }
            ["wait", amount] => {
                clock.wait(amount)?;
                return Ok(Vec::new());
            }
            _ => return Err(format!("unknown resumption event {event:?}")),
        };
        Ok(machine
            .handle(event, clock.now)
            .map(render_effect)
            .into_iter()
            .collect())
    }

    fn render(&self, call: &Call, clock: &Clock) -> String {
        let machine = call
            .0
            .clone()
            .unwrap_or_else(|| Resumption::new(Config::default(), clock.t0, TIMEOUT));
        let resumes = machine.resumes();
        let left = signed(machine.deadline(), clock.now);
        match machine.phase() {
            Phase::Reading => format!("reading resumes={resumes} left={left}"),
            Phase::Waiting { until } => format!(
                "waiting resume-in={} resumes={resumes} left={left}",
                signed(until, clock.now)
            ),
            Phase::Answered => "answered".into(),
            Phase::Failed(failure) => format!("failed({})", failure_name(failure)),
        }
    }
}

/// `retry=2.5s`: the server's `retry` field, in seconds.
fn retry_delay(word: &str) -> Result<Duration, String> {
    word.strip_prefix("retry=")
        .and_then(|s| s.strip_suffix('s'))
        .and_then(|s| s.parse::<f64>().ok())
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| format!("{word:?} is not retry=<seconds>s"))
}

/// `at` relative to `now`, negative once past.
fn signed(at: Instant, now: Instant) -> String {
    if at >= now {
        secs(at - now)
    } else {
        format!("-{}", secs(now - at))
    }
}

fn failure_name(failure: Failure) -> &'static str {
    match failure {
        Failure::Timeout => "timeout",
        Failure::Lost => "lost",
    }
}

fn render_effect(effect: Effect) -> String {
    match effect {
        Effect::Send { timeout } => format!("Send({})", secs(timeout)),
        Effect::Resume => "Resume".into(),
        Effect::Fail(failure) => format!("Fail({})", failure_name(failure)),
    }
}
