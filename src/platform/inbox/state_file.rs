//! The queue file of one workspace: its pending messages (with their place
//! in arrival order) and the ids it popped recently. Written whole and
//! atomically; read once at start.
//!
//! ```json
//! {"version": 1, "workspace_id": "...",
//!  "messages": [{"order": 7, "message": {"activity_id": "...", ...}}],
//!  "popped": ["<activity id>", ...]}
//! ```

use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::message::{cap_text, Message};
use super::queue::Entry;
use super::safe;

const VERSION: u64 = 1;
/// The most a queue file within the queue's bounds can take: the messages
/// as stored (the bound counts exactly that), each one's `order` wrapper,
/// and the popped ids (each at most 128 characters, quoted). A larger
/// file is not ours.
fn max_file_bytes() -> u64 {
    let limits = super::queue::Limits::default();
    let messages = limits.stored_bytes as u64;
    let per_message = 64 * limits.messages as u64;
    let popped = 256 * limits.popped as u64;
    messages + per_message + popped + 64 * 1024
}

#[derive(Serialize)]
struct FileOut<'a> {
    version: u64,
    workspace_id: &'a str,
    messages: Vec<EntryOut<'a>>,
    popped: &'a [&'a str],
}

#[derive(Serialize)]
struct EntryOut<'a> {
    order: u64,
    message: &'a Message,
}

#[derive(Deserialize)]
struct EntryIn {
    order: u64,
    message: Message,
}

pub fn encode(workspace_id: &str, entries: &[&Entry], popped: &[&str]) -> Vec<u8> {
    let file = FileOut {
        version: VERSION,
        workspace_id,
        messages: entries
            .iter()
            .map(|e| EntryOut {
                order: e.order,
                message: &e.message,
            })
            .collect(),
        popped,
    };
    // Serialising plain strings and numbers cannot fail; an empty file
    // would read back as corrupt rather than as "no messages".
    serde_json::to_vec(&file).unwrap_or_default()
}

/// What a queue file held.
#[derive(Debug, Default, PartialEq)]
pub struct Contents {
    pub entries: Vec<Entry>,
    pub popped: Vec<String>,
    /// Entries that could not be read and were left out.
    pub skipped: usize,
    /// The file existed but was unusable as a whole: what it held is gone.
    pub damaged: bool,
}

/// Reads `bytes` as the queue file of `workspace_id`; `Err` says why the
/// file as a whole is unusable.
pub fn decode(workspace_id: &str, bytes: &[u8]) -> Result<Contents, String> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON ({e})"))?;
    let version = value.get("version").and_then(Value::as_u64);
    if version != Some(VERSION) {
        return Err(format!("unknown version {version:?}"));
    }
    if value.get("workspace_id").and_then(Value::as_str) != Some(workspace_id) {
        return Err("it belongs to another workspace".into());
    }
    let mut out = Contents::default();
    let messages = value.get("messages").and_then(Value::as_array);
    for item in messages.into_iter().flatten() {
        match serde_json::from_value::<EntryIn>(item.clone()) {
            Ok(e) if safe::is_id(&e.message.activity_id) => {
                let mut message = e.message;
                message.text = cap_text(message.text);
                message.workspace_id = workspace_id.to_string();
                out.entries.push(Entry {
                    order: e.order,
                    message,
                });
            }
            _ => out.skipped += 1,
        }
    }
    let popped = value.get("popped").and_then(Value::as_array);
    out.popped = popped
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|id| safe::is_id(id))
        .map(str::to_string)
        .collect();
    Ok(out)
}

/// Loads the queue file at `path`. A missing file is an empty queue; an
/// unusable one is moved aside with a warning and the queue starts empty,
/// so a damaged file can never stop the inbox.
pub fn load(path: &Path, workspace_id: &str) -> Contents {
    let problem = match read_capped(path) {
        Ok(None) => return Contents::default(),
        Ok(Some(bytes)) => match decode(workspace_id, &bytes) {
            Ok(contents) => {
                if contents.skipped > 0 {
                    log::warn!(
                        "inbox: {} unreadable entries in {} were left out",
                        contents.skipped,
                        path.display()
                    );
                }
                return contents;
            }
            Err(why) => why,
        },
        Err(e) => e.to_string(),
    };
    match crate::statefile::move_aside(path) {
        Ok(moved) => log::warn!(
            "inbox: the queue file {} is unusable ({problem}); moved it to {} and started empty",
            path.display(),
            moved.display()
        ),
        Err(e) => log::warn!(
            "inbox: the queue file {} is unusable ({problem}) and could not be moved aside ({e}); \
             starting empty, it will be replaced",
            path.display()
        ),
    }
    Contents {
        damaged: true,
        ..Contents::default()
    }
}

