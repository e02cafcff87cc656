//! The workspace token: where it comes from, how it is checked, and how a
//! token kept in a file is re-read so a rotated token is picked up without a
//! restart.

use std::fmt;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::redact;

/// Real tokens are a few dozen bytes; anything this large is a wrong file or
/// a wrong variable, and reading it whole would only waste memory.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// A secret value. Formatting it never shows the value; only
/// [`Secret::expose`] does, at the one place it goes on the wire.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(redact::MASK)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(redact::MASK)
    }
}

/// Where a workspace's token lives.
#[derive(Clone, Debug)]
pub struct Token {
    source: TokenSource,
}

#[derive(Clone, Debug)]
enum TokenSource {
    Inline(Secret),
    File(PathBuf),
}

impl Token {
    /// A token given as a value (an environment variable, a JSON entry).
    pub fn inline(value: impl Into<String>) -> Self {
        let secret = Secret::new(value);
        redact::register_secret(secret.expose());
        Token {
            source: TokenSource::Inline(secret),
        }
    }

    /// A token kept in a file, read again at every [`Token::current`].
    pub fn in_file(path: impl Into<PathBuf>) -> Self {
        Token {
            source: TokenSource::File(path.into()),
        }
    }

    /// The token to send now. A file is re-read and checked exactly as at
    /// start-up, so a rotated token is used from the next request on.
    pub fn current(&self) -> Result<Secret, TokenError> {
        match &self.source {
            TokenSource::Inline(secret) => Ok(secret.clone()),
            TokenSource::File(path) => read_token_file(path).map_err(|kind| TokenError {
                path: path.clone(),
                kind,
            }),
        }
    }

    #[cfg(test)]
    pub fn from_file(&self) -> bool {
        matches!(self.source, TokenSource::File(_))
    }

    #[cfg(test)]
    pub fn path(&self) -> Option<&Path> {
        match &self.source {
            TokenSource::File(path) => Some(path),
            TokenSource::Inline(_) => None,
        }
    }
}

/// Why a token value is unusable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenFault {
    NotFound,
    IsDirectory,
    NotRegularFile,
    Unreadable(String),
    NotUtf8,
    Empty,
    InnerWhitespace,
    ControlCharacters,
    TooLong,
}

impl TokenFault {
    /// Completes a sentence whose subject is the token's source.
    pub fn describe(&self) -> String {
        match self {
            TokenFault::NotFound => "does not exist".into(),
            TokenFault::IsDirectory => "is a directory, not a file".into(),
            TokenFault::NotRegularFile => "is not a regular file".into(),
            TokenFault::Unreadable(reason) => format!("cannot be read ({reason})"),
            TokenFault::NotUtf8 => "is not UTF-8 text".into(),
            TokenFault::Empty => "is empty".into(),
            TokenFault::InnerWhitespace => {
                "holds whitespace inside the token (two tokens? a pasted table cell?); \
                 it must hold exactly one token"
                    .into()
            }
            TokenFault::ControlCharacters => "holds control characters".into(),
            TokenFault::TooLong => format!("is larger than {MAX_TOKEN_BYTES} bytes"),
        }
    }
}

/// A token file that could not be used; names the file, never its content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenError {
    pub path: PathBuf,
    pub kind: TokenFault,
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "token file {} {}",
            self.path.display(),
            self.kind.describe()
        )
    }
}

impl std::error::Error for TokenError {}

/// Checks a token value and returns it trimmed. The same rules apply to every
/// source, so a token accepted at start-up is never refused later.
pub fn check_token(raw: &str) -> Result<&str, TokenFault> {
    let value = raw.trim_start_matches('\u{feff}').trim();
    if value.is_empty() {
        return Err(TokenFault::Empty);
    }
    if value.len() > MAX_TOKEN_BYTES {
        return Err(TokenFault::TooLong);
    }
    if value.chars().any(char::is_whitespace) {
        return Err(TokenFault::InnerWhitespace);
    }
    if value.chars().any(char::is_control) {
        return Err(TokenFault::ControlCharacters);
    }
    Ok(value)
}

