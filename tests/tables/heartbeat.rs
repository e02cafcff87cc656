//! The workspace link as `spec/heartbeat.table` writes it.

use super::auth::{render_effect as render_auth, SUBJECT};
use super::check::{secs, Clock, Model};
use molecule_mcp::machine::heartbeat::{
    Config, Effect, Event, Failure, Heartbeat, Outcome, Request, State,
};
use molecule_mcp::machine::Fixed;

/// With the default interval (20 s) and 10 % jitter, a fixed draw of 0.5
/// puts every beat 19 s after the one before.
pub const JITTER: f64 = 0.5;

pub struct Link;

impl Model for Link {
    type Machine = Heartbeat;

    fn fresh(&self) -> Heartbeat {
        Heartbeat::new(SUBJECT, Config::default(), Box::new(Fixed(JITTER)))
    }

    fn states(&self) -> &'static [&'static str] {
        &[
            "new",
            "registering",
            "beating busy=beat beat@19s registered",
            "beating beat@19s registered",
            "beating busy=beat beat@19s retry@1s backoff=2s",
            "beating beat@19s retry@1s backoff=2s",
            "beating busy=register beat@19s backoff=2s",
            "beating busy=beat beat@57s registered auth=2",
            "beating busy=beat beat@76s registered auth=3",
            "beating beat@19s registered saving=s1",
            "beating busy=beat beat@38s registered saved=s1",
            "stopped",
        ]
    }

    fn events(&self) -> &'static [&'static str] {
        &[
            "start",
            "tick early",
            "tick due",
            "register ok",
            "register ok token=t1 secret=s1",
            "register 401",
            "register 403",
            "register 500",
            "register transport",
            "beat ok",
            "beat ok secret=s1",
            "beat 401",
            "beat 500",
            "beat transport",
            "secret saved",
            "secret save failed",
            "shutdown",
        ]
    }

    fn impossible(&self) -> &'static [(&'static str, &'static str)] {
        // No deadline: before start, after stop, and while a request is in
        // flight.
        &[
            ("new", "tick due"),
            ("registering", "tick due"),
            ("beating busy=beat beat@19s registered", "tick due"),
            ("beating busy=beat beat@19s retry@1s backoff=2s", "tick due"),
            ("beating busy=register beat@19s backoff=2s", "tick due"),
            ("beating busy=beat beat@57s registered auth=2", "tick due"),
            ("beating busy=beat beat@76s registered auth=3", "tick due"),
            ("beating busy=beat beat@38s registered saved=s1", "tick due"),
            ("stopped", "tick due"),
        ]
    }

    fn extra_events(&self) -> &'static [&'static str] {
        &["tick", "beat 204", "beat ok secret=s2"]
    }

    fn apply(
        &self,
        machine: &mut Heartbeat,
        event: &str,
        clock: &mut Clock,
    ) -> Result<Vec<String>, String> {
        let words: Vec<&str> = event.split(' ').collect();
        let event = match words.as_slice() {
            ["start"] => Event::Start,
            ["shutdown"] => Event::Shutdown,
            ["secret", "saved"] => Event::SecretSaved,
            ["secret", "save", "failed"] => Event::SecretSaveFailed,
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
            ["register", answer @ ..] => Event::RegisterDone(outcome(answer)?),
            ["beat", answer @ ..] => Event::BeatDone(outcome(answer)?),
            _ => return Err(format!("unknown heartbeat event {event:?}")),
        };
        Ok(machine
            .handle(event, clock.now)
            .iter()
            .map(render_effect)
            .collect())
    }

    fn render(&self, m: &Heartbeat, clock: &Clock) -> String {
        let mut s = match m.state() {
            State::New => return "new".into(),
            State::Registering if m.in_flight() == Some(Request::Register) => {
                return "registering".into()
            }
            State::Registering => "registering".to_string(),
            State::Stopped => return "stopped".into(),
            State::Beating => "beating".to_string(),
        };
        match m.in_flight() {
            Some(Request::Beat) => s.push_str(" busy=beat"),
            Some(Request::Register) => s.push_str(" busy=register"),
            None => {}
        }
        match m.next_beat() {
            Some(t) => s.push_str(&format!(" beat{}", clock.at(t))),
            None => s.push_str(" beat=none"),
        }
        if m.registered() {
            s.push_str(" registered");
        }
        if let Some(t) = m.next_register() {
            s.push_str(&format!(" retry{}", clock.at(t)));
        }
        if !m.registered() {
            s.push_str(&format!(" backoff={}", secs(m.register_backoff())));
        }
        if m.auth().count() > 0 {
            s.push_str(&format!(" auth={}", m.auth().count()));
        }
        if let Some(secret) = m.saved_secret() {
            s.push_str(&format!(" saved={secret}"));
        }
        if let Some(secret) = m.saving_secret() {
            s.push_str(&format!(" saving={secret}"));
        }
        s
    }
}

/// `ok [token=T] [secret=S]`, a status, or `transport`.
fn outcome(words: &[&str]) -> Result<Outcome, String> {
    match words {
        ["transport"] => Ok(Outcome::Transport),
        ["ok", fields @ ..] => {
            let (mut secret, mut minted_token) = (None, None);
            for field in fields {
                if let Some(v) = field.strip_prefix("secret=") {
                    secret = Some(v.to_string());
                } else if let Some(v) = field.strip_prefix("token=") {
                    minted_token = Some(v.to_string());
                } else {
                    return Err(format!("unknown answer field {field:?}"));
                }
            }
            Ok(Outcome::Ok {
                secret,
                minted_token,
            })
        }
        [status] => status
            .parse()
            .map(Outcome::Status)
            .map_err(|_| format!("{status:?} is not an answer")),
        _ => Err(format!("{words:?} is not an answer")),
    }
}

fn failure(f: &Failure) -> String {
    match f {
        Failure::Status(status) => status.to_string(),
        Failure::Transport => "transport".into(),
    }
}

pub fn render_effect(effect: &Effect) -> String {
    match effect {
        Effect::SendRegister => "SendRegister".into(),
        Effect::SendBeat => "SendBeat".into(),
        Effect::Registered => "Registered".into(),
        Effect::PersistToken(t) => format!("PersistToken({t})"),
        Effect::PersistSecret(s) => format!("PersistSecret({s})"),
        Effect::RegisterFailed {
            failure: f,
            retry_in,
        } => format!("RegisterFailed({} retry {})", failure(f), secs(*retry_in)),
        Effect::BeatFailed { failure: f } => format!("BeatFailed({})", failure(f)),
        Effect::Auth(e) => render_auth(e, SUBJECT),
        Effect::Diagnose => "Diagnose".into(),
        Effect::FatalRegister { status } => format!("FatalRegister({status})"),
        Effect::Stopped => "Stopped".into(),
    }
}
