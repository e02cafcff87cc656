//! State files: their names in `CONFIGS_DIR`, and writes so that a crash,
//! a kill or a full disk never leaves a truncated one (temp file in the
//! same directory, fsync, rename, fsync dir; mode 0600).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// The file `name` of one workspace: `name` itself when the workspace has
/// the directory to itself, `name_<suffix>` when several workspaces share
/// it (see [`suffix`]).
pub fn of_workspace(
    dir: &Path,
    name: &str,
    workspace_id: &str,
    shared: bool,
    all_ids: &[&str],
) -> PathBuf {
    if shared {
        dir.join(format!("{name}_{}", suffix(workspace_id, all_ids)))
    } else {
        dir.join(name)
    }
}

/// `<stem><full workspace id><ext>`: for files that must keep their name
/// whether or not the directory is shared, and that no two ids may share
/// (ids may differ only past their 100th character).
pub fn by_full_id(dir: &Path, stem: &str, workspace_id: &str, ext: &str) -> PathBuf {
    dir.join(format!("{stem}{workspace_id}{ext}"))
}

/// The suffix that tells a workspace's files apart: the first 8
/// characters of its id, or the full id when another configured workspace
/// shares those 8 characters (two links or pollers must never write the
/// same file).
pub fn suffix(workspace_id: &str, all_ids: &[&str]) -> String {
    let first8 = |id: &str| -> String { id.chars().take(8).collect() };
    let short = first8(workspace_id);
    let shared = all_ids.iter().filter(|id| first8(id) == short).count() > 1;
    if shared {
        workspace_id.to_string()
    } else {
        short
    }
}

/// Renames an unreadable state file to `<name>.corrupt-<unix seconds>` so
/// an operator can look at it and a fresh file can take its place.
pub fn move_aside(path: &Path) -> io::Result<PathBuf> {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "state".into());
    let mut target = path.with_file_name(format!("{name}.corrupt-{secs}"));
    let mut n = 1;
    while target.exists() && n < 100 {
        target = path.with_file_name(format!("{name}.corrupt-{secs}-{n}"));
        n += 1;
    }
    fs::rename(path, &target)?;
    Ok(target)
}

/// Does `dir` take a state file? Permission bits do not tell (root ignores
/// them, mounts can be read-only), so one is created and removed (no
/// fsync: nothing is kept).
pub fn probe_writable(dir: &Path) -> io::Result<()> {
    let probe = dir.join(format!(".molecule-mcp-write-check-{}", std::process::id()));
    let create = || {
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&probe)
    };
    match create() {
        // Left by a process with our pid that was killed mid-probe: no
        // live process owns it.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            remove_if_there(&probe)?;
            create()?;
        }
        created => drop(created?),
    }
    remove_if_there(&probe)
}

