//! One upstream's composite machine as `spec/upstream.table` writes it.

use super::auth::{render_effect as auth_effect, SUBJECT};
use super::breaker::{ending, park, reason, state, Guard, JITTER};
use super::check::{secs, Clock, Model};
use super::session::SessionSlot;
use molecule_mcp::machine::breaker::Rejection;
use molecule_mcp::machine::session::SlotState;
use molecule_mcp::machine::upstream::{
    Answer, Config, Fault, Input, Output, Ping, Probe, Refresh, Report, Ticket, Upstream,
};
use molecule_mcp::machine::Fixed;
use std::sync::OnceLock;

/// The machine and the tickets its calls were given (`#1`, `#2`, ...). It
/// is created at the first event, when the table's clock is known.
#[derive(Default)]
pub struct Subject {
    machine: Option<Upstream>,
    /// `http`: the first event made it an HTTP server (no hung restarts).
    http: bool,
    tickets: Ticket,
}

impl Subject {
    fn get(&mut self, clock: &Clock) -> &mut Upstream {
        let http = self.http;
        self.machine.get_or_insert_with(|| fresh(http, clock))
    }
}

fn fresh(http: bool, clock: &Clock) -> Upstream {
    let config = Config {
        restart_hung: !http,
        ..Config::default()
    };
    Upstream::new(config, SUBJECT, Box::new(Fixed(JITTER)), clock.t0)
}

pub struct Composite;

/// The generation a `... old` event names: the one before the current.
fn old(m: &Upstream) -> u64 {
    m.slot().generation().saturating_sub(1)
}

impl Model for Composite {
    type Machine = Subject;

    fn fresh(&self) -> Subject {
        Subject::default()
    }

