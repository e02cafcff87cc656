//! Drives a real machine through every row of a table.

use super::table::{expand, parse, Row, Section, Table, EFFECTS, EVENTS, IMPOSSIBLE, NONE, STEPS};
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// Simulated time: `t0` is when the machine was created, `now` moves only
/// with the events (`tick`, `wait`).
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    pub t0: Instant,
    pub now: Instant,
}

impl Clock {
    /// `@Ns`: an instant as seconds since the machine was created.
    pub fn at(&self, t: Instant) -> String {
        format!("@{}", secs(t.saturating_duration_since(self.t0)))
    }

    /// `tick due`: time jumps to the machine's deadline.
    pub fn jump_to(&mut self, deadline: Option<Instant>) -> Result<(), String> {
        let due = deadline.ok_or("tick due: the machine has no deadline")?;
        self.now = self.now.max(due);
        Ok(())
    }

    /// `tick early`: 1 ms before the deadline, or an hour later when there is
    /// none (nothing may happen either way).
    pub fn just_before(&mut self, deadline: Option<Instant>) -> Result<(), String> {
        self.now = match deadline {
            Some(due) => {
                let t = due - Duration::from_millis(1);
                if t < self.now {
                    return Err("tick early: the deadline is already due".into());
                }
                t
            }
            None => self.now + Duration::from_secs(3600),
        };
        Ok(())
    }

    /// `wait Ns`: time passes and nothing is delivered.
    pub fn wait(&mut self, amount: &str) -> Result<(), String> {
        let seconds: f64 = amount
            .strip_suffix('s')
            .and_then(|n| n.parse().ok())
            .filter(|n: &f64| n.is_finite() && *n >= 0.0)
            .ok_or_else(|| format!("wait {amount:?}: not a number of seconds"))?;
        self.now += Duration::from_secs_f64(seconds);
        Ok(())
    }
}

/// Seconds rounded to the millisecond, without trailing zeros: `19s`, `0.55s`.
pub fn secs(d: Duration) -> String {
    let ms = (d.as_nanos() + 500_000) / 1_000_000;
    let (whole, frac) = (ms / 1000, ms % 1000);
    if frac == 0 {
        format!("{whole}s")
    } else {
        let frac = format!("{frac:03}");
        format!("{whole}.{}s", frac.trim_end_matches('0'))
    }
}

/// One machine's vocabulary and renderings.
pub trait Model {
    type Machine;
    fn fresh(&self) -> Self::Machine;
    /// The state classes, each written as the rendering of its
    /// representative state. Every (state, event) pair needs one row.
    fn states(&self) -> &'static [&'static str];
    fn events(&self) -> &'static [&'static str];
    /// Pairs that cannot happen; their rows read `— | —`.
    fn impossible(&self) -> &'static [(&'static str, &'static str)];
    /// Events setups and sequences may use besides the event classes (and
    /// `wait Ns`). A closed vocabulary makes a changed event visible even
    /// when the machine would treat it the same way.
    fn extra_events(&self) -> &'static [&'static str] {
        &[]
    }
    /// Feeds one event (or moves the clock) and renders the effects.
    fn apply(
        &self,
        machine: &mut Self::Machine,
        event: &str,
        clock: &mut Clock,
    ) -> Result<Vec<String>, String>;
    fn render(&self, machine: &Self::Machine, clock: &Clock) -> String;
}

pub struct Checker<M: Model> {
    model: M,
    t0: Instant,
    /// Row verdicts by row content (and the setup the row depends on): the
    /// machines are deterministic, so a row that did not change needs no
    /// second run when the mutation test checks thousands of variants.
    verdicts: RefCell<HashMap<String, Result<(), String>>>,
}

impl<M: Model> Checker<M> {
    pub fn new(model: M) -> Self {
        Checker {
            model,
            t0: Instant::now(),
            verdicts: RefCell::new(HashMap::new()),
        }
    }