/// A probe someone else removed first is gone all the same.
fn remove_if_there(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Replaces `path` with `bytes` atomically, mode 0600. On failure the old file
/// is untouched and no temp file is left behind.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "state".into());
    let tmp = dir.join(format!(
        ".{name}.tmp.{}.{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = write_then_rename(&tmp, path, bytes);
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result?;
    // The rename is durable only once the directory entry is on disk.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

fn write_then_rename(tmp: &Path, path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(tmp, path)
}

/// Reads a state file of at most `cap` bytes; `Ok(None)` when it does not
/// exist. Anyone who can write the directory could have put something else
/// there: a symbolic link is not followed, a FIFO or device cannot block
/// the open, and only a regular file within the cap is read.
pub fn read(path: &Path, cap: u64) -> io::Result<Option<Vec<u8>>> {
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(invalid("a symbolic link, which is not followed"))
        }
        Err(e) => return Err(e),
    };
    let meta = file.metadata()?;
    if !meta.file_type().is_file() {
        return Err(invalid("not a regular file"));
    }
    if meta.len() > cap {
        return Err(invalid("far too large"));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(cap + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        return Err(invalid("far too large"));
    }
    Ok(Some(bytes))
}

fn invalid(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why)
}

/// Removes the temp files of writers that are gone (a `kill -9` during a
/// write leaves `.<name>.tmp.<pid>.<n>`, as large as the file it was
/// replacing). Returns how many were removed.
pub fn remove_stale_temps(dir: &Path) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(temp_writer) else {
            continue;
        };
        let alive = pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists();
        let regular = entry.file_type().is_ok_and(|t| t.is_file());
        if !alive && regular && fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// The writer's pid of a temp file name made by [`write_atomic`].
fn temp_writer(name: &str) -> Option<u32> {
    let rest = name.strip_prefix('.')?;
    let (_, tail) = rest.rsplit_once(".tmp.")?;
    let (pid, n) = tail.split_once('.')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(pid) || !digits(n) {
        return None;
    }
    pid.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn shared_prefixes_fall_back_to_the_full_id() {
        let a = "abcdefgh-1111";
        assert_eq!(suffix(a, &[a, "zzzzzzzz-2222"]), "abcdefgh");
        assert_eq!(suffix(a, &[a]), "abcdefgh");
        assert_eq!(suffix(a, &[a, "abcdefgh-3333"]), "abcdefgh-1111");
        assert_eq!(suffix("short", &["short", "other"]), "short");
    }

    #[test]
    fn workspace_files_get_a_suffix_only_in_a_shared_directory() {
        let d = Path::new("/c");
        let (a, b) = ("abcdefgh-1111", "zzzzzzzz-2222");
        assert_eq!(of_workspace(d, ".token", a, false, &[a]), d.join(".token"));
        assert_eq!(
            of_workspace(d, ".token", a, true, &[a, b]),
            d.join(".token_abcdefgh")
        );
        assert_eq!(
            by_full_id(d, ".q_", a, ".json"),
            d.join(".q_abcdefgh-1111.json")
        );
    }

    #[test]
    fn move_aside_keeps_the_content_under_a_new_name() {
        let dir = temp_dir("aside");
        let p = dir.join("q.json");
        fs::write(&p, "junk").unwrap();
        let moved = move_aside(&p).unwrap();
        assert!(!p.exists());
        assert!(moved
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("q.json.corrupt-"));
        assert_eq!(fs::read_to_string(&moved).unwrap(), "junk");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_write_probe_leaves_nothing_and_fails_where_nothing_can_be_written() {
        let dir = temp_dir("probe");
        probe_writable(&dir).unwrap();
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
        assert!(probe_writable(&dir.join("missing")).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_stale_probe_with_our_pid_is_replaced_not_an_error() {
        let dir = temp_dir("stale-probe");
        let stale = dir.join(format!(".molecule-mcp-write-check-{}", std::process::id()));
        fs::write(&stale, b"").unwrap();
        probe_writable(&dir).unwrap();
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
        fs::remove_dir_all(&dir).unwrap();
    }

    fn temp_dir(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!(
            "molecule-statefile-{tag}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn writes_with_mode_0600_and_leaves_no_temp() {
        let d = temp_dir("mode");
        let p = d.join(".secret");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let names: Vec<_> = fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn failure_keeps_the_old_file() {
        let d = temp_dir("fail");
        let p = d.join("x");
        write_atomic(&p, b"old").unwrap();
        // A directory in the way of the rename target makes the write fail.
        let blocked = d.join("sub");
        fs::create_dir_all(blocked.join("inner")).unwrap();
        assert!(write_atomic(&blocked, b"new").is_err());
        assert_eq!(fs::read(&p).unwrap(), b"old");
        let temps = fs::read_dir(&d)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .contains(".tmp.")
            })
            .count();
        assert_eq!(temps, 0);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn read_missing_is_none() {
        let d = temp_dir("read");
        assert_eq!(read(&d.join("nope"), 10).unwrap(), None);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn read_refuses_links_directories_and_oversized_files() {
        let d = temp_dir("read-bad");
        let p = d.join("f");
        fs::write(&p, b"0123456789").unwrap();
        assert_eq!(read(&p, 10).unwrap(), Some(b"0123456789".to_vec()));
        assert!(read(&p, 9).is_err());
        let link = d.join("link");
        std::os::unix::fs::symlink(&p, &link).unwrap();
        assert!(read(&link, 10).is_err());
        assert!(read(&d, 10).is_err());
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn only_temp_files_of_gone_writers_are_removed() {
        let d = temp_dir("stale");
        let me = std::process::id();
        let names = [
            ".x.tmp.4194400.1".to_string(),
            format!(".x.tmp.{me}.2"),
            "x.tmp.4194400.1".to_string(),
            ".x.tmp.abc.1".to_string(),
            ".x.tmp.4194400".to_string(),
        ];
        for name in &names {
            fs::write(d.join(name), b"t").unwrap();
        }
        assert_eq!(remove_stale_temps(&d), 1);
        assert!(!d.join(&names[0]).exists());
        for name in &names[1..] {
            assert!(d.join(name).exists(), "{name}");
        }
        fs::remove_dir_all(&d).unwrap();
    }
}
