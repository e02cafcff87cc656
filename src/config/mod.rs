//! Configuration as a pure function of an environment map and the file system.

/// Placeholder until the configuration module lands.
pub struct Config;
