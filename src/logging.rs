//! Logging to stderr, every line redacted.
