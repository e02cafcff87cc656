//! Where attachments may come from. The agent is not trusted with
//! molecule-mcp's own secrets (it reads peer text and can be talked into
//! anything), so a path is judged by the file it really opens: the resolved
//! path must lie in an allowed directory, and never in `/proc`, `/sys`,
//! `/dev`, the state directory, nor be the token or servers file.

use std::fs::{File, Metadata};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::config::{Config, EnvMap};

/// The setting that lists the allowed directories, colon-separated.
pub const SETTING: &str = "MOLECULE_MCP_ATTACHMENT_DIRS";

/// Kernel views and devices: reading them leaks the process's environment
/// or blocks for ever.
const NEVER_DIRS: [&str; 3] = ["/proc", "/sys", "/dev"];

pub struct Policy {
    allowed: Vec<PathBuf>,
    /// Directories and files no attachment may come from, besides
    /// [`NEVER_DIRS`].
    secret_dirs: Vec<PathBuf>,
    secret_files: Vec<PathBuf>,
}

/// An attachment opened and checked: a regular file of this size.
pub struct Opened {
    pub file: File,
    pub len: u64,
}

impl Policy {
    pub fn from_config(config: &Config) -> Policy {
        let mut secret_files = Vec::new();
        if let Some(path) = crate::config::env_path(&config.env, "MOLECULE_WORKSPACE_TOKEN_FILE") {
            secret_files.push(path);
        }
        if let Some(path) = &config.servers_file {
            secret_files.push(path.clone());
        }
        Policy {
            allowed: allowed_dirs(&config.env),
            secret_dirs: vec![config.configs_dir.clone()],
            secret_files,
        }
    }

    /// Only these directories, no secrets: for unit tests.
    #[cfg(test)]
    pub fn allowing(dirs: &[&Path]) -> Policy {
        Policy {
            allowed: dirs.iter().map(|d| d.to_path_buf()).collect(),
            secret_dirs: Vec::new(),
            secret_files: Vec::new(),
        }
    }

    /// Opens `path` for upload, or says why it may not be sent.
    pub fn open(&self, raw: &str, path: &Path) -> Result<Opened, String> {
        let real = path.canonicalize().map_err(|e| not_opened(raw, &e))?;
        self.judge(raw, &real)?;
        // The checked path may have been swapped since: no symlink is
        // followed at the end, a FIFO or device cannot block the open, and
        // what was opened is judged again below.
        let file = File::options()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(&real)
            .map_err(|e| not_opened(raw, &e))?;
        let meta = file
            .metadata()
            .map_err(|e| format!("attachment {raw:?} cannot be read ({}).", e.kind()))?;
        if !meta.file_type().is_file() {
            return Err(format!("attachment {raw:?} is not a regular file."));
        }
        if let Ok(opened) = std::fs::read_link(opened_path(&file)) {
            self.judge(raw, &opened)?;
        }
        if self.is_secret_file(&meta) {
            return Err(never(raw));
        }
        Ok(Opened {
            len: meta.len(),
            file,
        })
    }

    fn judge(&self, raw: &str, real: &Path) -> Result<(), String> {
        let secret_dirs = self
            .secret_dirs
            .iter()
            .filter_map(|d| d.canonicalize().ok());
        let never_dirs = NEVER_DIRS.iter().map(PathBuf::from);
        if never_dirs
            .chain(secret_dirs)
            .any(|dir| real.starts_with(dir))
        {
            return Err(never(raw));
        }
        let secret_files = self
            .secret_files
            .iter()
            .filter_map(|f| f.canonicalize().ok());
        if secret_files.into_iter().any(|f| f == real) {
            return Err(never(raw));
        }
        let allowed: Vec<PathBuf> = self
            .allowed
            .iter()
            .filter_map(|d| d.canonicalize().ok())
            .collect();
        if allowed.iter().any(|dir| real.starts_with(dir)) {
            return Ok(());
        }
        let listed: Vec<String> = allowed.iter().map(|d| d.display().to_string()).collect();
        Err(format!(
            "attachment {raw:?} is outside the directories attachments may come from ({}). \
             Copy the file into one of them, or have the operator add its directory to \
             {SETTING} (colon-separated absolute paths).",
            if listed.is_empty() {
                "none".to_string()
            } else {
                listed.join(", ")
            }
        ))
    }

    /// The same file as the token or servers file under another name (a
    /// hard link).
    fn is_secret_file(&self, meta: &Metadata) -> bool {
        self.secret_files.iter().any(|f| {
            std::fs::metadata(f).is_ok_and(|m| m.dev() == meta.dev() && m.ino() == meta.ino())
        })
    }
}

fn never(raw: &str) -> String {
    format!(
        "attachment {raw:?} is refused: molecule-mcp never sends files from /proc, /sys, /dev, \
         its state directory (CONFIGS_DIR), its token file or its servers file, whatever \
         {SETTING} says."
    )
}

fn not_opened(raw: &str, e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => format!("attachment {raw:?} does not exist."),
        io::ErrorKind::PermissionDenied => {
            format!("attachment {raw:?} cannot be read (permission denied).")
        }
        _ if e.raw_os_error() == Some(libc::ELOOP) => {
            format!("attachment {raw:?} changed into a symbolic link while being opened.")
        }
        _ => format!("attachment {raw:?} cannot be opened ({}).", e.kind()),
    }
}

/// The kernel's name for what this descriptor opened.
fn opened_path(file: &File) -> PathBuf {
    use std::os::fd::AsRawFd;
    PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()))
}

/// The setting's directories, else the working directory and the system
/// temp directory. Relative entries are ignored (with a warning): they would
/// depend on where the host happened to start us.
fn allowed_dirs(env: &EnvMap) -> Vec<PathBuf> {
    let Some(setting) = env.get(SETTING).and_then(|v| v.to_str()) else {
        return default_dirs(env);
    };
    let mut dirs = Vec::new();
    for entry in setting.split(':').map(str::trim).filter(|e| !e.is_empty()) {
        if Path::new(entry).is_absolute() {
            dirs.push(PathBuf::from(entry));
        } else {
            log::warn!("{SETTING}: {entry:?} is not an absolute path and is ignored");
        }
    }
    if setting.trim().is_empty() {
        return default_dirs(env);
    }
    dirs
}

fn default_dirs(env: &EnvMap) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    // Hosts often start servers in `/`: that would allow every file.
    match std::env::current_dir() {
        Ok(cwd) if cwd.parent().is_some() => dirs.push(cwd),
        Ok(_) => log::info!(
            "attachments: the working directory is /, so only the temp directory is allowed by \
             default; set {SETTING} to allow others"
        ),
        Err(_) => {}
    }
    let tmp = env
        .get("TMPDIR")
        .filter(|v| Path::new(v).is_absolute())
        .map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
    dirs.push(tmp);
    dirs
}
