//! Why the servers file as a whole cannot be used, worded like a compiler
//! message so that editors can jump to the spot: `PATH:LINE:COLUMN: what`.

use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    path: PathBuf,
    /// 1-based line and column, when the problem has a place.
    position: Option<(usize, usize)>,
    what: String,
}

impl FileError {
    pub(crate) fn new(
        path: &Path,
        position: Option<(usize, usize)>,
        what: impl Into<String>,
    ) -> Self {
        FileError {
            path: path.to_path_buf(),
            position,
            what: what.into(),
        }
    }

    /// A syntax error. serde_json's messages never quote the input, so no
    /// secret from the file can leak through them.
    pub(crate) fn from_json(path: &Path, e: &serde_json::Error) -> Self {
        let text = e.to_string();
        let place = format!(" at line {} column {}", e.line(), e.column());
        let what = text.strip_suffix(&place).unwrap_or(&text).to_string();
        let position = (e.line() > 0).then_some((e.line(), e.column()));
        FileError::new(path, position, what)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn position(&self) -> Option<(usize, usize)> {
        self.position
    }

    pub fn what(&self) -> &str {
        &self.what
    }
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some((line, column)) => {
                write!(f, "{}:{line}:{column}: {}", self.path.display(), self.what)
            }
            None => write!(f, "{}: {}", self.path.display(), self.what),
        }
    }
}

impl std::error::Error for FileError {}
