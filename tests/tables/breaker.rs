//! The upstream breaker as `spec/breaker.table` writes it.

use super::check::{secs, Clock, Model};
use molecule_mcp::machine::breaker::{
    Admission, Breaker, Config, Effect, Ending, Event, ParkReason, Reason, Rejection, State,
};
use molecule_mcp::machine::Fixed;

/// A fixed draw of 0.75 scales every cooldown by 1 + (2 × 0.75 − 1) × 0.2
/// = 1.1: 0.55 s, 1.1 s, 2.2 s, 4.4 s, 8.8 s, then 16.5 s (15 s capped).
pub const JITTER: f64 = 0.75;

pub struct Guard;

impl Model for Guard {
    type Machine = Breaker;

    fn fresh(&self) -> Breaker {
        Breaker::new(Config::default(), Box::new(Fixed(JITTER)))
    }

    fn states(&self) -> &'static [&'static str] {
        &[
            "closed",
            "closed failures=2",
            "open until@0.55s failures=3",
            "half-open failures=3",
            "half-open called resume@0.55s failures=3",
            "half-open failures=12 probes=9",
            "parked(permanent) probe@60s failures=1",
            "half-open reviving parked(permanent) failures=1",
            "stopped",
        ]
    }

    fn events(&self) -> &'static [&'static str] {
        &[
            "call",
            "call ok",
            "call failed transport",
            "call failed timeout",
            "call failed server",
            "call failed permanent",
            "call failed answered-tool-error",
            "call failed answered-invalid-call",
            "call failed cancelled",
            "tick early",
            "tick due",
            "probe ok",
            "probe failed transport",
            "probe failed timeout",
            "probe failed server",
            "probe failed permanent",
            "probe failed answered-tool-error",
            "probe failed answered-invalid-call",
            "probe failed cancelled",
            "revive",
            "probe now",
            "connected",
            "park for auth",
            "shutdown",
        ]
    }

    fn impossible(&self) -> &'static [(&'static str, &'static str)] {
        // Only open and parked have a deadline.
        &[
            ("closed", "tick due"),
            ("closed failures=2", "tick due"),
            ("half-open failures=3", "tick due"),
            ("half-open called resume@0.55s failures=3", "tick due"),
            ("half-open failures=12 probes=9", "tick due"),
            (
                "half-open reviving parked(permanent) failures=1",
                "tick due",
            ),
            ("stopped", "tick due"),
        ]
    }

    fn extra_events(&self) -> &'static [&'static str] {
        &["tick"]
    }

    fn apply(
        &self,
        machine: &mut Breaker,
        event: &str,
        clock: &mut Clock,
    ) -> Result<Vec<String>, String> {
        let words: Vec<&str> = event.split(' ').collect();
        let event = match words.as_slice() {
            ["call"] => {
                let (admission, effects) = machine.admit(clock.now);
                let mut out = vec![render_admission(admission)];
                out.extend(effects.iter().map(render_effect));
                return Ok(out);
            }
            ["call", "ok"] => Event::CallSucceeded,
            ["call", "failed", class] => Event::CallFailed(ending(class)?),
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
            ["probe", "ok"] => Event::ProbeSucceeded,
            ["probe", "failed", class] => Event::ProbeFailed(ending(class)?),
            ["revive"] => Event::ReviveRequested,
            ["probe", "now"] => Event::ProbeNow,
            ["connected"] => Event::Connected,
            ["park", "for", "auth"] => Event::ParkForAuth,
            ["shutdown"] => Event::Shutdown,
            _ => return Err(format!("unknown breaker event {event:?}")),
        };
        Ok(machine
            .handle(event, clock.now)
            .iter()
            .map(render_effect)
            .collect())
    }

    fn render(&self, m: &Breaker, clock: &Clock) -> String {
        let deadline = |s: &mut String, label: &str| match m.next_deadline() {
            Some(t) => s.push_str(&format!(" {label}{}", clock.at(t))),
            None => s.push_str(&format!(" {label}=none")),
        };
        let mut s = match m.state() {
            State::Stopped => return "stopped".into(),
            State::Closed => "closed".to_string(),
            State::Open => {
                let mut s = "open".to_string();
                deadline(&mut s, "until");
                s
            }
            State::HalfOpen => "half-open".to_string(),
            State::Parked(reason) => {
                let mut s = format!("parked({})", park(reason));
                deadline(&mut s, "probe");
                s
            }
        };
        if let Some(reason) = m.reviving() {
            s.push_str(&format!(" reviving parked({})", park(reason)));
        }
        if let Some(resume) = m.resume() {
            s.push_str(&format!(" called resume{}", clock.at(resume)));
        }
        if m.failures() > 0 {
            s.push_str(&format!(" failures={}", m.failures()));
        }
        if m.failed_probes() > 0 {
            s.push_str(&format!(" probes={}", m.failed_probes()));
        }
        let hidden = matches!(m.state(), State::Parked(_)) || m.reviving().is_some();
        if m.tools_hidden() != hidden {
            s.push_str(&format!(" tools_hidden={}", m.tools_hidden()));
        }
        s
    }
}