    fn states(&self) -> &'static [&'static str] {
        &[
            "closed empty g0",
            "closed connecting g0",
            "closed live g1 lists ping@60s",
            "closed live g1 ping@60s",
            "closed live g1 keepalive",
            "closed failures=2 live g1 ping@60s timeouts=2",
            "closed connecting g1 held=1 auth=1 reconnected",
            "open until@0.55s failures=1 empty g1",
            "half-open failures=1 connecting g1 probe=connect probed@0.55s",
            "half-open called resume@0.55s failures=1 connecting g1 probe=connect probed@0s waiting=1 until@2s",
            "half-open failures=3 live g1 probe=ping probed@0.55s",
            "parked(auth) probe@60s connecting g1 held=1 auth=3 reconnected",
            "parked(permanent) probe@60s failures=1 empty g0",
            "stopped",
            "http closed live g1 ping@60s",
            "http closed live g1 keepalive",
            "http half-open failures=3 live g1 probe=ping probed@0.55s",
        ]
    }

    fn events(&self) -> &'static [&'static str] {
        &[
            "start",
            "call",
            "renew current",
            "renew old",
            "report ok",
            "report failed transport",
            "report failed timeout",
            "report failed server",
            "report failed answered-tool-error",
            "report old failed timeout",
            "report auth 401",
            "connected",
            "connect failed transport",
            "connect failed permanent",
            "connect failed auth 401",
            "probe ok",
            "probe expired",
            "probe lost",
            "probe timeout",
            "probe failed server",
            "probe auth 401",
            "keepalive ok",
            "keepalive expired",
            "keepalive timeout",
            "keepalive failed server",
            "lists ok",
            "lists failed server",
            "lists auth 401",
            "died",
            "list changed",
            "tick early",
            "tick due",
            "shutdown",
        ]
    }

    /// A result arrives only from something the machine started: a
    /// connect result while a connect runs (or after shutdown, when the one
    /// that ran still reports), a probe, keep-alive or list result while
    /// one runs; `tick due` only with a deadline.
    fn impossible(&self) -> &'static [(&'static str, &'static str)] {
        static PAIRS: OnceLock<Vec<(&'static str, &'static str)>> = OnceLock::new();
        PAIRS.get_or_init(|| {
            let mut pairs = Vec::new();
            for state in self.states() {
                let has = |word: &str| state.split(' ').any(|w| w == word);
                let deadline = ["until@", "probe@", "ping@"]
                    .iter()
                    .any(|label| state.contains(label));
                for event in self.events() {
                    let possible = match event.split(' ').next() {
                        Some("connected" | "connect") => has("connecting") || has("stopped"),
                        Some("probe") => has("probe=ping"),
                        Some("keepalive") => has("keepalive"),
                        Some("lists") => has("lists") || has("lists+again"),
                        _ if *event == "tick due" => deadline,
                        _ => true,
                    };
                    if !possible {
                        pairs.push((*state, *event));
                    }
                }
            }
            pairs
        })
    }

    fn extra_events(&self) -> &'static [&'static str] {
        &["http", "tick", "report old failed server"]
    }

    fn apply(
        &self,
        subject: &mut Subject,
        event: &str,
        clock: &mut Clock,
    ) -> Result<Vec<String>, String> {
        if event == "http" {
            if subject.machine.is_some() || subject.http {
                return Err("http: only as the first event".into());
            }
            subject.http = true;
            return Ok(Vec::new());
        }
        if let Some(amount) = event.strip_prefix("wait ") {
            clock.wait(amount)?;
            return Ok(Vec::new());
        }
        let words: Vec<&str> = event.split(' ').collect();
        let m = subject.get(clock);
        deliverable(m, words[0])?;
        let current = m.slot().generation();
        let input = match words.as_slice() {
            ["start"] => Input::Start,
            ["call"] => {
                subject.tickets += 1;
                Input::Admit(subject.tickets)
            }
            ["renew", which] => {
                let generation = match *which {
                    "current" => current,
                    "old" => old(m),
                    _ => return Err(format!("renew {which:?}")),
                };
                subject.tickets += 1;
                Input::Renew(subject.tickets, generation)
            }
            ["report", rest @ ..] => {
                let (generation, rest) = match rest {
                    ["old", rest @ ..] => (old(m), rest),
                    rest => (current, rest),
                };
                Input::Report(generation, report(rest)?)
            }
            ["connected"] => Input::Connected(Ok(())),
            ["connect", rest @ ..] => Input::Connected(Err(fault(rest)?)),
            ["probe", "ok"] => Input::Probed(Ok(())),
            ["probe", rest @ ..] => Input::Probed(Err(fault(rest)?)),
            ["keepalive", "ok"] => Input::KeptAlive(Ok(())),
            ["keepalive", rest @ ..] => Input::KeptAlive(Err(fault(rest)?)),
            ["lists", "ok"] => Input::Refreshed(current, Ok(())),
            ["lists", rest @ ..] => Input::Refreshed(current, Err(fault(rest)?)),
            ["died"] => Input::Died,
            ["list", "changed"] => Input::ListChanged,
            ["tick"] | ["tick", "due"] => {
                clock.jump_to(m.poll_timeout())?;
                Input::Tick
            }
            ["tick", "early"] => {
                clock.just_before(m.poll_timeout())?;
                Input::Tick
            }
            ["shutdown"] => Input::Shutdown,
            _ => return Err(format!("unknown upstream event {event:?}")),
        };
        let m = subject.get(clock);
        m.handle(input, clock.now);
        let mut out = Vec::new();
        while let Some(output) = m.poll_output() {
            out.push(render_output(&output));
        }
        Ok(out)
    }

    fn render(&self, subject: &Subject, clock: &Clock) -> String {
        let made;
        let m = match &subject.machine {
            Some(m) => m,
            None => {
                made = fresh(subject.http, clock);
                &made
            }
        };
        let mut s = String::new();
        if subject.http {
            s.push_str("http ");
        }
        s.push_str(&Guard.render(m.breaker(), clock));
        s.push(' ');
        s.push_str(&SessionSlot.render(m.slot(), clock));
        match m.refresh() {
            Refresh::Idle => {}
            Refresh::Running => s.push_str(" lists"),
            Refresh::Again => s.push_str(" lists+again"),
        }
        match m.probe() {
            Probe::Idle => {}
            Probe::AwaitingConnect => s.push_str(" probe=connect"),
            Probe::Pinging(g) if g == m.slot().generation() => s.push_str(" probe=ping"),
            Probe::Pinging(g) => s.push_str(&format!(" probe=ping g{g}")),
        }
        if let Some(at) = m.last_probe() {
            s.push_str(&format!(" probed{}", clock.at(at)));
        }
        if m.probe_renewed() {
            s.push_str(" renewed");
        }
        if m.keepalive_running() {
            s.push_str(" keepalive");
        }
        if let Some(due) = m.keepalive_due() {
            s.push_str(&format!(" ping{}", clock.at(due)));
        }
        if m.waiting() > 0 {
            s.push_str(&format!(" waiting={}", m.waiting()));
            if let Some(until) = m.poll_timeout() {
                s.push_str(&format!(" until{}", clock.at(until)));
            }
        }
        if m.auth_count() > 0 {
            s.push_str(&format!(" auth={}", m.auth_count()));
        }
        if m.auth_reconnected() {
            s.push_str(" reconnected");
        }
        if m.timeouts() > 0 {
            s.push_str(&format!(" timeouts={}", m.timeouts()));
        }
        if s.starts_with("http stopped") || s.starts_with("stopped") {
            // Once stopped nothing else matters.
            return if subject.http {
                "http stopped"
            } else {
                "stopped"
            }
            .into();
        }
        s
    }
}

