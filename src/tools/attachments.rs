//! Files the agent attaches to a message for the user: checked and read
//! before anything is sent, so a bad path fails the call with nothing
//! half-delivered.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use super::multipart::{mime_type, FilePart};

/// Larger files are refused: the upload goes through the platform's API,
/// not a file-transfer service.
pub const MAX_FILE_BYTES: u64 = 25 * 1024 * 1024;
/// All files of one message together.
pub const MAX_TOTAL_BYTES: u64 = 50 * 1024 * 1024;

/// Reads every attachment, or says which one cannot be sent and why.
pub fn read_all(paths: &[&str]) -> Result<Vec<FilePart>, String> {
    let mut parts = Vec::with_capacity(paths.len());
    let mut total = 0u64;
    for raw in paths {
        let part = read_one(raw)?;
        total += part.bytes.len() as u64;
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

fn read_one(raw: &str) -> Result<FilePart, String> {
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
    let file = File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!("attachment {raw:?} does not exist."),
        std::io::ErrorKind::PermissionDenied => {
            format!("attachment {raw:?} cannot be read (permission denied).")
        }
        _ => format!("attachment {raw:?} cannot be opened ({}).", e.kind()),
    })?;
    let meta = file
        .metadata()
        .map_err(|e| format!("attachment {raw:?} cannot be read ({}).", e.kind()))?;
    if !meta.is_file() {
        return Err(format!("attachment {raw:?} is not a regular file."));
    }
    let too_big = || {
        format!(
            "attachment {raw:?} is larger than {} MiB; send a smaller file.",
            MAX_FILE_BYTES / (1024 * 1024)
        )
    };
    if meta.len() > MAX_FILE_BYTES {
        return Err(too_big());
    }
    // Read at most one byte past the limit: the file may grow meanwhile.
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("attachment {raw:?} cannot be read ({}).", e.kind()))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_big());
    }
    Ok(FilePart {
        mime_type: mime_type(&name).to_string(),
        name,
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_dir;

    #[test]
    fn reads_files_with_names_and_types() {
        let dir = test_dir("attach-ok");
        let a = dir.join("notes.md");
        std::fs::write(&a, "# hi").unwrap();
        let path = a.to_string_lossy().into_owned();
        let parts = read_all(&[&path]).unwrap();
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].name, "notes.md");
        assert_eq!(parts[0].mime_type, "text/markdown");
        assert_eq!(parts[0].bytes, b"# hi");
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn refused(paths: &[&str]) -> String {
        match read_all(paths) {
            Err(why) => why,
            Ok(_) => panic!("{paths:?} was accepted"),
        }
    }

    #[test]
    fn refuses_relative_missing_directories_and_large_files() {
        let dir = test_dir("attach-bad");
        let err = refused(&["notes.md"]);
        assert!(err.contains("not an absolute path"), "{err}");
        let missing = dir.join("nope.txt").to_string_lossy().into_owned();
        assert!(refused(&[&missing]).contains("does not exist"));
        let d = dir.to_string_lossy().into_owned();
        assert!(refused(&[&d]).contains("not a regular file"));
        let big = dir.join("big.bin");
        let f = std::fs::File::create(&big).unwrap();
        f.set_len(MAX_FILE_BYTES + 1).unwrap();
        let big = big.to_string_lossy().into_owned();
        assert!(refused(&[&big]).contains("larger than 25 MiB"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