    /// Every problem with `table`, or the first one when `fail_fast`.
    pub fn check(&self, table: &Table, fail_fast: bool) -> Vec<String> {
        let mut errors = Vec::new();
        let mut report = |row: Option<&Row>, message: String| -> bool {
            errors.push(match row {
                Some(row) => format!("line {}: {message}", row.line),
                None => message,
            });
            fail_fast
        };
        let (setups, problems) = self.structure(table);
        for problem in problems {
            if report(None, problem) {
                return errors;
            }
        }
        for row in &table.rows {
            let setup = || setups.get(row.cells[0].as_str()).copied();
            let verdict = match row.section {
                Section::Setup => self.verdict(row, "", || self.setup_row(row)),
                // A row whose state has no setup is already reported.
                Section::Transitions if row.cells[2] == IMPOSSIBLE => match setup() {
                    Some(s) => self.verdict(row, s, || self.impossible_row(row, s)),
                    None => continue,
                },
                Section::Transitions => match setup() {
                    Some(s) => self.verdict(row, s, || self.transition_row(row, s)),
                    None => continue,
                },
                Section::Sequences => match setup() {
                    Some(s) => self.verdict(row, s, || self.sequence_row(row, s)),
                    None => continue,
                },
            };
            if let Err(message) = verdict {
                if report(Some(row), message) {
                    break;
                }
            }
        }
        errors
    }