fn read_capped(path: &Path) -> io::Result<Option<Vec<u8>>> {
    crate::statefile::read(path, max_file_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::inbox::message::{Kind, MAX_TEXT_BYTES};
    use crate::platform::inbox::queue::{Limits, Queue};
    use serde_json::json;
    use std::fs;

    fn entry(order: u64, id: &str) -> Entry {
        Entry {
            order,
            message: Message {
                activity_id: id.into(),
                text: format!("text of {id}"),
                peer_id: "p".into(),
                kind: Kind::PeerAgent,
                method: "message/send".into(),
                created_at: "t".into(),
                arrival_workspace_id: None,
                agent_card_url: None,
                peer_name: Some("Bob".into()),
                peer_role: None,
                attachments: Vec::new(),
                seq: Some(order as i64),
                workspace_id: "w".into(),
            },
        }
    }

    #[test]
    fn the_file_cap_is_near_the_queues_real_bound() {
        // A queue full of the worst text (every byte escaped on disk) fits
        // the cap...
        let mut queue = Queue::new(Limits::default());
        let worst = "\u{1}".repeat(MAX_TEXT_BYTES);
        for n in 0..20_000u64 {
            let mut message = entry(n, &format!("m{n}")).message;
            message.text = worst.clone();
            if queue.admit("w", vec![message]).stopped_at.is_some() {
                break;
            }
        }
        let (entries, popped) = queue.of_workspace("w");
        assert!(entries.len() > 10, "{}", entries.len());
        let bytes = encode("w", &entries, &popped);
        assert!(bytes.len() as u64 <= max_file_bytes(), "{}", bytes.len());
        // ...and the cap is not far above what the queue can hold.
        assert!(max_file_bytes() <= 40 << 20, "{}", max_file_bytes());
    }

    #[test]
    fn round_trip() {
        let (a, b) = (entry(1, "a"), entry(4, "b"));
        let bytes = encode("w", &[&a, &b], &["x", "y"]);
        let back = decode("w", &bytes).unwrap();
        assert_eq!(back.entries, vec![a, b]);
        assert_eq!(back.popped, ["x", "y"]);
        assert_eq!(back.skipped, 0);
    }

    #[test]
    fn whole_file_problems_are_errors() {
        assert!(decode("w", b"{not json").is_err());
        assert!(decode("w", b"[]").is_err());
        assert!(decode("w", br#"{"version": 2, "workspace_id": "w"}"#).is_err());
        assert!(decode("w", br#"{"version": 1, "workspace_id": "v"}"#).is_err());
        assert_eq!(
            decode("w", br#"{"version": 1, "workspace_id": "w"}"#).unwrap(),
            Contents::default()
        );
    }

    #[test]
    fn bad_entries_are_skipped_not_fatal() {
        let good = serde_json::to_value(EntryOut {
            order: 3,
            message: &entry(3, "ok").message,
        })
        .unwrap();
        let file = json!({"version": 1, "workspace_id": "w", "popped": ["p1", 5, "a b"],
            "messages": [good, {"order": 1}, {"order": 2, "message": {"activity_id": "x/y"}}, null]});
        let back = decode("w", file.to_string().as_bytes()).unwrap();
        assert_eq!(back.entries.len(), 1);
        assert_eq!(back.skipped, 3);
        assert_eq!(back.popped, ["p1"]);
    }

    #[test]
    fn load_moves_a_corrupt_file_aside() {
        let dir = crate::config::test_dir("inbox-state-file");
        let p = dir.join(".mcp_inbox_queue_w.json");
        assert_eq!(load(&p, "w"), Contents::default());
        fs::write(&p, "{\"version\": 1, \"messages\": [trunc").unwrap();
        let damaged = load(&p, "w");
        assert!(damaged.damaged && damaged.entries.is_empty());
        assert!(!p.exists());
        let aside: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(aside.len(), 1, "{aside:?}");
        assert!(aside[0].starts_with(".mcp_inbox_queue_w.json.corrupt-"));
        fs::remove_dir_all(&dir).unwrap();
    }
}
