//! Peer display names for messages whose rows carry none: the workspace's
//! peer list, fetched at most once a minute. A failed lookup only leaves
//! the name out; it never holds a message back for long.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::safe;
use crate::config::{Secret, Workspace};
use crate::platform::http::{self, Call, Client};

const REFRESH_AFTER: Duration = Duration::from_secs(60);
/// Short: delivery waits for this lookup.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Default)]
pub struct PeerNames {
    names: HashMap<String, String>,
    fetched: Option<Instant>,
}

impl PeerNames {
    /// The name of `peer_id`, refreshing the list when it is unknown and
    /// the list is older than a minute (or was never fetched).
    pub fn name(
        &mut self,
        client: &Client,
        ws: &Workspace,
        token: &Secret,
        peer_id: &str,
    ) -> Option<String> {
        if !self.names.contains_key(peer_id) && self.stale(Instant::now()) {
            self.fetched = Some(Instant::now());
            match fetch(client, ws, token) {
                Ok(names) => self.names = names,
                Err(why) => log::debug!(
                    "inbox: peer names of workspace {} unavailable: {why}",
                    ws.id
                ),
            }
        }
        self.names.get(peer_id).cloned()
    }

    fn stale(&self, now: Instant) -> bool {
        self.fetched
            .is_none_or(|at| now.saturating_duration_since(at) >= REFRESH_AFTER)
    }
}

fn fetch(
    client: &Client,
    ws: &Workspace,
    token: &Secret,
) -> Result<HashMap<String, String>, String> {
    let url = http::url(&ws.platform_url, &["registry", &ws.id, "peers"]);
    let call = Call::new("GET", url, &ws.platform_url)
        .token(token)
        .as_workspace(&ws.id)
        .timeout(LOOKUP_TIMEOUT);
    let response = client.send(call).map_err(|e| e.to_string())?;
    if !response.is_success() {
        return Err(format!("HTTP {}", response.status));
    }
    let list = response.json().map_err(|e| e.to_string())?;
    Ok(names_of(&list))
}

/// `{id → name}` from a peers answer; entries without both are left out.
pub fn names_of(list: &Value) -> HashMap<String, String> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let id = p.get("id")?.as_str().filter(|id| safe::is_id(id))?;
            let name = safe::display_name(p.get("name")?.as_str()?)?;
            Some((id.to_string(), name))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_are_read_leniently_and_sanitised() {
        let list = json!([
            {"id": "p1", "name": "Alpha <bot>"},
            {"id": "p2"},
            {"id": 3, "name": "x"},
            {"id": "p/4", "name": "y"},
            "junk",
            {"id": "p5", "name": "\n"},
        ]);
        let names = names_of(&list);
        assert_eq!(names.len(), 1);
        assert_eq!(names.get("p1").map(String::as_str), Some("Alpha bot"));
        assert!(names_of(&json!({"peers": []})).is_empty());
    }

    #[test]
    fn refreshes_at_most_once_a_minute() {
        let mut p = PeerNames::default();
        let now = Instant::now();
        assert!(p.stale(now));
        p.fetched = Some(now);
        assert!(!p.stale(now + Duration::from_secs(59)));
        assert!(p.stale(now + REFRESH_AFTER));
    }
}
