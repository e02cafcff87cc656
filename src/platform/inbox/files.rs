//! Where the inbox keeps its state in `CONFIGS_DIR`, and the cursor files.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::safe;
use crate::statefile;

/// Cursor files hold one row id; anything larger is not ours.
const MAX_CURSOR_BYTES: usize = 1024;

/// The cursor file of a workspace: `.mcp_inbox_cursor` in single mode,
/// `.mcp_inbox_cursor_<first 8 of id>` in multi mode. When two workspaces
/// share their first 8 characters the full id is used instead, so their
/// pollers never overwrite each other's cursor.
pub fn cursor_path(dir: &Path, workspace_id: &str, multi: bool, all_ids: &[&str]) -> PathBuf {
    statefile::of_workspace(dir, ".mcp_inbox_cursor", workspace_id, multi, all_ids)
}

/// The queue file of a workspace, named by its full id in either mode so a
/// switch between single and multi mode keeps its pending messages.
pub fn queue_path(dir: &Path, workspace_id: &str) -> PathBuf {
    statefile::by_full_id(dir, ".mcp_inbox_queue_", workspace_id, ".json")
}

/// The stored cursor; `None` when there is none or it is unusable (a
/// damaged cursor costs a re-read of the last 600 s, which the dedupe
/// absorbs).
pub fn read_cursor(path: &Path) -> Option<String> {
    let bytes = match statefile::read(path, MAX_CURSOR_BYTES as u64) {
        Ok(b) => b?,
        Err(e) => {
            log::warn!(
                "inbox: cannot read the cursor {}: {e}; starting from the recent backlog",
                path.display()
            );
            return None;
        }
    };
    let text = String::from_utf8_lossy(&bytes);
    let id = text.trim();
    if id.len() <= MAX_CURSOR_BYTES && safe::is_id(id) {
        Some(id.to_string())
    } else {
        log::warn!(
            "inbox: the cursor {} does not hold a row id; starting from the recent backlog",
            path.display()
        );
        None
    }
}

pub fn write_cursor(path: &Path, id: &str) -> io::Result<()> {
    statefile::write_atomic(path, id.as_bytes())
}

pub fn delete_cursor(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_names_follow_the_mode() {
        let d = Path::new("/c");
        let a = "abcdefgh-1111";
        let b = "zzzzzzzz-2222";
        assert_eq!(cursor_path(d, a, false, &[a]), d.join(".mcp_inbox_cursor"));
        assert_eq!(
            cursor_path(d, a, true, &[a, b]),
            d.join(".mcp_inbox_cursor_abcdefgh")
        );
        let twin = "abcdefgh-3333";
        assert_eq!(
            cursor_path(d, a, true, &[a, twin]),
            d.join(".mcp_inbox_cursor_abcdefgh-1111")
        );
        assert_eq!(
            queue_path(d, a),
            d.join(".mcp_inbox_queue_abcdefgh-1111.json")
        );
    }

    #[test]
    fn queue_names_keep_the_whole_id() {
        // Ids may be 128 characters; two that differ only past the 100th
        // must not share a queue file.
        let d = Path::new("/c");
        let a = format!("{}a", "x".repeat(127));
        let b = format!("{}b", "x".repeat(127));
        assert_ne!(queue_path(d, &a), queue_path(d, &b));
        assert_eq!(
            queue_path(d, &a),
            d.join(format!(".mcp_inbox_queue_{a}.json"))
        );
    }

    #[test]
    fn cursor_round_trip_and_damage() {
        let dir = crate::config::test_dir("inbox-cursor");
        let p = dir.join(".mcp_inbox_cursor");
        assert_eq!(read_cursor(&p), None);
        write_cursor(&p, "row-1").unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "row-1");
        assert_eq!(read_cursor(&p).as_deref(), Some("row-1"));
        fs::write(&p, "row 1\nrow 2").unwrap();
        assert_eq!(read_cursor(&p), None);
        fs::write(&p, [0xff, 0xfe]).unwrap();
        assert_eq!(read_cursor(&p), None);
        delete_cursor(&p).unwrap();
        delete_cursor(&p).unwrap();
        assert!(!p.exists());
        fs::remove_dir_all(&dir).unwrap();
    }
}
