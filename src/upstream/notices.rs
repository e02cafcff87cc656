//! Upstream notifications that go straight to the agent, as the transport
//! reads them (so they keep their place before the answers that follow):
//! progress, log notes, and resource updates with their URIs as the agent
//! knows them.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

use serde_json::Value;

use super::naming;
use super::progress::ProgressRelay;
use crate::mcp::agent::agent;
use crate::mcp::outbox::Outbox;
use crate::sync::lock;

/// The gateway's progress relay and where it writes.
static PROGRESS: OnceLock<(ProgressRelay, Outbox)> = OnceLock::new();

/// Progress read by the transports goes through `relay` (the first one set
/// stays: there is one gateway per process).
pub fn attach_progress(relay: &ProgressRelay, outbox: &Outbox) {
    let _ = PROGRESS.set((relay.clone(), outbox.clone()));
}

/// The servers whose resource URIs are offered as `molecule://...`.
fn mapped() -> &'static Mutex<HashSet<String>> {
    static MAPPED: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    MAPPED.get_or_init(Mutex::default)
}

/// Says whether `server`'s URIs are mapped (set once per server at start).
pub fn set_mapped(server: &str, maps_uris: bool) {
    let mut set = lock(mapped());
    if maps_uris {
        set.insert(server.to_string());
    } else {
        set.remove(server);
    }
}

/// Handles `event` when it is one of ours to relay; false when the driver
/// should see it (also when no gateway serves an agent: doctor, tests of a
/// transport alone).
pub fn relay(server: &str, event: &Value) -> bool {
    let Some((progress, outbox)) = PROGRESS.get() else {
        return false;
    };
    let params = event.get("params").cloned().unwrap_or_default();
    match event.get("method").and_then(Value::as_str) {
        Some("notifications/progress") => {
            if !progress.relay(&params, outbox) {
                log::debug!("upstream {server}: progress for no call of ours dropped");
            }
            true
        }
        Some("notifications/message") => {
            agent().log_from(server, &params);
            true
        }
        Some("notifications/resources/updated") => {
            let mut params = params;
            let maps = lock(mapped()).contains(server);
            if let Some(uri) = params.get("uri").and_then(Value::as_str) {
                if maps {
                    params["uri"] = Value::String(naming::expose_uri(server, uri));
                }
                agent().notify("notifications/resources/updated", params);
            }
            true
        }
        _ => false,
    }
}
