//! The auth escalation as `spec/auth_escalation.table` writes it.

use super::check::{Clock, Model};
use log::Level;
use molecule_mcp::machine::auth::{self, AuthEscalation, Kind};

/// The subject every table machine is created with.
pub const SUBJECT: &str = "ws-1";

pub struct Auth;

impl Model for Auth {
    type Machine = AuthEscalation;

    fn fresh(&self) -> AuthEscalation {
        AuthEscalation::new(SUBJECT)
    }

    fn states(&self) -> &'static [&'static str] {
        // 3 stands for every count after the threshold whose next failure
        // is silent; 22 for those whose next failure repeats the error.
        &["count=0", "count=1", "count=2", "count=3", "count=22"]
    }

    fn events(&self) -> &'static [&'static str] {
        &["200", "401", "403", "500", "transport"]
    }

    fn impossible(&self) -> &'static [(&'static str, &'static str)] {
        &[]
    }

    fn extra_events(&self) -> &'static [&'static str] {
        &["204", "400", "404", "429", "502", "503"]
    }

    fn apply(
        &self,
        machine: &mut AuthEscalation,
        event: &str,
        clock: &mut Clock,
    ) -> Result<Vec<String>, String> {
        let event = match event {
            "transport" => auth::Event::Transport,
            status => auth::Event::Status(
                status
                    .parse()
                    .map_err(|_| format!("{status:?} is neither a status nor transport"))?,
            ),
        };
        Ok(machine
            .handle(event, clock.now)
            .iter()
            .map(|e| render_effect(e, SUBJECT))
            .collect())
    }

    fn render(&self, machine: &AuthEscalation, _clock: &Clock) -> String {
        let mut state = format!("count={}", machine.count());
        if machine.escalated() != (machine.count() >= auth::THRESHOLD) {
            state.push_str(&format!(" escalated={}", machine.escalated()));
        }
        state
    }
}

/// `Warning(401 1/3)`, `Escalated(401 3/3 first)`, `Escalated(401 23/3)`,
/// `Recovered(200 after 3)`. The level and subject follow from the kind and
/// the machine; when they do not, they are shown, and no table row matches.
pub fn render_effect(effect: &auth::Effect, subject: &str) -> String {
    let (mut text, level) = match effect.kind {
        Kind::Warning => (
            format!(
                "Warning({} {}/{})",
                effect.status, effect.count, effect.threshold
            ),
            Level::Warn,
        ),
        Kind::Escalated { first } => (
            format!(
                "Escalated({} {}/{}{})",
                effect.status,
                effect.count,
                effect.threshold,
                if first { " first" } else { "" }
            ),
            Level::Error,
        ),
        Kind::Recovered => (
            format!("Recovered({} after {})", effect.status, effect.count),
            Level::Info,
        ),
    };
    if effect.level != level || effect.subject != subject || effect.threshold != auth::THRESHOLD {
        text.push_str(&format!(
            "[level={} subject={} threshold={}]",
            effect.level, effect.subject, effect.threshold
        ));
    }
    text
}
