//! What the agent set up on the upstream servers and a new session of one
//! must be told again, since a restarted server has forgotten it: the
//! resources it subscribed to (per server) and its logging level.
//!
//! The machine says when (`Output::Restore`, on every adopted session);
//! this file keeps the data and sends it.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::Receiver;
use serde_json::{json, Value};

use super::session::Session;
use crate::redact::redact;
use crate::sync::lock;

#[derive(Clone, Default)]
pub struct AgentSetup(Arc<Mutex<Setup>>);

#[derive(Default)]
struct Setup {
    level: Option<String>,
    /// (server index, the URI as the server knows it).
    subscriptions: BTreeSet<(usize, String)>,
}

impl AgentSetup {
    pub fn set_level(&self, level: &str) {
        lock(&self.0).level = Some(level.to_string());
    }

    /// Records a subscription the server accepted, or its end.
    pub fn subscribed(&self, server: usize, uri: &str, subscribed: bool) {
        let mut setup = lock(&self.0);
        let key = (server, uri.to_string());
        if subscribed {
            setup.subscriptions.insert(key);
        } else {
            setup.subscriptions.remove(&key);
        }
    }

    fn of(&self, server: usize) -> (Option<String>, Vec<String>) {
        let setup = lock(&self.0);
        let uris = setup
            .subscriptions
            .range((server, String::new())..)
            .take_while(|(s, _)| *s == server)
            .map(|(_, uri)| uri.clone())
            .collect();
        (setup.level.clone(), uris)
    }
}

/// Tells `session`, from a helper thread, what the agent set up on this
/// server: its logging level (when the server declares logging) and its
/// subscriptions. Failures are logged and otherwise ignored: the session
/// works without them.
pub(crate) fn restore(
    name: &str,
    server: usize,
    setup: &AgentSetup,
    session: Arc<dyn Session>,
    timeout: Duration,
    stop: Receiver<()>,
) {
    let (level, uris) = setup.of(server);
    let logging = session.info().pointer("/capabilities/logging").is_some();
    let mut requests: Vec<(&str, Value)> = Vec::new();
    if let Some(level) = level.filter(|_| logging) {
        requests.push(("logging/setLevel", json!({"level": level})));
    }
    requests.extend(
        uris.into_iter()
            .map(|uri| ("resources/subscribe", json!({"uri": uri}))),
    );
    if requests.is_empty() {
        return;
    }
    let server = name.to_string();
    let group = crate::threads::upstream(name);
    let spawned = crate::threads::spawn(format!("upstream-restore-{name}"), &group, move || {
        for (method, params) in requests {
            if let Err(e) = session.request(method, params, timeout, &stop) {
                log::debug!(
                    "upstream {server}: {method} on the new session failed: {}",
                    redact(&e.to_string())
                );
            }
        }
    });
    if spawned.is_err() {
        log::debug!("upstream {name}: no thread to restore the agent's setup");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_server_gets_its_own_subscriptions_and_the_one_level() {
        let setup = AgentSetup::default();
        assert_eq!(setup.of(0), (None, vec![]));
        setup.subscribed(0, "a://1", true);
        setup.subscribed(1, "b://1", true);
        setup.subscribed(0, "a://2", true);
        setup.subscribed(0, "a://1", false);
        setup.set_level("error");
        assert_eq!(setup.of(0), (Some("error".into()), vec!["a://2".into()]));
        assert_eq!(setup.of(1), (Some("error".into()), vec!["b://1".into()]));
        assert_eq!(setup.of(2), (Some("error".into()), vec![]));
    }
}
