//! The platform link: HTTP client, register, heartbeat, inbox, tools.
