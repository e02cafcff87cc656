//! Auth-failure escalation (platform.md §5): counts consecutive 401/403
//! answers and decides when a warning becomes an error an operator must act
//! on. Used for a workspace's register and heartbeat, and for an upstream
//! server's HTTP auth (gateway.md §4).
//!
//! Table: `spec/auth_escalation.table`.

use log::Level;
use std::fmt;
use std::time::Instant;

/// Consecutive auth failures that turn warnings into an error.
pub const THRESHOLD: u32 = 3;
/// After the threshold, the error is repeated every this many failures
/// (at 23, 43, 63, …) for whoever starts reading the log late.
pub const REPEAT_EVERY: u32 = 20;

/// What one request's answer tells the escalation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// An HTTP status: 2xx resets, 401/403 count, anything else is neutral.
    Status(u16),
    /// No HTTP answer at all: neutral, a network blip says nothing about
    /// the token.
    Transport,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Below the threshold: possibly transient.
    Warning,
    /// At the threshold (`first`) or at a repeat point after it.
    Escalated { first: bool },
    /// A 2xx after an escalation.
    Recovered,
}

/// The facts of one log-worthy moment; [`message`] turns them into words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effect {
    pub level: Level,
    pub kind: Kind,
    /// The status that caused the effect (the 401/403, or the 2xx that
    /// recovered).
    pub status: u16,
    /// Consecutive failures so far; for `Recovered`, how many there were.
    pub count: u32,
    pub threshold: u32,
    /// The workspace id or upstream server name.
    pub subject: String,
}

