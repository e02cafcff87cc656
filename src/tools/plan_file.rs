//! The goal and task list of one workspace, kept in
//! `<CONFIGS_DIR>/.mcp_goal_<workspace id>.json` (mode 0600, replaced
//! atomically) so that they survive restarts and `kill -9`.
//!
//! ```json
//! {"version": 1, "workspace_id": "...",
//!  "goal": {"text": "...", "cadence_seconds": 3600, "set_at": "2026-08-01T12:00:00Z"},
//!  "next_task": 3,
//!  "tasks": [{"id": "t1", "title": "...", "status": "pending", "next_action": "...",
//!             "created_at": "...", "updated_at": "..."}]}
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::statefile;

const VERSION: u32 = 1;

/// Far above what the limits below allow; a larger file is not ours.
const MAX_FILE_BYTES: u64 = 8 << 20;

pub const MAX_GOAL_CHARS: usize = 4000;
pub const MAX_TITLE_CHARS: usize = 500;
pub const MAX_NEXT_ACTION_CHARS: usize = 2000;
/// Tasks kept at most; the oldest finished ones make room first.
pub const MAX_TASKS: usize = 500;

pub const STATUSES: [&str; 4] = ["pending", "in_progress", "blocked", "done"];

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Goal {
    pub text: String,
    pub cadence_seconds: u64,
    pub set_at: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Task {
    pub id: String,
    pub title: String,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_action: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Plan {
    version: u32,
    workspace_id: String,
    pub goal: Option<Goal>,
    pub next_task: u64,
    pub tasks: Vec<Task>,
}

impl Plan {
    pub fn empty(workspace_id: &str) -> Plan {
        Plan {
            version: VERSION,
            workspace_id: workspace_id.to_string(),
            goal: None,
            next_task: 1,
            tasks: Vec::new(),
        }
    }

    /// A fresh id, never reused within this file.
    pub fn new_task_id(&mut self) -> String {
        let id = format!("t{}", self.next_task);
        self.next_task += 1;
        id
    }

    /// Whether one more task fits, dropping the oldest finished one if
    /// that makes room.
    pub fn make_room(&mut self) -> bool {
        if self.tasks.len() < MAX_TASKS {
            return true;
        }
        match self.tasks.iter().position(|t| t.status == "done") {
            Some(i) => {
                self.tasks.remove(i);
                true
            }
            None => false,
        }
    }
}

pub fn path(dir: &Path, workspace_id: &str) -> PathBuf {
    statefile::by_full_id(dir, ".mcp_goal_", workspace_id, ".json")
}

/// What a workspace's file holds: `Ok(None)` when it has none yet.
/// `Err` says why it could not be read; an unusable file is moved aside
/// (so the next write starts afresh) and the error says where it went.
pub fn load(path: &Path, workspace_id: &str) -> Result<Option<Plan>, String> {
    // statefile::read refuses links, FIFOs, devices and oversized files
    // (InvalidData): such a file is unusable and is moved aside.
    let problem = match statefile::read(path, MAX_FILE_BYTES) {
        Ok(None) => return Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => e.to_string(),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        Ok(Some(bytes)) => match decode(&bytes, workspace_id) {
            Ok(plan) => return Ok(Some(plan)),
            Err(problem) => problem,
        },
    };
    let aside = statefile::move_aside(path)
        .map(|p| format!("moved aside to {}", p.display()))
        .unwrap_or_else(|e| format!("could not be moved aside: {e}"));
    log::warn!(
        "the goal and task file {} is unusable ({problem}); {aside}",
        path.display()
    );
    Err(format!(
        "the goal and task file was unusable ({problem}) and was {aside}; it starts empty"
    ))
}

fn decode(bytes: &[u8], workspace_id: &str) -> Result<Plan, String> {
    let plan: Plan = serde_json::from_slice(bytes).map_err(|e| format!("not valid: {e}"))?;
    if plan.version != VERSION {
        return Err(format!("unknown version {}", plan.version));
    }
    if plan.workspace_id != workspace_id {
        return Err("it belongs to another workspace".into());
    }
    Ok(plan)
}

pub fn save(path: &Path, plan: &Plan) -> std::io::Result<()> {
    let bytes = serde_json::to_vec_pretty(plan).map_err(std::io::Error::other)?;
    statefile::write_atomic(path, &bytes)
}

/// Now as RFC 3339 UTC, to the second.
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    rfc3339(secs)
}

fn rfc3339(unix_secs: u64) -> String {
    let days = (unix_secs / 86_400) as i64;
    let rem = unix_secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_785_000_000), "2026-07-25T17:20:00Z");
    }

    #[test]
    fn round_trip_and_foreign_files() {
        let mut plan = Plan::empty("ws-1");
        let id = plan.new_task_id();
        plan.tasks.push(Task {
            id,
            title: "a".into(),
            status: "pending".into(),
            next_action: None,
            created_at: "x".into(),
            updated_at: "x".into(),
        });
        let bytes = serde_json::to_vec(&plan).unwrap();
        assert_eq!(decode(&bytes, "ws-1").unwrap(), plan);
        assert!(decode(&bytes, "ws-2").is_err());
        assert!(decode(b"[]", "ws-1").is_err());
    }

    #[test]
    fn a_full_list_drops_the_oldest_finished_task_first() {
        let mut plan = Plan::empty("w");
        for i in 0..MAX_TASKS {
            let status = if i == 3 { "done" } else { "pending" };
            plan.tasks.push(Task {
                id: format!("t{i}"),
                title: "x".into(),
                status: status.into(),
                next_action: None,
                created_at: String::new(),
                updated_at: String::new(),
            });
        }
        assert!(plan.make_room());
        assert_eq!(plan.tasks.len(), MAX_TASKS - 1);
        assert!(plan.tasks.iter().all(|t| t.id != "t3"));
        plan.tasks.push(plan.tasks[0].clone());
        assert!(!plan.make_room(), "no finished task left to drop");
    }
}