/// Reads and checks a token file. Only regular files are opened, so a FIFO
/// or a device can never block or flood start-up.
pub fn read_token_file(path: &Path) -> Result<Secret, TokenFault> {
    let meta = fs::metadata(path).map_err(io_fault)?;
    if meta.is_dir() {
        return Err(TokenFault::IsDirectory);
    }
    if !meta.is_file() {
        return Err(TokenFault::NotRegularFile);
    }
    let file = fs::File::open(path).map_err(io_fault)?;
    let mut bytes = Vec::new();
    file.take(MAX_TOKEN_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(io_fault)?;
    if bytes.len() > MAX_TOKEN_BYTES {
        return Err(TokenFault::TooLong);
    }
    let text = String::from_utf8(bytes).map_err(|_| TokenFault::NotUtf8)?;
    let token = check_token(&text)?;
    redact::register_secret(token);
    Ok(Secret::new(token))
}

fn io_fault(err: io::Error) -> TokenFault {
    match err.kind() {
        io::ErrorKind::NotFound => TokenFault::NotFound,
        io::ErrorKind::PermissionDenied => TokenFault::Unreadable("permission denied".into()),
        _ => TokenFault::Unreadable(err.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_token_trims_and_accepts_one_word() {
        assert_eq!(check_token("  abc.DEF-123_x \n"), Ok("abc.DEF-123_x"));
        assert_eq!(check_token("\u{feff}tok\n"), Ok("tok"));
    }

    #[test]
    fn check_token_refuses_bad_shapes() {
        assert_eq!(check_token(" \n\t"), Err(TokenFault::Empty));
        assert_eq!(check_token("one two"), Err(TokenFault::InnerWhitespace));
        assert_eq!(check_token("a,b\nc,d"), Err(TokenFault::InnerWhitespace));
        assert_eq!(check_token("ab\u{7}c"), Err(TokenFault::ControlCharacters));
        let huge = "x".repeat(MAX_TOKEN_BYTES + 1);
        assert_eq!(check_token(&huge), Err(TokenFault::TooLong));
    }

    #[test]
    fn secret_formatting_hides_the_value() {
        let secret = Secret::new("very-secret-value");
        assert_eq!(format!("{secret}"), "[redacted]");
        assert_eq!(format!("{secret:?}"), "[redacted]");
        assert_eq!(secret.expose(), "very-secret-value");
        let token = Token::inline("very-secret-value");
        assert!(!format!("{token:?}").contains("very-secret-value"));
    }

    #[test]
    fn inline_token_is_returned_as_is() {
        let token = Token::inline("inline-token-1");
        assert!(!token.from_file());
        assert_eq!(token.path(), None);
        assert_eq!(
            token.current().map(|s| s.expose().to_string()),
            Ok("inline-token-1".into())
        );
    }

    #[test]
    fn file_token_is_reread_on_every_call() {
        let dir = crate::config::test_dir("token-reread");
        let path = dir.join("token");
        fs::write(&path, "first-token\n").unwrap();
        let token = Token::in_file(&path);
        assert!(token.from_file());
        assert_eq!(token.path(), Some(path.as_path()));
        assert_eq!(token.current().unwrap().expose(), "first-token");
        fs::write(&path, "second-token").unwrap();
        assert_eq!(token.current().unwrap().expose(), "second-token");
        fs::write(&path, "").unwrap();
        let err = token.current().unwrap_err();
        assert_eq!(err.kind, TokenFault::Empty);
        assert!(err.to_string().contains(&path.display().to_string()));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn file_faults_are_told_apart() {
        let dir = crate::config::test_dir("token-faults");
        assert_eq!(
            read_token_file(&dir.join("absent")).unwrap_err(),
            TokenFault::NotFound
        );
        assert_eq!(read_token_file(&dir).unwrap_err(), TokenFault::IsDirectory);
        let latin1 = dir.join("latin1");
        fs::write(&latin1, [0x74, 0xe9, 0x74, 0xe9]).unwrap();
        assert_eq!(read_token_file(&latin1).unwrap_err(), TokenFault::NotUtf8);
        let big = dir.join("big");
        fs::write(&big, vec![b'a'; MAX_TOKEN_BYTES * 4]).unwrap();
        assert_eq!(read_token_file(&big).unwrap_err(), TokenFault::TooLong);
        let two = dir.join("two");
        fs::write(&two, "tok1\ntok2\n").unwrap();
        assert_eq!(
            read_token_file(&two).unwrap_err(),
            TokenFault::InnerWhitespace
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn error_text_never_holds_the_file_content() {
        let dir = crate::config::test_dir("token-error-text");
        let path = dir.join("token");
        fs::write(&path, "leaky-secret-value other-half").unwrap();
        let err = Token::in_file(&path).current().unwrap_err();
        assert!(!err.to_string().contains("leaky-secret-value"));
        fs::remove_dir_all(&dir).unwrap();
    }
}