pub fn is_auth_failure(status: u16) -> bool {
    status == 401 || status == 403
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthEscalation {
    subject: String,
    count: u32,
}

impl AuthEscalation {
    pub fn new(subject: impl Into<String>) -> Self {
        AuthEscalation {
            subject: subject.into(),
            count: 0,
        }
    }

    /// At most one effect per answer, so the result is an `Option`. `now`
    /// is unused: the escalation counts answers, not time.
    pub fn handle(&mut self, event: Event, _now: Instant) -> Option<Effect> {
        let status = match event {
            Event::Transport => return None,
            Event::Status(status) => status,
        };
        if (200..300).contains(&status) {
            let was = std::mem::replace(&mut self.count, 0);
            return (was >= THRESHOLD)
                .then(|| self.effect(Level::Info, Kind::Recovered, status, was));
        }
        if !is_auth_failure(status) {
            return None;
        }
        self.count = self.count.saturating_add(1);
        let count = self.count;
        if count < THRESHOLD {
            Some(self.effect(Level::Warn, Kind::Warning, status, count))
        } else if count == THRESHOLD {
            let kind = Kind::Escalated { first: true };
            Some(self.effect(Level::Error, kind, status, count))
        } else if (count - THRESHOLD) % REPEAT_EVERY == 0 {
            let kind = Kind::Escalated { first: false };
            Some(self.effect(Level::Error, kind, status, count))
        } else {
            None
        }
    }

    /// Always `None`: nothing here happens by the clock.
    pub fn next_deadline(&self) -> Option<Instant> {
        None
    }

    /// Consecutive auth failures.
    pub fn count(&self) -> u32 {
        self.count
    }

    pub fn escalated(&self) -> bool {
        self.count >= THRESHOLD
    }

    pub fn subject(&self) -> &str {
        &self.subject
    }

    fn effect(&self, level: Level, kind: Kind, status: u16, count: u32) -> Effect {
        Effect {
            level,
            kind,
            status,
            count,
            threshold: THRESHOLD,
            subject: self.subject.clone(),
        }
    }
}

/// The operator's text for a workspace's platform token. Operators grep for
/// its keywords (revoked, deleted, regenerate, Tokens tab), so keep them.
pub fn message(effect: &Effect) -> String {
    let Effect {
        status,
        count,
        threshold,
        subject,
        ..
    } = effect;
    match effect.kind {
        Kind::Warning => format!(
            "workspace {subject}: the platform rejected the workspace token \
             (HTTP {status}, {count}/{threshold} in a row); this may be transient, \
             retrying on the next heartbeat"
        ),
        Kind::Escalated { first } => format!(
            "{again}workspace {subject}: the platform rejected the workspace token \
             {count} times in a row (HTTP {status}). The token was revoked, most \
             likely because the workspace was deleted. To fix it: regenerate the \
             workspace and its token from the canvas Tokens tab, put the new token \
             in the MCP configuration, and restart molecule-mcp.",
            again = if first { "" } else { "still failing: " },
        ),
        Kind::Recovered => format!(
            "workspace {subject}: the platform accepts the workspace token again \
             (HTTP {status}) after {count} rejected requests"
        ),
    }
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&message(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_clock::epoch as test_epoch;

    fn feed(machine: &mut AuthEscalation, statuses: &[u16]) -> Vec<Option<Effect>> {
        let now = test_epoch();
        statuses
            .iter()
            .map(|&s| machine.handle(Event::Status(s), now))
            .collect()
    }

    #[test]
    fn every_non_auth_status_is_neutral() {
        let mut m = AuthEscalation::new("ws");
        feed(&mut m, &[401, 401]);
        for status in [
            0, 100, 199, 300, 302, 400, 404, 408, 429, 500, 502, 503, 599, 999,
        ] {
            assert_eq!(m.handle(Event::Status(status), test_epoch()), None);
            assert_eq!(m.count(), 2, "status {status} changed the count");
        }
        assert_eq!(m.handle(Event::Transport, test_epoch()), None);
        assert_eq!(m.count(), 2);
    }

    #[test]
    fn every_2xx_resets() {
        for status in [200, 201, 204, 299] {
            let mut m = AuthEscalation::new("ws");
            feed(&mut m, &[403, 403, 403, 403]);
            let effect = m.handle(Event::Status(status), test_epoch());
            assert_eq!(
                effect.map(|e| (e.kind, e.status, e.count)),
                Some((Kind::Recovered, status, 4))
            );
            assert_eq!(m.count(), 0);
            assert!(!m.escalated());
        }
    }

    #[test]
    fn repeats_exactly_every_twenty_after_the_threshold() {
        let mut m = AuthEscalation::new("ws");
        let effects = feed(&mut m, &[401; 100]);
        let errors: Vec<(u32, bool)> = effects
            .iter()
            .flatten()
            .filter_map(|e| match e.kind {
                Kind::Escalated { first } => Some((e.count, first)),
                _ => None,
            })
            .collect();
        assert_eq!(
            errors,
            [
                (3, true),
                (23, false),
                (43, false),
                (63, false),
                (83, false)
            ]
        );
        assert!(effects[3..22].iter().all(Option::is_none));
    }

    #[test]
    fn the_count_saturates_instead_of_overflowing() {
        let mut m = AuthEscalation {
            subject: "ws".into(),
            count: u32::MAX,
        };
        m.handle(Event::Status(401), test_epoch());
        assert_eq!(m.count(), u32::MAX);
        assert!(m.escalated());
    }

    #[test]
    fn levels_follow_the_kind() {
        let mut m = AuthEscalation::new("ws");
        let levels: Vec<Level> = feed(&mut m, &[401, 401, 401, 200])
            .into_iter()
            .flatten()
            .map(|e| e.level)
            .collect();
        assert_eq!(
            levels,
            [Level::Warn, Level::Warn, Level::Error, Level::Info]
        );
    }

    #[test]
    fn no_deadline_ever() {
        let mut m = AuthEscalation::new("ws");
        feed(&mut m, &[401, 401, 401]);
        assert_eq!(m.next_deadline(), None);
    }

    #[test]
    fn the_escalation_message_tells_the_operator_what_happened_and_what_to_do() {
        let mut m = AuthEscalation::new("ws-deleted-1234");
        let effects = feed(&mut m, &[401, 401, 401]);
        let Some(Some(error)) = effects.last() else {
            panic!("no escalation: {effects:?}");
        };
        let text = message(error);
        for keyword in [
            "revoked",
            "deleted",
            "ws-deleted-1234",
            "regenerate",
            "Tokens tab",
            "restart",
            "401",
        ] {
            assert!(text.contains(keyword), "{keyword:?} missing from: {text}");
        }
        assert!(
            !text.starts_with("still"),
            "the first error is not a repeat: {text}"
        );
        assert_eq!(error.to_string(), text);
    }

    #[test]
    fn a_repeated_error_says_so_and_keeps_the_keywords() {
        let mut m = AuthEscalation::new("ws-9");
        let effects = feed(&mut m, &[403; 23]);
        let Some(Some(error)) = effects.last() else {
            panic!("no repeat at 23");
        };
        let text = message(error);
        assert!(text.starts_with("still failing"), "{text}");
        for keyword in ["revoked", "ws-9", "Tokens tab", "23 times", "403"] {
            assert!(text.contains(keyword), "{keyword:?} missing from: {text}");
        }
    }

    #[test]
    fn warning_and_recovery_messages_carry_the_facts() {
        let mut m = AuthEscalation::new("ws-3");
        let effects = feed(&mut m, &[401, 401, 401, 204]);
        let warning = message(effects[0].as_ref().expect("warning"));
        assert!(warning.contains("1/3") && warning.contains("401") && warning.contains("ws-3"));
        assert!(
            !warning.contains("revoked"),
            "a single failure must not cry revoked: {warning}"
        );
        let recovered = message(effects[3].as_ref().expect("recovered"));
        assert!(
            recovered.contains("204") && recovered.contains("after 3"),
            "{recovered}"
        );
    }
}