/// How a call or probe ended, as the tables write it (shared with the session tables).
pub fn ending(word: &str) -> Result<Ending, String> {
    Ok(match word {
        "transport" => Ending::Transport,
        "timeout" => Ending::Timeout,
        "server" => Ending::Server,
        "permanent" => Ending::Permanent,
        "answered-tool-error" => Ending::AnsweredToolError,
        "answered-invalid-call" => Ending::AnsweredInvalidCall,
        "cancelled" => Ending::Cancelled,
        other => return Err(format!("unknown ending {other:?}")),
    })
}

pub fn class(c: Ending) -> &'static str {
    match c {
        Ending::Transport => "transport",
        Ending::Timeout => "timeout",
        Ending::Server => "server",
        Ending::Permanent => "permanent",
        Ending::AnsweredToolError => "answered-tool-error",
        Ending::AnsweredInvalidCall => "answered-invalid-call",
        Ending::Cancelled => "cancelled",
    }
}

pub fn park(reason: ParkReason) -> &'static str {
    match reason {
        ParkReason::Probes => "probes",
        ParkReason::Permanent => "permanent",
        ParkReason::Auth => "auth",
    }
}

pub fn state(s: State) -> String {
    match s {
        State::Closed => "closed".into(),
        State::Open => "open".into(),
        State::HalfOpen => "half-open".into(),
        State::Parked(reason) => format!("parked({})", park(reason)),
        State::Stopped => "stopped".into(),
    }
}

pub fn reason(r: Reason) -> String {
    match r {
        Reason::Failures { count, last } => format!("failures {count} {}", class(last)),
        Reason::CooldownElapsed => "cooldown elapsed".into(),
        Reason::Called => "called".into(),
        Reason::ParkProbe => "park probe".into(),
        Reason::Revive => "revive".into(),
        Reason::ProbeFailed {
            class: c,
            failed_probes,
        } => format!("probe failed {} #{failed_probes}", class(c)),
        Reason::CalledProbeFailed { class: c } => format!("called probe failed {}", class(c)),
        Reason::ProbesExhausted { failed_probes } => format!("probes exhausted {failed_probes}"),
        Reason::Permanent => "permanent".into(),
        Reason::Auth => "auth".into(),
        Reason::ProbeSucceeded => "probe ok".into(),
        Reason::CallSucceeded => "call ok".into(),
        Reason::Connected => "connected".into(),
    }
}

fn render_admission(a: Admission) -> String {
    match a {
        Admission::Go => "Go".into(),
        Admission::Reject(Rejection::Open { retry_in, failures }) => {
            format!("Reject(open retry {} failures {failures})", secs(retry_in))
        }
        Admission::Reject(Rejection::Reconnecting) => "Reject(reconnecting)".into(),
        Admission::Reject(Rejection::Parked(r)) => format!("Reject(parked {})", park(r)),
        Admission::Reject(Rejection::Stopped) => "Reject(stopped)".into(),
    }
}

pub fn render_effect(effect: &Effect) -> String {
    match *effect {
        Effect::StartProbe => "StartProbe".into(),
        Effect::StateChanged {
            from,
            to,
            reason: r,
        } => {
            format!(
                "StateChanged({} -> {}: {})",
                state(from),
                state(to),
                reason(r)
            )
        }
        Effect::HideTools => "HideTools".into(),
        Effect::ShowTools => "ShowTools".into(),
        Effect::Stopped => "Stopped".into(),
    }
}