    /// The shape: one setup per state class, one row per (state, event)
    /// pair, `—` exactly on the impossible pairs. Returns each state's
    /// setup events and the problems found.
    fn structure<'t>(&self, table: &'t Table) -> (HashMap<&'t str, &'t str>, Vec<String>) {
        let states: HashSet<&str> = self.model.states().iter().copied().collect();
        let events: HashSet<&str> = self.model.events().iter().copied().collect();
        let impossible: HashSet<(&str, &str)> = self.model.impossible().iter().copied().collect();
        let mut problems = Vec::new();
        let mut setups = HashMap::new();
        for row in table.section(Section::Setup) {
            let state = row.cells[0].as_str();
            if !states.contains(state) {
                problems.push(format!(
                    "line {}: setup for {state:?}, not a state class",
                    row.line
                ));
            }
            if setups.insert(state, row.cells[1].as_str()).is_some() {
                problems.push(format!("line {}: a second setup for {state:?}", row.line));
            }
        }
        for state in self.model.states() {
            if !setups.contains_key(state) {
                problems.push(format!("no setup for state {state:?}"));
            }
        }
        let mut seen = HashSet::new();
        for row in table.section(Section::Transitions) {
            let (state, event) = (row.cells[0].as_str(), row.cells[1].as_str());
            let line = row.line;
            if !states.contains(state) {
                problems.push(format!("line {line}: {state:?} is not a state class"));
            }
            if !events.contains(event) {
                problems.push(format!("line {line}: {event:?} is not an event class"));
            }
            if !seen.insert((state, event)) {
                problems.push(format!(
                    "line {line}: a second row for {state:?} + {event:?}"
                ));
            }
            let dashes = [&row.cells[2], &row.cells[3]].map(|c| c == IMPOSSIBLE);
            if impossible.contains(&(state, event)) {
                if dashes != [true, true] {
                    problems.push(format!(
                        "line {line}: {state:?} + {event:?} cannot happen; write {IMPOSSIBLE} | {IMPOSSIBLE}"
                    ));
                }
            } else if dashes.contains(&true) {
                problems.push(format!(
                    "line {line}: {IMPOSSIBLE} on {state:?} + {event:?}, which can happen"
                ));
            }
        }
        for state in self.model.states() {
            for event in self.model.events() {
                if !seen.contains(&(*state, *event)) {
                    problems.push(format!("no row for {state:?} + {event:?}"));
                }
            }
        }
        for row in table.section(Section::Sequences) {
            if !setups.contains_key(row.cells[0].as_str()) {
                problems.push(format!(
                    "line {}: sequence from unknown state {:?}",
                    row.line, row.cells[0]
                ));
            }
        }
        (setups, problems)
    }

    fn verdict(
        &self,
        row: &Row,
        setup: &str,
        run: impl FnOnce() -> Result<(), String>,
    ) -> Result<(), String> {
        let key = format!(
            "{:?}\u{1}{}\u{1}{setup}",
            row.section,
            row.cells.join("\u{1}")
        );
        if let Some(known) = self.verdicts.borrow().get(&key) {
            return known.clone();
        }
        let verdict = run();
        self.verdicts.borrow_mut().insert(key, verdict.clone());
        verdict
    }

    fn replay(&self, events: &str) -> Result<(M::Machine, Clock), String> {
        let mut machine = self.model.fresh();
        let mut clock = Clock {
            t0: self.t0,
            now: self.t0,
        };
        // A step that changes nothing would document a path the machine
        // does not take; a setup lists only steps that matter.
        for event in list(events, EVENTS)? {
            self.known(&event)?;
            let before = self.model.render(&machine, &clock);
            let effects = self
                .model
                .apply(&mut machine, &event, &mut clock)
                .map_err(|e| format!("setup {events:?}: {e}"))?;
            if effects.is_empty() && self.model.render(&machine, &clock) == before {
                return Err(format!("setup {events:?}: {event:?} changes nothing"));
            }
        }
        Ok((machine, clock))
    }

    fn setup_row(&self, row: &Row) -> Result<(), String> {
        let (machine, clock) = self.replay(&row.cells[1])?;
        let reached = self.model.render(&machine, &clock);
        expect("the setup reaches", &row.cells[0], &reached)
    }

    fn transition_row(&self, row: &Row, setup: &str) -> Result<(), String> {
        let (mut machine, mut clock) = self.replay(setup)?;
        let effects = self.model.apply(&mut machine, &row.cells[1], &mut clock)?;
        expect(
            "next state",
            &row.cells[2],
            &self.model.render(&machine, &clock),
        )?;
        expect("effects", &row.cells[3], &join(&effects))
    }

    /// An impossible pair must be one the machine cannot even be given
    /// (a `tick due` with no deadline), not one the table skipped.
    fn impossible_row(&self, row: &Row, setup: &str) -> Result<(), String> {
        let (mut machine, mut clock) = self.replay(setup)?;
        match self.model.apply(&mut machine, &row.cells[1], &mut clock) {
            Err(_) => Ok(()),
            Ok(effects) => Err(format!(
                "{IMPOSSIBLE} but the machine takes the event (effects {:?})",
                join(&effects)
            )),
        }
    }

    fn sequence_row(&self, row: &Row, setup: &str) -> Result<(), String> {
        let (mut machine, mut clock) = self.replay(setup)?;
        let events = list(&row.cells[1], EVENTS)?;
        let steps = expand(&row.cells[3], STEPS)?;
        if steps.len() != events.len() {
            return Err(format!(
                "{} events but {} steps of effects",
                events.len(),
                steps.len()
            ));
        }
        for (n, (event, step)) in events.iter().zip(&steps).enumerate() {
            self.known(event)?;
            let effects = self.model.apply(&mut machine, event, &mut clock)?;
            expect(
                &format!("effects of step {} ({event})", n + 1),
                step,
                &join(&effects),
            )?;
        }
        expect(
            "final state",
            &row.cells[2],
            &self.model.render(&machine, &clock),
        )
    }
}

impl<M: Model> Checker<M> {
    /// The table's text with every result cell (next state and effects of a
    /// transition, final state and steps of a sequence) replaced by what the
    /// machine gives; everything else (setups, events, comments, layout) is
    /// kept. A cell that already agrees is left as written, so only changed
    /// rules show up in the diff. Rows the machine cannot run are left alone
    /// and reported.
    pub fn bless(&self, text: &str) -> (String, Vec<String>) {
        let mut problems = Vec::new();
        let table = match parse(text) {
            Ok(table) => table,
            Err(e) => return (text.to_string(), vec![e]),
        };
        let (setups, _) = self.structure(&table);
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        for row in &table.rows {
            let Some(setup) = setups.get(row.cells[0].as_str()).copied() else {
                continue;
            };
            let results = match row.section {
                Section::Setup => continue,
                Section::Transitions if row.cells[2] == IMPOSSIBLE => continue,
                Section::Transitions => self.transition_results(row, setup),
                Section::Sequences => self.sequence_results(row, setup),
            };
            match results {
                Ok([state, effects]) => {
                    let line = &mut lines[row.line - 1];
                    *line = replace_cells(line, &[(2, state), (3, effects)]);
                }
                Err(e) => problems.push(format!("line {}: {e}", row.line)),
            }
        }
        let mut blessed = lines.join("\n");
        if text.ends_with('\n') {
            blessed.push('\n');
        }
        (blessed, problems)
    }

