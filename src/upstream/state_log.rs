//! The log lines of an upstream's life: one per breaker state change, the
//! first connect, a hung child. Words only; the decisions are the
//! machine's (`src/machine/upstream.rs`).

use std::time::Duration;

use serde_json::Value;

use super::config::ServerSpec;
use super::error::CallError;
use crate::machine::breaker::{Reason, State};
use crate::machine::upstream::Output;
use crate::redact::redact;

/// What the driver remembers for its log lines and `doctor`: the last
/// failure and a dead child's last stderr lines.
#[derive(Default)]
pub(crate) struct Notes {
    /// Short and redacted.
    pub last_error: Option<String>,
    death: Option<String>,
}

impl Notes {
    /// A failure of a connect, ping or list read.
    pub fn failed(&mut self, name: &str, error: &CallError) {
        log::debug!("upstream {name}: {}", redact(&error.to_string()));
        if let Some(text) = super::fault::last_error(error) {
            self.last_error = Some(text);
        }
    }

    /// The session's transport closed by itself; `tail`: a child's stderr.
    pub fn died(&mut self, tail: Vec<String>) {
        if !tail.is_empty() {
            self.death = Some(tail.join(" | "));
        }
        if self.last_error.is_none() {
            self.last_error = Some("the connection closed (the server process exited?)".into());
        }
    }

    /// The log line of a machine output that is one (auth escalation,
    /// breaker state change, hung child); other outputs are not.
    pub fn log(&mut self, name: &str, spec: &ServerSpec, output: Output) {
        match output {
            Output::Auth(effect) => {
                let text = super::texts::auth_log(&effect, &spec.transport);
                log::log!(effect.level, "{}", redact(&text));
            }
            Output::StateChanged {
                from,
                to,
                reason,
                retry_in,
            } => {
                let context = Context {
                    name,
                    last_error: self.last_error.as_deref(),
                    death: self.death.take(),
                    park_probe: spec.breaker.park_probe,
                };
                state_changed(context, from, to, reason, retry_in);
            }
            Output::Hung => {
                hung(name);
                self.last_error = Some("the server stopped answering".into());
            }
            _ => {}
        }
    }
}

/// What the line about a state change may add.
struct Context<'a> {
    pub name: &'a str,
    /// The last failure, short and redacted.
    pub last_error: Option<&'a str>,
    /// A dead child's last stderr lines.
    pub death: Option<String>,
    pub park_probe: Duration,
}

/// One line per state change: warnings for open and parked, info when the
/// server is back.
fn state_changed(
    c: Context<'_>,
    from: State,
    to: State,
    reason: Reason,
    retry_in: Option<Duration>,
) {
    let name = c.name;
    let error = match c.last_error {
        Some(e) if !matches!(to, State::Closed) => format!("; last error: {e}"),
        _ => String::new(),
    };
    let death = match (&to, c.death) {
        (State::Open | State::Parked(_), Some(tail)) => format!("; its last stderr lines: {tail}"),
        _ => String::new(),
    };
    let line = match to {
        State::Open => {
            let wait = retry_in.unwrap_or_default().as_secs_f64();
            format!(
                "upstream {name}: unreachable ({reason}){error}; the next scheduled probe is in \
                 about {wait:.1} s, but a call probes it sooner (at most once a second){death}"
            )
        }
        State::Parked(park) => format!(
            "upstream {name}: parked, {park} ({reason}){error}; its tools are hidden until a \
             call to one of them or the periodic probe (every {} s) brings it back{death}",
            c.park_probe.as_secs()
        ),
        State::Closed => format!("upstream {name}: available again ({reason})"),
        State::HalfOpen => format!("upstream {name}: probing ({reason}, was {from})"),
        State::Stopped => format!("upstream {name}: stopped"),
    };
    let line = redact(&line);
    match to {
        State::Open | State::Parked(_) => log::warn!("{line}"),
        State::Closed => log::info!("{line}"),
        State::HalfOpen | State::Stopped => log::debug!("{line}"),
    }
}

pub(crate) fn connected(name: &str, info: Option<&Value>, tools: usize) {
    let info = info.map(server_info).unwrap_or_default();
    log::info!("upstream {name}: connected{info}; {tools} tool(s) offered");
}

fn hung(name: &str) {
    log::warn!(
        "upstream {name}: the server process is running but no longer answers; it is ended \
         and started again by the next probe"
    );
}

/// ` to NAME VERSION` from an initialize answer, shortened; empty when the
/// server did not say.
fn server_info(info: &Value) -> String {
    let field = |key: &str| {
        info.pointer(&format!("/serverInfo/{key}"))
            .and_then(Value::as_str)
            .map(|s| s.chars().take(60).collect::<String>())
    };
    match (field("name"), field("version")) {
        (Some(name), Some(version)) => format!(" to {name} {version}"),
        (Some(name), None) => format!(" to {name}"),
        _ => String::new(),
    }
}