/// Results come only from what runs (see `impossible`).
fn deliverable(m: &Upstream, first: &str) -> Result<(), String> {
    let runs = match first {
        "connected" | "connect" => {
            matches!(m.slot().state(), SlotState::Connecting | SlotState::Stopped)
        }
        "probe" => matches!(m.probe(), Probe::Pinging(_)),
        "keepalive" => m.keepalive_running(),
        "lists" => m.refresh() != Refresh::Idle,
        _ => true,
    };
    if runs {
        Ok(())
    } else {
        Err(format!("no {first} runs, so no result can arrive"))
    }
}

fn report(words: &[&str]) -> Result<Report, String> {
    Ok(match words {
        ["ok"] => Report::Success,
        ["failed", class] => Report::Failure(ending(class)?),
        ["auth", status] => Report::Auth(status.parse().map_err(|_| format!("status {status:?}"))?),
        _ => return Err(format!("unknown report {words:?}")),
    })
}

fn fault(words: &[&str]) -> Result<Fault, String> {
    Ok(match words {
        ["expired"] => Fault::Expired,
        ["lost"] => Fault::Failed(molecule_mcp::machine::breaker::Ending::Transport),
        ["timeout"] => Fault::Failed(molecule_mcp::machine::breaker::Ending::Timeout),
        ["closed"] => Fault::Closed,
        ["failed", class] => Fault::Failed(ending(class)?),
        ["auth", status] | ["failed", "auth", status] => {
            Fault::Auth(status.parse().map_err(|_| format!("status {status:?}"))?)
        }
        _ => return Err(format!("unknown fault {words:?}")),
    })
}

fn rejection(r: Rejection) -> String {
    match r {
        Rejection::Open { retry_in, failures } => {
            format!("reject open retry {} failures {failures}", secs(retry_in))
        }
        Rejection::Reconnecting => "reject reconnecting".into(),
        Rejection::Parked(p) => format!("reject parked {}", park(p)),
        Rejection::Stopped => "reject stopped".into(),
    }
}

fn render_output(output: &Output) -> String {
    match output {
        Output::Connect => "Connect".into(),
        Output::Adopt(g) => format!("Adopt(g{g})"),
        Output::Discard => "Discard".into(),
        Output::Restore(g) => format!("Restore(g{g})"),
        Output::Close {
            generation,
            at_once: false,
        } => format!("Close(g{generation})"),
        Output::Close {
            generation,
            at_once: true,
        } => format!("Close(g{generation} at once)"),
        Output::Ping(Ping::Probe) => "Ping(probe)".into(),
        Output::Ping(Ping::KeepAlive) => "Ping(keepalive)".into(),
        Output::Refresh(g) => format!("Refresh(g{g})"),
        Output::ApplyLists { announce: true } => "ApplyLists(announce)".into(),
        Output::ApplyLists { announce: false } => "ApplyLists".into(),
        Output::Answer(ticket, answer) => {
            let answer = match answer {
                Answer::Go(g) => format!("go g{g}"),
                Answer::Reject(r) => rejection(*r),
                Answer::ConnectFailed => "connect failed".into(),
                Answer::Closed => "closed".into(),
                Answer::Stopped => "stopped".into(),
            };
            format!("Answer(#{ticket} {answer})")
        }
        Output::Hide(true) => "HideTools".into(),
        Output::Hide(false) => "ShowTools".into(),
        Output::Auth(effect) => auth_effect(effect, SUBJECT),
        Output::StateChanged {
            from,
            to,
            reason: r,
            retry_in,
        } => {
            let retry = retry_in.map_or(String::new(), |d| format!(" retry {}", secs(d)));
            format!(
                "StateChanged({} -> {}: {}{retry})",
                state(*from),
                state(*to),
                reason(*r)
            )
        }
        Output::Hung => "Hung".into(),
    }
}
