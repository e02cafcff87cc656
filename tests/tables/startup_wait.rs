//! The gateway's start-up wait as `spec/startup_wait.table` writes it.

use super::check::{secs, Clock, Model};
use molecule_mcp::machine::startup_wait::{Answer, Ask, Ended, StartupWait};
use std::time::Duration;

/// The wait every table machine is created with (the default).
pub const WAIT: Duration = Duration::from_secs(10);

pub struct Startup;

/// The machine is created with the gateway, at the table's time zero, which
/// the model only learns from the clock of the first event or rendering.
#[derive(Default)]
pub struct Started(Option<StartupWait>);

impl Started {
    fn machine(&mut self, clock: &Clock) -> &mut StartupWait {
        self.0
            .get_or_insert_with(|| StartupWait::new(clock.t0, WAIT))
    }
}

impl Model for Startup {
    type Machine = Started;

    fn fresh(&self) -> Started {
        Started::default()
    }

    fn states(&self) -> &'static [&'static str] {
        &["waiting left=10s", "over"]
    }

    fn events(&self) -> &'static [&'static str] {
        &["ask tried", "ask untried", "ask untried at deadline"]
    }

    fn impossible(&self) -> &'static [(&'static str, &'static str)] {
        // Once over there is no deadline left to reach.
        &[("over", "ask untried at deadline")]
    }

    fn apply(
        &self,
        started: &mut Started,
        event: &str,
        clock: &mut Clock,
    ) -> Result<Vec<String>, String> {
        let words: Vec<&str> = event.split(' ').collect();
        let untried = match words.as_slice() {
            ["ask", "tried"] => false,
            ["ask", "untried"] => true,
            ["ask", "untried", "at", "deadline"] => {
                let deadline = started.machine(clock).deadline();
                clock.jump_to(deadline)?;
                true
            }
            ["wait", amount] => {
                started.machine(clock);
                clock.wait(amount)?;
                return Ok(Vec::new());
            }
            _ => return Err(format!("unknown start-up wait event {event:?}")),
        };
        let now = clock.now;
        let answer = started.machine(clock).handle(Ask { untried }, now);
        Ok(vec![render_answer(answer)])
    }

    fn render(&self, started: &Started, clock: &Clock) -> String {
        let machine = started
            .0
            .clone()
            .unwrap_or_else(|| StartupWait::new(clock.t0, WAIT));
        match machine.deadline() {
            None => "over".into(),
            Some(deadline) if deadline >= clock.now => {
                format!("waiting left={}", secs(deadline - clock.now))
            }
            Some(deadline) => format!("waiting left=-{}", secs(clock.now - deadline)),
        }
    }
}

fn render_answer(answer: Answer) -> String {
    match answer {
        Answer::Wait => "Wait".into(),
        Answer::Go(None) => "Go".into(),
        Answer::Go(Some(Ended::AllTried)) => "Go(all tried)".into(),
        Answer::Go(Some(Ended::WaitOver)) => "Go(wait over)".into(),
    }
}
