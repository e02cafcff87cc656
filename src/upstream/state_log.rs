//! The log lines of an upstream's life: one per breaker state change, the
//! first connect, a hung child. Words only; the decisions are the
//! machine's (`src/machine/upstream.rs`).

use std::time::Duration;

use serde_json::Value;

use crate::machine::breaker::{Reason, State};
use crate::redact::redact;

/// What the line about a state change may add.
pub(crate) struct Context<'a> {
    pub name: &'a str,
    /// The last failure, short and redacted.
    pub last_error: Option<&'a str>,
    /// A dead child's last stderr lines.
    pub death: Option<String>,
    pub park_probe: Duration,
}

/// One line per state change: warnings for open and parked, info when the
/// server is back.
pub(crate) fn state_changed(
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

pub(crate) fn hung(name: &str) {
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
