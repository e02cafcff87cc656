//! Files the agent attaches to a message for the user: every one is opened
//! and checked (see [`Policy`]) and their sizes are known before a byte is
//! read, so a bad path fails the call with nothing half-delivered.

use std::path::Path;

pub use super::attachment_policy::Policy;
use super::multipart::{mime_type, FilePart};

/// Larger files are refused: the upload goes through the platform's API,
/// not a file-transfer service.
pub const MAX_FILE_BYTES: u64 = 25 * 1024 * 1024;
/// All files of one message together.
pub const MAX_TOTAL_BYTES: u64 = 50 * 1024 * 1024;

/// Opens every attachment, or says which one cannot be sent and why. The
/// parts are read only when the upload body is written.
pub fn open_all(policy: &Policy, paths: &[&str]) -> Result<Vec<FilePart>, String> {
    let mut parts = Vec::with_capacity(paths.len());
    let mut total = 0u64;
    for raw in paths {
        let part = open_one(policy, raw)?;
        total += part.len;
        if total > MAX_TOTAL_BYTES {
            return Err(format!(
                "the attachments together are larger than {} MiB; send fewer or smaller files.",
                MAX_TOTAL_BYTES / (1024 * 1024)
            ));
        }
        parts.push(part);
    }
    Ok(parts)
}

fn open_one(policy: &Policy, raw: &str) -> Result<FilePart, String> {
    let path = Path::new(raw);
    if raw.trim().is_empty() || !path.is_absolute() {
        return Err(format!(
            "attachment {raw:?} is not an absolute path; give the full path, e.g. /tmp/report.pdf."
        ));
    }
    let name = match path.file_name() {
        Some(name) => name.to_string_lossy().into_owned(),
        None => return Err(format!("attachment {raw:?} does not name a file.")),
    };
    let opened = policy.open(raw, path)?;
    if opened.len > MAX_FILE_BYTES {
        return Err(format!(
            "attachment {raw:?} is larger than {} MiB; send a smaller file.",
            MAX_FILE_BYTES / (1024 * 1024)
        ));
    }
    Ok(FilePart {
        mime_type: mime_type(&name).to_string(),
        name,
        len: opened.len,
        content: Box::new(opened.file),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_dir;

    fn refused(policy: &Policy, paths: &[&str]) -> String {
        match open_all(policy, paths) {
            Err(why) => why,
            Ok(_) => panic!("{paths:?} was accepted"),
        }
    }

    #[test]
    fn opens_files_with_names_types_and_sizes() {
        let dir = test_dir("attach-ok");
        let a = dir.join("notes.md");
        std::fs::write(&a, "# hi").unwrap();
        let path = a.to_string_lossy().into_owned();
        let parts = open_all(&Policy::allowing(&[&dir]), &[&path]).unwrap();
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].name, "notes.md");
        assert_eq!(parts[0].mime_type, "text/markdown");
        assert_eq!(parts[0].len, 4);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn refuses_relative_missing_directories_large_and_outside_files() {
        let dir = test_dir("attach-bad");
        let policy = Policy::allowing(&[&dir]);
        let err = refused(&policy, &["notes.md"]);
        assert!(err.contains("not an absolute path"), "{err}");
        let missing = dir.join("nope.txt").to_string_lossy().into_owned();
        assert!(refused(&policy, &[&missing]).contains("does not exist"));
        let d = dir.to_string_lossy().into_owned();
        assert!(refused(&policy, &[&d]).contains("not a regular file"));
        let big = dir.join("big.bin");
        let f = std::fs::File::create(&big).unwrap();
        f.set_len(MAX_FILE_BYTES + 1).unwrap();
        let big = big.to_string_lossy().into_owned();
        assert!(refused(&policy, &[&big]).contains("larger than 25 MiB"));
        let outside = refused(&Policy::allowing(&[]), &["/etc/hostname"]);
        assert!(
            outside.contains(super::super::attachment_policy::SETTING),
            "{outside}"
        );
        assert!(refused(&policy, &["/proc/self/environ"]).contains("never sends"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
