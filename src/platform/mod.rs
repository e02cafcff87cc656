//! The platform link: HTTP client, register, heartbeat, inbox, tools.

pub mod http;
pub mod inbox;
pub mod link;
pub mod registry;
