//! One proxied call's progress notes as `spec/progress.table` writes them.

use super::check::{Clock, Model};
use molecule_mcp::machine::progress::{ProgressGate, Verdict};

pub struct Progress;

/// The call starts at the table's time zero, which the model only learns
/// from the clock of the first event or rendering.
#[derive(Default)]
pub struct Gate(Option<ProgressGate>);

impl Gate {
    fn machine(&mut self, clock: &Clock) -> &mut ProgressGate {
        self.0.get_or_insert_with(|| ProgressGate::new(clock.t0))
    }
}

impl Model for Progress {
    type Machine = Gate;

    fn fresh(&self) -> Gate {
        Gate::default()
    }

    fn states(&self) -> &'static [&'static str] {
        &[
            "last=none tokens=10",
            "last=1 tokens=9",
            "last=10 tokens=0",
            "last=11 tokens=0 held",
        ]
    }

    fn events(&self) -> &'static [&'static str] {
        &["higher", "same", "lower", "flush"]
    }

    fn impossible(&self) -> &'static [(&'static str, &'static str)] {
        // Before the first note there is nothing to repeat or go below.
        &[
            ("last=none tokens=10", "same"),
            ("last=none tokens=10", "lower"),
        ]
    }

    fn extra_events(&self) -> &'static [&'static str] {
        &["progress 1", "progress 2", "progress 3"]
    }

    fn apply(
        &self,
        gate: &mut Gate,
        event: &str,
        clock: &mut Clock,
    ) -> Result<Vec<String>, String> {
        let now = clock.now;
        let machine = gate.machine(clock);
        let last = machine.last();
        let words: Vec<&str> = event.split(' ').collect();
        let value = match words.as_slice() {
            ["higher"] => last.map_or(1.0, |last| last + 1.0),
            ["same"] => last.ok_or("same: no note yet")?,
            ["lower"] => last.ok_or("lower: no note yet")? - 1.0,
            ["progress", value] => value
                .parse()
                .map_err(|_| format!("{value:?} is not a progress value"))?,
            ["flush"] => {
                return Ok(if machine.flush() {
                    vec!["SendHeld".into()]
                } else {
                    Vec::new()
                })
            }
            ["wait", amount] => {
                clock.wait(amount)?;
                return Ok(Vec::new());
            }
            _ => return Err(format!("unknown progress event {event:?}")),
        };
        let verdict = match machine.offer(value, now) {
            Verdict::Send => "Send",
            Verdict::Hold => "Hold",
            Verdict::Stale => "Stale",
        };
        Ok(vec![format!("{verdict}({})", number(value))])
    }

    fn render(&self, gate: &Gate, clock: &Clock) -> String {
        let machine = gate
            .0
            .clone()
            .unwrap_or_else(|| ProgressGate::new(clock.t0));
        let last = machine.last().map_or("none".into(), number);
        let mut state = format!(
            "last={last} tokens={}",
            number(machine.allowance_at(clock.now))
        );
        if machine.held() {
            state.push_str(" held");
        }
        state
    }
}

/// Rounded to the thousandth, without trailing zeros: `10`, `0.5`.
fn number(value: f64) -> String {
    let text = format!("{value:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".into()
    } else {
        text.into()
    }
}