    fn transition_results(&self, row: &Row, setup: &str) -> Result<[String; 2], String> {
        let (mut machine, mut clock) = self.replay(setup)?;
        let effects = join(&self.model.apply(&mut machine, &row.cells[1], &mut clock)?);
        let state = self.model.render(&machine, &clock);
        let effects = if expand(&row.cells[3], EFFECTS).ok() == expand(&effects, EFFECTS).ok() {
            row.cells[3].clone()
        } else {
            effects
        };
        Ok([state, effects])
    }

    fn sequence_results(&self, row: &Row, setup: &str) -> Result<[String; 2], String> {
        let (mut machine, mut clock) = self.replay(setup)?;
        let mut steps = Vec::new();
        for event in list(&row.cells[1], EVENTS)? {
            steps.push(join(&self.model.apply(&mut machine, &event, &mut clock)?));
        }
        let state = self.model.render(&machine, &clock);
        let steps = if expand(&row.cells[3], STEPS).ok() == Some(steps.clone()) {
            row.cells[3].clone()
        } else {
            steps.join(STEPS)
        };
        Ok([state, steps])
    }
}

/// `line` with the given cells (0-based) replaced; the cells before keep
/// their padding so that aligned columns stay aligned.
fn replace_cells(line: &str, cells: &[(usize, String)]) -> String {
    let mut parts: Vec<String> = line.split('|').map(str::to_string).collect();
    let count = parts.len();
    for (index, value) in cells {
        let Some(part) = parts.get_mut(*index) else {
            continue;
        };
        if part.trim() == value {
            continue;
        }
        let last = *index + 1 == count;
        let width = part.len().saturating_sub(2);
        *part = if last {
            format!(" {value}")
        } else {
            format!(" {value:<width$} ")
        };
    }
    parts.join("|")
}

impl<M: Model> Checker<M> {
    fn known(&self, event: &str) -> Result<(), String> {
        let listed = |list: &[&str]| list.contains(&event);
        if listed(self.model.events())
            || listed(self.model.extra_events())
            || event.starts_with("wait ")
        {
            Ok(())
        } else {
            Err(format!("{event:?} is not in the vocabulary"))
        }
    }
}

/// A list cell: `-` for none, else its expanded items.
fn list(cell: &str, sep: &str) -> Result<Vec<String>, String> {
    if cell == NONE {
        Ok(Vec::new())
    } else {
        expand(cell, sep)
    }
}

fn join(effects: &[String]) -> String {
    if effects.is_empty() {
        NONE.to_string()
    } else {
        effects.join(EFFECTS)
    }
}

fn expect(what: &str, table: &str, machine: &str) -> Result<(), String> {
    if table == machine {
        Ok(())
    } else {
        Err(format!(
            "{what}: the table says {table:?}, the machine gives {machine:?}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaced_cells_keep_the_columns_before_them_aligned() {
        let line = "a     | ev   | s1   | E1";
        assert_eq!(
            replace_cells(line, &[(2, "s2".into()), (3, "E2; E3".into())]),
            "a     | ev   | s2   | E2; E3"
        );
        assert_eq!(replace_cells(line, &[(2, "s1".into())]), line);
    }

    #[test]
    fn seconds_are_rounded_to_the_millisecond() {
        assert_eq!(secs(Duration::from_secs(19)), "19s");
        assert_eq!(secs(Duration::from_millis(550)), "0.55s");
        assert_eq!(secs(Duration::from_nanos(1_649_999_999)), "1.65s");
        assert_eq!(secs(Duration::ZERO), "0s");
        assert_eq!(secs(Duration::from_millis(99_505)), "99.505s");
    }
}
