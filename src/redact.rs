//! Removes secrets from any text before it is logged or shown.
